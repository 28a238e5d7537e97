//! Measures the screen-replay evidence ([`realname_liveness::measure_screen`]) on every frame of
//! every clip (and still) of `shared/data/liveness`: per-clip min / median / max of each
//! measure, the mean frame-to-frame flicker, the time per frame, and for each measure the best
//! single threshold on the clip medians (attacks caught with no genuine clip rejected, margin).
//! `cargo run --release -p realname-liveness --features research --example screen_evidence`.
#![allow(clippy::print_stdout)]

#[path = "evaluate/harness.rs"]
mod harness;

use std::time::Instant;

use realname_face::{DetectOptions, EngineConfig, FaceEngine, ImageLimits, decode_image};
use realname_liveness::{ScreenEvidence, measure_screen};

struct Clip {
    name: String,
    attack: bool,
    frames: Vec<ScreenEvidence>,
    /// Mean |Δ mean grey| / mean grey between consecutive frames with a face.
    flicker: f32,
}

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    if v.is_empty() { f32::NAN } else { v[v.len() / 2] }
}

/// A named per-frame measure.
type Measure = (&'static str, fn(&ScreenEvidence) -> f32);

const MEASURES: [Measure; 4] = [
    ("moire", |e| e.moire),
    ("moire_nojpeg", |e| e.moire_nojpeg),
    ("bezel", |e| e.bezel),
    ("highlight", |e| e.highlight),
];

fn main() -> anyhow::Result<()> {
    let engine = FaceEngine::load(
        &harness::models_dir(),
        EngineConfig {
            ssd: true,
            tiny: false,
            landmarks: None,
            recognition: false,
            image_limits: ImageLimits::default(),
        },
    )?;
    let options = DetectOptions { min_score: harness::MIN_DETECTION_SCORE, ..DetectOptions::default() };
    let data = harness::shared_dir().join("data/liveness");
    let mut sets: Vec<(String, bool, Vec<std::path::PathBuf>)> = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(data.join("clips"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let mut files: Vec<_> =
            std::fs::read_dir(data.join("clips").join(&name))?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        sets.push((name.clone(), name.ends_with("_fake"), files));
    }
    // Stills: F1 printed photo, F2 phone screen, T1 live person.
    for (still, attack) in [("image_F1", true), ("image_F2", true), ("image_T1", false)] {
        sets.push((still.into(), attack, vec![data.join("stills").join(format!("{still}.jpg"))]));
    }
    let (mut time_ms, mut timed, mut worst_ms, mut worst_px) = (0f64, 0usize, 0f64, (0, 0));
    let mut clips = Vec::new();
    for (name, attack, files) in sets {
        let mut frames = Vec::new();
        let (mut flick, mut nflick, mut prev) = (0f32, 0usize, None::<f32>);
        for f in files {
            let img = decode_image(&std::fs::read(&f)?, &ImageLimits::default())?;
            let faces = engine.detect(&img, &options)?;
            let Some(d) = faces.iter().max_by(|a, b| a.score.total_cmp(&b.score)) else {
                prev = None;
                continue;
            };
            let b = d.bbox;
            let t = Instant::now();
            let e = measure_screen(&img, (b.x, b.y, b.width, b.height));
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            time_ms += ms;
            timed += 1;
            if ms > worst_ms {
                (worst_ms, worst_px) = (ms, (img.width(), img.height()));
            }
            if let Some(p) = prev
                && p > 0.0
            {
                flick += (e.mean_grey - p).abs() / p;
                nflick += 1;
            }
            prev = Some(e.mean_grey);
            frames.push(e);
        }
        let flicker = if nflick > 0 { flick / nflick as f32 } else { f32::NAN };
        clips.push(Clip { name, attack, frames, flicker });
    }
    println!(
        "time per face: mean {:.2} ms, max {:.2} ms ({}x{} frame), {} faces",
        time_ms / timed as f64,
        worst_ms,
        worst_px.0,
        worst_px.1,
        timed
    );
    println!();
    print!("| clip | kind | faces |");
    for (m, _) in MEASURES {
        print!(" {m} min / med / max |");
    }
    println!(" flicker |");
    for c in &clips {
        print!("| {} | {} | {} |", c.name, if c.attack { "attack" } else { "genuine" }, c.frames.len());
        for (_, f) in MEASURES {
            let mut v: Vec<f32> = c.frames.iter().map(f).collect();
            let med = median(&mut v);
            print!(
                " {:.3} / {:.3} / {:.3} |",
                v.first().copied().unwrap_or(f32::NAN),
                med,
                v.last().copied().unwrap_or(f32::NAN)
            );
        }
        println!(" {:.4} |", c.flicker);
    }
    println!();
    // Best single threshold on the clip-level value (median over the frames; flicker per clip),
    // attack = value above the threshold (and, separately, below it).
    let mut measures: Vec<(&str, Vec<(bool, f32)>)> = MEASURES
        .iter()
        .map(|(m, f)| {
            (
                *m,
                clips
                    .iter()
                    .filter(|c| !c.frames.is_empty())
                    .map(|c| (c.attack, median(&mut c.frames.iter().map(f).collect::<Vec<_>>())))
                    .collect(),
            )
        })
        .collect();
    measures.push(("flicker", clips.iter().filter(|c| c.flicker.is_finite()).map(|c| (c.attack, c.flicker)).collect()));
    for (m, v) in &measures {
        for high in [true, false] {
            let sign = if high { 1.0 } else { -1.0 };
            let genuine_max = v.iter().filter(|(a, _)| !a).map(|(_, x)| sign * x).fold(f32::MIN, f32::max);
            let mut attacks: Vec<f32> = v.iter().filter(|(a, _)| *a).map(|(_, x)| sign * x).collect();
            attacks.sort_by(f32::total_cmp);
            let caught = attacks.iter().filter(|&&x| x > genuine_max).count();
            let lowest_caught = attacks.iter().copied().find(|&x| x > genuine_max);
            println!(
                "{m} ({}): threshold just {} the most attack-like genuine clip {:.4} catches {caught}/{} attacks with 0 genuine rejected{}",
                if high { "attack = higher" } else { "attack = lower" },
                if high { "above" } else { "below" },
                sign * genuine_max,
                attacks.len(),
                lowest_caught
                    .map(|x| format!(
                        ", margin to the nearest caught attack {:.4} ({:.0} %)",
                        x - genuine_max,
                        100.0 * (x - genuine_max) / genuine_max.abs()
                    ))
                    .unwrap_or_default(),
            );
        }
    }
    // Frame level: fraction of genuine frames above each attack clip's median.
    println!();
    for (m, f) in MEASURES {
        let genuine: Vec<f32> = clips.iter().filter(|c| !c.attack).flat_map(|c| c.frames.iter().map(f)).collect();
        for c in clips.iter().filter(|c| c.attack && !c.frames.is_empty()) {
            let med = median(&mut c.frames.iter().map(f).collect::<Vec<_>>());
            let above = genuine.iter().filter(|&&x| x >= med).count();
            println!("{m}: {} median {med:.4}; genuine frames at or above it: {above}/{}", c.name, genuine.len());
        }
    }
    Ok(())
}
