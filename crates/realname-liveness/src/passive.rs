//! Passive presentation-attack networks of `@vladmandic/human@3.3.6` (MIT), run through
//! [`crate::graph`]: `models/antispoof.json` (4-layer CNN, 128×128 RGB face crop → sigmoid
//! "real" score) and `models/liveness.json` (CNN with batch norm, 32×32 crop → softmax over two
//! classes). The crop follows human's face pipeline: the detector box enlarged 1.4× and
//! squared around its centre, cut and resized to the mesh input (192×192, bilinear, pixels
//! outside the image are 0), scaled to 0..1, then bilinearly resized to the net's input.
//! Human's blazeface box and face-api's SSD box differ slightly; that is one reason the
//! scores are measured on this project's data before any use (see the crate README).

use std::path::Path;

use candle_core::{Device, Tensor};
use realname_face::{BoundingBox, RgbImage};

use crate::error::LivenessError;
use crate::evidence::{PassiveScorer, PassiveScores};
use crate::graph::GraphModel;

/// Side of human's intermediate face tensor (the face mesh input).
const MESH_INPUT: usize = 192;
/// Human's `face.detector.scale`: the detector box is enlarged by this factor.
const BOX_ENLARGE: f32 = 1.4;

/// Both passive networks.
#[derive(Debug, Clone)]
pub struct PassiveNets {
    antispoof: GraphModel,
    liveness: GraphModel,
}

impl PassiveNets {
    /// Loads `antispoof.json/.bin` and `liveness.json/.bin` from `models_dir`.
    pub fn load(models_dir: &Path) -> Result<Self, LivenessError> {
        Ok(Self {
            antispoof: GraphModel::load(models_dir, "antispoof")?,
            liveness: GraphModel::load(models_dir, "liveness")?,
        })
    }

    /// Scores the face in `bbox` of `image`.
    pub fn score(&self, image: &RgbImage, bbox: &BoundingBox) -> Result<PassiveScores, LivenessError> {
        let face = face_tensor(image, bbox)?;
        let run = |net: &GraphModel| -> Result<f32, LivenessError> {
            let (h, w) = net.input_hw();
            let x = resize_bilinear(&face, MESH_INPUT, MESH_INPUT, h, w);
            let t = Tensor::from_vec(x, (1, h, w, 3), &Device::Cpu)?;
            let out: Vec<f32> = net.run(&t)?.flatten_all()?.to_vec1()?;
            out.first().copied().ok_or_else(|| LivenessError::InvalidInput("empty network output".into()))
        };
        Ok(PassiveScores { antispoof: run(&self.antispoof)?, liveness: run(&self.liveness)? })
    }
}

impl PassiveScorer for PassiveNets {
    fn score(&self, image: &RgbImage, bbox: &BoundingBox) -> Result<PassiveScores, LivenessError> {
        PassiveNets::score(self, image, bbox)
    }
}

/// Human's face tensor: enlarged, squared box → 192×192 RGB in 0..1 (HWC), via TF's
/// `cropAndResize` sampling (corners map to corners, extrapolation value 0).
pub(crate) fn face_tensor(image: &RgbImage, bbox: &BoundingBox) -> Result<Vec<f32>, LivenessError> {
    let (iw, ih) = (image.width() as usize, image.height() as usize);
    if iw < 2 || ih < 2 || !(bbox.width > 0.0 && bbox.height > 0.0) {
        return Err(LivenessError::InvalidInput(format!("image {iw}x{ih}, face box {bbox:?}")));
    }
    let (cx, cy) = (bbox.x + bbox.width / 2.0, bbox.y + bbox.height / 2.0);
    let half = BOX_ENLARGE * bbox.width.max(bbox.height) / 2.0;
    let (x1, y1, x2, y2) = ((cx - half).round(), (cy - half).round(), (cx + half).round(), (cy + half).round());
    // Normalised box as TF sees it, then cropAndResize's sampling positions.
    let (ny1, nx1, ny2, nx2) = (y1 / ih as f32, x1 / iw as f32, y2 / ih as f32, x2 / iw as f32);
    let n = MESH_INPUT;
    let mut out = vec![0f32; n * n * 3];
    let raw = image.as_raw();
    let px = |x: usize, y: usize, c: usize| raw[(y * iw + x) * 3 + c] as f32;
    for oy in 0..n {
        let sy = ny1 * (ih - 1) as f32 + oy as f32 * (ny2 - ny1) * (ih - 1) as f32 / (n - 1) as f32;
        if sy < 0.0 || sy > (ih - 1) as f32 {
            continue;
        }
        let (y0, fy) = (sy.floor() as usize, sy - sy.floor());
        let y1i = (y0 + 1).min(ih - 1);
        for ox in 0..n {
            let sx = nx1 * (iw - 1) as f32 + ox as f32 * (nx2 - nx1) * (iw - 1) as f32 / (n - 1) as f32;
            if sx < 0.0 || sx > (iw - 1) as f32 {
                continue;
            }
            let (x0, fx) = (sx.floor() as usize, sx - sx.floor());
            let x1i = (x0 + 1).min(iw - 1);
            for c in 0..3 {
                let top = px(x0, y0, c) + (px(x1i, y0, c) - px(x0, y0, c)) * fx;
                let bottom = px(x0, y1i, c) + (px(x1i, y1i, c) - px(x0, y1i, c)) * fx;
                out[(oy * n + ox) * 3 + c] = (top + (bottom - top) * fy) / 255.0;
            }
        }
    }
    Ok(out)
}

/// TF `resizeBilinear` with `alignCorners = false`, `halfPixelCenters = false` (HWC, 3 channels).
pub(crate) fn resize_bilinear(src: &[f32], sh: usize, sw: usize, dh: usize, dw: usize) -> Vec<f32> {
    let mut out = vec![0f32; dh * dw * 3];
    let (ry, rx) = (sh as f32 / dh as f32, sw as f32 / dw as f32);
    for oy in 0..dh {
        let sy = oy as f32 * ry;
        let (y0, fy) = (sy.floor() as usize, sy - sy.floor());
        let (y0, y1) = (y0.min(sh - 1), (y0 + 1).min(sh - 1));
        for ox in 0..dw {
            let sx = ox as f32 * rx;
            let (x0, fx) = (sx.floor() as usize, sx - sx.floor());
            let (x0, x1) = (x0.min(sw - 1), (x0 + 1).min(sw - 1));
            for c in 0..3 {
                let p = |x: usize, y: usize| src[(y * sw + x) * 3 + c];
                let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * fx;
                let bottom = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * fx;
                out[(oy * dw + ox) * 3 + c] = top + (bottom - top) * fy;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_face_tensor_is_the_enlarged_square_box_in_unit_range() -> Result<(), LivenessError> {
        // A 100x100 image, left half black, right half white; a 40x40 box centred.
        let img = RgbImage::from_fn(
            100,
            100,
            |x, _| {
                if x < 50 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) }
            },
        );
        let t = face_tensor(&img, &BoundingBox { x: 30.0, y: 30.0, width: 40.0, height: 40.0 })?;
        assert_eq!(t.len(), MESH_INPUT * MESH_INPUT * 3);
        let row = MESH_INPUT / 2;
        assert_eq!(t[(row * MESH_INPUT + 2) * 3], 0.0);
        assert!((t[(row * MESH_INPUT + MESH_INPUT - 3) * 3] - 1.0).abs() < 1e-6);
        // A box reaching past the border reads zeros there.
        let t = face_tensor(&img, &BoundingBox { x: 70.0, y: 30.0, width: 40.0, height: 40.0 })?;
        assert_eq!(t[(row * MESH_INPUT + MESH_INPUT - 1) * 3], 0.0);
        assert!(face_tensor(&img, &BoundingBox { x: 0.0, y: 0.0, width: 0.0, height: 5.0 }).is_err());
        Ok(())
    }

    #[test]
    fn bilinear_resize_keeps_constants_and_samples_top_left_aligned() {
        let src = vec![0.25f32; 4 * 4 * 3];
        assert!(resize_bilinear(&src, 4, 4, 2, 2).iter().all(|&v| (v - 0.25).abs() < 1e-7));
        let ramp: Vec<f32> = (0..4).flat_map(|y| (0..4).flat_map(move |x| [(y * 4 + x) as f32; 3])).collect();
        let r = resize_bilinear(&ramp, 4, 4, 2, 2);
        assert_eq!(r[0], 0.0);
        assert_eq!(r[3], 2.0); // (0, 1) samples source x = 2
    }
}
