//! The weight loader against `golden/weights_check.json` (sha256 of every dequantised tensor).

use anyhow::{Context, Result};
use realname_face::weights::{MODEL_NAMES, ModelWeights};

use super::common::{golden, models_dir, sha256_hex};

#[test]
fn every_dequantised_tensor_matches_the_reference_checksum() -> Result<()> {
    let check = golden("weights_check.json")?;
    let mut checked = 0;
    for model in MODEL_NAMES {
        let weights = ModelWeights::load(&models_dir(), model)?;
        let expected: Vec<_> =
            check[model].as_array().context("model entry")?.iter().filter(|e| e.get("name").is_some()).collect();
        assert_eq!(weights.tensors().len(), expected.len(), "{model}: tensor count");
        for (t, e) in weights.tensors().iter().zip(expected) {
            assert_eq!(t.name, e["name"].as_str().context("name")?, "{model}: manifest order");
            let shape: Vec<usize> =
                e["shape"].as_array().context("shape")?.iter().filter_map(|d| d.as_u64()).map(|d| d as usize).collect();
            assert_eq!(t.shape, shape, "{model}/{}", t.name);
            let first: Vec<f64> = e["first4"].as_array().context("first4")?.iter().filter_map(|v| v.as_f64()).collect();
            for (a, b) in t.data.iter().zip(&first) {
                assert_eq!(*a as f64, *b, "{model}/{}: first values", t.name);
            }
            let bytes: Vec<u8> = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(sha256_hex(&bytes), e["sha256_f32le"].as_str().context("sha")?, "{model}/{}", t.name);
            checked += 1;
        }
    }
    assert_eq!(checked, 19 + 151 + 49 + 28 + 117);
    Ok(())
}

#[test]
fn truncated_bin_is_reported_as_corrupt_with_its_name() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("realname-face-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let src = models_dir();
    std::fs::copy(
        src.join("tiny_face_detector_model-weights_manifest.json"),
        dir.join("tiny_face_detector_model-weights_manifest.json"),
    )?;
    let bin = std::fs::read(src.join("tiny_face_detector_model.bin"))?;
    std::fs::write(dir.join("tiny_face_detector_model.bin"), &bin[..bin.len() - 1])?;
    let err = ModelWeights::load(&dir, "tiny_face_detector").expect_err("truncated bin must fail");
    let msg = err.to_string();
    assert!(matches!(err, realname_face::FaceError::ModelCorrupt { .. }), "{msg}");
    assert!(msg.contains("tiny_face_detector_model.bin"), "{msg}");
    std::fs::remove_file(dir.join("tiny_face_detector_model.bin"))?;
    let err = ModelWeights::load(&dir, "tiny_face_detector").expect_err("missing bin must fail");
    assert!(matches!(err, realname_face::FaceError::ModelMissing { .. }), "{err}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
