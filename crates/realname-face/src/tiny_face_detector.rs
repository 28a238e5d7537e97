//! face-api `TinyFaceDetector` (`tiny_face_detector_model`): a Tiny-YOLOv2-style single-class
//! detector with depthwise-separable convolutions (Redmon & Farhadi, "YOLO9000", 2017; separable
//! convs after Howard et al., "MobileNets", 2017), 5 anchors, decoded and NMS'd as face-api does.

use candle_core::Tensor;

use crate::geometry::non_max_suppression;
use crate::ops::{Act, Affine, Fmap, Pad, conv2d_affine, depthwise3x3, max_pool};
use crate::preprocess::{Padding, TINY_NORM, full_rect, normalise, resize_padded};
use crate::weights::ModelWeights;
use crate::{BoundingBox, Detection, FaceError, RgbImage};

const ANCHORS: [(f32, f32); 5] =
    [(1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061), (4.266906, 5.178857), (9.041765, 10.66308)];

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

    /// Zero-pad 1, depthwise 3×3 VALID, pointwise, + bias, leaky ReLU.
    fn forward(&self, x: &Fmap) -> Result<Fmap, FaceError> {
        let d = depthwise3x3(x, &self.depthwise_filter, 1, Pad::ONE);
        conv2d_affine(&d, &self.pointwise_filter, 1, 1, Pad::NONE, Some(Affine::bias(&self.bias, Act::Leaky)))
    }
}

/// The loaded tiny face detector.
#[derive(Debug)]
pub(crate) struct TinyFaceDetector {
    conv0_filters: Tensor,
    conv0_bias: Vec<f32>,
    convs: Vec<SeparableConv>,
    conv8_filters: Tensor,
    conv8_bias: Vec<f32>,
}

impl TinyFaceDetector {
    pub(crate) fn load(w: &ModelWeights) -> Result<Self, FaceError> {
        let chans = [16, 32, 64, 128, 256, 512];
        let convs = (1..=5)
            .map(|i| SeparableConv::load(w, &format!("conv{i}"), chans[i - 1], chans[i]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            conv0_filters: w.matrix("conv0/filters", &[3, 3, 3, 16], 27, 16)?,
            conv0_bias: w.vec("conv0/bias", &[16])?,
            convs,
            conv8_filters: w.matrix("conv8/filters", &[1, 1, 512, 25], 512, 25)?,
            conv8_bias: w.vec("conv8/bias", &[25])?,
        })
    }

    /// Raw `G × G × 25` output for a normalised `S × S × 3` input.
    pub(crate) fn forward(&self, input: &Fmap) -> Result<Fmap, FaceError> {
        let mut x = conv2d_affine(
            input,
            &self.conv0_filters,
            3,
            1,
            Pad::NONE,
            Some(Affine::bias(&self.conv0_bias, Act::Leaky)),
        )?;
        x = max_pool(&x, 2, 2, Pad::same(x.h, x.w, 2, 2));
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(&x)?;
            let s = if i < 4 { 2 } else { 1 };
            x = max_pool(&x, 2, s, Pad::same(x.h, x.w, 2, s));
        }
        conv2d_affine(&x, &self.conv8_filters, 1, 1, Pad::NONE, Some(Affine::bias(&self.conv8_bias, Act::None)))
    }

    /// Preprocessed network input (pad bottom/right, resize, normalise).
    pub(crate) fn input(image: &RgbImage, size: usize) -> Fmap {
        let mut x = resize_padded(image, full_rect(image), size, Padding::BottomRight);
        normalise(&mut x, TINY_NORM);
        x
    }

    pub(crate) fn detect(
        &self,
        image: &RgbImage,
        input_size: u32,
        min_score: f32,
        iou_threshold: f32,
        max_results: usize,
    ) -> Result<Vec<Detection>, FaceError> {
        if input_size == 0 || !input_size.is_multiple_of(32) || input_size > 2048 {
            return Err(FaceError::InvalidInput(format!(
                "tiny detector input size {input_size} is not a multiple of 32 in 32..=2048"
            )));
        }
        let size = input_size as usize;
        let out = self.forward(&Self::input(image, size))?;
        Ok(decode(&out, image.width(), image.height(), size, min_score, iou_threshold, max_results))
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `TinyYolov2Base.extractBoxes` + NMS + rescale to image pixels.
pub(crate) fn decode(
    out: &Fmap,
    img_w: u32,
    img_h: u32,
    size: usize,
    min_score: f32,
    iou_threshold: f32,
    max_results: usize,
) -> Vec<Detection> {
    let (w, h) = (img_w as f64, img_h as f64);
    let scale = size as f64 / w.max(h);
    let rw = (w * scale).round().max(1.0);
    let rh = (h * scale).round().max(1.0);
    let cfx = size as f64 / rw;
    let cfy = size as f64 / rh;
    let g = out.h as f64;
    let mut boxes = Vec::new();
    let mut scores = Vec::new();
    for row in 0..out.h {
        for col in 0..out.w {
            let cell = &out.data[(row * out.w + col) * out.c..(row * out.w + col + 1) * out.c];
            for (a, &(aw, ah)) in ANCHORS.iter().enumerate() {
                let t = &cell[a * 5..a * 5 + 5];
                let score = sigmoid(t[4]);
                if score <= min_score {
                    continue;
                }
                let cx = (col as f64 + sigmoid(t[0]) as f64) / g * cfx;
                let cy = (row as f64 + sigmoid(t[1]) as f64) / g * cfy;
                let bw = (t[2].exp() as f64) * aw as f64 / g * cfx;
                let bh = (t[3].exp() as f64) * ah as f64 / g * cfy;
                let (x0, y0) = (cx - bw / 2.0, cy - bh / 2.0);
                boxes.push([x0, y0, bw, bh]);
                scores.push(score);
            }
        }
    }
    let xyxy: Vec<[f32; 4]> =
        boxes.iter().map(|b| [b[0] as f32, b[1] as f32, (b[0] + b[2]) as f32, (b[1] + b[3]) as f32]).collect();
    non_max_suppression(&xyxy, &scores, iou_threshold, max_results)
        .into_iter()
        .map(|i| {
            let b = boxes[i];
            Detection {
                bbox: BoundingBox {
                    x: (b[0] * w) as f32,
                    y: (b[1] * h) as f32,
                    width: (b[2] * w) as f32,
                    height: (b[3] * h) as f32,
                },
                score: scores[i],
            }
        })
        .collect()
}
