//! Reading a TF.js graph model's weights: the manifest's binary shards, dequantised (uint8,
//! uint16, float16) into candle tensors by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::{ManifestGroup, corrupt};
use crate::error::LivenessError;

/// IEEE 754 half → f32 (TF.js stores float16-quantised weights this way).
pub(super) fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let frac = (bits & 0x3ff) as f32;
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 => {
            if frac == 0.0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            }
        }
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// Turns the bytes of one stored element into an f32.
type Decoder = Box<dyn Fn(&[u8]) -> f32>;

pub(super) fn load_weights(
    dir: &Path,
    json_path: &Path,
    manifest: &[ManifestGroup],
) -> Result<HashMap<String, Tensor>, LivenessError> {
    let mut out = HashMap::new();
    for group in manifest {
        let mut bytes = Vec::new();
        for p in &group.paths {
            if p.contains('/') || p.contains('\\') || p.starts_with('.') {
                return Err(corrupt(json_path, format!("weight path {p:?} leaves the model directory")));
            }
            let path: PathBuf = dir.join(p);
            let mut b =
                std::fs::read(&path).map_err(|source| LivenessError::ModelMissing { path: path.clone(), source })?;
            bytes.append(&mut b);
        }
        let bin = dir.join(group.paths.first().map(String::as_str).unwrap_or(""));
        let mut offset = 0usize;
        for w in &group.weights {
            let count: usize = w.shape.iter().product();
            let (elem, values): (usize, Decoder) = match (&w.quantization, w.dtype.as_str()) {
                (None, "float32") => (4, Box::new(|b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
                (None, "int32") => (4, Box::new(|b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)),
                (Some(q), _) if q.dtype == "float16" => {
                    (2, Box::new(|b: &[u8]| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))))
                }
                (Some(q), _) if q.dtype == "uint8" => {
                    let (scale, min) = (q.scale.unwrap_or(1.0), q.min.unwrap_or(0.0));
                    (1, Box::new(move |b: &[u8]| b[0] as f32 * scale + min))
                }
                (q, d) => {
                    return Err(corrupt(
                        json_path,
                        format!("weight {}: dtype {d} / quantisation {q:?} not supported", w.name),
                    ));
                }
            };
            let end = offset + count * elem;
            let slice = bytes.get(offset..end).ok_or_else(|| {
                corrupt(
                    &bin,
                    format!("weights end at byte {} but weight {} needs bytes {offset}..{end}", bytes.len(), w.name),
                )
            })?;
            let data: Vec<f32> = slice.chunks_exact(elem).map(&values).collect();
            let dims = if w.shape.is_empty() { vec![1] } else { w.shape.clone() };
            out.insert(w.name.clone(), Tensor::from_vec(data, dims, &Device::Cpu)?);
            offset = end;
        }
        if offset != bytes.len() {
            return Err(corrupt(&bin, format!("{} bytes of weights, the manifest describes {offset}", bytes.len())));
        }
    }
    Ok(out)
}
