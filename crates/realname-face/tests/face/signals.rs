//! Face signals: plausible ranges on a frontal face and sign conventions on the mirrored image;
//! the tiny landmark net against the full one.

use std::sync::OnceLock;

use anyhow::Result;
use realname_face::{DetectOptions, EngineConfig, FaceEngine, ImageLimits, LandmarkNet, decode_image};

use super::common::{engine, faces_dir, models_dir};

fn frontal() -> Result<realname_face::RgbImage> {
    let bytes = std::fs::read(faces_dir().join("images/face_recognition/alex_lacamoire/alex-lacamoire.png"))?;
    Ok(decode_image(&bytes, &ImageLimits::default())?)
}

#[test]
fn frontal_face_signals_are_plausible_and_mirror_flips_the_signs() -> Result<()> {
    let img = frontal()?;
    let a = engine().analyze(&img, &DetectOptions::default())?.remove(0);
    let s = a.signals;
    assert!(s.yaw_deg.abs() < 20.0 && s.roll_deg.abs() < 15.0 && s.pitch_deg.abs() < 30.0, "{s:?}");
    assert!((0.15..0.45).contains(&s.ear_left) && (0.15..0.45).contains(&s.ear_right), "{s:?}");
    assert!((0.0..0.5).contains(&s.mouth_aspect_ratio), "{s:?}");
    assert!(s.face_fraction > 0.05 && s.face_fraction < 1.0 && s.sharpness > 0.0, "{s:?}");
    assert!((s.face_width_px - a.detection.bbox.width).abs() < 1e-3);

    let mirrored = image::imageops::flip_horizontal(&img);
    let m = engine().analyze(&mirrored, &DetectOptions::default())?.remove(0).signals;
    // Mirroring swaps the subject's sides: yaw and roll change sign, the eyes swap.
    assert!((m.yaw_deg + s.yaw_deg).abs() < 4.0, "yaw {} vs {}", s.yaw_deg, m.yaw_deg);
    assert!((m.roll_deg + s.roll_deg).abs() < 2.0, "roll {} vs {}", s.roll_deg, m.roll_deg);
    assert!((m.ear_left - s.ear_right).abs() < 0.06 && (m.ear_right - s.ear_left).abs() < 0.06, "{s:?} {m:?}");
    // The detector is not mirror-symmetric (its padding is bottom/right), so the box moves a little.
    assert!((m.brightness - s.brightness).abs() < 0.05, "brightness {} vs {}", s.brightness, m.brightness);

    // A rotated face: roll follows the rotation direction (clockwise in the image is positive).
    let rotated = image::imageops::rotate90(&img);
    if let Some(r) = engine().analyze(&rotated, &DetectOptions::default())?.first() {
        assert!(r.signals.roll_deg > 45.0, "roll after a clockwise quarter turn: {}", r.signals.roll_deg);
    }
    Ok(())
}

#[test]
fn tiny_landmark_net_agrees_with_the_full_net() -> Result<()> {
    static TINY: OnceLock<FaceEngine> = OnceLock::new();
    let tiny = TINY.get_or_init(|| {
        let cfg = EngineConfig {
            ssd: false,
            tiny: false,
            recognition: false,
            landmarks: Some(LandmarkNet::Tiny),
            ..EngineConfig::default()
        };
        FaceEngine::load(&models_dir(), cfg).unwrap_or_else(|e| panic!("tiny landmark model: {e}"))
    });
    let img = frontal()?;
    let det = engine().detect(&img, &DetectOptions::default())?.remove(0);
    let full = engine().landmarks(&img, &det)?;
    let small = tiny.landmarks(&img, &det)?;
    let mean_err = full
        .points
        .iter()
        .zip(small.points.iter())
        .map(|(a, b)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt())
        .sum::<f32>()
        / 68.0
        / det.bbox.width;
    assert!(mean_err < 0.04, "tiny vs full landmarks: mean error {mean_err} box widths");
    assert!(matches!(tiny.descriptor(&img, &small), Err(realname_face::FaceError::ModelNotLoaded(_))));
    Ok(())
}
