//! Stage-by-stage comparison with the original on lossless (PNG) inputs: decoder, both detectors,
//! landmarks fed the golden crop, descriptors fed the golden crop.

use anyhow::{Context, Result};
use realname_face::{CropRect, DetectOptions, Detection, DetectorKind, RgbImage};
use serde_json::Value;

use super::common::{engine, f32s, f64s, golden_images, iou, l2, load_image, png_input, sha256_hex};

/// Golden images that have lossless pixels, with those pixels.
fn png_cases() -> Result<Vec<(Value, RgbImage)>> {
    let mut out = Vec::new();
    for g in golden_images()? {
        let rel = g["image"].as_str().context("image")?;
        if let Some(png) = png_input(rel) {
            let img = load_image(&png)?;
            out.push((g, img));
        }
    }
    assert!(out.len() >= 50, "expected the 43 native PNGs and 10 decoded JPEGs, found {}", out.len());
    Ok(out)
}

fn crop(v: &Value) -> CropRect {
    let r = f64s(v);
    CropRect { x: r[0] as u32, y: r[1] as u32, width: r[2] as u32, height: r[3] as u32 }
}

#[test]
fn decoded_pixels_match_the_reference_decoder() -> Result<()> {
    for (g, img) in png_cases()? {
        assert_eq!(
            (img.width() as u64, img.height() as u64),
            (g["width"].as_u64().unwrap_or(0), g["height"].as_u64().unwrap_or(0))
        );
        assert_eq!(sha256_hex(img.as_raw()), g["decoded_rgb_sha256"].as_str().context("sha")?, "{}", g["image"]);
    }
    Ok(())
}

fn check_detector(key: &str, options: DetectOptions) -> Result<()> {
    let mut faces = 0;
    for (g, img) in png_cases()? {
        let name = g["image"].as_str().unwrap_or_default();
        let want = g["detectors"][key]["faces"].as_array().context("faces")?;
        let got = engine().detect(&img, &options)?;
        assert_eq!(got.len(), want.len(), "{key} face count on {name}: {got:?}");
        for (d, w) in got.iter().zip(want) {
            let b = f64s(&w["box"]);
            let gb = [d.bbox.x as f64, d.bbox.y as f64, d.bbox.width as f64, d.bbox.height as f64];
            let score = w["score"].as_f64().context("score")? as f32;
            assert!(iou(gb, [b[0], b[1], b[2], b[3]]) >= 0.99, "{key} box on {name}: {gb:?} vs {b:?}");
            assert!((d.score - score).abs() <= 1e-3, "{key} score on {name}: {} vs {score}", d.score);
            faces += 1;
        }
    }
    assert!(faces >= 20, "{key}: only {faces} faces compared");
    Ok(())
}

#[test]
fn ssd_detector_matches_golden_boxes_and_scores() -> Result<()> {
    check_detector("ssd_mobilenetv1", DetectOptions::default())
}

#[test]
fn tiny_detector_matches_golden_boxes_and_scores() -> Result<()> {
    check_detector("tiny_face_detector", DetectOptions::tiny(416))
}

#[test]
fn landmarks_from_golden_crop_are_within_half_a_percent_of_box_width() -> Result<()> {
    let mut n = 0;
    let mut worst = 0f64;
    for (g, img) in png_cases()? {
        for key in ["ssd_mobilenetv1", "tiny_face_detector"] {
            for face in g["detectors"][key]["faces"].as_array().context("faces")? {
                let b = f64s(&face["box"]);
                let lm = engine().landmarks_in_crop(&img, crop(&face["landmark_crop"]), b[0], b[1])?;
                let want = face["landmarks"].as_array().context("landmarks")?;
                for (p, w) in lm.points.iter().zip(want) {
                    let w = f64s(w);
                    let err = ((p.0 as f64 - w[0]).powi(2) + (p.1 as f64 - w[1]).powi(2)).sqrt() / b[2];
                    worst = worst.max(err);
                    assert!(err <= 0.005, "landmark off by {:.4} box widths on {}", err, g["image"]);
                }
                n += 1;
            }
        }
    }
    assert!(n >= 40, "only {n} faces");
    eprintln!("landmarks: {n} faces, worst error {worst:.2e} box widths");
    Ok(())
}

#[test]
fn landmarks_via_detection_reproduce_the_golden_crop() -> Result<()> {
    // The public `landmarks()` path: box → clip → floor → net → shift by the raw box.
    for (g, img) in png_cases()? {
        for face in g["detectors"]["ssd_mobilenetv1"]["faces"].as_array().context("faces")? {
            let b = f64s(&face["box"]);
            let det = Detection {
                bbox: realname_face::BoundingBox {
                    x: b[0] as f32,
                    y: b[1] as f32,
                    width: b[2] as f32,
                    height: b[3] as f32,
                },
                score: 1.0,
            };
            assert_eq!(realname_face::FaceEngine::landmark_crop(&img, &det)?, crop(&face["landmark_crop"]));
            let lm = engine().landmarks(&img, &det)?;
            let w = f64s(&face["landmarks"][30]);
            assert!(((lm.points[30].0 as f64 - w[0]).abs() + (lm.points[30].1 as f64 - w[1]).abs()) / b[2] < 0.01);
        }
    }
    Ok(())
}

#[test]
fn descriptors_from_golden_crop_are_within_1e_3() -> Result<()> {
    let mut n = 0;
    let mut worst = 0f32;
    for (g, img) in png_cases()? {
        for key in ["ssd_mobilenetv1", "tiny_face_detector"] {
            for face in g["detectors"][key]["faces"].as_array().context("faces")? {
                let d = engine().descriptor_in_crop(&img, crop(&face["descriptor_crop"]))?;
                let e = l2(&d.0, &f32s(&face["descriptor"]));
                worst = worst.max(e);
                assert!(e <= 1e-3, "descriptor L2 error {e} on {}", g["image"]);
                n += 1;
            }
        }
        // Whole image as the face (the pre-cropped sets).
        let d = engine().descriptor_of_crop(&img)?;
        let e = l2(&d.0, &f32s(&g["whole_image"]["descriptor"]));
        worst = worst.max(e);
        assert!(e <= 1e-3, "whole-image descriptor L2 error {e} on {}", g["image"]);
        n += 1;
    }
    eprintln!("descriptors: {n} compared, worst L2 {worst:.2e}");
    Ok(())
}

#[test]
fn dlib_crop_from_golden_landmarks_matches() -> Result<()> {
    for (g, img) in png_cases()? {
        for face in g["detectors"]["ssd_mobilenetv1"]["faces"].as_array().context("faces")? {
            let pts: Vec<(f32, f32)> = face["landmarks"]
                .as_array()
                .context("lm")?
                .iter()
                .map(|p| {
                    let p = f64s(p);
                    (p[0] as f32, p[1] as f32)
                })
                .collect();
            let lm = realname_face::Landmarks68 { points: pts.try_into().map_err(|_| anyhow::anyhow!("68 points"))? };
            let got = realname_face::FaceEngine::descriptor_crop(&img, &lm, Some(crop(&face["landmark_crop"])))?;
            assert_eq!(got, crop(&face["descriptor_crop"]), "{}", g["image"]);
        }
    }
    Ok(())
}

#[test]
fn tiny_input_size_must_be_a_multiple_of_32() {
    let img = RgbImage::new(64, 64);
    let opts = DetectOptions { detector: DetectorKind::Tiny { input_size: 100 }, ..DetectOptions::tiny(416) };
    assert!(matches!(engine().detect(&img, &opts), Err(realname_face::FaceError::InvalidInput(_))));
}
