//! Rule: the requested actions (blink, turns, open mouth) were performed, in order, each
//! measured against the person's own neutral frames.

use realname_face::FaceAnalysis;
use realname_protocol::api::{LivenessAction, ReasonCode};

use super::super::config::LivenessConfig;
use super::super::rejection::{Hint, Rejection, RejectionDetail, hint_for, reject};
use super::super::upload::AnalyzedFace;
use super::super::upload::AnalyzedFrame;
use super::median;

/// Open-eye darkness below which the image blink measure is not used.
pub(crate) const MIN_OPEN_EYE_DARKNESS: f32 = 0.05;

/// Default [`LivenessConfig::blink_edge_drop`] (shared with the companion's local blink prompt).
pub const BLINK_EDGE_DROP: f32 = 0.35;

/// Open-eye edge evidence below which the edge blink measure is not used (no eyes to see).
pub(crate) const MIN_OPEN_EYE_EDGES: f32 = 0.01;

/// How far `value` dropped below the open-eye `baseline` (`1 − value / baseline`), 0 when the
/// baseline is too small to tell.
pub fn edge_drop(value: f32, baseline: f32) -> f32 {
    if baseline >= MIN_OPEN_EYE_EDGES && value.is_finite() { 1.0 - value / baseline } else { 0.0 }
}

pub(crate) fn ear(f: &FaceAnalysis) -> f32 {
    (f.signals.ear_left + f.signals.ear_right) / 2.0
}

pub(crate) fn is_neutral(f: &FaceAnalysis, config: &LivenessConfig) -> bool {
    f.signals.yaw_deg.abs() <= config.neutral_max_yaw_deg && f.signals.mouth_aspect_ratio <= config.neutral_max_mar
}

/// How strongly frame `i` shows `action` compared with the `baseline` frames (larger = more;
/// ≥ the returned threshold = performed).
pub(crate) fn action_strength(
    action: LivenessAction,
    f: &AnalyzedFace,
    baseline: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> (f32, f32) {
    let s = &f.analysis.signals;
    match action {
        LivenessAction::Blink => {
            let base_ear = median(baseline.iter().map(|b| ear(&b.analysis)).collect()).unwrap_or(0.0);
            let ear_drop = if base_ear > 0.0 { 1.0 - ear(&f.analysis) / base_ear } else { 0.0 };
            // Closed lids hide the dark iris and lashes: the eye box gets lighter relative to
            // the face. Only meaningful when the open eyes are clearly darker than the face
            // (glasses glare can make the box brighter than the skin).
            let base_d = median(baseline.iter().filter_map(|b| b.evidence.as_ref().map(|e| e.eye_darkness)).collect());
            let d_drop = match (base_d, f.evidence.as_ref()) {
                (Some(bd), Some(e)) if bd >= MIN_OPEN_EYE_DARKNESS => 1.0 - e.eye_darkness / bd,
                _ => 0.0,
            };
            // The iris and eye corners' left–right grey steps vanish under a closed lid (also
            // light eyes, whose box barely gets lighter).
            let base_e = median(baseline.iter().filter_map(|b| b.evidence.as_ref().map(|e| e.eye_edges)).collect());
            // Only on a frontal-ish face: turning the head foreshortens the eyes and removes
            // their edges too (zubair_real at yaw −60°: −93 %; mid-turn frames whose yaw
            // estimate stays under the bound still drop, 112 and 115: −84 %, −95 %).
            let e_drop = match (base_e, f.evidence.as_ref()) {
                (Some(be), Some(e)) if s.yaw_deg.abs() <= config.neutral_max_yaw_deg => edge_drop(e.eye_edges, be),
                _ => 0.0,
            };
            // Each measure as a fraction of its own threshold; any suffices.
            let strength = (ear_drop / config.blink_ear_drop)
                .max(d_drop / config.blink_darkness_drop)
                .max(e_drop / config.blink_edge_drop);
            (strength, 1.0)
        }
        LivenessAction::TurnLeft | LivenessAction::TurnRight => {
            let base = median(baseline.iter().map(|b| b.analysis.signals.yaw_deg).collect()).unwrap_or(0.0);
            let sign = if action == LivenessAction::TurnLeft { 1.0 } else { -1.0 };
            (sign * (s.yaw_deg - base), config.turn_yaw_deg)
        }
        LivenessAction::OpenMouth => {
            let closed = baseline.iter().map(|b| b.analysis.signals.mouth_aspect_ratio).fold(f32::MAX, f32::min);
            // An open mouth needs a closed one elsewhere (a photo of an open mouth stays open).
            let v = if closed <= config.neutral_max_mar { s.mouth_aspect_ratio } else { 0.0 };
            (v, config.mouth_open_mar)
        }
        LivenessAction::Nod => {
            let (lo, hi) = baseline
                .iter()
                .map(|b| b.analysis.signals.pitch_deg)
                .fold((f32::MAX, f32::MIN), |(l, h), p| (l.min(p), h.max(p)));
            let range = if lo <= hi { (s.pitch_deg - lo).abs().max((s.pitch_deg - hi).abs()) } else { 0.0 };
            (range, config.nod_pitch_range_deg)
        }
    }
}

pub(crate) fn check_actions(
    challenge: &[LivenessAction],
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    // (1) the tag sequence, repeats collapsed, must be the challenge.
    let mut tags: Vec<LivenessAction> = Vec::new();
    for a in frames.iter().filter_map(|f| f.action) {
        if tags.last() != Some(&a) {
            tags.push(a);
        }
    }
    if tags != challenge {
        let missing = challenge.iter().find(|a| !tags.contains(a)).copied();
        return Err(match missing {
            Some(action) => reject(
                ReasonCode::ActionNotSeen,
                Some(action),
                hint_for(action),
                RejectionDetail::ActionNotSeen { action, measured: 0.0, needed: 0.0 },
            ),
            None => reject(ReasonCode::ActionOrder, None, Hint::FollowPromptOrder, RejectionDetail::TagsOutOfOrder),
        });
    }
    // (2) each action must show in its own frames, measured against the frames of the other
    // actions and the neutral frames (the person's own baseline).
    for &action in challenge {
        let own: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].action == Some(action)).collect();
        let baseline: Vec<&AnalyzedFace> = (0..frames.len())
            .filter(|&i| frames[i].action != Some(action) && baseline_ok(action, &faces[i].analysis, config))
            .map(|i| faces[i])
            .collect();
        let baseline = if baseline.is_empty() && action == LivenessAction::Blink {
            // Only blink frames: the open eyes of the window itself are the baseline.
            own.iter().map(|&i| faces[i]).filter(|f| ear(&f.analysis) >= 0.0).collect::<Vec<_>>()
        } else {
            baseline
        };
        let strength = |i: usize| action_strength(action, faces[i], &baseline, config);
        let (best, needed) =
            own.iter().map(|&i| strength(i)).fold((f32::MIN, 0.0), |acc, (v, t)| if v > acc.0 { (v, t) } else { acc });
        if best >= needed && !baseline.is_empty() {
            continue;
        }
        // Not in its own frames: performed elsewhere → wrong order; else not seen.
        let elsewhere = (0..frames.len()).any(|i| {
            frames[i].action.is_some_and(|a| a != action) && {
                let (v, t) = strength(i);
                v >= t
            }
        });
        return Err(if elsewhere && !baseline.is_empty() {
            reject(
                ReasonCode::ActionOrder,
                Some(action),
                Hint::FollowPromptOrder,
                RejectionDetail::ActionInWrongPlace { action },
            )
        } else {
            reject(
                ReasonCode::ActionNotSeen,
                Some(action),
                hint_for(action),
                RejectionDetail::ActionNotSeen { action, measured: if best == f32::MIN { 0.0 } else { best }, needed },
            )
        });
    }
    Ok(())
}

/// Which frames may serve as the baseline for `action`: for eyes and mouth any frame with a
/// frontal-ish face; for turns and nods the neutral ones.
pub(crate) fn baseline_ok(action: LivenessAction, f: &FaceAnalysis, config: &LivenessConfig) -> bool {
    match action {
        LivenessAction::Blink => f.signals.yaw_deg.abs() <= config.neutral_max_yaw_deg,
        LivenessAction::OpenMouth => true,
        LivenessAction::TurnLeft | LivenessAction::TurnRight | LivenessAction::Nod => is_neutral(f, config),
    }
}
