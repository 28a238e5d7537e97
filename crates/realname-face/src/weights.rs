//! Loader for face-api / TensorFlow.js weight files (`<model>-weights_manifest.json` + `.bin`),
//! with tfjs' uint8/uint16 dequantisation (`q · scale + min` in f64, stored as f32).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Deserialize;

use crate::FaceError;

/// The five face-api models this crate can load (manifest base names).
pub const MODEL_NAMES: [&str; 5] =
    ["tiny_face_detector", "ssd_mobilenetv1", "face_landmark_68", "face_landmark_68_tiny", "face_recognition"];

#[derive(Debug, Deserialize)]
struct ManifestGroup {
    paths: Vec<String>,
    weights: Vec<ManifestEntry>,
}

#[derive(Debug, Deserialize)]
struct ManifestEntry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
    scale: Option<f64>,
    min: Option<f64>,
}

/// One dequantised tensor in the checkpoint's own layout (TensorFlow HWIO for convs).
#[derive(Debug, Clone)]
pub struct WeightTensor {
    /// Checkpoint name, e.g. `conv32_down/conv/filters`.
    pub name: String,
    /// Checkpoint shape.
    pub shape: Vec<usize>,
    /// Values, row-major; int32 entries are rounded and stored as f32.
    pub data: Vec<f32>,
}

/// All tensors of one model, in manifest order.
#[derive(Debug)]
pub struct ModelWeights {
    file: PathBuf,
    tensors: Vec<WeightTensor>,
    index: HashMap<String, usize>,
}

impl ModelWeights {
    /// Reads `<dir>/<model>-weights_manifest.json` and the `.bin` it names, checks that the bin's
    /// byte length equals the manifest's total, and dequantises every tensor.
    pub fn load(dir: &Path, model: &str) -> Result<Self, FaceError> {
        let manifest_path = dir.join(format!("{model}_model-weights_manifest.json"));
        let manifest_text = read_file(&manifest_path)?;
        let corrupt = |file: &Path, reason: String| FaceError::ModelCorrupt { file: file.to_path_buf(), reason };
        let groups: Vec<ManifestGroup> = serde_json::from_slice(&manifest_text)
            .map_err(|e| corrupt(&manifest_path, format!("manifest is not valid JSON: {e}")))?;
        let mut tensors = Vec::new();
        let mut bin_file = manifest_path.clone();
        for group in groups {
            let mut bytes = Vec::new();
            for p in &group.paths {
                if p.contains('/') || p.contains('\\') || p.contains("..") {
                    return Err(corrupt(&manifest_path, format!("weight path {p:?} leaves the models folder")));
                }
                bin_file = dir.join(p);
                bytes.extend_from_slice(&read_file(&bin_file)?);
            }
            let mut expected = 0usize;
            for e in &group.weights {
                expected = expected.saturating_add(byte_len(e).ok_or_else(|| {
                    corrupt(&manifest_path, format!("tensor {} has an unsupported dtype/shape", e.name))
                })?);
            }
            if bytes.len() != expected {
                return Err(corrupt(
                    &bin_file,
                    format!("{} bytes, the manifest describes {expected} (truncated or wrong file)", bytes.len()),
                ));
            }
            let mut offset = 0usize;
            for e in group.weights {
                let len = byte_len(&e).unwrap_or(0);
                let raw = &bytes[offset..offset + len];
                offset += len;
                let data = dequantise(&e, raw)
                    .ok_or_else(|| corrupt(&manifest_path, format!("cannot decode tensor {}", e.name)))?;
                tensors.push(WeightTensor { name: e.name, shape: e.shape, data });
            }
        }
        let index = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(Self { file: manifest_path, tensors, index })
    }

    /// Tensors in manifest order.
    pub fn tensors(&self) -> &[WeightTensor] {
        &self.tensors
    }

    /// The tensor `name`, checked to have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&WeightTensor, FaceError> {
        let t = self.index.get(name).map(|&i| &self.tensors[i]).ok_or_else(|| FaceError::ModelCorrupt {
            file: self.file.clone(),
            reason: format!("tensor {name} missing"),
        })?;
        if t.shape != shape {
            return Err(FaceError::ModelCorrupt {
                file: self.file.clone(),
                reason: format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape),
            });
        }
        Ok(t)
    }

    /// The tensor `name` as a plain vector (checked shape).
    pub(crate) fn vec(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FaceError> {
        Ok(self.get(name, shape)?.data.clone())
    }

    /// The tensor `name` reshaped to a `[rows, cols]` candle matrix (checked shape), e.g. a
    /// HWIO conv kernel as the `[kh·kw·c_in, c_out]` right-hand side of an im2col matmul.
    pub(crate) fn matrix(&self, name: &str, shape: &[usize], rows: usize, cols: usize) -> Result<Tensor, FaceError> {
        let t = self.get(name, shape)?;
        Ok(Tensor::from_slice(&t.data, (rows, cols), &Device::Cpu)?)
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, FaceError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            FaceError::ModelMissing { file: path.to_path_buf() }
        } else {
            FaceError::ModelCorrupt { file: path.to_path_buf(), reason: e.to_string() }
        }
    })
}

fn elem_bytes(e: &ManifestEntry) -> Option<usize> {
    match &e.quantization {
        Some(q) => match q.dtype.as_str() {
            "uint8" => Some(1),
            "uint16" | "float16" => Some(2),
            _ => None,
        },
        None => match e.dtype.as_str() {
            "float32" | "int32" => Some(4),
            _ => None,
        },
    }
}

fn byte_len(e: &ManifestEntry) -> Option<usize> {
    let n = e.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    n.checked_mul(elem_bytes(e)?)
}

fn dequantise(e: &ManifestEntry, raw: &[u8]) -> Option<Vec<f32>> {
    let is_int = e.dtype == "int32";
    match &e.quantization {
        Some(q) if q.dtype == "uint8" || q.dtype == "uint16" => {
            let (scale, min) = (q.scale?, q.min?);
            let f = |v: f64| {
                let x = v * scale + min;
                if is_int { x.round() as f32 } else { x as f32 }
            };
            Some(if q.dtype == "uint8" {
                raw.iter().map(|&b| f(b as f64)).collect()
            } else {
                raw.chunks_exact(2).map(|c| f(u16::from_le_bytes([c[0], c[1]]) as f64)).collect()
            })
        }
        Some(q) if q.dtype == "float16" => {
            Some(raw.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect())
        }
        Some(_) => None,
        None if is_int => {
            Some(raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect())
        }
        None => Some(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) & 1) as u32;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if frac == 0 {
            sign << 31
        } else {
            // Subnormal: value = frac · 2^-24.
            let v = frac as f32 * (1.0 / 16_777_216.0);
            return if sign == 1 { -v } else { v };
        }
    } else if exp == 31 {
        (sign << 31) | 0x7f80_0000 | (frac << 13)
    } else {
        (sign << 31) | ((exp + 112) << 23) | (frac << 13)
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }

    #[test]
    fn missing_model_names_the_file() {
        let err = ModelWeights::load(Path::new("/nonexistent-dir"), "face_recognition").expect_err("missing");
        match err {
            FaceError::ModelMissing { file } => {
                assert!(file.ends_with("face_recognition_model-weights_manifest.json"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
