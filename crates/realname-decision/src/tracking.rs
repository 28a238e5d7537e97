//! Face tracking through captured frames where the detector finds no face: the landmark net
//! is run on the previous frame's face box (a head turn or a blink the SSD detector scores
//! below [`crate::face::LIVENESS_FAINT_SCORE`]: `lp_d12` frames 19, 21, 22, the blink inside
//! its head turn). A tracked face is kept only when its descriptor stays within
//! [`TRACK_MAX_DISTANCE`] of the face it was tracked from, so tracking never brings in another
//! person or a box of background; every rule of the decision still applies to it.
//!
//! The engine-level step only: which frames get tracked is [`crate::upload::FrameTracker`]'s
//! job (this module imports nothing of the crate, so the analyzer can use it).

use image::RgbImage;
use realname_face::{Detection, FaceAnalysis, FaceEngine, FaceError};
use realname_liveness::AnalyzedFace;

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
    let landmarks =
        engine.landmarks_in_crop(image, crop, f64::from(detection.bbox.x), f64::from(detection.bbox.y))?;
    let Ok(desc_crop) = FaceEngine::descriptor_crop(image, &landmarks, Some(crop)) else { return Ok(None) };
    let descriptor = engine.descriptor_in_crop(image, desc_crop)?;
    let distance = descriptor.distance(&previous.descriptor);
    if distance.is_nan() || distance > TRACK_MAX_DISTANCE {
        return Ok(None);
    }
    let signals = engine.signals(image, &detection, &landmarks);
    let analysis = FaceAnalysis { detection, landmarks, descriptor, signals };
    let evidence = realname_liveness::measure_face(image, &analysis, None).ok();
    Ok(Some(AnalyzedFace { analysis, evidence }))
}
