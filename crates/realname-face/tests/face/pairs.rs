//! Verification on `golden/pairs.csv` with this crate's own pipeline (shared by the `accuracy` example).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use realname_face::{DEFAULT_MATCH_THRESHOLD, DetectOptions, FaceEngine, ImageLimits, decode_image};

/// One labelled pair with our distance (`None` when a face was not found) and the original's.
#[derive(Debug, Clone)]
pub(crate) struct PairResult {
    pub same: bool,
    pub distance: Option<f32>,
    pub reference: f32,
}

/// Figures of a verification run.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub pairs: Vec<PairResult>,
    pub accuracy_at_default: f64,
    pub reference_accuracy_at_default: f64,
    pub best_threshold: f32,
    pub best_accuracy: f64,
}

/// Accuracy (%) when "same" means distance < threshold; a missing face predicts "different".
pub(crate) fn accuracy(pairs: &[(Option<f32>, bool)], threshold: f32) -> f64 {
    let correct = pairs.iter().filter(|(d, same)| d.is_some_and(|d| d < threshold) == *same).count();
    100.0 * correct as f64 / pairs.len().max(1) as f64
}

/// Runs every labelled image once (whole image for the pre-cropped `faceapijs` faces, SSD →
/// landmarks → descriptor of the best face for photos) and scores all pairs.
pub(crate) fn evaluate(faces_dir: &Path, engine: &FaceEngine) -> Result<Report> {
    let csv = std::fs::read_to_string(faces_dir.join("golden/pairs.csv")).context("golden/pairs.csv")?;
    let mut rows = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 {
            continue;
        }
        rows.push((f[0].to_string(), f[1].to_string(), f[2].to_string(), f[5] == "1", f[6].parse::<f32>()?));
    }
    let mut cache: HashMap<String, Option<realname_face::Descriptor>> = HashMap::new();
    let mut describe = |set: &str, rel: &str| -> Result<Option<realname_face::Descriptor>> {
        if let Some(d) = cache.get(rel) {
            return Ok(*d);
        }
        let bytes = std::fs::read(faces_dir.join(rel)).with_context(|| rel.to_string())?;
        let img = decode_image(&bytes, &ImageLimits::default())?;
        let d = if set == "faceapijs" {
            Some(engine.descriptor_of_crop(&img)?)
        } else {
            engine.analyze(&img, &DetectOptions::default())?.first().map(|a| a.descriptor)
        };
        cache.insert(rel.to_string(), d);
        Ok(d)
    };
    let mut pairs = Vec::new();
    for (set, a, b, same, reference) in rows {
        let da = describe(&set, &a)?;
        let db = describe(&set, &b)?;
        let distance = match (da, db) {
            (Some(x), Some(y)) => Some(x.distance(&y)),
            _ => None,
        };
        pairs.push(PairResult { same, distance, reference });
    }
    let ours: Vec<(Option<f32>, bool)> = pairs.iter().map(|p| (p.distance, p.same)).collect();
    let theirs: Vec<(Option<f32>, bool)> = pairs.iter().map(|p| (Some(p.reference), p.same)).collect();
    let mut best = (DEFAULT_MATCH_THRESHOLD, accuracy(&ours, DEFAULT_MATCH_THRESHOLD));
    for i in 300..=900 {
        let t = i as f32 / 1000.0;
        let a = accuracy(&ours, t);
        if a > best.1 {
            best = (t, a);
        }
    }
    Ok(Report {
        accuracy_at_default: accuracy(&ours, DEFAULT_MATCH_THRESHOLD),
        reference_accuracy_at_default: accuracy(&theirs, DEFAULT_MATCH_THRESHOLD),
        best_threshold: best.0,
        best_accuracy: best.1,
        pairs,
    })
}
