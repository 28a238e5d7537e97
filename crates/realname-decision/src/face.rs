//! The face engine behind a trait: [`FaceAnalyzer`] is what the decision and the authority
//! import need, implemented by the real [`realname_face::FaceEngine`] and by
//! [`ScriptedAnalyzer`], a synthetic engine whose frames carry their own analysis (tests,
//! demos, load generation — like a synthetic camera source).
//!
//! Captured frames are analysed by [`FaceAnalyzer::analyze_for_liveness`]: detector score
//! [`LIVENESS_MIN_SCORE`] and the image evidence of [`realname_liveness::measure_face`], as the
//! liveness decision was calibrated.

use std::path::Path;
use std::sync::Arc;

use image::{ImageEncoder, RgbImage};
use realname_face::{
    BoundingBox, Descriptor, DetectOptions, Detection, EngineConfig, FaceAnalysis, FaceEngine, FaceError, FaceSignals,
    Landmarks68,
};
use realname_liveness::AnalyzedFace;
use realname_protocol::api::LivenessAction;

use crate::profile::{Stage, timed};
use crate::tracking::BoxFraming;

/// Detector score for captured frames. face-api's 0.5 loses genuine faces the liveness data
/// shows: the dim `lestari_real` face (SSD 0.31–0.60) and blink frames (`eyeryhthm_7blinks`
/// frame 39: 0.44). Reference photos keep 0.5.
pub const LIVENESS_MIN_SCORE: f32 = 0.3;

/// Lowest detector score of the one face kept in a frame where nothing scores above
/// [`LIVENESS_MIN_SCORE`]: SSD scores `lp_d12`'s head turn (frames 14–24) only 0.11–0.18.
pub const LIVENESS_FAINT_SCORE: f32 = 0.1;

/// Detect faces and compute descriptors and signals. Blocking: call it in `spawn_blocking`.
pub trait FaceAnalyzer: Send + Sync + std::fmt::Debug {
    /// All faces of an image, with descriptor and signals (reference photos).
    fn analyze(&self, image: &RgbImage) -> Result<Vec<FaceAnalysis>, FaceError>;

    /// All faces of a captured frame with the image evidence the liveness decision uses
    /// (eye-region darkness, face thumbnail). Default: [`Self::analyze`] plus
    /// [`realname_liveness::measure_face`]; a face whose evidence cannot be measured keeps
    /// `evidence: None` (the rules that need it are skipped).
    fn analyze_for_liveness(&self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
        Ok(with_evidence(image, self.analyze(image)?))
    }

    /// The face of `previous` followed into a captured frame where nothing was detected
    /// ([`crate::tracking`]). Default: no tracking.
    fn track_face(&self, _image: &RgbImage, _previous: &FaceAnalysis) -> Result<Option<AnalyzedFace>, FaceError> {
        Ok(None)
    }

    /// Today's analysis of a captured frame, every detector candidate through all nets
    /// ([`crate::upload::AnalysisMode::Exhaustive`], kept to compare with). Default:
    /// [`Self::analyze_for_liveness`].
    fn analyze_every_candidate(&self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
        self.analyze_for_liveness(image)
    }

    /// The face of `previous` followed into the next captured frame without the detector
    /// ([`crate::upload::AnalysisMode::Tracked`]), its box drawn as the detector last drew it
    /// (`framing`): `Some` only when the face there is still within
    /// [`crate::tracking::TRACK_MAX_DISTANCE`] of `anchor` (the previous frame's descriptor)
    /// and no other face is seen; `None` sends the frame to the detector. Default: never
    /// (every frame is detected).
    ///
    /// `describe: false` lets the face come back [`crate::decision::NOT_DESCRIBED`] (no rule reads
    /// its descriptor) when the gate confirms it; the descriptor is still computed and checked
    /// against `anchor` when the gate does not see the face.
    fn follow_face(
        &self,
        _image: &RgbImage,
        _previous: &FaceAnalysis,
        _framing: &BoxFraming,
        _anchor: &Descriptor,
        _describe: bool,
    ) -> Result<Option<AnalyzedFace>, FaceError> {
        Ok(None)
    }

    /// A face to start following in a captured frame without the SSD detector
    /// ([`crate::tracking::start_in`]), framed by `framing`: `Some` only when a cheaper detector
    /// sees exactly one face; `None` sends the frame to [`Self::analyze_for_liveness`]. Default:
    /// never. `describe` as for [`Self::follow_face`].
    fn start_face(
        &self,
        _image: &RgbImage,
        _framing: &BoxFraming,
        _describe: bool,
    ) -> Result<Option<AnalyzedFace>, FaceError> {
        Ok(None)
    }

    /// The descriptor of `face` (found in `image` by this analyzer) as its analysis computes it,
    /// for a face left [`crate::decision::NOT_DESCRIBED`]. Default: the image analysed again,
    /// the first face's descriptor.
    fn describe(&self, image: &RgbImage, _face: &FaceAnalysis) -> Result<Descriptor, FaceError> {
        Ok(self.analyze(image)?.first().map_or(crate::decision::NOT_DESCRIBED, |f| f.descriptor))
    }
}

fn with_evidence(image: &RgbImage, faces: Vec<FaceAnalysis>) -> Vec<AnalyzedFace> {
    faces
        .into_iter()
        .map(|analysis| {
            let evidence = timed(Stage::Evidence, || realname_liveness::measure_face(image, &analysis, None).ok());
            AnalyzedFace { analysis, evidence }
        })
        .collect()
}

/// The real engine (SSD detector, full landmarks, recognition net; the tiny detector as the
/// second-face gate of followed frames).
#[derive(Debug)]
pub struct EngineAnalyzer {
    engine: FaceEngine,
    options: DetectOptions,
}

impl EngineAnalyzer {
    /// Loads the face-api weights from `models_dir`.
    pub fn load(models_dir: &Path) -> Result<Self, FaceError> {
        let config = EngineConfig { tiny: true, ..EngineConfig::default() };
        Ok(Self { engine: FaceEngine::load(models_dir, config)?, options: DetectOptions::default() })
    }

    /// Landmarks, descriptor and signals of one detection, as [`FaceEngine::analyze`] computes
    /// them (same calls, same order), each stage timed ([`crate::profile`]). `None` when its box
    /// or aligned crop lies outside the image (face-api skips such a face).
    fn analyze_detection(&self, image: &RgbImage, detection: Detection) -> Result<Option<FaceAnalysis>, FaceError> {
        let Ok(lm_crop) = FaceEngine::landmark_crop(image, &detection) else { return Ok(None) };
        let landmarks = timed(Stage::Landmarks, || {
            self.engine.landmarks_in_crop(image, lm_crop, f64::from(detection.bbox.x), f64::from(detection.bbox.y))
        })?;
        let Ok(desc_crop) = FaceEngine::descriptor_crop(image, &landmarks, Some(lm_crop)) else { return Ok(None) };
        let descriptor = timed(Stage::Descriptor, || self.engine.descriptor_in_crop(image, desc_crop))?;
        let signals = timed(Stage::Evidence, || self.engine.signals(image, &detection, &landmarks));
        Ok(Some(FaceAnalysis { detection, landmarks, descriptor, signals }))
    }
}

impl FaceAnalyzer for EngineAnalyzer {
    fn analyze(&self, image: &RgbImage) -> Result<Vec<FaceAnalysis>, FaceError> {
        self.engine.analyze(image, &self.options)
    }

    /// Faces scoring above [`LIVENESS_MIN_SCORE`]; when there is none, the single best
    /// candidate above [`LIVENESS_FAINT_SCORE`] (a turned or blurred face the SSD detector
    /// scores low). A faint box that is not the person's face still has to pass the decision's
    /// same-person, track and action rules.
    ///
    /// The same faces as analysing every candidate and choosing afterwards
    /// ([`FaceAnalyzer::analyze_every_candidate`], today's path), without the nets' work on candidates that
    /// choice drops: the strong faces are analysed; only when none of them can be analysed are
    /// the faint ones tried, best score first, until one can.
    fn analyze_for_liveness(&self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
        let options = DetectOptions { min_score: LIVENESS_FAINT_SCORE, ..self.options };
        let detections = timed(Stage::Detect, || self.engine.detect(image, &options))?;
        let (strong, mut faint): (Vec<Detection>, Vec<Detection>) =
            detections.into_iter().partition(|d| d.score > LIVENESS_MIN_SCORE);
        let mut faces = Vec::with_capacity(strong.len());
        for detection in strong {
            faces.extend(self.analyze_detection(image, detection)?);
        }
        if faces.is_empty() {
            faint.sort_by(|a, b| b.score.total_cmp(&a.score));
            for detection in faint {
                if let Some(face) = self.analyze_detection(image, detection)? {
                    faces.push(face);
                    break;
                }
            }
        }
        Ok(with_evidence(image, faces))
    }

    fn analyze_every_candidate(&self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
        analyze_every_candidate(self, image)
    }

    fn track_face(&self, image: &RgbImage, previous: &FaceAnalysis) -> Result<Option<AnalyzedFace>, FaceError> {
        crate::tracking::track_in(&self.engine, image, previous)
    }

    fn follow_face(
        &self,
        image: &RgbImage,
        previous: &FaceAnalysis,
        framing: &BoxFraming,
        anchor: &Descriptor,
        describe: bool,
    ) -> Result<Option<AnalyzedFace>, FaceError> {
        crate::tracking::follow_in(&self.engine, image, previous, framing, anchor, describe)
    }

    fn start_face(
        &self,
        image: &RgbImage,
        framing: &BoxFraming,
        describe: bool,
    ) -> Result<Option<AnalyzedFace>, FaceError> {
        crate::tracking::start_in(&self.engine, image, framing, describe)
    }

    /// The aligned crop of the face's landmarks, with the landmark net's crop of its box (what
    /// [`Self::analyze_detection`], [`crate::tracking::follow_in`] and
    /// [`crate::tracking::track_in`] compute).
    fn describe(&self, image: &RgbImage, face: &FaceAnalysis) -> Result<Descriptor, FaceError> {
        let lm_crop = FaceEngine::landmark_crop(image, &face.detection)?;
        let crop = FaceEngine::descriptor_crop(image, &face.landmarks, Some(lm_crop))?;
        timed(Stage::Descriptor, || self.engine.descriptor_in_crop(image, crop))
    }
}

/// Today's analysis of a captured frame, kept for comparison ([`crate::upload::AnalysisMode::Exhaustive`]):
/// every candidate above [`LIVENESS_FAINT_SCORE`] through all nets, then the choice of
/// [`EngineAnalyzer::analyze_for_liveness`].
fn analyze_every_candidate(engine: &EngineAnalyzer, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
    let options = DetectOptions { min_score: LIVENESS_FAINT_SCORE, ..engine.options };
    let detections = timed(Stage::Detect, || engine.engine.detect(image, &options))?;
    let mut faces = Vec::with_capacity(detections.len());
    for detection in detections {
        faces.extend(engine.analyze_detection(image, detection)?);
    }
    if faces.iter().any(|f| f.detection.score > LIVENESS_MIN_SCORE) {
        faces.retain(|f| f.detection.score > LIVENESS_MIN_SCORE);
    } else {
        faces.sort_by(|a, b| b.detection.score.total_cmp(&a.detection.score));
        faces.truncate(1);
    }
    Ok(with_evidence(image, faces))
}

/// Shared analyzer handle.
pub type SharedAnalyzer = Arc<dyn FaceAnalyzer>;

/// One frame of the synthetic engine: who is in it, doing what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptedFrame {
    /// Person number (1..=127); their descriptors are far apart from each other's.
    pub person: u8,
    /// The action shown (`None`: neutral frontal face).
    pub action: Option<LivenessAction>,
    /// Number of faces in the frame (0, 1, 2…).
    pub faces: u8,
}

impl ScriptedFrame {
    /// A neutral single face of `person`.
    pub fn neutral(person: u8) -> Self {
        Self { person, action: None, faces: 1 }
    }

    /// A single face of `person` performing `action`.
    pub fn doing(person: u8, action: LivenessAction) -> Self {
        Self { person, action: Some(action), faces: 1 }
    }

    /// Encodes the script as a small PNG (one colour; the second pixel holds random bytes, so
    /// every call gives a new frame — a fresh capture — while the same bytes analyse the same,
    /// like a replayed upload).
    pub fn to_png(self) -> Vec<u8> {
        let action = match self.action {
            None => 0,
            Some(a) => LivenessAction::ALL.iter().position(|x| *x == a).map_or(0, |i| i as u8 + 1),
        };
        let mut img = RgbImage::from_pixel(32, 32, image::Rgb([self.person, action * 20, self.faces * 20]));
        img.put_pixel(1, 0, image::Rgb(rand::random::<[u8; 3]>()));
        let mut out = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut out);
        // Encoding a valid in-memory RGB buffer cannot fail.
        let _ = encoder.write_image(img.as_raw(), 32, 32, image::ExtendedColorType::Rgb8);
        out
    }

    fn from_image(image: &RgbImage) -> Option<Self> {
        let px = image.get_pixel_checked(0, 0)?.0;
        let action = match (px[1] + 10) / 20 {
            0 => None,
            n => Some(*LivenessAction::ALL.get(usize::from(n) - 1)?),
        };
        Some(Self { person: px[0], action, faces: (px[2] + 10) / 20 })
    }
}

/// Synthetic engine: reads a [`ScriptedFrame`] from the image's pixels and answers with
/// plausible signals (open eyes, frontal pose) modified by the action.
#[derive(Debug, Default)]
pub struct ScriptedAnalyzer;

impl ScriptedAnalyzer {
    /// The descriptor of a scripted person.
    pub fn descriptor_of(person: u8) -> Descriptor {
        let mut d = [0.02f32; 128];
        d[usize::from(person) % 128] = 1.0;
        Descriptor(d)
    }
}

impl FaceAnalyzer for ScriptedAnalyzer {
    /// No image evidence: the scripted frames are flat colour.
    fn analyze_for_liveness(&self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
        Ok(self.analyze(image)?.into_iter().map(|analysis| AnalyzedFace { analysis, evidence: None }).collect())
    }

    fn analyze(&self, image: &RgbImage) -> Result<Vec<FaceAnalysis>, FaceError> {
        let Some(frame) = ScriptedFrame::from_image(image) else { return Ok(Vec::new()) };
        let mut signals = FaceSignals {
            face_width_px: 200.0,
            face_fraction: 0.2,
            sharpness: 150.0,
            brightness: 0.5,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            ear_left: 0.3,
            ear_right: 0.3,
            mouth_aspect_ratio: 0.05,
        };
        match frame.action {
            Some(LivenessAction::Blink) => (signals.ear_left, signals.ear_right) = (0.1, 0.1),
            Some(LivenessAction::TurnLeft) => signals.yaw_deg = 30.0,
            Some(LivenessAction::TurnRight) => signals.yaw_deg = -30.0,
            Some(LivenessAction::OpenMouth) => signals.mouth_aspect_ratio = 0.6,
            Some(LivenessAction::Nod) => signals.pitch_deg = -20.0,
            None => {}
        }
        // The frame's own bytes move the landmarks and the descriptor a little, as a camera's
        // noise does: two captures never analyse identically, a replayed image always does.
        let noise = image.get_pixel_checked(1, 0).map_or([0; 3], |p| p.0);
        let jitter = f32::from(noise[0]) + f32::from(noise[1]) * 256.0 + f32::from(noise[2]) * 65536.0;
        let mut descriptor = Self::descriptor_of(frame.person);
        descriptor.0[127] += jitter * 1e-9;
        let face = FaceAnalysis {
            detection: Detection { bbox: BoundingBox { x: 10.0, y: 10.0, width: 200.0, height: 200.0 }, score: 0.99 },
            landmarks: Landmarks68 { points: [(jitter * 1e-6, 0.0); 68] },
            descriptor,
            signals,
        };
        Ok(vec![face; usize::from(frame.faces)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_frames_round_trip_through_png() {
        let limits = realname_face::ImageLimits::default();
        for frame in [
            ScriptedFrame::neutral(3),
            ScriptedFrame::doing(7, LivenessAction::OpenMouth),
            ScriptedFrame { person: 2, action: Some(LivenessAction::Nod), faces: 2 },
        ] {
            let img = realname_face::decode_image(&frame.to_png(), &limits).expect("decode");
            assert_eq!(ScriptedFrame::from_image(&img), Some(frame));
            let faces = ScriptedAnalyzer.analyze(&img).expect("analyze");
            assert_eq!(faces.len(), usize::from(frame.faces));
        }
        let a = ScriptedAnalyzer::descriptor_of(1);
        assert!(a.distance(&ScriptedAnalyzer::descriptor_of(2)) > 1.0);
        assert!(a.distance(&ScriptedAnalyzer::descriptor_of(1)) < 1e-6);
    }
}
