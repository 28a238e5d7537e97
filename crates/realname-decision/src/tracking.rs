//! Face tracking through captured frames where the detector finds no face: the landmark net
//! is run on the previous frame's face box (a head turn or a blink the SSD detector scores
//! below [`crate::face::LIVENESS_FAINT_SCORE`]: `lp_d12` frames 19, 21, 22, the blink inside
//! its head turn). A tracked face is kept only when its descriptor stays within
//! [`TRACK_MAX_DISTANCE`] of the face it was tracked from, so tracking never brings in another
//! person or a box of background; every rule of the decision still applies to it.
//!
//! The engine-level step only: which frames get tracked is [`crate::upload::FrameTracker`]'s
//! job (this module imports only [`crate::profile`] and the decision's [`crate::decision::NOT_DESCRIBED`]
//! of the crate, so the analyzer can use it).
//!
//! [`follow_in`] is the cheap path's step: a face followed from frame to frame with the
//! landmark net instead of running the SSD detector on every frame. The landmark net sees
//! what it would see behind the detector: its box is framed around the landmarks found on a
//! widened box as the detector last framed this face ([`BoxFraming`], per axis: an opening
//! mouth lowers the chin and the detector's box follows it; the previous box would cut it).

use image::RgbImage;
use realname_face::{
    BoundingBox, CropRect, Descriptor, DetectOptions, Detection, DetectorKind, FaceAnalysis, FaceEngine, FaceError,
    Landmarks68,
};
use realname_liveness::AnalyzedFace;

use crate::decision::NOT_DESCRIBED;
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
/// Largest change of the face's landmark width between two followed frames; beyond it the
/// frame goes to the detector (a jump, a new face, a lost track).
pub const FOLLOW_MAX_SCALE: f32 = 1.25;
/// The previous face's box is widened by this factor around its centre for the first landmark
/// pass of a followed frame, so that a face that moved or grew (an open mouth: `lp_d18`'s chin
/// drops by 13 % of the box between its frames 4 and 22) is still whole in the crop.
pub const FOLLOW_WIDEN: f32 = 1.4;

/// Rounds of "frame the box around the landmarks, landmarks on the box" after the widened
/// search. One round leaves the box ~18 % wider than the detector's on `zubair_real` (the
/// rough landmarks of the wide crop spread further): its head turn then breaks the decision's
/// track rule (box scale 1.52 > 1.5 between a followed and a detected frame); two come within
/// a few pixels of it.
pub const FOLLOW_ROUNDS: usize = 2;

/// Smallest and largest x, y of the landmarks.
fn extent(landmarks: &Landmarks68) -> (f32, f32, f32, f32) {
    landmarks.points.iter().fold((f32::MAX, f32::MAX, f32::MIN, f32::MIN), |(x0, y0, x1, y1), &(x, y)| {
        (x0.min(x), y0.min(y), x1.max(x), y1.max(y))
    })
}

/// The face's size for the follow's jump check: the larger side of the landmarks' extent (a
/// turning head narrows it, an open mouth lengthens it, the larger side moves little with either).
fn size(landmarks: &Landmarks68) -> f32 {
    let (x0, y0, x1, y1) = extent(landmarks);
    (x1 - x0).max(y1 - y0)
}

/// Where the detector put a face's box around its landmarks, per axis: each edge's distance
/// outside the landmarks' extent, in units of that extent's width (left, right) or height (top,
/// bottom). On the SSD boxes of the labelled clips the sides sit within ±5 % of the jaw, the
/// top 23–32 % above the brows (the forehead) and the bottom 0–5 % below the chin, open mouth
/// included: the box grows with the chin. Taken from the last detection of the face followed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxFraming {
    left: f32,
    right: f32,
    top: f32,
    bottom: f32,
}

impl BoxFraming {
    /// The framing of a detected face; `None` for degenerate landmarks.
    pub fn of(detection: &Detection, landmarks: &Landmarks68) -> Option<Self> {
        let (x0, y0, x1, y1) = extent(landmarks);
        let (w, h) = (x1 - x0, y1 - y0);
        if !(w.is_finite() && h.is_finite() && w > 1.0 && h > 1.0) {
            return None;
        }
        let b = detection.bbox;
        Some(Self {
            left: (x0 - b.x) / w,
            right: (b.x + b.width - x1) / w,
            top: (y0 - b.y) / h,
            bottom: (b.y + b.height - y1) / h,
        })
    }

    /// How the SSD detector frames a face typically: the median of its single-face boxes on
    /// the recorded captures of `cargo xtask bench decision` (131 boxes scoring above 0.3; the
    /// top edge 23–52 % of the landmarks' height above the brows, p10–p90). A face the tiny
    /// detector found ([`start_in`]) is framed so until the SSD detector frames it.
    pub const TYPICAL: BoxFraming = BoxFraming { left: 0.0, right: 0.005, top: 0.288, bottom: 0.038 };

    /// The box the detector would put around `landmarks`.
    pub fn frame(&self, landmarks: &Landmarks68) -> BoundingBox {
        let (x0, y0, x1, y1) = extent(landmarks);
        let (w, h) = (x1 - x0, y1 - y0);
        let (x, y) = (x0 - self.left * w, y0 - self.top * h);
        BoundingBox { x, y, width: x1 + self.right * w - x, height: y1 + self.bottom * h - y }
    }
}

/// The landmark net's output for `detection`'s box in `image`, timed, points shifted as
/// face-api shifts a detection's (by the box's own corner); `None` when the box leaves the image.
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

/// The landmarks found on `bbox` widened by [`FOLLOW_WIDEN`] (a search window: points placed
/// where the crop is, also where the window is clipped at the image's border).
fn landmarks_around(
    engine: &FaceEngine,
    image: &RgbImage,
    bbox: BoundingBox,
) -> Result<Option<Landmarks68>, FaceError> {
    let (w, h) = (bbox.width * FOLLOW_WIDEN, bbox.height * FOLLOW_WIDEN);
    let (cx, cy) = (bbox.x + bbox.width / 2.0, bbox.y + bbox.height / 2.0);
    let wide = Detection { bbox: BoundingBox { x: cx - w / 2.0, y: cy - h / 2.0, width: w, height: h }, score: 0.0 };
    let Ok(crop) = FaceEngine::landmark_crop(image, &wide) else { return Ok(None) };
    let landmarks =
        timed(Stage::Landmarks, || engine.landmarks_in_crop(image, crop, f64::from(crop.x), f64::from(crop.y)))?;
    Ok(Some(landmarks))
}

/// Follows `previous` into the next frame without the SSD detector: landmarks on its box
/// widened ([`FOLLOW_WIDEN`]), the box the detector would draw around them (`framing`, the
/// face's last detection), landmarks again on that box (what the net sees behind the
/// detector), then the checks that send the frame back to the detector (`None`): the face's
/// size changed by more than [`FOLLOW_MAX_SCALE`]; the tiny detector ([`GATE_INPUT`]) sees a
/// face whose centre lies outside the followed box (one face per frame stays checked on every
/// frame); or the gate does not confirm the face ([`confirms`]) and its descriptor is more
/// than [`TRACK_MAX_DISTANCE`] from `anchor` (the track's last descriptor). The descriptor is
/// computed when `describe` asks for it or the gate does not confirm the face; otherwise the
/// face comes back [`NOT_DESCRIBED`]. The followed face keeps `previous`'s detector score (the
/// rules do not use it).
pub fn follow_in(
    engine: &FaceEngine,
    image: &RgbImage,
    previous: &FaceAnalysis,
    framing: &BoxFraming,
    anchor: &Descriptor,
    describe: bool,
) -> Result<Option<AnalyzedFace>, FaceError> {
    let Some(rough) = landmarks_around(engine, image, previous.detection.bbox)? else {
        tracing::debug!(reason = "box_leaves_image", "follow falls back to the detector");
        return Ok(None);
    };
    let scale = size(&rough) / size(&previous.landmarks).max(1e-3);
    if !scale.is_finite() || !(1.0 / FOLLOW_MAX_SCALE..=FOLLOW_MAX_SCALE).contains(&scale) {
        tracing::debug!(reason = "size_jump", scale, "follow falls back to the detector");
        return Ok(None);
    }
    // The detector's box is a fixed point of "landmarks on the box, the box framed around
    // them"; from the rough landmarks a few rounds come close to it.
    let mut detection = Detection { bbox: framing.frame(&rough), score: previous.detection.score };
    let Some((mut crop, mut landmarks)) = landmarks_on(engine, image, &detection)? else { return Ok(None) };
    for _ in 1..FOLLOW_ROUNDS {
        detection.bbox = framing.frame(&landmarks);
        let Some(next) = landmarks_on(engine, image, &detection)? else { return Ok(None) };
        (crop, landmarks) = next;
    }
    // As the detector's path: a face whose aligned crop leaves the image is no face.
    let Ok(desc_crop) = FaceEngine::descriptor_crop(image, &landmarks, Some(crop)) else { return Ok(None) };
    let gate = DetectOptions {
        detector: DetectorKind::Tiny { input_size: GATE_INPUT },
        min_score: GATE_MIN_SCORE,
        iou_threshold: 0.4,
        max_results: 10,
    };
    let others = timed(Stage::Gate, || engine.detect(image, &gate))?;
    let b = detection.bbox;
    let inside = |d: &Detection| {
        let (gx, gy) = (d.bbox.x + d.bbox.width / 2.0, d.bbox.y + d.bbox.height / 2.0);
        gx >= b.x && gx <= b.x + b.width && gy >= b.y && gy <= b.y + b.height
    };
    if !others.iter().all(inside) {
        tracing::debug!(reason = "face_outside_box", "follow falls back to the detector");
        return Ok(None);
    }
    let confirmed = others.iter().any(|d| confirms(d, &b));
    let descriptor = if describe || !confirmed {
        timed(Stage::Descriptor, || engine.descriptor_in_crop(image, desc_crop))?
    } else {
        NOT_DESCRIBED
    };
    if !confirmed {
        let distance = descriptor.distance(anchor);
        if distance.is_nan() || distance > TRACK_MAX_DISTANCE {
            tracing::debug!(
                reason = "unconfirmed_and_far",
                distance,
                gate = others.len(),
                "follow falls back to the detector"
            );
            return Ok(None);
        }
    }
    let signals = timed(Stage::Evidence, || engine.signals(image, &detection, &landmarks));
    let analysis = FaceAnalysis { detection, landmarks, descriptor, signals };
    let evidence = timed(Stage::Evidence, || realname_liveness::measure_face(image, &analysis, None).ok());
    Ok(Some(AnalyzedFace { analysis, evidence }))
}

/// Input side of the tiny detector when it starts a track ([`start_in`]): the gate's
/// ([`GATE_INPUT`], ~4 ms against the SSD detector's ~65 ms). At 416 it found no face on
/// `lp_d5`'s first frame (the captures' faces are 150–260 px wide), at 224 on every first frame.
pub const START_INPUT: u32 = 224;
/// Score above which the start's tiny detector counts a candidate as a face (the SSD
/// detector's [`crate::face::LIVENESS_MIN_SCORE`]: a second face scoring as low makes the frame
/// the SSD detector's).
pub const START_OTHER_SCORE: f32 = 0.3;
/// Score the one face a track starts from must reach (face-api's tiny detector default).
pub const START_MIN_SCORE: f32 = 0.5;

/// Starts a track without the SSD detector: the tiny detector ([`START_INPUT`]) must see
/// exactly one face (above [`START_OTHER_SCORE`]) scoring at least [`START_MIN_SCORE`]; the
/// face is then found as [`follow_in`] finds it, from the tiny box instead of the previous
/// frame's: landmarks on the box widened, the box `framing` draws around them
/// ([`BoxFraming::TYPICAL`] for a face the SSD detector never framed), [`FOLLOW_ROUNDS`] of
/// landmarks on the box, and the tiny box must confirm the final one ([`confirms`]). `None`
/// sends the frame to the SSD detector. The face keeps the tiny detector's score; its
/// descriptor is computed when `describe` asks for it ([`NOT_DESCRIBED`] otherwise).
pub fn start_in(
    engine: &FaceEngine,
    image: &RgbImage,
    framing: &BoxFraming,
    describe: bool,
) -> Result<Option<AnalyzedFace>, FaceError> {
    let options = DetectOptions {
        detector: DetectorKind::Tiny { input_size: START_INPUT },
        min_score: START_OTHER_SCORE,
        iou_threshold: 0.4,
        max_results: 10,
    };
    let found = timed(Stage::Start, || engine.detect(image, &options))?;
    let [tiny] = found.as_slice() else { return Ok(None) };
    if tiny.score < START_MIN_SCORE {
        return Ok(None);
    }
    let Some(rough) = landmarks_around(engine, image, tiny.bbox)? else { return Ok(None) };
    let mut detection = Detection { bbox: framing.frame(&rough), score: tiny.score };
    let Some((mut crop, mut landmarks)) = landmarks_on(engine, image, &detection)? else { return Ok(None) };
    for _ in 1..FOLLOW_ROUNDS {
        detection.bbox = framing.frame(&landmarks);
        let Some(next) = landmarks_on(engine, image, &detection)? else { return Ok(None) };
        (crop, landmarks) = next;
    }
    if !confirms(tiny, &detection.bbox) {
        return Ok(None);
    }
    let Ok(desc_crop) = FaceEngine::descriptor_crop(image, &landmarks, Some(crop)) else { return Ok(None) };
    let descriptor = if describe {
        timed(Stage::Descriptor, || engine.descriptor_in_crop(image, desc_crop))?
    } else {
        NOT_DESCRIBED
    };
    let signals = timed(Stage::Evidence, || engine.signals(image, &detection, &landmarks));
    let analysis = FaceAnalysis { detection, landmarks, descriptor, signals };
    let evidence = timed(Stage::Evidence, || realname_liveness::measure_face(image, &analysis, None).ok());
    Ok(Some(AnalyzedFace { analysis, evidence }))
}

/// Largest ratio between the widths of a gate detection and the followed box it confirms.
pub const CONFIRM_MAX_SCALE: f32 = 2.0;

/// Whether the gate's detection `d` confirms a face in the followed box `b`: its centre lies
/// inside `b` and its width is within [`CONFIRM_MAX_SCALE`] of `b`'s (an independent detector
/// sees a face of that size there).
pub fn confirms(d: &Detection, b: &BoundingBox) -> bool {
    let (gx, gy) = (d.bbox.x + d.bbox.width / 2.0, d.bbox.y + d.bbox.height / 2.0);
    let ratio = d.bbox.width.max(1.0) / b.width.max(1.0);
    gx >= b.x
        && gx <= b.x + b.width
        && gy >= b.y
        && gy <= b.y + b.height
        && (1.0 / CONFIRM_MAX_SCALE..=CONFIRM_MAX_SCALE).contains(&ratio)
}
