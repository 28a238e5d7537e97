//! The capture step of the face flow: check the upload, analyse its frames with the decision
//! crate, and apply the verdict (verified, retry, failed) to the session and the store.
//!
//! Replays are refused by the rules' frame-print step (`challenge_replayed`): exact prints
//! (each frame's pixel hash and each analysis' fingerprint, any ID number) and similarity prints
//! ([`realname_liveness::similarity_print`], surviving re-encoding, resizing and small crops: an
//! upload that `is_copy_of` an earlier upload of another session for the same ID number,
//! [`crate::store::similarity`]).

use std::sync::Arc;

use realname_face::{FaceError, ImageLimits};
use realname_liveness::similarity::is_copy_of;
use realname_liveness::{AnalyzedFrame, ReplayStore, SimilarityConfig, SimilarityPrint};
use realname_protocol::api::{Decision, Outcome, ReasonCode, SessionState, UploadLimits};
use realname_protocol::light::LightPresentation;
use realname_protocol::{ErrorCode, ResidentId};

use super::{Caller, StoreReplay, UploadedFrame, failure_message, reason_message};
use crate::decision::{self, Capture, Verdict};
use crate::error::{ServerError, ServerResult};
use crate::flows::core::FlowCore;
use crate::store::{Constraint, FaceSession, FailureCode, StoreError, VerifiedIdentity};

impl super::FaceFlow {
    /// Decides on an uploaded capture.
    pub async fn capture(
        &self,
        caller: &Caller,
        session_id: &str,
        nonce: &str,
        frames: Vec<UploadedFrame>,
        light: Option<LightPresentation>,
    ) -> ServerResult<Decision> {
        let s = self.session_for_device(caller, session_id).await?;
        if s.state != SessionState::InProgress {
            return Err(Self::state_error(&s));
        }
        let Some(challenge) = s.challenge.clone() else {
            return Err(ServerError::new(ErrorCode::SessionState, "No challenge was issued."));
        };
        if challenge.nonce != nonce {
            return Err(ServerError::new(ErrorCode::NonceInvalid, "The challenge nonce is not the current one."));
        }
        if self.core.now() >= challenge.deadline.unix_timestamp() {
            return Err(ServerError::new(ErrorCode::ChallengeExpired, "The time for the face scan has run out."));
        }
        if let Some(until) = self.core.lockout_until(&s.account_id, &s.id_hash).await? {
            return Err(FlowCore::locked_out_error(until));
        }
        let limits = self.upload_limits();
        if frames.is_empty() || frames.len() > limits.max_frames as usize {
            return Err(ServerError::new(
                ErrorCode::FrameCountInvalid,
                format!("A capture has 1 to {} frames.", limits.max_frames),
            ));
        }
        let id = ResidentId::parse(&self.core.keys.decrypt_string(&s.id_enc)?, self.core.today())
            .map_err(|_| ServerError::internal("stored ID number no longer parses"))?;
        let reference = self.core.authority.reference(&id).await.map_err(|e| {
            ServerError::unavailable(ErrorCode::AuthorityUnavailable, "The identity authority cannot be reached.", e)
        })?;
        // Held through analysis and decision: both are CPU-bound.
        let _slot = self.decisions.admit().await?;
        // Only a reference (no copy) and only when retention is on; stored once decided.
        let audit = crate::retention::AuditFrames::keep(&self.core.config.retention, frames.iter().map(|f| &f.bytes));
        let (analyzed, prints, similar) = self.analyze_frames(frames, limits).await?;
        let session_id = s.id.clone();
        let Some(reference) = reference else {
            let decided = self.apply_verdict(s, Verdict::fail(ReasonCode::NoReference)).await;
            audit
                .store(&*self.core.store, &self.core.keys, &self.core.config.retention, self.core.now(), &session_id)
                .await;
            return decided;
        };
        // The challenge was issued at the claim or at the last retry decision; its deadline is
        // that moment plus the capture window (or the session's end, whichever is first).
        let deadline = challenge.deadline.unix_timestamp();
        let issued_at =
            (deadline - self.core.config.limits.capture_window_secs).max(s.claimed_at.unwrap_or(s.created_at));
        let now = self.core.now();
        let upload_id = crate::crypto::random_id();
        let earlier = self.core.store.claim_similarity_prints(&s.id_hash, &s.id, &upload_id, &similar, now).await?;
        let config = SimilarityConfig::default();
        let copy = earlier.iter().any(|upload| is_copy_of(&similar, upload, &config));
        let similar_replay = copy && self.core.config.face.similarity_replay;
        if copy {
            // Refused only with face.similarity_replay on; logged either way.
            tracing::info!(
                session = %s.id,
                frames = similar.len(),
                refused = similar_replay,
                "a copy of an earlier upload of another session"
            );
        }
        let replay = StoreReplay::new(Arc::clone(&self.core.store), tokio::runtime::Handle::current(), now);
        let face_config = self.core.config.face.clone();
        let nonce = nonce.to_owned();
        let (verdict, replay) = tokio::task::spawn_blocking(move || {
            let capture = Capture {
                challenge: &challenge,
                issued_at_ms: issued_at * 1000,
                nonce: &nonce,
                frames: &analyzed,
                received_at_ms: now * 1000,
                light: light.as_ref(),
            };
            // The tracked analysis runs SSD on few frames, so its frame fingerprints alone would
            // miss a re-sent frame: each frame's pixel hash is claimed with them.
            let verdict = {
                let prints = SimilarityReplay {
                    exact: crate::upload::FramePrints::new(&replay, prints),
                    replayed: similar_replay,
                };
                decision::decide(capture, &reference, &prints, face_config.match_threshold)
            };
            (verdict, replay)
        })
        .await
        .map_err(ServerError::internal)?;
        if let Some(e) = replay.take_error() {
            return Err(e.into());
        }
        let decided = self.apply_verdict(s, verdict).await;
        audit
            .store(&*self.core.store, &self.core.keys, &self.core.config.retention, self.core.now(), &session_id)
            .await;
        decided
    }

    async fn analyze_frames(
        &self,
        frames: Vec<UploadedFrame>,
        limits: UploadLimits,
    ) -> ServerResult<(Vec<AnalyzedFrame>, Vec<u64>, Vec<SimilarityPrint>)> {
        let analyzer = Arc::clone(&self.analyzer);
        let queue = self.decisions.clone();
        let image_limits = ImageLimits {
            max_bytes: usize::try_from(limits.max_frame_bytes).unwrap_or(usize::MAX),
            max_width: limits.max_dimension,
            max_height: limits.max_dimension,
            max_pixels: u64::from(limits.max_dimension) * u64::from(limits.max_dimension),
        };

        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(frames.len());
            let mut similar = Vec::with_capacity(frames.len());
            // Tracked (issue 16): a track started once, the face followed with the landmark net,
            // descriptors only where a rule reads them, a weak head turn's furthest frames
            // through the detector; 2.2–3.4x less CPU than the exhaustive analysis, the same
            // verdicts on realname-decision's same_verdicts captures (light uploads included) and
            // on all 173 responses of `cargo xtask accuracy liveness` (docs/benchmarks-face.md).
            let mut upload =
                crate::upload::UploadAnalyzer::new(analyzer.as_ref(), crate::upload::AnalysisMode::Tracked);
            let engine_failed = |e: FaceError| {
                ServerError::unavailable(ErrorCode::ServiceUnavailable, "The face engine failed. Please try again.", e)
            };
            for (i, UploadedFrame { action, captured_at_ms, light, bytes }) in frames.into_iter().enumerate() {
                let image = realname_face::decode_image(&bytes, &image_limits).map_err(|e| match e {
                    FaceError::ImageTooLarge { .. } => {
                        ServerError::new(ErrorCode::ImageTooLarge, format!("Frame {i} exceeds the upload limits."))
                    }
                    _ => ServerError::new(
                        ErrorCode::ImageInvalid,
                        format!("Frame {i} is not a decodable JPEG or PNG image."),
                    ),
                })?;
                // All cores while this capture is the only one in flight, one thread beside others.
                let faces = realname_face::with_threads(queue.analysis_threads(), || {
                    upload.tagged_frame(&image, action, light)
                })
                .map_err(engine_failed)?;
                // Frames with one face only (the rules drop the others or refuse the upload).
                if let [one] = faces.as_slice()
                    && let Some(p) = realname_liveness::similarity_print(&image, &one.analysis.landmarks)
                {
                    similar.push(p);
                }
                out.push(AnalyzedFrame { action, captured_at_ms, faces, light });
            }
            // Each head turn's furthest followed frame through the detector (UploadAnalyzer::finish).
            realname_face::with_threads(queue.analysis_threads(), || upload.finish(&mut out)).map_err(engine_failed)?;
            Ok::<_, ServerError>((out, upload.frame_prints(), similar))
        })
        .await
        .map_err(ServerError::internal)?
    }

    async fn apply_verdict(&self, mut s: FaceSession, verdict: Verdict) -> ServerResult<Decision> {
        let now = self.core.now();
        match verdict {
            Verdict::Pass { distance, frame } => {
                tracing::info!(session = %s.id, distance, frame, "face verification passed");
                let decision = Decision {
                    outcome: Outcome::Passed,
                    reason: None,
                    action: None,
                    message: "Face recognition for verification passed.".into(),
                    attempts_left: u32::try_from(s.attempts_left).unwrap_or(0),
                    challenge: None,
                };
                let mut done = s.clone();
                done.state = SessionState::Passed;
                done.decided_at = Some(now);
                done.last_decision = Some(decision.clone());
                let identity = VerifiedIdentity {
                    id_hash: s.id_hash.clone(),
                    account_id: s.account_id.clone(),
                    session_id: s.id.clone(),
                    id_enc: s.id_enc.clone(),
                    name_enc: s.name_enc.clone(),
                    method: s.method.clone(),
                    verified_at: now,
                };
                match self.core.store.complete_verification(&done, &identity).await {
                    Ok(true) => {
                        done.version += 1;
                        self.publish(&done);
                        Ok(decision)
                    }
                    Ok(false) => {
                        Err(ServerError::new(ErrorCode::SessionState, "The session changed meanwhile; try again."))
                    }
                    Err(StoreError::Conflict(c @ (Constraint::IdentityIdHash | Constraint::IdentityAccount))) => {
                        let failure = if c == Constraint::IdentityIdHash {
                            FailureCode::IdAlreadyVerified
                        } else {
                            FailureCode::AccountAlreadyVerified
                        };
                        let code = failure.error_code();
                        tracing::info!(session = %s.id, code = %code, "verification refused by the uniqueness rule");
                        s.state = SessionState::Failed;
                        s.decided_at = Some(now);
                        s.failure_code = Some(failure);
                        if self.core.store.update_face_session(&s).await? {
                            s.version += 1;
                            self.publish(&s);
                        }
                        Err(ServerError::new(code, failure_message(failure)))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Verdict::Fail { reason, action, frame, detail, hint } => {
                let rule = detail.as_ref().and_then(|d| serde_json::to_string(d).ok());
                tracing::info!(session = %s.id, ?reason, ?action, ?frame, ?hint, rule, "face verification attempt failed");
                s.attempts_left -= 1;
                let definitive = s.attempts_left <= 0 || reason == ReasonCode::NoReference;
                let next = (!definitive).then(|| self.new_challenge(now, s.expires_at));
                let decision = Decision {
                    outcome: if definitive { Outcome::Failed } else { Outcome::Retry },
                    reason: Some(reason),
                    action,
                    message: reason_message(reason, action),
                    attempts_left: u32::try_from(s.attempts_left.max(0)).unwrap_or(0),
                    challenge: next.clone(),
                };
                if definitive {
                    s.state = SessionState::Failed;
                    s.decided_at = Some(now);
                } else {
                    s.challenge = next;
                }
                s.last_decision = Some(decision.clone());
                if !self.core.store.update_face_session(&s).await? {
                    return Err(ServerError::new(ErrorCode::SessionState, "The session changed meanwhile; try again."));
                }
                s.version += 1;
                self.core.store.record_failure(&s.account_id, &s.id_hash, now).await?;
                self.publish(&s);
                Ok(decision)
            }
        }
    }
}

/// The replay store the rules see: the exact prints are claimed as before (and recorded
/// whatever the similarity check found), and an upload the similarity check took for a copy is
/// refused at the same step, with the same reason (`challenge_replayed`).
struct SimilarityReplay<'s> {
    exact: crate::upload::FramePrints<'s>,
    replayed: bool,
}

impl ReplayStore for SimilarityReplay<'_> {
    fn claim_nonce(&self, nonce: &str) -> bool {
        self.exact.claim_nonce(nonce)
    }

    fn claim_frames(&self, fingerprints: &[u64]) -> bool {
        self.exact.claim_frames(fingerprints) && !self.replayed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_still_claims_the_exact_prints() {
        let store = realname_liveness::MemoryReplayStore::default();
        let copy = SimilarityReplay { exact: crate::upload::FramePrints::new(&store, vec![7]), replayed: true };
        assert!(copy.claim_nonce("n"));
        assert!(!copy.claim_frames(&[1, 2]));
        // Recorded although refused: the same frames again are an exact replay.
        let again = SimilarityReplay { exact: crate::upload::FramePrints::new(&store, vec![7]), replayed: false };
        assert!(!again.claim_frames(&[1, 2]));
        let fresh = SimilarityReplay { exact: crate::upload::FramePrints::new(&store, vec![8]), replayed: false };
        assert!(fresh.claim_frames(&[3]));
    }
}
