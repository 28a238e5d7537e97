//! Analysing one upload's frames in order: the per-upload state that carries over from frame
//! to frame, in one of two modes ([`AnalysisMode`]):
//!
//! - **exhaustive** (the server's path until issue 16, kept for measurement): the SSD detector
//!   and every net on every frame ([`FaceAnalyzer::analyze_every_candidate`]), and the last
//!   single detected face followed into frames without a detection ([`FrameTracker`]);
//! - **tracked** (the server's path): the detector on the first frame, then the face followed
//!   with the landmark net ([`FaceAnalyzer::follow_face`]), back to the detector when the
//!   follow fails (another person, another face, a jump) and at least every
//!   [`REDETECT_STRIDE`] frames; with the frames' tags ([`UploadAnalyzer::tagged_frame`]) the
//!   recognition net runs on a followed face only where a rule reads its descriptor
//!   ([`crate::decision::DescriptorNeeds`]); a weak head turn's furthest followed frames go
//!   through the detector when its run ends ([`TURN_PEAKS`]; [`UploadAnalyzer::finish`] puts
//!   that analysis in).
//!   The rules ([`crate::decide`]) are the same for both.
//!
//! One frame is held at a time (and copies of the current head turn's furthest frames): the
//! caller decodes a frame, hands it over and drops it.

use image::RgbImage;
use realname_face::{BoundingBox, Descriptor, FaceAnalysis, FaceError};
use realname_liveness::{AnalyzedFace, AnalyzedFrame, ReplayStore};
use realname_protocol::api::LivenessAction;

use crate::decision::{DescriptorNeeds, is_described};
use crate::face::FaceAnalyzer;
use crate::profile::{Stage, timed};
use crate::tracking::BoxFraming;

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
/// bound on how long a drift can last). Each followed box is framed afresh around the face's
/// landmarks ([`crate::tracking::BoxFraming`]) and confirmed by the gate (or else checked
/// against the track's last descriptor) on every frame, so drift does not add up; 15 followed frames is a
/// whole upload under the server's default 16-frame limit (one SSD run when following holds).
pub const REDETECT_STRIDE: usize = 15;

/// Analyses the frames of one upload, in upload order.
#[derive(Debug)]
pub struct UploadAnalyzer<'a> {
    analyzer: &'a dyn FaceAnalyzer,
    mode: AnalysisMode,
    tracker: FrameTracker,
    /// The face to follow into the next frame.
    follow: Option<FaceAnalysis>,
    /// The track's last computed descriptor: a followed face the gate does not confirm must
    /// stay close to it.
    anchor: Option<Descriptor>,
    /// Which frames the rules read descriptors of ([`Self::tagged_frame`]).
    needs: DescriptorNeeds,
    /// How the detector framed the followed face when it last detected it.
    framing: Option<BoxFraming>,
    followed_since_detection: usize,
    /// The analyses of the frames so far by pixel hash (tracked mode): a frame identical to an
    /// earlier one gets that frame's analysis again.
    seen: Vec<(u64, Vec<AnalyzedFace>)>,
    /// Every frame's pixel hash, in upload order ([`Self::replay_store`]).
    prints: Vec<u64>,
    /// Whether the last analysed frame's face was followed (or started) rather than detected
    /// (only such a frame is kept for [`TURN_PEAKS`]).
    followed_last: bool,
    /// The followed frames of the current head-turn run that show the turn most (at most
    /// [`TURN_PEAKS`], furthest first).
    turn_peak: Vec<TurnPeak>,
    /// Yaw of the single-face neutral frames so far (untagged, outside the light step).
    neutral_yaw: Vec<f32>,
    /// The detector's faces for frames analysed again ([`TurnPeak`]), by upload index.
    revised: Vec<(usize, Vec<AnalyzedFace>)>,
}

/// How many followed frames of a head-turn run go through the detector when the run ends: the
/// furthest turned ones. The turn rule reads the largest yaw change of a run, and followed
/// landmarks put a turned face's yaw lower than the detector's landmarks do (the detector's box
/// reaches further towards the back of the head: `lp_d12`'s left turn 11.0° followed against
/// 14.0° detected on the same frame, around the rule's 8° change) and do not always rank two
/// frames as the detector does (`lp_d12`'s frame 16, followed at 8.6°, ranked below frame 18,
/// which the detector puts at 10.2° against frame 16's 14.0°). Two: 10 of the bench's 12
/// random `lp_d12` challenges decided as the exhaustive analysis decides them (one: 9, three:
/// 10), ~54 ms CPU more per capture than one.
pub const TURN_PEAKS: usize = 2;

/// A head turn whose furthest followed frame lies this far (degrees) from the median neutral
/// frame's yaw is left as followed: twice the turn rule's 8° change, where the followed and
/// detected yaw of the labelled clips' frames differ by ~1° (|yaw| 4–15°: 176 frames followed
/// from the frame before, mean difference 0.7–1.3° per 4–7° band; `examples/follow_yaw.rs`).
/// A strong turn stays as followed also because mixing detected boxes into a followed run is
/// not free: at `zubair_real`'s −60° the detector's box differs enough
/// from the followed ones to break the track rule (`person_changed`, seen with two frames
/// detected and no such bound).
pub const TURN_CLEAR_DEG: f32 = 16.0;

/// A followed frame of a run of head-turn frames and how far it is turned the tagged way;
/// when the run ends it goes through the detector as the exhaustive analysis would put it
/// ([`UploadAnalyzer::finish`] applies that analysis).
#[derive(Debug)]
struct TurnPeak {
    index: usize,
    action: LivenessAction,
    /// Yaw in the turn's direction (degrees).
    yaw: f32,
    /// The followed face's box.
    bbox: BoundingBox,
    image: RgbImage,
}

/// A hash of an image's size and pixels (FNV-style over 8-byte words).
fn pixel_hash(image: &RgbImage) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (u64::from(image.width()) << 32 | u64::from(image.height()));
    let raw = image.as_raw();
    let mut words = raw.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl<'a> UploadAnalyzer<'a> {
    /// A new upload.
    pub fn new(analyzer: &'a dyn FaceAnalyzer, mode: AnalysisMode) -> Self {
        Self {
            analyzer,
            mode,
            tracker: FrameTracker::default(),
            follow: None,
            anchor: None,
            needs: DescriptorNeeds::default(),
            framing: None,
            followed_since_detection: 0,
            seen: Vec::new(),
            prints: Vec::new(),
            followed_last: false,
            turn_peak: Vec::new(),
            neutral_yaw: Vec::new(),
            revised: Vec::new(),
        }
    }

    /// `store` as the rules should see it for this upload: claiming the frames' fingerprints
    /// also claims the frames' pixel hashes. The analyses' fingerprints
    /// ([`realname_liveness::fingerprint`]) are path-independent only when every frame goes
    /// through the detector: a followed frame's landmarks and descriptor depend on the frame
    /// before, so a frame of an earlier upload re-sent behind another first frame would no
    /// longer be recognised (measured: `lp_d18`'s genuine upload re-sent without its first
    /// frame under a new nonce passed in tracked mode, `challenge_replayed` in exhaustive mode).
    /// The pixel hash recognises it wherever it stands, as the exhaustive analysis did.
    pub fn replay_store<'s>(&self, store: &'s dyn ReplayStore) -> FramePrints<'s> {
        FramePrints::new(store, self.frame_prints())
    }

    /// The frames' pixel hashes so far, in upload order (to build [`FramePrints`] after the
    /// analyzer is gone, e.g. on another blocking task).
    pub fn frame_prints(&self) -> Vec<u64> {
        self.prints.clone()
    }

    /// The faces of the next frame of the upload, with their image evidence; every face
    /// described (the frame's tag is not known: any rule may read its descriptor).
    ///
    /// Tracked mode keeps what the exhaustive analysis guarantees the duplicate rule: identical
    /// frames are analysed identically (a still uploaded again and again has one fingerprint,
    /// wherever the follow was), because a repeated frame gets its first analysis back.
    pub fn frame(&mut self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, FaceError> {
        self.next(image, true)
    }

    /// The faces of the next frame, tagged `action` (`light`: captured during the light step),
    /// as [`Self::frame`]; in tracked mode a followed face is described only when a rule reads
    /// its descriptor ([`DescriptorNeeds`]), otherwise it carries
    /// [`crate::decision::NOT_DESCRIBED`].
    pub fn tagged_frame(
        &mut self,
        image: &RgbImage,
        action: Option<LivenessAction>,
        light: bool,
    ) -> Result<Vec<AnalyzedFace>, FaceError> {
        let describe = self.needs.needs(action, light);
        let turn = action.filter(|a| !light && matches!(a, LivenessAction::TurnLeft | LivenessAction::TurnRight));
        if self.turn_peak.first().is_some_and(|p| Some(p.action) != turn) {
            self.settle_turn()?;
        }
        let index = self.prints.len();
        self.followed_last = false;
        let faces = self.next(image, describe)?;
        self.needs.record(action, light, &faces);
        if let (None, false, [one]) = (action, light, faces.as_slice()) {
            self.neutral_yaw.push(one.analysis.signals.yaw_deg);
        }
        if let (Some(action), [one], true) = (turn, faces.as_slice(), self.followed_last) {
            let sign = if action == LivenessAction::TurnLeft { 1.0 } else { -1.0 };
            let yaw = sign * one.analysis.signals.yaw_deg;
            if self.turn_peak.len() < TURN_PEAKS || self.turn_peak.last().is_some_and(|p| yaw > p.yaw) {
                let bbox = one.analysis.detection.bbox;
                self.turn_peak.push(TurnPeak { index, action, yaw, bbox, image: image.clone() });
                self.turn_peak.sort_by(|a, b| b.yaw.total_cmp(&a.yaw));
                self.turn_peak.truncate(TURN_PEAKS);
            }
        }
        Ok(faces)
    }

    /// The current turn run's furthest frames through the detector.
    fn settle_turn(&mut self) -> Result<(), FaceError> {
        let peaks = std::mem::take(&mut self.turn_peak);
        let config = crate::decision::liveness_config();
        let mut neutral = self.neutral_yaw.clone();
        neutral.sort_by(f32::total_cmp);
        if let (Some(best), Some(&base)) = (peaks.first(), neutral.get(neutral.len() / 2)) {
            let sign = if best.action == LivenessAction::TurnLeft { 1.0 } else { -1.0 };
            if best.yaw - sign * base >= TURN_CLEAR_DEG {
                return Ok(());
            }
        }
        for peak in peaks {
            let faces = self.analyzer.analyze_for_liveness(&peak.image)?;
            // A detected box that the track rule would not accept beside the followed box of the
            // same frame could, put among followed frames, break the track where neither
            // analysis alone would (seen: `lp_d12`'s reversed-tag turn pair, a detected box 1.84×
            // the followed one, refused `person_changed` instead of `action_not_seen`): the frame
            // then stays as followed.
            if let [one] = faces.as_slice()
                && !realname_liveness::keeps_track(&peak.bbox, &one.analysis.detection.bbox, &config)
            {
                tracing::debug!(index = peak.index, "a turn's detected box lies elsewhere than the followed one");
                continue;
            }
            if !faces.is_empty() {
                self.revised.push((peak.index, faces));
            }
        }
        Ok(())
    }

    /// Ends the upload: `frames` (this upload's, in upload order, as [`Self::tagged_frame`]
    /// returned them) get the faces of frames analysed again; every frame with the same pixels
    /// gets them too (identical frames stay identically analysed).
    pub fn finish(&mut self, frames: &mut [AnalyzedFrame]) -> Result<(), FaceError> {
        self.settle_turn()?;
        for (index, faces) in std::mem::take(&mut self.revised) {
            let Some(&print) = self.prints.get(index) else { continue };
            for (frame, _) in frames.iter_mut().zip(&self.prints).filter(|(_, p)| **p == print) {
                frame.faces.clone_from(&faces);
            }
        }
        Ok(())
    }

    fn next(&mut self, image: &RgbImage, describe: bool) -> Result<Vec<AnalyzedFace>, FaceError> {
        let hash = timed(Stage::Prints, || pixel_hash(image));
        self.prints.push(hash);
        if self.mode == AnalysisMode::Exhaustive {
            return self.analyse(image, true);
        }
        if let Some(at) = self.seen.iter().position(|(h, _)| *h == hash) {
            if describe {
                // First seen where no rule read its descriptor: the same face, described now.
                for face in &mut self.seen[at].1 {
                    if !is_described(&face.analysis.descriptor) {
                        face.analysis.descriptor = self.analyzer.describe(image, &face.analysis)?;
                    }
                }
            }
            let faces = self.seen[at].1.clone();
            if let [one] = faces.as_slice() {
                self.follow_from(one.analysis);
            }
            return Ok(faces);
        }
        let faces = self.analyse(image, describe)?;
        self.seen.push((hash, faces.clone()));
        Ok(faces)
    }

    /// Follows `face` into the next frame; its descriptor becomes the track's anchor when it
    /// was computed (otherwise the anchor stays the track's last descriptor).
    fn follow_from(&mut self, mut face: FaceAnalysis) {
        if is_described(&face.descriptor) {
            self.anchor = Some(face.descriptor);
        } else if let Some(anchor) = self.anchor {
            // Tracking into a faceless frame compares with the face's latest descriptor.
            face.descriptor = anchor;
        }
        self.follow = Some(face);
        self.tracker.last = Some(face);
    }

    fn analyse(&mut self, image: &RgbImage, describe: bool) -> Result<Vec<AnalyzedFace>, FaceError> {
        if self.mode == AnalysisMode::Tracked
            && self.followed_since_detection < REDETECT_STRIDE
            && let Some(previous) = &self.follow
            && let Some(anchor) = &self.anchor
            && let Some(framing) = &self.framing
            && let Some(face) = self.analyzer.follow_face(image, previous, framing, anchor, describe)?
        {
            // Frame to frame: a turning head drifts far from the frontal face within a second
            // (the rules' per-segment bound is for that), but little between two frames.
            // A later frame where the detector finds nothing is tracked from here, the face's
            // latest place.
            self.follow_from(face.analysis);
            self.followed_since_detection += 1;
            self.followed_last = true;
            return Ok(vec![face]);
        }
        if self.mode == AnalysisMode::Tracked
            && self.follow.is_none()
            && let Some(face) = self.analyzer.start_face(image, &BoxFraming::TYPICAL, describe)?
        {
            // No track yet (or none left after a frame without one face): the tiny detector
            // starts one when it sees exactly one face.
            self.framing = Some(BoxFraming::TYPICAL);
            self.follow_from(face.analysis);
            self.followed_since_detection = 0;
            self.followed_last = true;
            return Ok(vec![face]);
        }
        let mut faces = match self.mode {
            AnalysisMode::Exhaustive => self.analyzer.analyze_every_candidate(image)?,
            AnalysisMode::Tracked => self.analyzer.analyze_for_liveness(image)?,
        };
        let detected = faces.len();
        self.tracker.complete(self.analyzer, image, &mut faces)?;
        self.followed_since_detection = 0;
        match faces.as_slice() {
            // A detected face, or one tracked into a faceless frame (today's tracking), is
            // followed into the next frame.
            [one] if detected <= 1 => {
                let face = one.analysis;
                self.follow_from(face);
            }
            _ => {
                self.follow = None;
                self.anchor = None;
            }
        }
        match faces.as_slice() {
            // A face tracked into a faceless frame keeps the framing of its detection.
            [one] if detected == 1 => self.framing = BoxFraming::of(&one.analysis.detection, &one.analysis.landmarks),
            [_] => {}
            _ => self.framing = None,
        }
        Ok(faces)
    }
}

/// A [`ReplayStore`] that claims an upload's frame pixel hashes with its fingerprints
/// ([`UploadAnalyzer::replay_store`]).
pub struct FramePrints<'s> {
    store: &'s dyn ReplayStore,
    prints: Vec<u64>,
}

impl<'s> FramePrints<'s> {
    /// `store`, claiming `prints` (from [`UploadAnalyzer::frame_prints`]) with the fingerprints.
    pub fn new(store: &'s dyn ReplayStore, prints: Vec<u64>) -> Self {
        Self { store, prints }
    }
}

impl std::fmt::Debug for FramePrints<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePrints").field("frames", &self.prints.len()).finish_non_exhaustive()
    }
}

impl ReplayStore for FramePrints<'_> {
    fn claim_nonce(&self, nonce: &str) -> bool {
        self.store.claim_nonce(nonce)
    }

    fn claim_frames(&self, fingerprints: &[u64]) -> bool {
        let all: Vec<u64> = fingerprints.iter().chain(&self.prints).copied().collect();
        self.store.claim_frames(&all)
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

    /// Counts the frames it analyses.
    #[derive(Debug, Default)]
    struct Counting {
        calls: Mutex<usize>,
    }

    impl FaceAnalyzer for Counting {
        fn analyze(&self, image: &RgbImage) -> Result<Vec<FaceAnalysis>, FaceError> {
            if let Ok(mut n) = self.calls.lock() {
                *n += 1;
            }
            ScriptedAnalyzer.analyze(image)
        }
    }

    #[test]
    fn a_repeated_frame_gets_its_first_analysis_back_in_tracked_mode() {
        let (a, b) = (image(1), image(1));
        for (mode, calls) in [(AnalysisMode::Tracked, 2), (AnalysisMode::Exhaustive, 3)] {
            let analyzer = Counting::default();
            let mut upload = UploadAnalyzer::new(&analyzer, mode);
            let first = upload.frame(&a).expect("a");
            upload.frame(&b).expect("b");
            let again = upload.frame(&a).expect("a again");
            assert_eq!(again[0].analysis, first[0].analysis, "{mode:?}");
            assert_eq!(*analyzer.calls.lock().expect("lock"), calls, "{mode:?}");
        }
    }

    /// Scripted faces with spread landmarks (so that a detection has a framing); a followed
    /// face shows half the yaw the detector's analysis shows (as followed landmarks put a
    /// turned face's yaw lower). Counts the detector's analyses.
    #[derive(Debug)]
    struct HalfYawFollow {
        detected: Mutex<usize>,
        /// Followed yaw as a share of the detected one.
        share: f32,
        /// Followed box width as a share of the detected one.
        width: f32,
    }

    impl HalfYawFollow {
        fn scripted(image: &RgbImage) -> Result<Vec<FaceAnalysis>, FaceError> {
            let mut faces = ScriptedAnalyzer.analyze(image)?;
            for f in &mut faces {
                for (i, p) in f.landmarks.points.iter_mut().enumerate() {
                    *p = (50.0 + (i % 10) as f32 * 10.0, 50.0 + (i / 10) as f32 * 10.0);
                }
            }
            Ok(faces)
        }
    }

    impl FaceAnalyzer for HalfYawFollow {
        fn analyze(&self, image: &RgbImage) -> Result<Vec<FaceAnalysis>, FaceError> {
            if let Ok(mut n) = self.detected.lock() {
                *n += 1;
            }
            Self::scripted(image)
        }

        fn follow_face(
            &self,
            image: &RgbImage,
            _previous: &FaceAnalysis,
            _framing: &BoxFraming,
            _anchor: &Descriptor,
            _describe: bool,
        ) -> Result<Option<AnalyzedFace>, FaceError> {
            Ok(Self::scripted(image)?.into_iter().next().map(|mut analysis| {
                analysis.signals.yaw_deg *= self.share;
                analysis.detection.bbox.width *= self.width;
                AnalyzedFace { analysis, evidence: None }
            }))
        }
    }

    fn frame_of(action: Option<LivenessAction>) -> RgbImage {
        let png = ScriptedFrame { person: 1, action, faces: 1 }.to_png();
        realname_face::decode_image(&png, &realname_face::ImageLimits::default()).expect("decode")
    }

    #[test]
    fn each_turn_runs_furthest_followed_frame_gets_the_detectors_analysis() {
        use LivenessAction::{Blink, TurnLeft, TurnRight};
        let analyzer = HalfYawFollow { detected: Mutex::new(0), share: 0.5, width: 1.0 };
        let mut upload = UploadAnalyzer::new(&analyzer, AnalysisMode::Tracked);
        let peak = frame_of(Some(TurnLeft));
        let shots = [
            (None, frame_of(None)),
            (None, frame_of(None)),
            (Some(TurnLeft), frame_of(None)),
            (Some(TurnLeft), peak.clone()),
            (Some(TurnLeft), frame_of(None)),
            (Some(Blink), frame_of(Some(Blink))),
            // The same pixels again: analysed as the peak is.
            (Some(Blink), peak),
            (Some(TurnRight), frame_of(Some(TurnRight))),
        ];
        let mut frames = Vec::new();
        for (action, image) in &shots {
            let faces = upload.tagged_frame(image, *action, false).expect("frame");
            frames.push(AnalyzedFrame { action: *action, captured_at_ms: 0, faces, light: false });
        }
        let yaw = |frames: &[AnalyzedFrame]| -> Vec<f32> {
            frames.iter().map(|f| f.faces[0].analysis.signals.yaw_deg).collect()
        };
        assert_eq!(yaw(&frames), vec![0.0, 0.0, 0.0, 15.0, 0.0, 0.0, 15.0, -15.0]);
        // The first frame, and the left turn's two furthest frames when its run ended (frames
        // as followed until `finish`).
        assert_eq!(*analyzer.detected.lock().expect("lock"), 1 + TURN_PEAKS);
        upload.finish(&mut frames).expect("finish");
        // The left turn's peak (and its copy) and the right turn's only frame, as detected.
        assert_eq!(yaw(&frames), vec![0.0, 0.0, 0.0, 30.0, 0.0, 0.0, 30.0, -30.0]);
        assert_eq!(*analyzer.detected.lock().expect("lock"), 2 + TURN_PEAKS);

        // A turn followed beyond TURN_CLEAR_DEG from the neutral frames stays as followed (no
        // detector run); so does one whose detected box lies elsewhere than the followed one
        // (the detector runs, its analysis is not put in).
        for (share, width, yaws, detected) in [(0.9, 1.0, 27.0, 1), (0.5, 0.5, 15.0, 3)] {
            let analyzer = HalfYawFollow { detected: Mutex::new(0), share, width };
            let mut upload = UploadAnalyzer::new(&analyzer, AnalysisMode::Tracked);
            let mut frames = Vec::new();
            for action in [None, Some(TurnLeft), Some(TurnLeft)] {
                let faces = upload.tagged_frame(&frame_of(action), action, false).expect("frame");
                frames.push(AnalyzedFrame { action, captured_at_ms: 0, faces, light: false });
            }
            upload.finish(&mut frames).expect("finish");
            assert_eq!(yaw(&frames), vec![0.0, yaws, yaws], "share {share}, width {width}");
            assert_eq!(*analyzer.detected.lock().expect("lock"), detected, "share {share}, width {width}");
        }
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
