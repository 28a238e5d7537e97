//! End to end on lossless inputs: `analyze` (SSD → landmarks → descriptor) against the golden faces.

use anyhow::{Context, Result};
use realname_face::DetectOptions;

use super::common::{engine, f32s, f64s, golden_images, iou, l2, load_image, png_input};

#[test]
fn analyze_on_pngs_matches_face_count_and_descriptors() -> Result<()> {
    let mut faces = 0;
    let mut worst = 0f32;
    for g in golden_images()? {
        let rel = g["image"].as_str().context("image")?;
        let Some(png) = png_input(rel) else { continue };
        let img = load_image(&png)?;
        let want = g["detectors"]["ssd_mobilenetv1"]["faces"].as_array().context("faces")?;
        let got = engine().analyze(&img, &DetectOptions::default())?;
        assert_eq!(got.len(), want.len(), "face count on {rel}");
        for (a, w) in got.iter().zip(want) {
            let b = f64s(&w["box"]);
            let d = a.detection.bbox;
            assert!(iou([d.x as f64, d.y as f64, d.width as f64, d.height as f64], [b[0], b[1], b[2], b[3]]) > 0.99);
            let e = l2(&a.descriptor.0, &f32s(&w["descriptor"]));
            worst = worst.max(e);
            assert!(e <= 0.01, "end-to-end descriptor L2 {e} on {rel}");
            assert!(a.signals.face_width_px > 0.0 && a.signals.brightness > 0.0 && a.signals.brightness <= 1.0);
            faces += 1;
        }
    }
    assert!(faces >= 20, "only {faces} faces compared");
    eprintln!("end to end: {faces} faces, worst descriptor L2 {worst:.2e}");
    Ok(())
}

#[test]
fn concurrent_calls_on_a_shared_engine_agree() -> Result<()> {
    let img = load_image("images/face_recognition/alex_lacamoire/alex-lacamoire.png")?;
    let want = engine().analyze(&img, &DetectOptions::tiny(416))?;
    assert_eq!(want.len(), 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| engine().analyze(&img, &DetectOptions::tiny(416)))).collect();
        for h in handles {
            let got = h.join().map_err(|_| anyhow::anyhow!("thread panicked"))??;
            assert_eq!(got, want);
        }
        Ok(())
    })
}
