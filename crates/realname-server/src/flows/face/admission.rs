//! The capture's admission, before a frame byte is read: the session is this device's, in
//! progress, the nonce current, the account not locked out, the frame count and the light
//! step's part allowed; right before the decision, the face attempt reserves its place under
//! the daily lockouts, so parallel captures over several sessions cannot record more failures
//! than the lockout allows.

use std::sync::Arc;

use realname_protocol::ErrorCode;
use realname_protocol::api::{CaptureMetadata, SessionState};

use super::{Caller, FaceFlow};
use crate::error::{ServerError, ServerResult};
use crate::flows::core::FlowCore;
use crate::store::FaceSession;
use crate::store::hardening::HardeningStore;

impl FaceFlow {
    /// The checks a capture passes before its frames are read (the decision repeats them on
    /// the stored session, which may have changed meanwhile).
    pub async fn capture_precheck(
        &self,
        caller: &Caller,
        session_id: &str,
        metadata: &CaptureMetadata,
    ) -> ServerResult<FaceSession> {
        let s = self.session_for_device(caller, session_id).await?;
        if s.state != SessionState::InProgress {
            return Err(Self::state_error(&s));
        }
        let Some(challenge) = &s.challenge else {
            return Err(ServerError::new(ErrorCode::SessionState, "No challenge was issued."));
        };
        if challenge.nonce != metadata.nonce {
            return Err(ServerError::new(ErrorCode::NonceInvalid, "The challenge nonce is not the current one."));
        }
        if self.core.now() >= challenge.deadline.unix_timestamp() {
            return Err(ServerError::new(ErrorCode::ChallengeExpired, "The time for the face scan has run out."));
        }
        if let Some(until) = self.core.lockout_until(&s.account_id, &s.id_hash).await? {
            return Err(FlowCore::locked_out_error(until));
        }
        let max = self.core.config.face.upload_frame_limit() as usize;
        if metadata.frames.is_empty() || metadata.frames.len() > max {
            return Err(ServerError::new(ErrorCode::FrameCountInvalid, format!("A capture has 1 to {max} frames.")));
        }
        check_light_upload(challenge, metadata, &self.core.config.face)?;
        Ok(s)
    }

    /// Reserves this capture's place under the daily failure lockouts of its account and ID
    /// number (counting the other attempts being decided), or 429 `rate_limited` (detail
    /// `face_attempts_in_flight`) when the attempts in flight could go past a lockout.
    pub async fn reserve_face_attempt(&self, s: &FaceSession) -> ServerResult<FaceAttempt> {
        let limits = &self.core.config.limits;
        let since = self.core.now() - crate::flows::face::FAILURE_WINDOW_SECS;
        let reserved = HardeningStore::reserve_face_attempt(
            &*self.core.store,
            &s.account_id,
            &s.id_hash,
            since,
            self.core.now(),
            i64::from(limits.failures_per_account_per_day),
            i64::from(limits.failures_per_id_per_day),
        )
        .await?;
        match reserved {
            Some(id) => Ok(FaceAttempt { store: Arc::clone(&self.core.store), id: Some(id) }),
            None => {
                if let Some(until) = self.core.lockout_until(&s.account_id, &s.id_hash).await? {
                    return Err(FlowCore::locked_out_error(until));
                }
                Err(crate::upload_gate::busy(
                    "Other face scans of this account or ID number are being decided. Try again in a moment.",
                    "face_attempts_in_flight",
                ))
            }
        }
    }
}

/// A face attempt's place under the lockouts; dropping it gives the place back (the decision,
/// if it failed, has recorded its own failure by then).
#[derive(Debug)]
pub struct FaceAttempt {
    store: Arc<dyn crate::store::Store>,
    id: Option<i64>,
}

impl FaceAttempt {
    /// Gives the place back now (the decision is stored).
    pub async fn release(mut self) {
        if let Some(id) = self.id.take()
            && let Err(e) = HardeningStore::release_face_attempt(&*self.store, id).await
        {
            tracing::warn!(error = %e, "could not release a face attempt reservation");
        }
    }
}

impl Drop for FaceAttempt {
    fn drop(&mut self) {
        // Only when the request ended before `release` (the client went away mid-decision).
        let Some(id) = self.id.take() else { return };
        let store = Arc::clone(&self.store);
        // A reservation left behind (no runtime, database down) counts as a failure until it
        // ages out of the day's window: stricter, never looser.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = HardeningStore::release_face_attempt(&*store, id).await {
                    tracing::warn!(error = %e, "could not release a face attempt reservation");
                }
            });
        }
    }
}

/// The light step's part of an upload, checked before any frame is read: light frames only
/// when the challenge issued a sequence, at most `max_light_frames` of them and at most
/// `max_frames` others; a paint report only for the issued sequence, one paint time per field,
/// in order. Whether the face reflected it is the decision's question, not this one's.
fn check_light_upload(
    challenge: &realname_protocol::api::LivenessChallenge,
    metadata: &CaptureMetadata,
    face: &crate::config::FaceConfig,
) -> ServerResult<()> {
    let lit = metadata.frames.iter().filter(|f| f.light).count();
    let invalid = |m: String| Err(ServerError::new(ErrorCode::MetadataInvalid, m));
    let Some(sequence) = &challenge.light else {
        if lit > 0 || metadata.light.is_some() {
            return invalid("This challenge has no light step.".into());
        }
        return Ok(());
    };
    if lit > face.max_light_frames as usize {
        return Err(ServerError::new(
            ErrorCode::FrameCountInvalid,
            format!("A light step has at most {} frames.", face.max_light_frames),
        ));
    }
    if metadata.frames.len() - lit > face.max_frames as usize {
        return Err(ServerError::new(
            ErrorCode::FrameCountInvalid,
            format!("A capture has at most {} frames besides the light step.", face.max_frames),
        ));
    }
    let Some(report) = &metadata.light else { return Ok(()) };
    if report.nonce != sequence.nonce {
        return invalid("The light report is for another sequence.".into());
    }
    let fields = sequence.steps.len() + 2;
    if report.shown_at_ms.len() != fields {
        return invalid(format!("The light report needs {fields} paint times."));
    }
    let in_order = report.shown_at_ms.windows(2).all(|w| w[0] <= w[1])
        && report.shown_at_ms.last().is_some_and(|&last| last <= report.ended_at_ms);
    if !in_order {
        return invalid("The light report's paint times are not in order.".into());
    }
    Ok(())
}
