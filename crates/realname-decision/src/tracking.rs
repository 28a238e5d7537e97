//! Face tracking through captured frames where the detector finds no face: the landmark net
//! is run on the previous frame's face box (a head turn or a blink the SSD detector scores
//! below [`crate::face::LIVENESS_FAINT_SCORE`]: `lp_d12` frames 19, 21, 22, the blink inside
//! its head turn). A tracked face is kept only when its descriptor stays within
//! [`TRACK_MAX_DISTANCE`] of the face it was tracked from, so tracking never brings in another
//! person or a box of background; every rule of the decision still applies to it.
//!
//! The engine-level step only: which frames get tracked is [`crate::upload::FrameTracker`]'s
//! job (this module imports only [`crate::profile`] of the crate, so the analyzer can use it).
//!
//! [`follow_in`] is the cheap path's step: a face followed from frame to frame with the
//! landmark net instead of running the SSD detector on every frame.

use image::RgbImage;
use realname_face::{
    BoundingBox, CropRect, Descriptor, DetectOptions, Detection, DetectorKind, FaceAnalysis, FaceEngine, FaceError,
    Landmarks68,
};
use realname_liveness::AnalyzedFace;

use crate::profile::{Stage, timed};

/// Largest descriptor distance between a tracked face and the face whose box it reuses. The
/// decision's own per-segment bound (`same_person_segment`, 0.40); the tracked `lp_d12`
/// frames measured 0.27–0.37 from the clip's neutral frames.
pub const TRACK_MAX_DISTANCE: f32 = 0.40;

/// Runs landmarks, descriptor, signals and image evidence on `previous`'s box in `image`.
/// The tracked detection has score 0 (no detector evidence). `None` when the box leaves the
/// image or the face there is not `previous`'s.
pub fn track_in(
    engine: &FaceEngine,
    image: &RgbImage,
    previous: &FaceAnalysis,
) -> Result<Option<AnalyzedFace>, FaceError> {
    let detection = Detection { bbox: previous.detection.bbox, score: 0.0 };
    let Ok(crop) = FaceEngine::landmark_crop(image, &detection) else { return Ok(None) };
    let landmarks = timed(Stage::Landmarks, || {
        engine.landmarks_in_crop(image, crop, f64::from(detection.bbox.x), f64::from(detection.bbox.y))
    })?;
    let Ok(desc_crop) = FaceEngine::descriptor_crop(image, &landmarks, Some(crop)) else { return Ok(None) };
    let descriptor = timed(Stage::Descriptor, || engine.descriptor_in_crop(image, desc_crop))?;
    let distance = descriptor.distance(&previous.descriptor);
    if distance.is_nan() || distance > TRACK_MAX_DISTANCE {
        return Ok(None);
    }
    let signals = timed(Stage::Evidence, || engine.signals(image, &detection, &landmarks));
    let analysis = FaceAnalysis { detection, landmarks, descriptor, signals };
    let evidence = timed(Stage::Evidence, || realname_liveness::measure_face(image, &analysis, None).ok());
    Ok(Some(AnalyzedFace { analysis, evidence }))
}

/// Input side of the tiny detector when it looks for another face beside a followed one
/// (a face of ≥ ~40 px in a 640×480 frame still scores above [`GATE_MIN_SCORE`] there).
pub const GATE_INPUT: u32 = 224;
/// Gate score above which a candidate counts as a face.
pub const GATE_MIN_SCORE: f32 = 0.5;
/// Largest change of the face's landmark spread between two followed frames; beyond it the
/// frame goes to the detector (a jump, a new face, a lost track).
pub const FOLLOW_MAX_SCALE: f32 = 1.25;

fn centroid_spread(points: &[(f32, f32)]) -> ((f32, f32), f32) {
    let n = points.len().max(1) as f32;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
    let (cx, cy) = (sx / n, sy / n);
    let var = points.iter().map(|&(x, y)| (x - cx).powi(2) + (y - cy).powi(2)).sum::<f32>() / n;
    ((cx, cy), var.sqrt())
}

/// The landmark net's output for `box` in `image`, timed; `None` when the box leaves the image.
fn landmarks_on(
    engine: &FaceEngine,
    image: &RgbImage,
    detection: &Detection,
) -> Result<Option<(CropRect, Landmarks68)>, FaceError> {
    let Ok(crop) = FaceEngine::landmark_crop(image, detection) else { return Ok(None) };
    let landmarks = timed(Stage::Landmarks, || {
        engine.landmarks_in_crop(image, crop, f64::from(detection.bbox.x), f64::from(detection.bbox.y))
    })?;
    Ok(Some((crop, landmarks)))
}

/// Follows `previous` into the next frame without the SSD detector: landmarks on its box, the
/// box moved and scaled with the landmarks, landmarks again on the moved box, the descriptor,
/// then two checks that send the frame back to the detector (`None`): the descriptor is more
/// than [`TRACK_MAX_DISTANCE`] from `anchor` (the previous frame's), or the tiny detector
/// ([`GATE_INPUT`]) sees a face whose centre lies outside the followed box (one face per frame
/// stays checked on every frame). The followed face keeps `previous`'s detector score (the
/// rules do not use it).
pub fn follow_in(
    engine: &FaceEngine,
    image: &RgbImage,
    previous: &FaceAnalysis,
    anchor: &Descriptor,
) -> Result<Option<AnalyzedFace>, FaceError> {
    let start = previous.detection;
    let Some((_, first)) = landmarks_on(engine, image, &start)? else { return Ok(None) };
    let ((px, py), p_spread) = centroid_spread(&previous.landmarks.points);
    let ((nx, ny), n_spread) = centroid_spread(&first.points);
    let scale = n_spread / p_spread.max(1e-3);
    if !scale.is_finite() || !(1.0 / FOLLOW_MAX_SCALE..=FOLLOW_MAX_SCALE).contains(&scale) {
        return Ok(None);
    }
    let b = start.bbox;
    // The box's centre keeps its offset from the landmarks' centroid, scaled with the face.
    let (ox, oy) = (b.x + b.width / 2.0 - px, b.y + b.height / 2.0 - py);
    let (w, h) = (b.width * scale, b.height * scale);
    let (cx, cy) = (nx + ox * scale, ny + oy * scale);
    let detection =
        Detection { bbox: BoundingBox { x: cx - w / 2.0, y: cy - h / 2.0, width: w, height: h }, score: start.score };
    let Some((crop, landmarks)) = landmarks_on(engine, image, &detection)? else { return Ok(None) };
    let Ok(desc_crop) = FaceEngine::descriptor_crop(image, &landmarks, Some(crop)) else { return Ok(None) };
    let descriptor = timed(Stage::Descriptor, || engine.descriptor_in_crop(image, desc_crop))?;
    let distance = descriptor.distance(anchor);
    if distance.is_nan() || distance > TRACK_MAX_DISTANCE {
        return Ok(None);
    }
    let gate = DetectOptions {
        detector: DetectorKind::Tiny { input_size: GATE_INPUT },
        min_score: GATE_MIN_SCORE,
        iou_threshold: 0.4,
        max_results: 10,
    };
    let others = timed(Stage::Gate, || engine.detect(image, &gate))?;
    let inside = |d: &Detection| {
        let (gx, gy) = (d.bbox.x + d.bbox.width / 2.0, d.bbox.y + d.bbox.height / 2.0);
        gx >= detection.bbox.x && gx <= detection.bbox.x + w && gy >= detection.bbox.y && gy <= detection.bbox.y + h
    };
    if !others.iter().all(inside) {
        return Ok(None);
    }
    let signals = timed(Stage::Evidence, || engine.signals(image, &detection, &landmarks));
    let analysis = FaceAnalysis { detection, landmarks, descriptor, signals };
    let evidence = timed(Stage::Evidence, || realname_liveness::measure_face(image, &analysis, None).ok());
    Ok(Some(AnalyzedFace { analysis, evidence }))
}
