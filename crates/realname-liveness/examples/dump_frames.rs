//! Measurement dump (not part of the decision): per frame of every clip in
//! `shared/data/liveness/clips`, the faces the server's frame analysis finds (SSD at 0.3, else
//! the best above 0.1) with landmarks, signals, eye-region grey samples — and for frames with
//! no face, the landmark net run on the previous frame's box. JSON lines on stdout.
#![allow(clippy::print_stdout)]

#[path = "evaluate/harness.rs"]
mod harness;

use image::RgbImage;
use realname_face::{DetectOptions, EngineConfig, FaceEngine, ImageLimits, LandmarkNet, decode_image};
use serde_json::json;

fn grey(img: &RgbImage, x: f32, y: f32) -> f32 {
    let xc = x.clamp(0.0, img.width() as f32 - 1.0) as u32;
    let yc = y.clamp(0.0, img.height() as f32 - 1.0) as u32;
    let p = img.get_pixel(xc, yc).0;
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

fn samples(img: &RgbImage, (x0, y0, x1, y1): (f32, f32, f32, f32), n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            let x = x0 + (x1 - x0) * (i as f32 + 0.5) / n as f32;
            let y = y0 + (y1 - y0) * (j as f32 + 0.5) / n as f32;
            out.push(grey(img, x, y).round() as u8);
        }
    }
    out
}

fn face_json(img: &RgbImage, a: &realname_face::FaceAnalysis, tracked: bool) -> serde_json::Value {
    let pts = &a.landmarks.points;
    let mut eyes = Vec::new();
    for r in [36..42, 42..48] {
        let p = &pts[r];
        let (ex0, ex1) = p.iter().fold((f32::MAX, f32::MIN), |(l, h), &(x, _)| (l.min(x), h.max(x)));
        let ey = p.iter().map(|&(_, y)| y).sum::<f32>() / p.len() as f32;
        let w = ex1 - ex0;
        // A box twice the eye's width around it (eye, brow, under-eye skin), 24x24.
        eyes.push(samples(img, (ex0 - 0.5 * w, ey - w, ex1 + 0.5 * w, ey + w), 24));
    }
    let ev = realname_liveness::measure_face(img, a, None).ok();
    json!({
        "tracked": tracked,
        "score": a.detection.score,
        "bbox": [a.detection.bbox.x, a.detection.bbox.y, a.detection.bbox.width, a.detection.bbox.height],
        "lm": pts.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>(),
        "yaw": a.signals.yaw_deg, "pitch": a.signals.pitch_deg,
        "ear": (a.signals.ear_left + a.signals.ear_right) / 2.0,
        "mar": a.signals.mouth_aspect_ratio,
        "dark": ev.as_ref().map(|e| e.eye_darkness),
        "desc": a.descriptor.0.to_vec(),
        "eyes": eyes,
    })
}

fn main() -> anyhow::Result<()> {
    let engine = FaceEngine::load(
        &harness::models_dir(),
        EngineConfig {
            ssd: true,
            tiny: false,
            landmarks: Some(LandmarkNet::Full),
            recognition: true,
            image_limits: ImageLimits::default(),
        },
    )?;
    let options = DetectOptions { min_score: 0.1, ..DetectOptions::default() };
    let root = harness::shared_dir().join("data/liveness/clips");
    let only: Vec<String> = std::env::args().skip(1).collect();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    for clip in dirs.iter().filter(|d| only.is_empty() || only.contains(d)) {
        let mut files: Vec<_> = std::fs::read_dir(root.join(clip))?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        let mut prev: Option<realname_face::Detection> = None;
        for f in files {
            let k: u32 = f.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).unwrap_or(0);
            let img = decode_image(&std::fs::read(&f)?, &ImageLimits::default())?;
            let mut faces = engine.analyze(&img, &options)?;
            if faces.iter().any(|x| x.detection.score > 0.3) {
                faces.retain(|x| x.detection.score > 0.3);
            } else {
                faces.sort_by(|a, b| b.detection.score.total_cmp(&a.detection.score));
                faces.truncate(1);
            }
            let mut out: Vec<serde_json::Value> = faces.iter().map(|a| face_json(&img, a, false)).collect();
            if faces.is_empty()
                && let Some(d) = prev
            {
                let lm = engine.landmarks(&img, &d)?;
                let desc = engine.descriptor(&img, &lm)?;
                let signals = engine.signals(&img, &d, &lm);
                let a = realname_face::FaceAnalysis { detection: d, landmarks: lm, descriptor: desc, signals };
                out.push(face_json(&img, &a, true));
            }
            if let Some(a) = faces.first() {
                prev = Some(a.detection);
            }
            println!("{}", json!({"clip": clip, "frame": k, "faces": out}));
        }
    }
    Ok(())
}
