//! Analysing one upload's frames in order: the per-upload state that carries over from frame
//! to frame, in one of two modes ([`AnalysisMode`]):
//!
//! - **exhaustive** (the server's path until issue 16, kept for measurement): the SSD detector
//!   and every net on every frame ([`FaceAnalyzer::analyze_every_candidate`]), and the last
//!   single detected face followed into frames without a detection ([`FrameTracker`]);
//! - **tracked** (the server's path): the detector on the first frame, then the face followed
//!   with the landmark net ([`FaceAnalyzer::follow_face`]), back to the detector when the
//!   follow fails (another person, another face, a jump) and at least every
//!   [`REDETECT_STRIDE`] frames. The rules ([`crate::decide`]) are the same for both.
//!
//! One frame is held at a time: the caller decodes a frame, hands it over and drops it.

use image::RgbImage;
use realname_face::{Descriptor, FaceAnalysis, FaceError};
use realname_liveness::AnalyzedFace;

use crate::face::FaceAnalyzer;

/// How the frames of an upload are analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnalysisMode {
    /// The detector and every net on every frame (the path before issue 16).
    Exhaustive,
    /// Detect once, then follow the face (the server's path).
    #[default]
    Tracked,
}

/// The detector runs again after this many followed frames even when following works (a
/// bound on how long a drift can last).
pub const REDETECT_STRIDE: usize = 6;

/// Analyses the frames of one upload, in upload order.
#[derive(Debug)]
pub struct UploadAnalyzer<'a> {
    analyzer: &'a dyn FaceAnalyzer,
    mode: AnalysisMode,
    tracker: FrameTracker,
    /// The face to follow into the next frame and the descriptor it must stay close to (the
    /// previous frame's).
    follow: Option<(FaceAnalysis, Descriptor)>,
    followed_since_detection: usize,
}

impl<'a> UploadAnalyzer<'a> {
    /// A new upload.
    pub fn new(analyzer: &'a dyn FaceAnalyzer, mode: AnalysisMode) -> Self {
        Self { analyzer, mode, tracker: FrameTracker::default(), follow: None, followed_since_detection: 0 }
    }

    /// The faces of the next frame of the upload, with their image evidence.
    pub fn frame(&mut self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
        if self.mode == AnalysisMode::Tracked
            && self.followed_since_detection < REDETECT_STRIDE
            && let Some((previous, anchor)) = &self.follow
            && let Some(face) = self.analyzer.follow_face(image, previous, anchor)?
        {
            // Frame to frame: a turning head drifts far from the frontal face within a second
            // (the rules' per-segment bound is for that), but little between two frames.
            self.follow = Some((face.analysis, face.analysis.descriptor));
            // A later frame where the detector finds nothing is tracked from here, the face's
            // latest place.
            self.tracker.last = Some(face.analysis);
            self.followed_since_detection += 1;
            return Ok(vec![face]);
        }
        let mut faces = match self.mode {
            AnalysisMode::Exhaustive => self.analyzer.analyze_every_candidate(image)?,
            AnalysisMode::Tracked => self.analyzer.analyze_for_liveness(image)?,
        };
        let detected = faces.len();
        self.tracker.complete(self.analyzer, image, &mut faces)?;
        self.followed_since_detection = 0;
        self.follow = match faces.as_slice() {
            // A detected face, or one tracked into a faceless frame (today's tracking), is
            // followed into the next frame.
            [one] if detected <= 1 => Some((one.analysis, one.analysis.descriptor)),
            _ => None,
        };
        Ok(faces)
    }
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
