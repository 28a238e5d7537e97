//! face-api `FaceLandmark68Net` / `FaceLandmark68TinyNet` (`face_landmark_68_model`,
//! `face_landmark_68_tiny_model`): densely connected blocks of depthwise-separable convs
//! (DenseNet-style, Huang et al. 2017; MobileNet separable convs) regressing the 68 iBUG points
//! (Sagonas et al., 300-W, 2013) from a 112×112 centred crop.

use candle_core::Tensor;

use crate::geometry::CropRect;
use crate::ops::{Act, Affine, Fmap, Pad, add_assign, apply_act, conv2d_affine, dense, depthwise3x3, global_mean};
use crate::preprocess::{FACE_NORM, Padding, normalise, resize_padded};
use crate::weights::ModelWeights;
use crate::{FaceError, RgbImage};

/// Input side of the landmark nets.
pub(crate) const INPUT_SIZE: usize = 112;

#[derive(Debug)]
struct SeparableConv {
    depthwise_filter: Vec<f32>,
    pointwise_filter: Tensor,
    bias: Vec<f32>,
}

impl SeparableConv {
    fn load(w: &ModelWeights, name: &str, c_in: usize, c_out: usize) -> Result<Self, FaceError> {
        Ok(Self {
            depthwise_filter: w.vec(&format!("{name}/depthwise_filter"), &[3, 3, c_in, 1])?,
            pointwise_filter: w.matrix(&format!("{name}/pointwise_filter"), &[1, 1, c_in, c_out], c_in, c_out)?,
            bias: w.vec(&format!("{name}/bias"), &[c_out])?,
        })
    }

    /// Depthwise 3×3 SAME (stride `s`), pointwise, + bias; no activation.
    fn forward(&self, x: &Fmap, s: usize) -> Result<Fmap, FaceError> {
        let d = depthwise3x3(x, &self.depthwise_filter, s, Pad::same(x.h, x.w, 3, s));
        conv2d_affine(&d, &self.pointwise_filter, 1, 1, Pad::NONE, Some(Affine::bias(&self.bias, Act::None)))
    }
}

#[derive(Debug)]
enum FirstConv {
    /// Block 0: full 3×3 conv, stride 2 SAME, + bias.
    Full {
        filters: Tensor,
        bias: Vec<f32>,
    },
    Separable(SeparableConv),
}

/// `denseBlock4` / `denseBlock3`: o1 = relu(conv0(x)), then each further conv sees
/// relu(o1 + … + o_k) and the block returns relu(sum of all outputs).
#[derive(Debug)]
struct DenseBlock {
    conv0: FirstConv,
    convs: Vec<SeparableConv>,
}

impl DenseBlock {
    fn load(w: &ModelWeights, name: &str, c_in: usize, c_out: usize, n_convs: usize) -> Result<Self, FaceError> {
        let conv0 = if name == "dense0" {
            FirstConv::Full {
                filters: w.matrix(&format!("{name}/conv0/filters"), &[3, 3, c_in, c_out], 9 * c_in, c_out)?,
                bias: w.vec(&format!("{name}/conv0/bias"), &[c_out])?,
            }
        } else {
            FirstConv::Separable(SeparableConv::load(w, &format!("{name}/conv0"), c_in, c_out)?)
        };
        let convs = (1..n_convs)
            .map(|i| SeparableConv::load(w, &format!("{name}/conv{i}"), c_out, c_out))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { conv0, convs })
    }

    fn forward(&self, x: &Fmap) -> Result<Fmap, FaceError> {
        let mut o1 = match &self.conv0 {
            FirstConv::Full { filters, bias } => {
                conv2d_affine(x, filters, 3, 2, Pad::same(x.h, x.w, 3, 2), Some(Affine::bias(bias, Act::None)))?
            }
            FirstConv::Separable(sep) => sep.forward(x, 2)?,
        };
        apply_act(&mut o1, Act::Relu);
        // face-api sums right to left: o1 + (o2 + (o3 + o4)); keep the outputs to add them in that order.
        let mut outs: Vec<Fmap> = vec![o1];
        for conv in &self.convs {
            let mut input = sum_right_to_left(&outs);
            apply_act(&mut input, Act::Relu);
            outs.push(conv.forward(&input, 1)?);
        }
        let mut y = sum_right_to_left(&outs);
        apply_act(&mut y, Act::Relu);
        Ok(y)
    }
}

fn sum_right_to_left(outs: &[Fmap]) -> Fmap {
    let mut acc = outs[outs.len() - 1].clone();
    for o in outs[..outs.len() - 1].iter().rev() {
        // acc = o + acc (addition is commutative per element; the order of the chain matters).
        add_assign(&mut acc, o);
    }
    acc
}

/// A loaded 68-point landmark net (full or tiny).
#[derive(Debug)]
pub(crate) struct FaceLandmark68Net {
    blocks: Vec<DenseBlock>,
    fc_weights: Vec<f32>,
    fc_bias: Vec<f32>,
}

impl FaceLandmark68Net {
    /// `tiny = false`: 4 blocks of 4 convs (32/64/128/256); `tiny = true`: 3 blocks of 3 convs.
    pub(crate) fn load(w: &ModelWeights, tiny: bool) -> Result<Self, FaceError> {
        let (chans, n_convs): (&[usize], usize) =
            if tiny { (&[3, 32, 64, 128], 3) } else { (&[3, 32, 64, 128, 256], 4) };
        let blocks = (0..chans.len() - 1)
            .map(|i| DenseBlock::load(w, &format!("dense{i}"), chans[i], chans[i + 1], n_convs))
            .collect::<Result<Vec<_>, _>>()?;
        let c = chans[chans.len() - 1];
        Ok(Self { blocks, fc_weights: w.vec("fc/weights", &[c, 136])?, fc_bias: w.vec("fc/bias", &[136])? })
    }

    /// Normalised 112×112 input of a crop (centred padding).
    pub(crate) fn input(image: &RgbImage, crop: CropRect) -> Fmap {
        let mut x = resize_padded(image, crop, INPUT_SIZE, Padding::Centred);
        normalise(&mut x, FACE_NORM);
        x
    }

    /// The 136 raw outputs `x0, y0, x1, y1, …` in the unit padded square.
    pub(crate) fn forward(&self, input: &Fmap) -> Result<Vec<f32>, FaceError> {
        let mut x = self.blocks[0].forward(input)?;
        for b in &self.blocks[1..] {
            x = b.forward(&x)?;
        }
        // avgPool 7×7 (tiny: 14×14) stride 2 VALID on a 7×7 (14×14) map = the global mean.
        let pooled = global_mean(&x);
        Ok(dense(&pooled, &self.fc_weights, Some(&self.fc_bias), 136))
    }
}

/// `FaceLandmark68NetBase.postProcess` + shift: raw outputs → absolute pixels. The scale uses the
/// clipped/floored crop size, the shift the detection box's own (unclipped) `x, y` (face-api quirk).
pub(crate) fn to_absolute(raw: &[f32], crop: CropRect, box_x: f64, box_y: f64) -> [(f32, f32); 68] {
    let (cw, ch) = (crop.width as f64, crop.height as f64);
    let size = INPUT_SIZE as f64;
    let s = size / cw.max(ch);
    let (w, h) = (cw * s, ch * s);
    let pad_x = if w < h { (h - w) / 2.0 } else { 0.0 };
    let pad_y = if h < w { (w - h) / 2.0 } else { 0.0 };
    let mut pts = [(0f32, 0f32); 68];
    for (i, p) in pts.iter_mut().enumerate() {
        let rx = (raw[2 * i] as f64 * size - pad_x) / w;
        let ry = (raw[2 * i + 1] as f64 * size - pad_y) / h;
        *p = ((rx * cw + box_x) as f32, (ry * ch + box_y) as f32);
    }
    pts
}
