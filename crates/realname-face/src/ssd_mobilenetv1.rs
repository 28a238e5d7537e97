//! face-api `SsdMobilenetv1` (`ssd_mobilenetv1_model`): SSD (Liu et al., "SSD: Single Shot MultiBox
//! Detector", 2016) on a MobileNet-v1 backbone (Howard et al., 2017) from the TF Object Detection
//! API, 512×512 input, 5118 stored anchors, sigmoid scores, hard NMS.

use candle_core::Tensor;

use crate::geometry::non_max_suppression;
use crate::ops::{Act, Affine, Fmap, Pad, conv2d_affine, depthwise3x3_affine};
use crate::preprocess::{Padding, SSD_NORM, full_rect, normalise, resize_padded};
use crate::weights::ModelWeights;
use crate::{BoundingBox, Detection, FaceError, RgbImage};

/// Fixed input side.
pub(crate) const INPUT_SIZE: usize = 512;
const NUM_ANCHORS: usize = 5118;
const BN_EPSILON: f32 = 0.001;

/// Conv + folded-BN offset + relu6 (`…_pointwise/weights`, `…/convolution_bn_offset`).
#[derive(Debug)]
struct PointwiseLayer {
    weights: Tensor,
    offset: Vec<f32>,
    k: usize,
    stride: usize,
}

impl PointwiseLayer {
    fn load(
        w: &ModelWeights,
        name: &str,
        k: usize,
        c_in: usize,
        c_out: usize,
        stride: usize,
    ) -> Result<Self, FaceError> {
        Ok(Self {
            weights: w.matrix(&format!("{name}/weights"), &[k, k, c_in, c_out], k * k * c_in, c_out)?,
            offset: w.vec(&format!("{name}/convolution_bn_offset"), &[c_out])?,
            k,
            stride,
        })
    }

    fn forward(&self, x: &Fmap) -> Result<Fmap, FaceError> {
        let pad = if self.k == 1 { Pad::NONE } else { Pad::same(x.h, x.w, self.k, self.stride) };
        conv2d_affine(x, &self.weights, self.k, self.stride, pad, Some(Affine::bias(&self.offset, Act::Relu6)))
    }
}

/// Depthwise 3×3 SAME + explicit batch norm + relu6.
#[derive(Debug)]
struct DepthwiseLayer {
    weights: Vec<f32>,
    /// `gamma / sqrt(var + eps)` and `beta − mean · that` folded per channel.
    mul: Vec<f32>,
    mean: Vec<f32>,
    beta: Vec<f32>,
    stride: usize,
}

impl DepthwiseLayer {
    fn load(w: &ModelWeights, name: &str, c: usize, stride: usize) -> Result<Self, FaceError> {
        let gamma = w.vec(&format!("{name}/BatchNorm/gamma"), &[c])?;
        let var = w.vec(&format!("{name}/BatchNorm/moving_variance"), &[c])?;
        let mul = gamma.iter().zip(&var).map(|(g, v)| g / (v + BN_EPSILON).sqrt()).collect();
        Ok(Self {
            weights: w.vec(&format!("{name}/depthwise_weights"), &[3, 3, c, 1])?,
            mul,
            mean: w.vec(&format!("{name}/BatchNorm/moving_mean"), &[c])?,
            beta: w.vec(&format!("{name}/BatchNorm/beta"), &[c])?,
            stride,
        })
    }

    fn forward(&self, x: &Fmap) -> Fmap {
        let neg_mean: Vec<f32> = self.mean.iter().map(|m| -m).collect();
        let affine = Affine { bias: Some(&neg_mean), mul: Some(&self.mul), add: Some(&self.beta), act: Act::Relu6 };
        depthwise3x3_affine(x, &self.weights, self.stride, Pad::same(x.h, x.w, 3, self.stride), Some(affine))
    }
}

#[derive(Debug)]
struct BoxPredictor {
    box_weights: Tensor,
    box_biases: Vec<f32>,
    class_weights: Tensor,
    class_biases: Vec<f32>,
}

impl BoxPredictor {
    fn load(w: &ModelWeights, i: usize, c_in: usize, anchors: usize) -> Result<Self, FaceError> {
        let p = format!("Prediction/BoxPredictor_{i}");
        Ok(Self {
            box_weights: w.matrix(
                &format!("{p}/BoxEncodingPredictor/weights"),
                &[1, 1, c_in, anchors * 4],
                c_in,
                anchors * 4,
            )?,
            box_biases: w.vec(&format!("{p}/BoxEncodingPredictor/biases"), &[anchors * 4])?,
            class_weights: w.matrix(
                &format!("{p}/ClassPredictor/weights"),
                &[1, 1, c_in, anchors * 3],
                c_in,
                anchors * 3,
            )?,
            class_biases: w.vec(&format!("{p}/ClassPredictor/biases"), &[anchors * 3])?,
        })
    }

    /// `([h·w·a, 4] box encodings, [h·w·a, 3] class logits)`, flat.
    fn forward(&self, x: &Fmap) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        let b = conv2d_affine(x, &self.box_weights, 1, 1, Pad::NONE, Some(Affine::bias(&self.box_biases, Act::None)))?;
        let c =
            conv2d_affine(x, &self.class_weights, 1, 1, Pad::NONE, Some(Affine::bias(&self.class_biases, Act::None)))?;
        Ok((b.into_data(), c.into_data()))
    }
}

/// Raw SSD outputs before decoding.
#[derive(Debug, Clone)]
pub(crate) struct SsdRaw {
    /// `[5118, 4]` box encodings `(ty, tx, th, tw)`.
    pub box_encodings: Vec<f32>,
    /// `[5118, 3]` class logits.
    pub class_logits: Vec<f32>,
}

/// The loaded SSD MobileNet v1 face detector.
#[derive(Debug)]
pub(crate) struct SsdMobilenetv1 {
    conv_0: PointwiseLayer,
    backbone: Vec<(DepthwiseLayer, PointwiseLayer)>,
    extras: Vec<PointwiseLayer>,
    predictors: Vec<BoxPredictor>,
    /// `[5118, 4]` anchors `(ymin, xmin, ymax, xmax)` in the padded unit square.
    anchors: Vec<f32>,
}

impl SsdMobilenetv1 {
    pub(crate) fn load(w: &ModelWeights) -> Result<Self, FaceError> {
        // (c_in, c_out, depthwise stride) of MobilenetV1/Conv2d_1 .. Conv2d_13.
        let layers = [
            (32, 64, 1),
            (64, 128, 2),
            (128, 128, 1),
            (128, 256, 2),
            (256, 256, 1),
            (256, 512, 2),
            (512, 512, 1),
            (512, 512, 1),
            (512, 512, 1),
            (512, 512, 1),
            (512, 512, 1),
            (512, 1024, 2),
            (1024, 1024, 1),
        ];
        let backbone = layers
            .iter()
            .enumerate()
            .map(|(i, &(ci, co, s))| {
                let n = i + 1;
                Ok((
                    DepthwiseLayer::load(w, &format!("MobilenetV1/Conv2d_{n}_depthwise"), ci, s)?,
                    PointwiseLayer::load(w, &format!("MobilenetV1/Conv2d_{n}_pointwise"), 1, ci, co, 1)?,
                ))
            })
            .collect::<Result<Vec<_>, FaceError>>()?;
        let extra = [
            (1, 1024, 256, 1),
            (3, 256, 512, 2),
            (1, 512, 128, 1),
            (3, 128, 256, 2),
            (1, 256, 128, 1),
            (3, 128, 256, 2),
            (1, 256, 64, 1),
            (3, 64, 128, 2),
        ];
        let extras = extra
            .iter()
            .enumerate()
            .map(|(i, &(k, ci, co, s))| {
                PointwiseLayer::load(w, &format!("Prediction/Conv2d_{i}_pointwise"), k, ci, co, s)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pred = [(512, 3), (1024, 6), (512, 6), (256, 6), (256, 6), (128, 6)];
        let predictors = pred
            .iter()
            .enumerate()
            .map(|(i, &(c, a))| BoxPredictor::load(w, i, c, a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            conv_0: PointwiseLayer::load(w, "MobilenetV1/Conv2d_0_pointwise", 3, 3, 32, 2)?,
            backbone,
            extras,
            predictors,
            anchors: w.vec("Output/extra_dim", &[1, NUM_ANCHORS, 4])?,
        })
    }

    /// Preprocessed network input (pad bottom/right, resize to 512, `x / 127.5 − 1`).
    pub(crate) fn input(image: &RgbImage) -> Fmap {
        let mut x = resize_padded(image, full_rect(image), INPUT_SIZE, Padding::BottomRight);
        normalise(&mut x, SSD_NORM);
        x
    }

    pub(crate) fn forward(&self, input: &Fmap) -> Result<SsdRaw, FaceError> {
        let mut x = self.conv_0.forward(input)?;
        let mut maps = Vec::with_capacity(6);
        for (i, (dw, pw)) in self.backbone.iter().enumerate() {
            x = pw.forward(&dw.forward(&x))?;
            if i == 10 || i == 12 {
                maps.push(x.clone());
            }
        }
        for (i, layer) in self.extras.iter().enumerate() {
            x = layer.forward(&x)?;
            if i % 2 == 1 {
                maps.push(x.clone());
            }
        }
        let mut box_encodings = Vec::with_capacity(NUM_ANCHORS * 4);
        let mut class_logits = Vec::with_capacity(NUM_ANCHORS * 3);
        for (map, pred) in maps.iter().zip(&self.predictors) {
            let (b, c) = pred.forward(map)?;
            box_encodings.extend_from_slice(&b);
            class_logits.extend_from_slice(&c);
        }
        if box_encodings.len() != NUM_ANCHORS * 4 {
            return Err(FaceError::Inference(format!("SSD produced {} box values", box_encodings.len())));
        }
        Ok(SsdRaw { box_encodings, class_logits })
    }

    /// Decoded `(ymin, xmin, ymax, xmax)` boxes and sigmoid scores of all 5118 anchors.
    pub(crate) fn decode_all(&self, raw: &SsdRaw) -> (Vec<[f32; 4]>, Vec<f32>) {
        let mut boxes = Vec::with_capacity(NUM_ANCHORS);
        let mut scores = Vec::with_capacity(NUM_ANCHORS);
        for i in 0..NUM_ANCHORS {
            let a = &self.anchors[i * 4..i * 4 + 4];
            let t = &raw.box_encodings[i * 4..i * 4 + 4];
            let ha = a[2] - a[0];
            let wa = a[3] - a[1];
            let yc = a[0] + ha / 2.0;
            let xc = a[1] + wa / 2.0;
            let hh = (t[2] / 5.0).exp() * ha / 2.0;
            let cy = t[0] / 10.0 * ha + yc;
            let hw = (t[3] / 5.0).exp() * wa / 2.0;
            let cx = t[1] / 10.0 * wa + xc;
            boxes.push([cy - hh, cx - hw, cy + hh, cx + hw]);
            scores.push(1.0 / (1.0 + (-raw.class_logits[i * 3 + 1]).exp()));
        }
        (boxes, scores)
    }

    pub(crate) fn detect(
        &self,
        image: &RgbImage,
        min_score: f32,
        iou_threshold: f32,
        max_results: usize,
    ) -> Result<Vec<Detection>, FaceError> {
        let raw = self.forward(&Self::input(image))?;
        let (boxes, scores) = self.decode_all(&raw);
        Ok(to_detections(&boxes, &scores, image.width(), image.height(), min_score, iou_threshold, max_results))
    }
}

/// Score filter, NMS and the un-padding to image pixels (`ssdMobilenetv1.locateFaces`).
pub(crate) fn to_detections(
    boxes: &[[f32; 4]],
    scores: &[f32],
    img_w: u32,
    img_h: u32,
    min_score: f32,
    iou_threshold: f32,
    max_results: usize,
) -> Vec<Detection> {
    let candidates: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > min_score).collect();
    // IoU on min/max-normalised corners, in (x0, y0, x1, y1) order.
    let cand_boxes: Vec<[f32; 4]> = candidates
        .iter()
        .map(|&i| {
            let b = boxes[i];
            [b[1].min(b[3]), b[0].min(b[2]), b[1].max(b[3]), b[0].max(b[2])]
        })
        .collect();
    let cand_scores: Vec<f32> = candidates.iter().map(|&i| scores[i]).collect();
    let keep = non_max_suppression(&cand_boxes, &cand_scores, iou_threshold, max_results);
    let (w, h) = (img_w as f64, img_h as f64);
    let scale = INPUT_SIZE as f64 / w.max(h);
    let pad_x = INPUT_SIZE as f64 / (w * scale).round().max(1.0);
    let pad_y = INPUT_SIZE as f64 / (h * scale).round().max(1.0);
    keep.into_iter()
        .map(|k| {
            let i = candidates[k];
            let b = boxes[i];
            let top = (b[0] as f64).max(0.0) * pad_y;
            let bottom = (b[2] as f64).min(1.0) * pad_y;
            let left = (b[1] as f64).max(0.0) * pad_x;
            let right = (b[3] as f64).min(1.0) * pad_x;
            Detection {
                bbox: BoundingBox {
                    x: (left * w) as f32,
                    y: (top * h) as f32,
                    width: ((right - left) * w) as f32,
                    height: ((bottom - top) * h) as f32,
                },
                score: scores[i],
            }
        })
        .collect()
}
