//! Prints the verification accuracy of this crate's pipeline on the public pairs (`golden/pairs.csv`).
//!
//! `cargo run --release -p realname-face --example accuracy`
//! (models: `REALNAME_MODELS_DIR`, default `<workspace>/models`; data: `REALNAME_SHARED_DIR`,
//! default `<workspace>/../shared`).
#![allow(clippy::print_stdout)]

#[path = "../tests/face/pairs.rs"]
mod pairs;

use std::path::{Path, PathBuf};

use anyhow::Context;
use realname_face::{EngineConfig, FaceEngine};

fn main() -> anyhow::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let models = std::env::var_os("REALNAME_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("models"));
    let shared =
        std::env::var_os("REALNAME_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("../shared"));
    let cfg = EngineConfig { tiny: false, ..EngineConfig::default() };
    let engine = FaceEngine::load(&models, cfg).with_context(|| format!("loading models from {}", models.display()))?;
    let r = pairs::evaluate(&shared.join("data/faces"), &engine)?;
    let same = r.pairs.iter().filter(|p| p.same).count();
    let missing = r.pairs.iter().filter(|p| p.distance.is_none()).count();
    let max_same = r.pairs.iter().filter(|p| p.same).filter_map(|p| p.distance).fold(0f32, f32::max);
    let min_diff = r.pairs.iter().filter(|p| !p.same).filter_map(|p| p.distance).fold(f32::INFINITY, f32::min);
    let dev = r.pairs.iter().filter_map(|p| p.distance.map(|d| (d - p.reference).abs())).fold(0f32, f32::max);
    println!(
        "pairs: {} ({} same-person, {} different), {} without a face",
        r.pairs.len(),
        same,
        r.pairs.len() - same,
        missing
    );
    println!(
        "accuracy at 0.6: {:.2} % (original face-api: {:.2} %)",
        r.accuracy_at_default, r.reference_accuracy_at_default
    );
    println!("best threshold: {:.3} -> {:.2} %", r.best_threshold, r.best_accuracy);
    println!("largest same-person distance {max_same:.3}, smallest different-person {min_diff:.3}");
    println!("largest |distance - original distance| over all pairs: {dev:.4}");
    Ok(())
}
