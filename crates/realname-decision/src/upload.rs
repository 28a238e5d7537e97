//! Analysing one upload's frames in order: the per-upload state that carries over from frame
//! to frame (the last single detected face, followed into frames without a detection by
//! [`FaceAnalyzer::track_face`]).

use image::RgbImage;
use realname_face::{FaceAnalysis, FaceError};
use realname_liveness::AnalyzedFace;

use crate::face::FaceAnalyzer;

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
