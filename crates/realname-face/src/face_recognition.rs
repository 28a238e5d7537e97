//! face-api `FaceRecognitionNet` (`face_recognition_model`): the dlib ResNet-29 face descriptor
//! (King, dlib `dlib_face_recognition_resnet_model_v1`, after He et al., "Deep Residual Learning",
//! 2016) mapping a 150×150 crop to a 128-D embedding, with face-api's "dlib alignment" crop.

use candle_core::Tensor;

use crate::geometry::{CropRect, clip_and_floor};
use crate::ops::{Act, Affine, Fmap, Pad, add_assign, avg_pool_valid, conv2d_affine, dense, global_mean, max_pool};
use crate::preprocess::{FACE_NORM, Padding, normalise, resize_padded};
use crate::weights::ModelWeights;
use crate::{FaceError, RgbImage};

/// Input side of the recognition net.
pub(crate) const INPUT_SIZE: usize = 150;

/// Conv + bias, then the folded-BN scale layer `x · weights + biases`, then optional relu.
#[derive(Debug)]
struct ConvLayer {
    filters: Tensor,
    bias: Vec<f32>,
    scale_weights: Vec<f32>,
    scale_biases: Vec<f32>,
    k: usize,
}

impl ConvLayer {
    fn load(w: &ModelWeights, name: &str, k: usize, c_in: usize, c_out: usize) -> Result<Self, FaceError> {
        Ok(Self {
            filters: w.matrix(&format!("{name}/conv/filters"), &[k, k, c_in, c_out], k * k * c_in, c_out)?,
            bias: w.vec(&format!("{name}/conv/bias"), &[c_out])?,
            scale_weights: w.vec(&format!("{name}/scale/weights"), &[c_out])?,
            scale_biases: w.vec(&format!("{name}/scale/biases"), &[c_out])?,
            k,
        })
    }

    fn forward(&self, x: &Fmap, stride: usize, pad: Pad, act: Act) -> Result<Fmap, FaceError> {
        let affine =
            Affine { bias: Some(&self.bias), mul: Some(&self.scale_weights), add: Some(&self.scale_biases), act };
        conv2d_affine(x, &self.filters, self.k, stride, pad, Some(affine))
    }
}

/// `residual` (stride 1) or `residualDown` block: `conv1` → relu → `conv2`, plus the shortcut.
#[derive(Debug)]
struct Residual {
    conv1: ConvLayer,
    conv2: ConvLayer,
    down: bool,
}

impl Residual {
    fn load(w: &ModelWeights, name: &str, c_in: usize, c_out: usize, down: bool) -> Result<Self, FaceError> {
        Ok(Self {
            conv1: ConvLayer::load(w, &format!("{name}/conv1"), 3, c_in, c_out)?,
            conv2: ConvLayer::load(w, &format!("{name}/conv2"), 3, c_out, c_out)?,
            down,
        })
    }

    fn forward(&self, x: &Fmap) -> Result<Fmap, FaceError> {
        if !self.down {
            let h = self.conv1.forward(x, 1, Pad::ONE, Act::Relu)?;
            let mut y = self.conv2.forward(&h, 1, Pad::ONE, Act::None)?;
            add_assign(&mut y, x);
            y.data.iter_mut().for_each(|v| *v = v.max(0.0));
            return Ok(y);
        }
        // Main branch: 3×3 stride 2 VALID, then 3×3 SAME.
        let h = self.conv1.forward(x, 2, Pad::NONE, Act::Relu)?;
        let mut y = self.conv2.forward(&h, 1, Pad::ONE, Act::None)?;
        // Shortcut: avg-pool 2×2 s2 VALID, channels zero-extended at the end.
        let pooled = avg_pool_valid(x, 2, 2);
        // The conv branch is one row/col short when the input size is odd: zero-pad it bottom/right.
        if (y.h, y.w) != (pooled.h, pooled.w) {
            let mut padded = Fmap::zeros(pooled.h, pooled.w, y.c);
            for r in 0..y.h.min(pooled.h) {
                for c in 0..y.w.min(pooled.w) {
                    let src = (r * y.w + c) * y.c;
                    let dst = (r * pooled.w + c) * y.c;
                    padded.data[dst..dst + y.c].copy_from_slice(&y.data[src..src + y.c]);
                }
            }
            y = padded;
        }
        for (px, sp) in y.data.chunks_exact_mut(y.c).zip(pooled.data.chunks_exact(pooled.c)) {
            for (v, s) in px.iter_mut().zip(sp) {
                *v += s;
            }
        }
        y.data.iter_mut().for_each(|v| *v = v.max(0.0));
        Ok(y)
    }
}

/// The loaded recognition net.
#[derive(Debug)]
pub(crate) struct FaceRecognitionNet {
    conv32_down: ConvLayer,
    blocks: Vec<Residual>,
    fc: Vec<f32>,
}

impl FaceRecognitionNet {
    pub(crate) fn load(w: &ModelWeights) -> Result<Self, FaceError> {
        let spec: [(&str, usize, usize, bool); 14] = [
            ("conv32_1", 32, 32, false),
            ("conv32_2", 32, 32, false),
            ("conv32_3", 32, 32, false),
            ("conv64_down", 32, 64, true),
            ("conv64_1", 64, 64, false),
            ("conv64_2", 64, 64, false),
            ("conv64_3", 64, 64, false),
            ("conv128_down", 64, 128, true),
            ("conv128_1", 128, 128, false),
            ("conv128_2", 128, 128, false),
            ("conv256_down", 128, 256, true),
            ("conv256_1", 256, 256, false),
            ("conv256_2", 256, 256, false),
            ("conv256_down_out", 256, 256, true),
        ];
        let blocks =
            spec.iter().map(|&(n, ci, co, down)| Residual::load(w, n, ci, co, down)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { conv32_down: ConvLayer::load(w, "conv32_down", 7, 3, 32)?, blocks, fc: w.vec("fc", &[256, 128])? })
    }

    /// Normalised 150×150 input of a crop (centred padding).
    pub(crate) fn input(image: &RgbImage, crop: CropRect) -> Fmap {
        let mut x = resize_padded(image, crop, INPUT_SIZE, Padding::Centred);
        normalise(&mut x, FACE_NORM);
        x
    }

    /// The 128-D descriptor (not normalised).
    pub(crate) fn forward(&self, input: &Fmap) -> Result<[f32; 128], FaceError> {
        let mut x = self.conv32_down.forward(input, 2, Pad::NONE, Act::Relu)?;
        x = max_pool(&x, 3, 2, Pad::NONE);
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        let pooled = global_mean(&x);
        let out = dense(&pooled, &self.fc, None, 128);
        let mut d = [0f32; 128];
        d.copy_from_slice(&out);
        Ok(d)
    }
}

/// face-api's `FaceLandmarks.align()` with dlib alignment: a square from the eye and mouth
/// centres, then clipped and floored to the image. `crop_w/crop_h` = landmark-crop size (the
/// quirky `min(size, cw + x)`); pass `f64::INFINITY` when unknown.
pub(crate) fn dlib_crop(
    points: &[(f32, f32); 68],
    crop_w: f64,
    crop_h: f64,
    img_w: u32,
    img_h: u32,
) -> Option<CropRect> {
    let mean = |r: std::ops::Range<usize>| {
        let n = r.len() as f64;
        let (sx, sy) = points[r].iter().fold((0f64, 0f64), |(sx, sy), &(x, y)| (sx + x as f64, sy + y as f64));
        (sx / n, sy / n)
    };
    let le = mean(36..42);
    let re = mean(42..48);
    let mo = mean(48..68);
    let dist = |a: (f64, f64), b: (f64, f64)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let eye_to_mouth = (dist(mo, le) + dist(mo, re)) / 2.0;
    let size = (eye_to_mouth / 0.45).floor();
    let ref_x = (le.0 + re.0 + mo.0) / 3.0;
    let ref_y = (le.1 + re.1 + mo.1) / 3.0;
    let x = (ref_x - 0.5 * size).max(0.0).floor();
    let y = (ref_y - 0.43 * size).max(0.0).floor();
    let w = size.min(crop_w + x);
    let h = size.min(crop_h + y);
    clip_and_floor(x as f32, y as f32, w as f32, h as f32, img_w, img_h)
}
