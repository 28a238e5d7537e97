//! The light step in the decision: when the challenge carries a light sequence, the frames the
//! companion captured while its screen flashed it (`AnalyzedFrame.light`) are kept out of the
//! action rules and checked instead for the face reflecting the sequence in step
//! ([`realname_liveness::light::decide_light`] on the region means the analysis stored in each
//! face's evidence), for the same person as the action frames, and for timestamps inside the
//! challenge's window. Without the companion's paint report the step fails `light_out_of_step`.

use realname_face::Descriptor;
use realname_liveness::light::{
    LightConfig, LightDetail, LightHint, LightMeasurement, LightPresentation, LightReason, LightSequence,
    MeasuredFrame, decide_light,
};
use realname_liveness::{AnalyzedFrame, Hint, LivenessConfig, RejectionDetail};
use realname_protocol::api::ReasonCode;

use crate::decision::Capture;

/// The frames of an upload split by the light flag.
#[derive(Debug, Clone, Default)]
pub struct SplitFrames {
    /// The frames the action rules see (not captured during the light step), in upload order.
    pub action: Vec<AnalyzedFrame>,
    /// Upload index of each action frame.
    pub action_index: Vec<usize>,
    /// Upload indices of the light frames.
    pub light_index: Vec<usize>,
}

/// Splits `frames` by [`AnalyzedFrame::light`].
pub fn split_frames(frames: &[AnalyzedFrame]) -> SplitFrames {
    let mut out = SplitFrames::default();
    for (i, f) in frames.iter().enumerate() {
        if f.light {
            out.light_index.push(i);
        } else {
            out.action.push(f.clone());
            out.action_index.push(i);
        }
    }
    out
}

/// Why the light step failed, in the decision's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct LightFailure {
    /// Reason code (one of the `light_*` codes, or `multiple_faces`, `person_changed`,
    /// `timestamps_invalid` for light frames that break those rules).
    pub reason: ReasonCode,
    /// The frame concerned (upload order), if any.
    pub frame: Option<usize>,
    /// The liveness rule, for the rules shared with the action frames.
    pub detail: Option<RejectionDetail>,
    /// The light check's own rule and measurement (`None` for the shared rules).
    pub light: Option<LightDetail>,
    /// The light check's measurements, when the analysis got that far (boxed: keeps the
    /// error small).
    pub measurement: Option<Box<LightMeasurement>>,
    /// What the person can do.
    pub hint: Hint,
}

impl LightFailure {
    fn shared(reason: ReasonCode, frame: usize, detail: RejectionDetail, hint: Hint) -> Self {
        LightFailure { reason, frame: Some(frame), detail: Some(detail), light: None, measurement: None, hint }
    }
}

/// The reason code of a light-check reason.
pub fn reason_code(reason: LightReason) -> ReasonCode {
    match reason {
        LightReason::LightNotReflected => ReasonCode::LightNotReflected,
        LightReason::LightOutOfStep => ReasonCode::LightOutOfStep,
        LightReason::TooBrightForLightCheck => ReasonCode::TooBrightForLightCheck,
    }
}

/// The liveness hint closest to a light hint (the reason code carries the specific advice:
/// `too_bright_for_light_check` is "move away from the window").
pub fn hint(h: LightHint) -> Hint {
    match h {
        LightHint::FaceTheScreen | LightHint::MoveAwayFromBrightLight => Hint::KeepFaceInView,
        LightHint::StartAgain => Hint::StartAgain,
    }
}

/// The light step's inputs besides the frames.
#[derive(Debug, Clone, Copy)]
pub struct LightStep<'a> {
    /// The issued sequence (`challenge.light`).
    pub sequence: &'a LightSequence,
    /// The companion's paint report (`Capture.light`); `None` fails the step.
    pub presentation: Option<&'a LightPresentation>,
    /// Earliest acceptable device time, ms (issue time minus the clock skew).
    pub earliest_ms: i64,
    /// Latest acceptable device time, ms (receipt or deadline plus the clock skew).
    pub latest_ms: i64,
}

/// Checks the light frames of an upload (`light_index` into `frames`) against the issued
/// sequence; `reference` is the descriptor of the action frames' best neutral frame.
pub fn check_light_step(
    step: LightStep<'_>,
    frames: &[AnalyzedFrame],
    light_index: &[usize],
    reference: &Descriptor,
    liveness: &LivenessConfig,
    config: &LightConfig,
) -> Result<LightMeasurement, LightFailure> {
    let Some(presentation) = step.presentation else {
        return Err(LightFailure {
            reason: ReasonCode::LightOutOfStep,
            frame: None,
            detail: None,
            light: None,
            measurement: None,
            hint: Hint::StartAgain,
        });
    };
    let bad_time =
        |i: usize, d: RejectionDetail| Err(LightFailure::shared(ReasonCode::TimestampsInvalid, i, d, Hint::StartAgain));
    let in_window = |t: i64| t >= step.earliest_ms && t <= step.latest_ms;
    let mut previous: Option<i64> = None;
    for &i in light_index {
        let t = frames[i].captured_at_ms;
        if !in_window(t) {
            return bad_time(i, RejectionDetail::OutsideChallengeWindow { frame: i });
        }
        if previous.is_some_and(|p| t <= p) {
            return bad_time(i, RejectionDetail::TimestampsNotIncreasing { frame: i });
        }
        previous = Some(t);
    }
    if !presentation.shown_at_ms.iter().chain([&presentation.ended_at_ms]).all(|&t| in_window(t)) {
        return Err(LightFailure {
            reason: ReasonCode::LightOutOfStep,
            frame: None,
            detail: None,
            light: Some(LightDetail::PresentationMismatch { field: 0 }),
            measurement: None,
            hint: Hint::StartAgain,
        });
    }
    // One face per light frame, and the action frames' person: every frame within the loose
    // neutral bound, the closest within the segment bound (as for an action segment).
    let mut closest: Option<(f32, usize)> = None;
    for &i in light_index {
        match frames[i].faces.as_slice() {
            [] => {}
            [one] => {
                let distance = one.analysis.descriptor.distance(reference);
                if distance > liveness.same_person_neutral {
                    let threshold = liveness.same_person_neutral;
                    let detail = RejectionDetail::DifferentPerson { frame: i, distance, threshold };
                    return Err(LightFailure::shared(ReasonCode::PersonChanged, i, detail, Hint::SamePersonThroughout));
                }
                if closest.is_none_or(|(d, _)| distance < d) {
                    closest = Some((distance, i));
                }
            }
            many => {
                let detail = RejectionDetail::MultipleFaces { frame: i, faces: many.len() };
                return Err(LightFailure::shared(ReasonCode::MultipleFaces, i, detail, Hint::OnlyYou));
            }
        }
    }
    if let Some((distance, frame)) = closest.filter(|(d, _)| *d > liveness.same_person_segment) {
        let threshold = liveness.same_person_segment;
        let detail = RejectionDetail::DifferentPerson { frame, distance, threshold };
        return Err(LightFailure::shared(ReasonCode::PersonChanged, frame, detail, Hint::SamePersonThroughout));
    }
    let measured: Vec<MeasuredFrame> = light_index
        .iter()
        .map(|&i| {
            let f = &frames[i];
            let regions = match f.faces.as_slice() {
                [one] => one.evidence.as_ref().and_then(|e| e.light),
                _ => None,
            };
            MeasuredFrame { captured_at_ms: f.captured_at_ms, regions }
        })
        .collect();
    decide_light(step.sequence, presentation, &measured, config).map_err(|r| {
        tracing::debug!(reason = ?r.reason, detail = ?r.detail, "light step rejected");
        LightFailure {
            reason: reason_code(r.reason),
            frame: None,
            detail: None,
            light: Some(r.detail),
            measurement: r.measurement,
            hint: hint(r.hint),
        }
    })
}

/// The light step of `capture` ([`check_light_step`] with the capture's window and the
/// calibrated [`LightConfig::default`]); `best_frame` is the action frames' best neutral frame
/// (upload order), whose descriptor the light frames must match.
pub fn check_capture(
    capture: &Capture<'_>,
    sequence: &LightSequence,
    split: &SplitFrames,
    best_frame: usize,
    liveness: &LivenessConfig,
) -> Result<LightMeasurement, LightFailure> {
    let deadline_ms = (capture.challenge.deadline.unix_timestamp_nanos() / 1_000_000) as i64;
    let step = LightStep {
        sequence,
        presentation: capture.light,
        earliest_ms: capture.issued_at_ms - liveness.clock_skew_ms,
        latest_ms: capture.received_at_ms.min(deadline_ms) + liveness.clock_skew_ms,
    };
    let reference = match capture.frames.get(best_frame).map(|f| f.faces.as_slice()) {
        Some([face]) => face.analysis.descriptor,
        _ => {
            return Err(LightFailure {
                reason: ReasonCode::NoFace,
                frame: Some(best_frame),
                detail: None,
                light: None,
                measurement: None,
                hint: Hint::KeepFaceInView,
            });
        }
    };
    check_light_step(step, capture.frames, &split.light_index, &reference, liveness, &LightConfig::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::tests::frame as scripted;
    use crate::decision::{MATCH_THRESHOLD, Verdict, decide};
    use crate::face::{ScriptedAnalyzer, ScriptedFrame};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use realname_liveness::light::{GenerateLight, RenderParams, Renderer, Scenario, SourceFrame, synthetic_face};
    use realname_liveness::{AnalyzedFace, MemoryReplayStore, measure_face};
    use realname_protocol::api::{LivenessAction, LivenessChallenge};

    const T0: i64 = 1_750_000_000_000;

    /// A blink challenge with a light sequence, its action frames (person 1), then the light
    /// frames rendered under `scenario` (face of `person`) and the paint report.
    fn session(
        scenario: &Scenario,
        seed: u64,
        person: u8,
    ) -> (LivenessChallenge, Vec<AnalyzedFrame>, LightPresentation) {
        let (img, mut face) = synthetic_face(320, 240);
        face.descriptor = ScriptedAnalyzer::descriptor_of(person);
        let sources = [SourceFrame { image: &img, face: Some(&face) }];
        let mut rng = StdRng::seed_from_u64(seed);
        let sequence = LightSequence::generate_with("n1", &mut rng);
        let mut params = RenderParams::random(&mut rng);
        params.display_to_ambient = params.display_to_ambient.max(0.2);
        let mut frames = vec![
            scripted(ScriptedFrame::neutral(1), 0),
            scripted(ScriptedFrame::doing(1, LivenessAction::Blink), 1),
            scripted(ScriptedFrame::neutral(1), 2),
        ];
        let mut rendered = Vec::new();
        let mut presentation =
            Renderer::new(&sources, 10.0).render(&sequence, scenario, &params, &mut rng, &mut |f, ts, _| {
                let evidence = measure_face(f, &face, None).ok();
                rendered.push((ts, AnalyzedFace { analysis: face, evidence }));
            });
        // The renderer's clock → the capture's: the light step starts after the actions.
        let shift = T0 + 1_000 - presentation.shown_at_ms[0];
        presentation.shown_at_ms.iter_mut().for_each(|t| *t += shift);
        presentation.ended_at_ms += shift;
        for (ts, f) in rendered {
            frames.push(AnalyzedFrame { action: None, captured_at_ms: ts + shift, faces: vec![f], light: true });
        }
        let challenge = LivenessChallenge {
            actions: vec![LivenessAction::Blink],
            nonce: "n1".into(),
            deadline: time::OffsetDateTime::from_unix_timestamp(T0 / 1000 + 60).expect("time"),
            light: Some(sequence),
        };
        (challenge, frames, presentation)
    }

    fn run(ch: &LivenessChallenge, frames: &[AnalyzedFrame], light: Option<&LightPresentation>) -> Verdict {
        let capture =
            Capture { challenge: ch, issued_at_ms: T0 - 1000, nonce: "n1", frames, received_at_ms: T0 + 10_000, light };
        decide(capture, &ScriptedAnalyzer::descriptor_of(1), &MemoryReplayStore::default(), MATCH_THRESHOLD)
    }

    #[test]
    fn a_rendered_genuine_session_passes_on_its_action_frames() {
        for seed in 0..3 {
            let (ch, frames, pres) = session(&Scenario::Genuine, seed, 1);
            let v = run(&ch, &frames, Some(&pres));
            // The compared frame is an action-step neutral frame, not a lit one.
            assert!(matches!(v, Verdict::Pass { frame: 0 | 2, .. }), "seed {seed}: {v:?}");
        }
    }

    #[test]
    fn a_rendered_replay_fails_the_light_step() {
        for seed in 0..3 {
            for sc in [Scenario::NoResponse, Scenario::Print, Scenario::Delayed(900)] {
                let (ch, frames, pres) = session(&sc, seed, 1);
                let reason = run(&ch, &frames, Some(&pres)).reason();
                assert!(
                    matches!(reason, Some(ReasonCode::LightNotReflected | ReasonCode::LightOutOfStep)),
                    "{sc:?} seed {seed}: {reason:?}"
                );
            }
        }
    }

    #[test]
    fn a_missing_or_foreign_paint_report_is_out_of_step() {
        let (ch, frames, pres) = session(&Scenario::Genuine, 7, 1);
        assert!(matches!(run(&ch, &frames, Some(&pres)), Verdict::Pass { .. }));
        let v = run(&ch, &frames, None);
        assert!(
            matches!(v, Verdict::Fail { reason: ReasonCode::LightOutOfStep, hint: Some(Hint::StartAgain), .. }),
            "{v:?}"
        );
        let mut other = pres.clone();
        other.nonce = "n2".into();
        assert_eq!(run(&ch, &frames, Some(&other)).reason(), Some(ReasonCode::LightOutOfStep));
        // Painted a minute before the challenge was issued.
        let mut early = pres;
        early.shown_at_ms.iter_mut().for_each(|t| *t -= 120_000);
        early.ended_at_ms -= 120_000;
        assert_eq!(run(&ch, &frames, Some(&early)).reason(), Some(ReasonCode::LightOutOfStep));
    }

    #[test]
    fn light_frames_keep_the_person_and_face_rules() {
        // Someone else in front of the flashing screen.
        let (ch, frames, pres) = session(&Scenario::Genuine, 3, 2);
        let v = run(&ch, &frames, Some(&pres));
        assert!(
            matches!(v, Verdict::Fail { reason: ReasonCode::PersonChanged, frame: Some(f), .. } if f >= 3),
            "{v:?}"
        );
        // A second face in one lit frame.
        let (ch, mut frames, pres) = session(&Scenario::Genuine, 3, 1);
        let extra = frames[5].faces[0].clone();
        frames[5].faces.push(extra);
        let v = run(&ch, &frames, Some(&pres));
        assert!(matches!(v, Verdict::Fail { reason: ReasonCode::MultipleFaces, frame: Some(5), .. }), "{v:?}");
        // A lit frame stamped outside the challenge's window.
        let (ch, mut frames, pres) = session(&Scenario::Genuine, 3, 1);
        let last = frames.len() - 1;
        frames[last].captured_at_ms += 600_000;
        assert_eq!(run(&ch, &frames, Some(&pres)).reason(), Some(ReasonCode::TimestampsInvalid));
    }

    #[test]
    fn light_frames_are_not_action_frames() {
        // The lit frames of the synthetic still are near-identical stills: the action rules
        // refuse them as repeated frames when they are not flagged as light frames, and never
        // see them when they are. Verdict frame numbers refer to the upload.
        let (ch, mut frames, pres) = session(&Scenario::Genuine, 5, 1);
        assert!(matches!(run(&ch, &frames, Some(&pres)), Verdict::Pass { .. }));
        let split = split_frames(&frames);
        assert_eq!(split.action_index, vec![0, 1, 2]);
        assert_eq!(split.light_index.first(), Some(&3));
        frames.iter_mut().for_each(|f| f.light = false);
        let v = run(&ch, &frames, Some(&pres));
        assert!(matches!(v, Verdict::Fail { frame: Some(f), .. } if f >= 3), "{v:?}");
        assert_eq!(reason_code(LightReason::TooBrightForLightCheck), ReasonCode::TooBrightForLightCheck);
        assert_eq!(hint(LightHint::MoveAwayFromBrightLight), Hint::KeepFaceInView);
    }
}
