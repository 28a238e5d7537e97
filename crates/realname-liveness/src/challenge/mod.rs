//! The active challenge decision: given the challenge the server issued and the analysed
//! upload, were the requested actions performed, in order, in time, by one live person in
//! front of the camera — or is it a repeated still, a swapped person, a replay?
//!
//! Every rule works on the face engine's per-frame [`FaceAnalysis`] plus this crate's
//! [`FaceImageEvidence`]; every rejection carries a [`ReasonCode`] and a [`Hint`] the app turns
//! into advice. All thresholds live in [`LivenessConfig`]; its defaults are the values
//! calibrated on `shared/data/liveness` (table in the crate README).

mod config;
mod draw;
mod rejection;
mod rules;
#[cfg(test)]
mod tests;
mod upload;

use realname_protocol::api::ReasonCode;

pub use self::config::LivenessConfig;
pub use self::draw::random_actions;
pub use self::rejection::{Hint, LivenessPass, Rejection, RejectionDetail};
use self::rejection::{reject, remap_frames};
use self::rules::actions::check_actions;
pub use self::rules::actions::{BLINK_EDGE_DROP, edge_drop};
use self::rules::duplicates::check_duplicates;
pub use self::rules::duplicates::fingerprint;
use self::rules::median;
pub use self::rules::person::keeps_track;
use self::rules::person::{check_same_person, check_track};
use self::rules::timing::check_timestamps;
pub use self::upload::{AnalyzedFace, AnalyzedFrame, IssuedChallenge, MemoryReplayStore, ReplayStore, Upload};

/// Decides an upload. The nonce is claimed (single use) before anything else is looked at,
/// so a rejected upload also spends it.
pub fn evaluate(
    issued: IssuedChallenge<'_>,
    upload: Upload<'_>,
    replay: &dyn ReplayStore,
    config: &LivenessConfig,
) -> Result<LivenessPass, Rejection> {
    use ReasonCode as R;
    let challenge = issued.challenge;
    if upload.nonce != challenge.nonce {
        return Err(reject(R::ChallengeReplayed, None, Hint::StartAgain, RejectionDetail::NonceMismatch));
    }
    if !replay.claim_nonce(upload.nonce) {
        return Err(reject(R::ChallengeReplayed, None, Hint::StartAgain, RejectionDetail::NonceReused));
    }
    let n_actions = challenge.actions.len();
    if n_actions < config.min_actions || n_actions > config.max_actions {
        return Err(reject(
            R::ActionNotSeen,
            None,
            Hint::StartAgain,
            RejectionDetail::ChallengeMalformed { actions: n_actions },
        ));
    }
    let deadline_ms = (challenge.deadline.unix_timestamp_nanos() / 1_000_000) as i64;
    if upload.received_at_ms > deadline_ms {
        let late_ms = upload.received_at_ms - deadline_ms;
        return Err(reject(R::TimestampsInvalid, None, Hint::StartAgain, RejectionDetail::DeadlinePassed { late_ms }));
    }
    let frames = upload.frames;
    if frames.is_empty() {
        return Err(reject(R::NoFace, None, Hint::KeepFaceInView, RejectionDetail::NoFrames));
    }
    check_timestamps(issued, upload, config)?;

    // At most one face per frame; frames without a face are dropped, as long as every
    // segment keeps enough frames with one.
    let mut kept: Vec<AnalyzedFrame> = Vec::with_capacity(frames.len());
    let mut faces: Vec<&AnalyzedFace> = Vec::with_capacity(frames.len());
    let mut index: Vec<usize> = Vec::with_capacity(frames.len());
    let mut segment_start = 0;
    for (i, f) in frames.iter().enumerate() {
        match f.faces.as_slice() {
            [one] => {
                kept.push(AnalyzedFrame {
                    action: f.action,
                    captured_at_ms: f.captured_at_ms,
                    faces: Vec::new(),
                    light: f.light,
                });
                faces.push(one);
                index.push(i);
            }
            [] => {}
            many => {
                return Err(reject(
                    R::MultipleFaces,
                    f.action,
                    Hint::OnlyYou,
                    RejectionDetail::MultipleFaces { frame: i, faces: many.len() },
                ));
            }
        }
        let segment_ends = frames.get(i + 1).is_none_or(|next| next.action != f.action);
        if segment_ends {
            let seg = &frames[segment_start..=i];
            let faceless = seg.iter().filter(|x| x.faces.is_empty()).count();
            if faceless == seg.len() || faceless as f32 > config.max_faceless_fraction * seg.len() as f32 {
                let frame = segment_start + seg.iter().position(|x| x.faces.is_empty()).unwrap_or(0);
                return Err(reject(R::NoFace, f.action, Hint::KeepFaceInView, RejectionDetail::NoFace { frame }));
            }
            segment_start = i + 1;
        }
    }
    let frames = kept.as_slice();
    if !frames.iter().any(|f| f.action.is_none()) {
        return Err(reject(R::NoFace, None, Hint::KeepFaceInView, RejectionDetail::NoNeutralFrame));
    }
    let prints: Vec<u64> = faces.iter().map(|f| fingerprint(&f.analysis)).collect();
    if !replay.claim_frames(&prints) {
        return Err(reject(R::ChallengeReplayed, None, Hint::StartAgain, RejectionDetail::FramesReplayed));
    }

    // Frame numbers in rejections refer to the upload, not to the kept frames.
    let remap = |r: Rejection| remap_frames(r, &index);
    check_duplicates(frames, &faces, config).map_err(remap)?;
    let (best_kept, max_segment_distance) = check_same_person(frames, &faces, config).map_err(remap)?;
    let best_frame = index.get(best_kept).copied().unwrap_or(0);
    check_track(frames, &faces, config).map_err(remap)?;
    check_actions(&challenge.actions, frames, &faces, config).map_err(remap)?;

    let antispoof_median =
        median(faces.iter().filter_map(|f| f.evidence.as_ref()?.passive.map(|p| p.antispoof)).collect());
    if let (Some(threshold), Some(score)) = (config.antispoof_min, antispoof_median)
        && score < threshold
    {
        return Err(reject(
            R::PresentationAttack,
            None,
            Hint::UseLiveCamera,
            RejectionDetail::PassiveAttackScore { score, threshold },
        ));
    }
    tracing::debug!(frames = frames.len(), best_frame, max_segment_distance, "liveness passed");
    Ok(LivenessPass { best_frame, max_segment_distance, antispoof_median })
}
