//! The local face detector behind live feedback: runs the face engine's fast path (tiny
//! detector + landmarks + signals, no descriptor) on a frame and summarises it as an
//! [`Observation`], with the server's eye edge evidence for the blink prompt.

use std::path::Path;
use std::sync::{Arc, Mutex};

use image::RgbImage;
use realname_face::{DetectOptions, Detection, EngineConfig, FaceEngine, LandmarkNet};

use crate::error::CompanionError;
use crate::liveness::Observation;

/// Detector input size: small enough for live feedback on two cores.
const TINY_INPUT: u32 = 320;

/// The face engine, loaded for guidance only. Clones share the engine and the one-frame
/// follow state (the previous frame's face box).
#[derive(Debug, Clone)]
pub struct FaceObserver {
    engine: Arc<FaceEngine>,
    options: DetectOptions,
    previous: Arc<Mutex<Option<Detection>>>,
}

impl FaceObserver {
    /// Loads the tiny detector and the landmark net from `models_dir`.
    ///
    /// # Errors
    /// [`CompanionError::Face`] when the weights are missing or corrupt.
    pub fn load(models_dir: &Path) -> Result<Self, CompanionError> {
        let config = EngineConfig {
            ssd: false,
            tiny: true,
            landmarks: Some(LandmarkNet::Full),
            recognition: false,
            ..EngineConfig::default()
        };
        let engine = FaceEngine::load(models_dir, config).map_err(|e| CompanionError::Face(e.to_string()))?;
        Ok(Self::from_engine(Arc::new(engine)))
    }

    /// Wraps an already loaded engine (it must have the tiny detector and a landmark net).
    pub fn from_engine(engine: Arc<FaceEngine>) -> Self {
        Self { engine, options: DetectOptions::tiny(TINY_INPUT), previous: Arc::default() }
    }

    /// Looks at one frame (CPU-bound: call from a blocking thread). Frames are expected in
    /// order: when the detector finds no face in the frame right after one where it found a
    /// single face, the landmarks are fitted on that face's box (the tiny detector loses
    /// closed-eye frames, `lp_d18` frame 63: a blink would otherwise never be seen); only one
    /// frame is followed, never a chain.
    ///
    /// # Errors
    /// [`CompanionError::Face`] when inference fails.
    pub fn observe(&self, image: &RgbImage) -> Result<Observation, CompanionError> {
        let err = |e: realname_face::FaceError| CompanionError::Face(e.to_string());
        let detections = self.engine.detect(image, &self.options).map_err(err)?;
        let mut faces = u32::try_from(detections.len()).unwrap_or(u32::MAX);
        let followed = {
            let mut previous =
                self.previous.lock().map_err(|_| CompanionError::Face("observer state poisoned".into()))?;
            let followed = previous.take();
            if let [one] = detections.as_slice() {
                *previous = Some(*one);
            }
            followed
        };
        let largest = match detections.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())) {
            Some(d) => *d,
            None => match followed.filter(|d| FaceEngine::landmark_crop(image, d).is_ok()) {
                Some(d) => {
                    faces = 1;
                    d
                }
                None => return Ok(Observation { faces: 0, signals: None, centre_offset: None, eye_edges: None }),
            },
        };
        let largest = &largest;
        let landmarks = self.engine.landmarks(image, largest).map_err(err)?;
        let signals = self.engine.signals(image, largest, &landmarks);
        let (w, h) = (image.width().max(1) as f32, image.height().max(1) as f32);
        let b = largest.bbox;
        let centre = ((b.x + b.width / 2.0) / w - 0.5, (b.y + b.height / 2.0) / h - 0.5);
        let eye_edges = Some(realname_liveness::evidence::eye_edges(image, &landmarks.points));
        Ok(Observation { faces, signals: Some(signals), centre_offset: Some(centre), eye_edges })
    }
}

impl FaceObserver {
    /// The largest face of a frame as a full analysis (detection, landmarks, signals; the
    /// descriptor is not computed and left zero), `None` without a face: the light step's
    /// renderer shades the face from its landmarks and pose.
    ///
    /// # Errors
    /// [`CompanionError::Face`] when inference fails.
    pub fn analyse(&self, image: &RgbImage) -> Result<Option<realname_face::FaceAnalysis>, CompanionError> {
        let err = |e: realname_face::FaceError| CompanionError::Face(e.to_string());
        let detections = self.engine.detect(image, &self.options).map_err(err)?;
        let Some(detection) = detections.into_iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())) else {
            return Ok(None);
        };
        let landmarks = self.engine.landmarks(image, &detection).map_err(err)?;
        let signals = self.engine.signals(image, &detection, &landmarks);
        Ok(Some(realname_face::FaceAnalysis {
            detection,
            landmarks,
            descriptor: realname_face::Descriptor([0.0; 128]),
            signals,
        }))
    }
}

#[cfg(test)]
mod tests {
    //! The blink prompt on labelled frames of the shared liveness data (`REALNAME_SHARED_DIR`,
    //! default `<workspace>/../shared`; models: `REALNAME_MODELS_DIR`, default
    //! `<workspace>/models`). Missing data or models fail the tests.

    use std::path::PathBuf;

    use realname_protocol::api::LivenessAction;

    use super::*;
    use crate::liveness::{ChallengeTracker, ObservedFrame, Thresholds, TrackerEvent};

    fn dir(var: &str, default: &str) -> PathBuf {
        std::env::var_os(var).map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default), PathBuf::from)
    }

    /// Feeds frames `ks` of a clip (10 fps) to a blink tracker; returns its events and the
    /// capture times of the uploaded blink frames.
    fn blink_run(observer: &FaceObserver, clip: &str, ks: &[u32]) -> (Vec<TrackerEvent>, Vec<i64>) {
        let clips = dir("REALNAME_SHARED_DIR", "../../../shared").join("data/liveness/clips").join(clip);
        let th = Thresholds { action_timeout_ms: 60_000, ..Thresholds::default() };
        let mut tracker = ChallengeTracker::new(vec![LivenessAction::Blink], 8, th);
        let mut events = Vec::new();
        for &k in ks {
            let path = clips.join(format!("{k:04}.jpg"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let image = realname_face::decode_image(&bytes, &realname_face::ImageLimits::default()).expect("decode");
            let observation = Some(observer.observe(&image).expect("observe"));
            events.extend(tracker.push(ObservedFrame {
                image: Arc::new(image),
                captured_at_ms: i64::from(k) * 100,
                source_ms: u64::from(k) * 100,
                observation,
                jpeg: None,
            }));
        }
        events.extend(tracker.finish());
        let times = tracker
            .into_selection()
            .iter()
            .filter(|f| f.action == Some(LivenessAction::Blink))
            .map(|f| f.captured_at_ms)
            .collect();
        (events, times)
    }

    fn detected(events: &[TrackerEvent]) -> bool {
        events.iter().any(|e| matches!(e, TrackerEvent::Captured { action: LivenessAction::Blink, detected: true, .. }))
    }

    #[test]
    fn the_blink_prompt_advances_on_labelled_blinks_only() {
        let models = dir("REALNAME_MODELS_DIR", "../../models");
        let observer = FaceObserver::load(&models).unwrap_or_else(|e| panic!("models in {}: {e}", models.display()));
        // lp_d18: one-frame blink at 63 (light eyes: face-api's EAR moves 4 %).
        let (events, times) = blink_run(&observer, "lp_d18", &(55..=70).collect::<Vec<_>>());
        assert!(detected(&events), "{events:?}");
        assert!(times.contains(&6300), "the closed-eye frame is uploaded: {times:?}");
        // The same stretch without the blink frame: open eyes only.
        let open: Vec<u32> = (55..=70).filter(|&k| k != 63).collect();
        let (events, _) = blink_run(&observer, "lp_d18", &open);
        assert!(!detected(&events), "{events:?}");
        // eyeryhthm_7blinks (webcam-like): blink 18–19; open eyes 2–12.
        let (events, times) = blink_run(&observer, "eyeryhthm_7blinks", &(8..=24).collect::<Vec<_>>());
        assert!(detected(&events), "{events:?}");
        assert!(times.iter().any(|&t| (1800..=1900).contains(&t)), "{times:?}");
        let (events, _) = blink_run(&observer, "eyeryhthm_7blinks", &(2..=12).collect::<Vec<_>>());
        assert!(!detected(&events), "{events:?}");
    }

    #[test]
    fn a_lost_face_is_followed_for_one_frame_only() {
        let models = dir("REALNAME_MODELS_DIR", "../../models");
        let observer = FaceObserver::load(&models).unwrap_or_else(|e| panic!("models in {}: {e}", models.display()));
        let path = dir("REALNAME_SHARED_DIR", "../../../shared").join("data/liveness/clips/lp_d18/0062.jpg");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let face = realname_face::decode_image(&bytes, &realname_face::ImageLimits::default()).expect("decode");
        let blank = RgbImage::from_pixel(face.width(), face.height(), image::Rgb([128, 128, 128]));
        let counts: Vec<u32> =
            [&blank, &face, &blank, &blank].iter().map(|img| observer.observe(img).expect("observe").faces).collect();
        assert_eq!(counts, vec![0, 1, 1, 0]);
    }
}
