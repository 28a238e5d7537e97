//! The server's decision on an analysed capture: the liveness challenge decided by
//! [`realname_liveness::evaluate`] (actions in order and in time, one face per frame, one and
//! the same person, no repeated or replayed frames, single-use nonce), usable image quality,
//! and the ID holder's reference face compared with the capture's most frontal neutral frame.
//!
//! Pure apart from the [`ReplayStore`] it is given: the HTTP handler calls [`decide`] with the
//! database-backed store, the liveness measurement (`cargo xtask accuracy liveness`) with an
//! in-memory one, on the same analysed frames ([`crate::face::FaceAnalyzer::analyze_for_liveness`]).

use realname_face::Descriptor;
use realname_liveness::{
    AnalyzedFace, AnalyzedFrame, Hint, IssuedChallenge, LivenessConfig, Rejection, RejectionDetail, ReplayStore, Upload,
};
use realname_protocol::api::{LivenessAction, LivenessChallenge, ReasonCode};

/// Largest descriptor distance to the reference face that still counts as the same person
/// (the server's default `face.match_threshold`). 0.6 is face-api's customary threshold; on
/// the 900 public pairs of `shared/data/faces` it gives 99.56 % accuracy.
pub const MATCH_THRESHOLD: f32 = 0.6;

/// Smallest face width accepted, pixels (the recognition net's input is 150 px; below ~60 px
/// descriptors degrade quickly).
pub const MIN_FACE_WIDTH_PX: f32 = 60.0;
/// Darkest face accepted (mean luma 0..1).
pub const MIN_BRIGHTNESS: f32 = 0.12;

/// The descriptor of a face whose recognition net was not run: every value NaN, so that no
/// distance to it is below any bound (`NaN < x` is false) and it is never the closest pair of
/// the same-person rule. The tracked analysis leaves it on the frames [`DescriptorNeeds`] says
/// no rule reads.
pub const NOT_DESCRIBED: Descriptor = Descriptor([f32::NAN; 128]);

/// Whether `descriptor` was computed (is not [`NOT_DESCRIBED`]).
pub fn is_described(descriptor: &Descriptor) -> bool {
    !descriptor.0[0].is_nan()
}

/// Which frames' descriptors the rules read, decided frame by frame in upload order (the
/// tracked analysis skips the recognition net on the others, [`crate::UploadAnalyzer::tagged_frame`]).
///
/// The rules that read descriptors: the ID-photo match and the light step read a neutral
/// frame's and every light frame's, and the same-person rule
/// ([`realname_liveness::evaluate`]) passes an action segment (a run of single-face frames
/// with one tag) when *some* frame of it lies within `same_person_segment` of *some* neutral
/// frame. So every neutral and every light frame is described, and an action frame only until
/// its run has such a witness: the rule then passes that run whatever the other frames'
/// descriptors are, and a run without one had every frame described — the rule sees its true
/// minimum and rejects as it would have. Faceless and multi-face frames do not break a run
/// (the rule drops them before it forms runs); a light frame does (conservative either way:
/// the light step takes light frames out of the runs, a challenge without one leaves them in).
/// Neutral frames found later only add witnesses. Not described frames carry [`NOT_DESCRIBED`].
#[derive(Debug, Clone, Default)]
pub struct DescriptorNeeds {
    /// Descriptors of the single-face neutral frames so far.
    neutral: Vec<Descriptor>,
    /// The tag of the current run of single-face action frames and whether a frame of it lies
    /// within the segment bound of a neutral frame.
    run: Option<(LivenessAction, bool)>,
}

impl DescriptorNeeds {
    /// Whether a frame tagged `action` (`light`: captured during the light step) needs its
    /// descriptor.
    pub fn needs(&self, action: Option<LivenessAction>, light: bool) -> bool {
        match (action, light) {
            (Some(a), false) => self.run != Some((a, true)),
            _ => true,
        }
    }

    /// Records a frame's analysed faces (after [`Self::needs`]).
    pub fn record(&mut self, action: Option<LivenessAction>, light: bool, faces: &[AnalyzedFace]) {
        let [one] = faces else { return };
        let descriptor = one.analysis.descriptor;
        match (action, light) {
            (_, true) => self.run = None,
            (None, false) => {
                self.run = None;
                self.neutral.push(descriptor);
            }
            (Some(a), false) => {
                let bound = liveness_config().same_person_segment;
                let witnessed = self.run.is_some_and(|(b, w)| b == a && w)
                    || self.neutral.iter().any(|n| n.distance(&descriptor) <= bound);
                self.run = Some((a, witnessed));
            }
        }
    }
}

/// One capture as the server received it, analysed.
#[derive(Debug, Clone, Copy)]
pub struct Capture<'a> {
    /// The challenge issued for this capture.
    pub challenge: &'a LivenessChallenge,
    /// When it was issued (the claim or the previous decision), ms since the Unix epoch.
    pub issued_at_ms: i64,
    /// The nonce the companion sent back.
    pub nonce: &'a str,
    /// The analysed frames in upload order, with the companion's action tags and capture times.
    pub frames: &'a [AnalyzedFrame],
    /// When the server received the upload, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// The companion's paint report of the challenge's light sequence (`challenge.light`).
    pub light: Option<&'a realname_protocol::light::LightPresentation>,
}

/// What the capture shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Live, one person, the ID holder.
    Pass {
        /// Descriptor distance of the compared frame to the reference.
        distance: f32,
        /// The frame compared with the reference (0-based, upload order).
        frame: usize,
    },
    /// Not verified.
    Fail {
        /// Why (stable code, turned into advice by the app).
        reason: ReasonCode,
        /// The action concerned, if any.
        action: Option<LivenessAction>,
        /// The frame concerned (0-based, upload order), if any.
        frame: Option<usize>,
        /// The liveness rule and its measurement (for the log; never images or identities).
        detail: Option<RejectionDetail>,
        /// What the person can do about it.
        hint: Option<Hint>,
    },
}

impl Verdict {
    /// A failure without liveness detail.
    pub fn fail(reason: ReasonCode) -> Self {
        Self::Fail { reason, action: None, frame: None, detail: None, hint: None }
    }

    /// The reason code of a failure.
    pub fn reason(&self) -> Option<ReasonCode> {
        match self {
            Self::Pass { .. } => None,
            Self::Fail { reason, .. } => Some(*reason),
        }
    }
}

/// The liveness thresholds the server applies: the calibrated defaults of
/// [`LivenessConfig::default`]. The challenge is the server's own, so any 1–3 actions are
/// accepted here (a pinned test challenge may have one); how many a challenge asks for is
/// the server's `face.min_actions..=face.max_actions` at issue time.
pub fn liveness_config() -> LivenessConfig {
    LivenessConfig::default()
}

fn frame_of(detail: &RejectionDetail) -> Option<usize> {
    use RejectionDetail as D;
    match *detail {
        D::TimestampsNotIncreasing { frame }
        | D::FrameGapImplausible { frame, .. }
        | D::OutsideChallengeWindow { frame }
        | D::NoFace { frame }
        | D::MultipleFaces { frame, .. }
        | D::DifferentPerson { frame, .. }
        | D::TrackBroken { frame, .. } => Some(frame),
        D::DuplicateFrames { second, .. } => Some(second),
        _ => None,
    }
}

/// A too dark or too small face among the single-face frames: the likelier cause of a face or
/// an action not being seen, and the more useful advice.
fn quality_problem(frames: &[AnalyzedFrame]) -> Option<(ReasonCode, Option<LivenessAction>, usize)> {
    frames.iter().enumerate().find_map(|(i, f)| match f.faces.as_slice() {
        [one] if one.analysis.signals.brightness < MIN_BRIGHTNESS => Some((ReasonCode::TooDark, f.action, i)),
        [one] if one.analysis.signals.face_width_px < MIN_FACE_WIDTH_PX => {
            Some((ReasonCode::FaceTooSmall, f.action, i))
        }
        _ => None,
    })
}

/// Decides on a capture: liveness first (it spends the nonce), then quality, then the
/// comparison of the most frontal neutral frame with the ID holder's reference face
/// (same person below `match_threshold`, the server's `face.match_threshold`).
pub fn decide(capture: Capture<'_>, reference: &Descriptor, replay: &dyn ReplayStore, match_threshold: f32) -> Verdict {
    let liveness = liveness_config();
    // With a light step, its frames are kept out of the action rules (checked below).
    let split = capture.challenge.light.as_ref().map(|_| crate::light::split_frames(capture.frames));
    let (frames, index): (&[AnalyzedFrame], Option<&[usize]>) = match &split {
        Some(s) => (&s.action, Some(&s.action_index)),
        None => (capture.frames, None),
    };
    let upload_frame = |i: usize| index.map_or(i, |ix| ix.get(i).copied().unwrap_or(i));
    let evaluated = realname_liveness::evaluate(
        IssuedChallenge { challenge: capture.challenge, issued_at_ms: capture.issued_at_ms },
        Upload { nonce: capture.nonce, frames, received_at_ms: capture.received_at_ms },
        replay,
        &liveness,
    );
    let pass = match evaluated {
        Ok(pass) => pass,
        Err(Rejection { reason, action, hint, detail }) => {
            if matches!(reason, ReasonCode::NoFace | ReasonCode::ActionNotSeen)
                && let Some((reason, action, frame)) = quality_problem(frames)
            {
                let frame = Some(upload_frame(frame));
                return Verdict::Fail { reason, action, frame, detail: Some(detail), hint: Some(hint) };
            }
            let frame = frame_of(&detail).map(upload_frame);
            return Verdict::Fail { reason, action, frame, detail: Some(detail), hint: Some(hint) };
        }
    };
    let best_frame = upload_frame(pass.best_frame);
    if let (Some(sequence), Some(split)) = (capture.challenge.light.as_ref(), &split)
        && let Err(f) = crate::light::check_capture(&capture, sequence, split, best_frame, &liveness)
    {
        return Verdict::Fail { reason: f.reason, action: None, frame: f.frame, detail: f.detail, hint: Some(f.hint) };
    }
    if let Some((reason, action, frame)) = quality_problem(frames) {
        return Verdict::Fail { reason, action, frame: Some(upload_frame(frame)), detail: None, hint: None };
    }
    let Some([face]) = capture.frames.get(best_frame).map(|f| f.faces.as_slice()) else {
        return Verdict::fail(ReasonCode::NoFace);
    };
    let distance = face.analysis.descriptor.distance(reference);
    if distance < match_threshold {
        Verdict::Pass { distance, frame: best_frame }
    } else {
        Verdict::Fail {
            reason: ReasonCode::FaceMismatch,
            action: None,
            frame: Some(best_frame),
            detail: None,
            hint: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::face::{FaceAnalyzer, ScriptedAnalyzer, ScriptedFrame};
    use realname_liveness::MemoryReplayStore;

    const T0: i64 = 1_750_000_000_000;

    /// Scripted frame `f` analysed by the scripted analyzer, captured `k` × 100 ms after `T0`.
    pub(crate) fn frame(f: ScriptedFrame, k: i64) -> AnalyzedFrame {
        let img = realname_face::decode_image(&f.to_png(), &realname_face::ImageLimits::default()).expect("decode");
        AnalyzedFrame {
            action: f.action,
            captured_at_ms: T0 + 100 * k,
            faces: ScriptedAnalyzer.analyze_for_liveness(&img).expect("analyze"),
            light: false,
        }
    }

    fn challenge(actions: &[LivenessAction]) -> LivenessChallenge {
        LivenessChallenge {
            actions: actions.to_vec(),
            nonce: "n1".into(),
            deadline: time::OffsetDateTime::from_unix_timestamp(T0 / 1000 + 60).expect("time"),
            light: None,
        }
    }

    fn run(ch: &LivenessChallenge, frames: &[AnalyzedFrame], reference: u8, replay: &dyn ReplayStore) -> Verdict {
        let capture = Capture {
            challenge: ch,
            issued_at_ms: T0 - 1000,
            nonce: "n1",
            frames,
            received_at_ms: T0 + 5000,
            light: None,
        };
        decide(capture, &ScriptedAnalyzer::descriptor_of(reference), replay, MATCH_THRESHOLD)
    }

    #[test]
    fn the_id_holder_passes_and_someone_else_fails() {
        let ch = challenge(&[LivenessAction::Blink, LivenessAction::TurnLeft]);
        let frames = [
            frame(ScriptedFrame::neutral(1), 0),
            frame(ScriptedFrame::doing(1, LivenessAction::Blink), 1),
            frame(ScriptedFrame::doing(1, LivenessAction::TurnLeft), 2),
        ];
        let v = run(&ch, &frames, 1, &MemoryReplayStore::default());
        assert!(matches!(v, Verdict::Pass { frame: 0, .. }), "{v:?}");
        let v = run(&ch, &frames, 2, &MemoryReplayStore::default());
        assert_eq!(v.reason(), Some(ReasonCode::FaceMismatch));
    }

    #[test]
    fn liveness_rejections_keep_their_codes_and_frames() {
        let ch = challenge(&[LivenessAction::Blink]);
        let two = [frame(ScriptedFrame { person: 1, action: None, faces: 2 }, 0)];
        assert!(matches!(
            run(&ch, &two, 1, &MemoryReplayStore::default()),
            Verdict::Fail { reason: ReasonCode::MultipleFaces, frame: Some(0), .. }
        ));
        let swapped = [frame(ScriptedFrame::neutral(1), 0), frame(ScriptedFrame::doing(2, LivenessAction::Blink), 1)];
        assert!(matches!(
            run(&ch, &swapped, 1, &MemoryReplayStore::default()),
            Verdict::Fail {
                reason: ReasonCode::PersonChanged,
                action: Some(LivenessAction::Blink),
                frame: Some(1),
                ..
            }
        ));
        // The same upload twice: the nonce is spent.
        let store = MemoryReplayStore::default();
        let ok = [frame(ScriptedFrame::neutral(1), 0), frame(ScriptedFrame::doing(1, LivenessAction::Blink), 1)];
        assert!(matches!(run(&ch, &ok, 1, &store), Verdict::Pass { .. }));
        assert!(matches!(
            run(&ch, &ok, 1, &store),
            Verdict::Fail { reason: ReasonCode::ChallengeReplayed, detail: Some(RejectionDetail::NonceReused), .. }
        ));
    }

    /// `frames` as the tracked analysis leaves them: descriptors only where
    /// [`DescriptorNeeds`] asks for them.
    fn described_as_needed(frames: &[AnalyzedFrame]) -> (Vec<AnalyzedFrame>, usize) {
        let mut needs = DescriptorNeeds::default();
        let mut described = 0;
        let lazy = frames
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if needs.needs(f.action, f.light) {
                    described += f.faces.len();
                } else {
                    f.faces.iter_mut().for_each(|face| face.analysis.descriptor = NOT_DESCRIBED);
                }
                needs.record(f.action, f.light, &f.faces);
                f
            })
            .collect();
        (lazy, described)
    }

    #[test]
    fn descriptors_left_out_where_no_rule_reads_them_change_no_verdict() {
        use LivenessAction::{Blink, OpenMouth, TurnLeft};
        let ch = challenge(&[Blink, TurnLeft]);
        let n = |p| ScriptedFrame::neutral(p);
        let d = |p, a| ScriptedFrame::doing(p, a);
        let none = ScriptedFrame { person: 1, action: Some(Blink), faces: 0 };
        let cases: Vec<(Vec<ScriptedFrame>, usize)> = vec![
            // Genuine: both neutral frames and the first frame of each action.
            (vec![n(1), n(1), d(1, Blink), d(1, Blink), d(1, Blink), d(1, TurnLeft), d(1, TurnLeft)], 4),
            // Another person does the second action: no witness, all its frames described.
            (vec![n(1), n(1), d(1, Blink), d(1, Blink), d(2, TurnLeft), d(2, TurnLeft), d(2, TurnLeft)], 6),
            // The swap inside an action: the rule passes the segment either way.
            (vec![n(1), n(1), d(1, Blink), d(2, Blink), d(1, TurnLeft), d(1, TurnLeft)], 4),
            // The segment starts with someone else, then the person: described until the witness.
            (vec![n(1), n(1), d(2, Blink), d(1, Blink), d(2, Blink), d(1, TurnLeft)], 5),
            // A faceless frame inside a segment does not break it; a wrong action fails.
            (vec![n(1), n(1), d(1, Blink), none, d(1, Blink), d(1, OpenMouth), d(1, TurnLeft)], 5),
            // Neutral frames after the actions: described (references and the ID match).
            (vec![d(1, Blink), d(1, Blink), n(1), d(1, TurnLeft), n(1), d(1, TurnLeft)], 6),
        ];
        for (k, (script, expect_described)) in cases.into_iter().enumerate() {
            let frames: Vec<AnalyzedFrame> = script.iter().enumerate().map(|(i, f)| frame(*f, i as i64)).collect();
            let (lazy, described) = described_as_needed(&frames);
            assert_eq!(described, expect_described, "case {k}");
            for reference in [1, 2] {
                let full = run(&ch, &frames, reference, &MemoryReplayStore::default());
                let left_out = run(&ch, &lazy, reference, &MemoryReplayStore::default());
                assert_eq!(full, left_out, "case {k}, reference {reference}");
            }
        }
    }

    #[test]
    fn a_dark_face_is_named_instead_of_the_missed_action() {
        let ch = challenge(&[LivenessAction::Blink]);
        let mut frames =
            [frame(ScriptedFrame::neutral(1), 0), frame(ScriptedFrame::doing(1, LivenessAction::TurnLeft), 1)];
        frames[1].action = Some(LivenessAction::Blink);
        assert_eq!(run(&ch, &frames, 1, &MemoryReplayStore::default()).reason(), Some(ReasonCode::ActionNotSeen));
        for f in &mut frames {
            f.faces[0].analysis.signals.brightness = 0.05;
        }
        assert_eq!(run(&ch, &frames, 1, &MemoryReplayStore::default()).reason(), Some(ReasonCode::TooDark));
    }
}
