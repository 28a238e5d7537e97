//! Face tracking through captured frames where the detector finds no face: the landmark net
//! is run on the previous frame's face box (a head turn or a blink the SSD detector scores
//! below [`crate::face::LIVENESS_FAINT_SCORE`]: `lp_d12` frames 19, 21, 22, the blink inside
//! its head turn). A tracked face is kept only when its descriptor stays within
//! [`TRACK_MAX_DISTANCE`] of the face it was tracked from, so tracking never brings in another
//! person or a box of background; every rule of the decision still applies to it.

use image::RgbImage;
use realname_face::{Detection, FaceAnalysis, FaceEngine, FaceError};
use realname_liveness::AnalyzedFace;

use crate::face::FaceAnalyzer;

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

/// Per-upload tracking state: the last frame's single detected face.
#[derive(Debug, Default)]
pub struct FrameTracker {
    last: Option<FaceAnalysis>,
}

impl FrameTracker {
    /// Completes one frame's `faces` (in upload order): a frame without a face gets the face
    /// tracked from the last frame with exactly one detected face, when there is one.
    pub fn complete(
        &mut self,
        analyzer: &dyn FaceAnalyzer,
        image: &RgbImage,
        faces: &mut Vec<AnalyzedFace>,
    ) -> Result<(), FaceError> {
        match faces.as_slice() {
            [] => {
                if let Some(previous) = &self.last
                    && let Some(tracked) = analyzer.track_face(image, previous)?
                {
                    faces.push(tracked);
                }
            }
            [one] => self.last = Some(one.analysis),
            _ => self.last = None,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::face::{ScriptedAnalyzer, ScriptedFrame};

    /// Scripted faces; `track_face` answers with the previous face moved by one pixel and
    /// records what it was asked to follow.
    #[derive(Debug, Default)]
    struct Following {
        asked: Mutex<Vec<f32>>,
    }

    impl FaceAnalyzer for Following {
        fn analyze(&self, image: &RgbImage) -> Result<Vec<FaceAnalysis>, FaceError> {
            ScriptedAnalyzer.analyze(image)
        }

        fn track_face(&self, _image: &RgbImage, previous: &FaceAnalysis) -> Result<Option<AnalyzedFace>, FaceError> {
            if let Ok(mut asked) = self.asked.lock() {
                asked.push(previous.detection.bbox.x);
            }
            let mut analysis = *previous;
            analysis.detection.bbox.x += 1.0;
            Ok(Some(AnalyzedFace { analysis, evidence: None }))
        }
    }

    fn image(faces: u8) -> RgbImage {
        let png = ScriptedFrame { person: 1, action: None, faces }.to_png();
        realname_face::decode_image(&png, &realname_face::ImageLimits::default()).expect("decode")
    }

    #[test]
    fn a_faceless_frame_gets_the_last_single_face_followed() {
        let analyzer = Following::default();
        let mut tracker = FrameTracker::default();
        let mut counts = Vec::new();
        // no face before any face → nothing to follow; one face; no face → followed; two
        // faces; no face → not followed (which of the two?).
        for faces in [0u8, 1, 0, 0, 2, 0] {
            let img = image(faces);
            let mut found = analyzer.analyze_for_liveness(&img).expect("analyze");
            tracker.complete(&analyzer, &img, &mut found).expect("track");
            counts.push(found.len());
        }
        assert_eq!(counts, vec![0, 1, 1, 1, 2, 0]);
        // Both followed frames start from the detected face, not from a tracked one.
        assert_eq!(*analyzer.asked.lock().expect("lock"), vec![10.0, 10.0]);
    }

    #[test]
    fn the_default_analyzer_does_not_track() {
        let mut tracker = FrameTracker::default();
        for faces in [1u8, 0] {
            let img = image(faces);
            let mut found = ScriptedAnalyzer.analyze_for_liveness(&img).expect("analyze");
            tracker.complete(&ScriptedAnalyzer, &img, &mut found).expect("track");
            assert_eq!(found.len(), usize::from(faces));
        }
    }
}
