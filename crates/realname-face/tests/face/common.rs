//! Shared test fixtures: where the models and the shared golden data live, a lazily loaded engine, PNG inputs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use realname_face::{EngineConfig, FaceEngine, ImageLimits, RgbImage, decode_image};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `REALNAME_MODELS_DIR`, default `<workspace>/models`.
pub(crate) fn models_dir() -> PathBuf {
    std::env::var_os("REALNAME_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_dir().join("models"))
}

/// `REALNAME_SHARED_DIR`, default `<workspace>/../shared`.
pub(crate) fn shared_dir() -> PathBuf {
    std::env::var_os("REALNAME_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_dir().join("../shared"))
}

/// `<shared>/data/faces`; panics (fails the test) when absent.
pub(crate) fn faces_dir() -> PathBuf {
    let d = shared_dir().join("data/faces");
    assert!(d.join("golden").is_dir(), "golden face data missing at {} (set REALNAME_SHARED_DIR)", d.display());
    d
}

/// The engine with every net loaded, shared by all tests.
pub(crate) fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = models_dir();
        FaceEngine::load(&dir, EngineConfig::default())
            .unwrap_or_else(|e| panic!("cannot load face models from {} (set REALNAME_MODELS_DIR): {e}", dir.display()))
    })
}

/// Parsed `golden/<name>`.
pub(crate) fn golden(name: &str) -> Result<Value> {
    let p = faces_dir().join("golden").join(name);
    let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    Ok(serde_json::from_slice(&text)?)
}

/// All images of the three golden sets.
pub(crate) fn golden_images() -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for set in ["face_recognition.json", "faceapijs.json", "vladmandic_demo.json"] {
        let g = golden(set)?;
        out.extend(g["images"].as_array().context("images")?.iter().cloned());
    }
    Ok(out)
}

/// Decodes `<faces>/<rel>` with the engine's decoder.
pub(crate) fn load_image(rel: &str) -> Result<RgbImage> {
    let p = faces_dir().join(rel);
    let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    Ok(decode_image(&bytes, &ImageLimits::default())?)
}

/// Path (relative to the faces dir) of lossless pixels for a golden image: the image itself when it
/// is a PNG, the jpeg-js pixels from `golden/decoded_png/` for the small JPEGs, else `None`.
pub(crate) fn png_input(image_rel: &str) -> Option<String> {
    if image_rel.ends_with(".png") {
        return Some(image_rel.to_string());
    }
    let candidate = format!("golden/decoded_png/{image_rel}.png");
    faces_dir().join(&candidate).is_file().then_some(candidate)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).map(|x| x as f32).collect()).unwrap_or_default()
}

pub(crate) fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default()
}

pub(crate) fn l2(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

pub(crate) fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    let inter = ix.max(0.0) * iy.max(0.0);
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}
