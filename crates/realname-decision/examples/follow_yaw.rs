//! How far the tracked analysis's followed landmarks put a face's yaw from the SSD detector's:
//! every frame of the live clips of `shared/data/liveness` where SSD finds one face (score above
//! 0.3) is also followed from the frame before ([`follow_in`], with that frame's detection and
//! framing, as the tracked analysis follows a face), and the two yaw estimates compared per yaw
//! band; with where SSD puts its box's left and right edges outside the landmarks (in landmark
//! widths), which moves with the turn. The figures behind `TURN_CLEAR_DEG` and the turn peaks
//! (docs/benchmarks-face.md, "Turn peaks through the detector").
//!
//! `cargo run --release -p realname-decision --example follow_yaw`
#![allow(clippy::print_stdout)]

#[path = "../../realname-liveness/examples/evaluate/harness.rs"]
mod harness;

use realname_decision::tracking::{BoxFraming, follow_in};
use realname_face::{DetectOptions, EngineConfig, FaceAnalysis, FaceEngine, ImageLimits, decode_image};

/// Yaw bands, degrees (image coordinates, as the signals give them).
const BANDS: [(f32, f32); 9] = [
    (-90.0, -30.0),
    (-30.0, -15.0),
    (-15.0, -8.0),
    (-8.0, -4.0),
    (-4.0, 4.0),
    (4.0, 8.0),
    (8.0, 15.0),
    (15.0, 30.0),
    (30.0, 90.0),
];

/// One detected frame: its yaw, its box edges outside the landmarks, the followed yaw.
struct Row {
    yaw: f32,
    left: f32,
    right: f32,
    followed: Option<f32>,
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
}

/// The box's left and right edges outside the landmarks' extent, in units of its width.
fn edges(face: &FaceAnalysis) -> (f32, f32) {
    let (x0, x1) = face.landmarks.points.iter().fold((f32::MAX, f32::MIN), |(a, b), &(x, _)| (a.min(x), b.max(x)));
    let w = (x1 - x0).max(1.0);
    let b = face.detection.bbox;
    ((x0 - b.x) / w, (b.x + b.width - x1) / w)
}

fn main() -> anyhow::Result<()> {
    let engine = FaceEngine::load(&harness::models_dir(), EngineConfig { tiny: true, ..EngineConfig::default() })?;
    let data = harness::shared_dir().join("data/liveness");
    let options = DetectOptions { min_score: 0.3, ..DetectOptions::default() };
    let mut rows = Vec::new();
    for clip in harness::live_clips(&data)? {
        let mut previous: Option<(FaceAnalysis, BoxFraming)> = None;
        for k in 1..=clip.n_frames {
            let bytes = std::fs::read(data.join(format!("clips/{}/{k:04}.jpg", clip.id)))?;
            let image = decode_image(&bytes, &ImageLimits::default())?;
            let faces = engine.analyze(&image, &options)?;
            let [face] = faces.as_slice() else {
                previous = None;
                continue;
            };
            let followed = match &previous {
                Some((p, framing)) => {
                    follow_in(&engine, &image, p, framing, &p.descriptor, true)?.map(|f| f.analysis.signals.yaw_deg)
                }
                None => None,
            };
            let (left, right) = edges(face);
            rows.push(Row { yaw: face.signals.yaw_deg, left, right, followed });
            previous = BoxFraming::of(&face.detection, &face.landmarks).map(|framing| (*face, framing));
        }
    }
    println!(
        "| yaw band (°) | frames detected | box left edge | box right edge | followed | mean abs(followed − detected) | median (followed − detected) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (lo, hi) in BANDS {
        let band: Vec<&Row> = rows.iter().filter(|r| r.yaw >= lo && r.yaw < hi).collect();
        if band.is_empty() {
            continue;
        }
        let diffs: Vec<f32> = band.iter().filter_map(|r| r.followed.map(|f| f - r.yaw)).collect();
        let mean_abs = diffs.iter().map(|d| d.abs()).sum::<f32>() / diffs.len().max(1) as f32;
        println!(
            "| {lo}…{hi} | {} | {:.3} | {:.3} | {} | {mean_abs:.2} | {:.2} |",
            band.len(),
            median(band.iter().map(|r| r.left).collect()),
            median(band.iter().map(|r| r.right).collect()),
            diffs.len(),
            median(diffs.clone()),
        );
    }
    println!(
        "\n{} frames with one SSD face; followed from the frame before where that one had one face too.",
        rows.len()
    );
    Ok(())
}
