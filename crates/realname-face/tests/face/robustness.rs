//! Hostile and unusual inputs: random, truncated and bit-flipped PNG/JPEG bytes, 1×1 images,
//! huge declared dimensions, grey / alpha / 16-bit images — never a panic.

use std::io::Cursor;

use anyhow::Result;
use image::{DynamicImage, ImageFormat};
use proptest::prelude::*;
use realname_face::{DetectOptions, FaceError, ImageLimits, RgbImage, decode_image};

use super::common::{engine, faces_dir};

fn real_bytes() -> Vec<(&'static str, Vec<u8>)> {
    let dir = faces_dir().join("images");
    ["faceapijs/raj/raj1.png", "face_recognition/kit_harington/john2.jpeg"]
        .into_iter()
        .map(|rel| (rel, std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))))
        .collect()
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).expect("encode");
    out
}

/// Decoding then the cheapest full pipeline must return, not panic.
fn decode_and_analyze(bytes: &[u8]) {
    if let Ok(img) = decode_image(bytes, &ImageLimits::default()) {
        let _ = engine().analyze(&img, &DetectOptions::tiny(128));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        decode_and_analyze(&bytes);
    }

    #[test]
    fn truncated_and_flipped_real_images_never_panic(which in 0usize..2, cut in 0.0f64..1.0, flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..8)) {
        let (_, mut bytes) = real_bytes().swap_remove(which);
        let keep = ((bytes.len() as f64) * cut) as usize;
        bytes.truncate(keep.max(1));
        let n = bytes.len();
        for (pos, v) in flips {
            let i = ((n as f64) * pos) as usize % n;
            bytes[i] ^= v;
        }
        decode_and_analyze(&bytes);
    }
}

#[test]
fn a_one_pixel_image_yields_no_face() -> Result<()> {
    let bytes =
        encode(DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, image::Rgb([200, 10, 10]))), ImageFormat::Png);
    let img = decode_image(&bytes, &ImageLimits::default())?;
    assert_eq!(engine().analyze(&img, &DetectOptions::default())?.len(), 0);
    assert_eq!(engine().analyze(&img, &DetectOptions::tiny(416))?.len(), 0);
    let d = engine().descriptor_of_crop(&img)?;
    assert!(d.0.iter().all(|v| v.is_finite()));
    Ok(())
}

#[test]
fn huge_declared_dimensions_are_rejected_before_allocation() -> Result<()> {
    // PNG: rewrite the IHDR width/height (and its CRC) of a real file to 100 000 × 100 000.
    let (_, png) = real_bytes().swap_remove(0);
    let mut p = png.clone();
    p[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    p[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&p[12..29]);
    p[29..33].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(decode_image(&p, &ImageLimits::default()), Err(FaceError::ImageTooLarge { .. })));
    // Within width/height limits but over the pixel budget.
    let mut q = png;
    q[16..20].copy_from_slice(&8000u32.to_be_bytes());
    q[20..24].copy_from_slice(&8000u32.to_be_bytes());
    let crc = crc32(&q[12..29]);
    q[29..33].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(decode_image(&q, &ImageLimits::default()), Err(FaceError::ImageTooLarge { .. })));

    // JPEG: patch the SOF0/SOF2 frame header to 60 000 × 60 000.
    let (_, mut jpg) = real_bytes().swap_remove(1);
    // Walk the segments (an EXIF thumbnail may hold an earlier SOF byte pattern).
    let mut sof = 2;
    while !(jpg[sof] == 0xFF && matches!(jpg[sof + 1], 0xC0..=0xC2)) {
        sof += 2 + u16::from_be_bytes([jpg[sof + 2], jpg[sof + 3]]) as usize;
    }
    jpg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
    jpg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
    assert!(matches!(decode_image(&jpg, &ImageLimits::default()), Err(FaceError::ImageTooLarge { .. })));
    Ok(())
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn grey_alpha_and_16_bit_faces_are_analysed() -> Result<()> {
    let src = decode_image(
        &std::fs::read(faces_dir().join("images/face_recognition/alex_lacamoire/alex-lacamoire.png"))?,
        &ImageLimits::default(),
    )?;
    let rgb = DynamicImage::ImageRgb8(src);
    let reference = engine().analyze(
        &decode_image(&encode(rgb.clone(), ImageFormat::Png), &ImageLimits::default())?,
        &DetectOptions::default(),
    )?;
    assert_eq!(reference.len(), 1);
    for variant in [
        DynamicImage::ImageLuma8(rgb.to_luma8()),
        DynamicImage::ImageLumaA8(rgb.to_luma_alpha8()),
        DynamicImage::ImageRgba8(rgb.to_rgba8()),
        DynamicImage::ImageRgb16(rgb.to_rgb16()),
        DynamicImage::ImageLuma16(rgb.to_luma16()),
    ] {
        let color = format!("{:?}", variant.color());
        let img = decode_image(&encode(variant, ImageFormat::Png), &ImageLimits::default())?;
        let faces = engine().analyze(&img, &DetectOptions::default())?;
        assert_eq!(faces.len(), 1, "{color}");
        // Same person whatever the pixel format (grey loses colour, so allow a margin).
        assert!(faces[0].descriptor.distance(&reference[0].descriptor) < 0.3, "{color}");
    }
    Ok(())
}

#[test]
fn descriptor_bytes_and_serde_round_trip() -> Result<()> {
    let img =
        decode_image(&std::fs::read(faces_dir().join("images/faceapijs/raj/raj1.png"))?, &ImageLimits::default())?;
    let d = engine().descriptor_of_crop(&img)?;
    let back = realname_face::Descriptor::from_bytes(&d.to_bytes()).expect("512 bytes");
    assert_eq!(back, d);
    assert!(realname_face::Descriptor::from_bytes(&d.to_bytes()[..511]).is_none());
    let json = serde_json::to_string(&d)?;
    assert_eq!(serde_json::from_str::<realname_face::Descriptor>(&json)?, d);
    assert_eq!(d.distance(&back), 0.0);
    Ok(())
}
