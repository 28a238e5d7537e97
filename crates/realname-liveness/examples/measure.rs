//! Dumps, for every frame of the liveness data set, the face engine's analysis plus this
//! crate's image evidence and passive scores as JSON lines (calibration aid):
//! `cargo run -p realname-liveness --features research --example measure -- OUT.jsonl`.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::PathBuf;

use realname_face::{DetectOptions, EngineConfig, FaceEngine, ImageLimits, LandmarkNet, decode_image};
use realname_liveness::{PassiveNets, measure_face};

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "measure.jsonl".into()));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var_os("REALNAME_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("../shared"));
    let models = std::env::var_os("REALNAME_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("models"));
    let engine = FaceEngine::load(
        &models,
        EngineConfig {
            ssd: true,
            tiny: false,
            landmarks: Some(LandmarkNet::Full),
            recognition: true,
            image_limits: ImageLimits::default(),
        },
    )?;
    let nets = PassiveNets::load(&models)?;
    let data = shared.join("data/liveness");
    let mut files = Vec::new();
    for clip in std::fs::read_dir(data.join("clips"))? {
        let clip = clip?.path();
        for f in std::fs::read_dir(&clip)? {
            files.push(f?.path());
        }
    }
    for f in std::fs::read_dir(data.join("stills"))? {
        files.push(f?.path());
    }
    files.sort();
    let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for (i, f) in files.iter().enumerate() {
        let img = decode_image(&std::fs::read(f)?, &ImageLimits::default())?;
        // One pass at score 0.3; each face keeps its detector score, so 0.5 can be applied later.
        let faces = engine.analyze(&img, &DetectOptions { min_score: 0.3, ..DetectOptions::default() })?;
        let mut rows = Vec::new();
        for face in &faces {
            let ev = measure_face(&img, face, Some(&nets))?;
            rows.push(serde_json::json!({"analysis": face, "evidence": ev}));
        }
        let rel = f.strip_prefix(&data).unwrap_or(f).display().to_string();
        writeln!(
            w,
            "{}",
            serde_json::json!({"file": rel, "width": img.width(), "height": img.height(), "faces": rows})
        )?;
        if i % 50 == 0 {
            println!("{i}/{} {rel}", files.len());
        }
    }
    Ok(())
}
