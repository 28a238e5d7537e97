//! After the claim: the person's answers (context, consent, kiosk code), then capture →
//! upload → decision, repeated while the server grants another attempt.

use std::time::Instant;

use realname_protocol::api::{ClaimResponse, ConfirmRequest, Outcome};

use super::capture::{FaceFeed, FramePumpState};
use super::clip::encode_selection;
use super::events::{EventSink, FlowEvent, FlowOutcome, VerifyReport};
use super::inputs::{ContextChoice, FaceInput, Prompter};
use super::light::upload_metadata;
use super::{CancellationToken, Companion, cancellable, elapsed_ms};
use crate::client::AuthedClient;
use crate::error::CompanionError;
use crate::pump::FramePump;

/// A claimed session and what the rest of the flow talks to.
#[derive(Clone, Copy)]
pub(super) struct ClaimedSession<'a> {
    /// The signed-in client.
    pub(super) client: &'a AuthedClient,
    /// The server's answer to the claim.
    pub(super) claim: &'a ClaimResponse,
    /// Who answers the person's questions.
    pub(super) prompter: &'a dyn Prompter,
    /// Where progress goes.
    pub(super) events: &'a EventSink,
    /// Stops the flow.
    pub(super) cancel: &'a CancellationToken,
}

impl Companion {
    /// Everything after a successful claim; `report` is filled as the steps go.
    pub(super) async fn after_claim(
        &self,
        claimed: &ClaimedSession<'_>,
        qr_pump: Option<FramePump>,
        face: FaceInput,
        report: &mut VerifyReport,
    ) -> Result<(), CompanionError> {
        let ClaimedSession { client, claim, prompter, events, cancel } = *claimed;
        let session = claim.session_id.as_str();
        // `report.outcome` stays `Cancelled` until a decision arrives.
        let declined = |_: &mut VerifyReport| async move {
            client.call(|api, bearer| async move { api.cancel(&bearer, session).await }).await
        };
        let choice = cancellable(cancel, async { Ok(prompter.confirm_context(&claim.context).await) }).await?;
        if choice == ContextChoice::Cancel {
            tracing::info!(session, "the person did not start this verification");
            return declined(report).await;
        }
        if !cancellable(cancel, async { Ok(prompter.consent().await) }).await? {
            return declined(report).await;
        }
        let station_code = if claim.context.requires_station_code {
            match cancellable(cancel, async { Ok(prompter.station_code().await) }).await? {
                Some(code) => Some(code.trim().to_owned()),
                None => return declined(report).await,
            }
        } else {
            None
        };
        let t = Instant::now();
        let confirm = ConfirmRequest { consent: true, station_code };
        cancellable(
            cancel,
            client.call(|api, bearer| {
                let confirm = confirm.clone();
                async move { api.confirm(&bearer, session, &confirm).await }
            }),
        )
        .await?;
        report.timings.confirm_ms = elapsed_ms(t);
        events.emit(FlowEvent::Confirmed);

        let mut feed = match face {
            FaceInput::Prepared(clip) => FaceFeed::Prepared { clip, attempts: 0 },
            FaceInput::Source(s) => FaceFeed::Pump(FramePumpState { pump: FramePump::spawn(s), ended: false }),
            FaceInput::SameAsQr => FaceFeed::Pump(FramePumpState {
                pump: qr_pump.ok_or_else(|| CompanionError::Config("no frame source for the face".into()))?,
                ended: false,
            }),
        };
        let mut challenge = claim.challenge.clone();
        loop {
            let t = Instant::now();
            let max_frames = usize::try_from(claim.upload_limits.max_frames).unwrap_or(16).max(2);
            // The light step first (module `light`: why before the actions).
            let mut light = match &challenge.light {
                Some(sequence) => Some(self.light_step(sequence, max_frames, &mut feed, prompter, cancel).await?),
                None => None,
            };
            let light_frames = light.as_ref().map_or(0, |l| l.frames.len());
            report.timings.light_ms += elapsed_ms(t);
            let action_frames = super::light::action_frame_budget(max_frames, light_frames);
            let selection = self.capture(&challenge, action_frames, &mut feed, events, cancel).await?;
            report.timings.capture_ms += elapsed_ms(t);
            if selection.is_empty() {
                return Err(CompanionError::SourceEnded);
            }
            if let (Some(l), Some(first)) = (light.as_mut(), selection.first()) {
                l.end_before(first.captured_at_ms);
            }
            let (metadata, selection) = upload_metadata(&challenge.nonce, light, selection);

            let t = Instant::now();
            let limits = claim.upload_limits;
            let encoded = {
                let selection = selection.clone();
                tokio::task::spawn_blocking(move || encode_selection(&selection, &limits))
                    .await
                    .map_err(|e| CompanionError::Camera(format!("encoder stopped: {e}")))??
            };
            events.emit(FlowEvent::Uploading { frames: encoded.len() });
            report.frames_uploaded += encoded.len();
            // A server that is busy (its upload gate or decision queue full, other scans of the
            // ID being decided) refuses the upload before reading it: sent again after a pause,
            // within the challenge's time, instead of failing the person's attempt.
            let deadline = challenge.deadline.unix_timestamp();
            let attempts_before = report.decision.as_ref().map_or(claim.attempts_left, |d| d.attempts_left);
            let mut refusals = 0;
            let decision = loop {
                let sent = cancellable(
                    cancel,
                    client.call(|api, bearer| {
                        let (metadata, encoded) = (&metadata, &encoded);
                        async move { api.capture(&bearer, session, metadata, encoded).await }
                    }),
                )
                .await;
                // The connection closed while the frames were still being sent (a busy server
                // refuses before reading them): the session's state says whether the upload was
                // decided after all; if not, it is sent again like a busy refusal.
                let (sent, pause) = match sent {
                    Err(CompanionError::Network(cause)) if refusals < 8 => {
                        let status = cancellable(
                            cancel,
                            client.call(|api, bearer| async move { api.status(&bearer, session).await }),
                        )
                        .await;
                        match status.map(|st| after_lost_upload(&st, attempts_before)) {
                            Ok(LostUpload::Decided(decision)) => (Ok(decision), None),
                            Ok(LostUpload::NotDecided) => {
                                (Err(CompanionError::Network(cause)), Some(backoff(refusals)))
                            }
                            _ => (Err(CompanionError::Network(cause)), None),
                        }
                    }
                    other => {
                        let pause = other.as_ref().err().and_then(|e| busy_pause(e, refusals));
                        (other, pause)
                    }
                };
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                match pause {
                    Some(pause) if now + i64::try_from(pause.as_secs()).unwrap_or(i64::MAX) + 1 < deadline => {
                        refusals += 1;
                        tracing::info!(
                            session,
                            refusals,
                            pause_ms = pause.as_millis() as u64,
                            "server busy; upload again"
                        );
                        cancellable(cancel, async {
                            tokio::time::sleep(pause).await;
                            Ok(())
                        })
                        .await?;
                    }
                    _ => break sent?,
                }
            };
            report.timings.decision_ms += elapsed_ms(t);
            tracing::info!(session, outcome = ?decision.outcome, reason = ?decision.reason, "decision");
            events.emit(FlowEvent::Decision { decision: decision.clone() });
            report.outcome = match decision.outcome {
                Outcome::Passed => FlowOutcome::Passed,
                Outcome::Failed => FlowOutcome::Failed,
                Outcome::Retry => FlowOutcome::Retry,
            };
            let next = decision.challenge.clone();
            report.attempts += 1;
            report.decision = Some(decision);
            // Another attempt with the fresh challenge while the server allows one and the
            // frames can continue (a camera, a prepared clip; not an exhausted recording).
            match next {
                Some(next) if report.outcome == FlowOutcome::Retry && feed.can_continue() => challenge = next,
                _ => return Ok(()),
            }
        }
    }
}

/// What the session says after an upload whose connection was lost.
#[derive(Debug, PartialEq)]
pub(super) enum LostUpload {
    /// The server decided it: its decision.
    Decided(realname_protocol::api::Decision),
    /// Still waiting for this attempt's frames: send them again.
    NotDecided,
    /// Neither (the session ended otherwise): give up.
    Unknown,
}

/// Reads `status` after a lost upload, `attempts_before` being the attempts left when it was
/// sent: a decision shows as a new last decision with fewer attempts left or a final state.
pub(super) fn after_lost_upload(status: &realname_protocol::api::SessionStatus, attempts_before: u32) -> LostUpload {
    use realname_protocol::api::SessionState;
    let decided =
        status.attempts_left < attempts_before || matches!(status.state, SessionState::Passed | SessionState::Failed);
    match (&status.last_decision, status.state) {
        (Some(d), _) if decided => LostUpload::Decided(d.clone()),
        (_, SessionState::InProgress) if status.attempts_left == attempts_before => LostUpload::NotDecided,
        _ => LostUpload::Unknown,
    }
}

/// How long to wait before sending a capture again that the server refused as busy (`None`:
/// not a busy refusal, or given up): its upload gate or decision queue was full, or other
/// scans of the account or ID number were being decided. Nothing of a refused upload was
/// read, so sending it again is safe. 1 s, doubling to 8 s, at most 8 times.
pub(super) fn busy_pause(error: &CompanionError, refusals: u32) -> Option<std::time::Duration> {
    use realname_protocol::ErrorCode;
    let CompanionError::Api(e) = error else { return None };
    let busy = match e.code {
        ErrorCode::ServiceUnavailable => true,
        ErrorCode::RateLimited => matches!(
            e.detail.as_deref(),
            Some("concurrent_uploads_total" | "concurrent_uploads_device" | "face_attempts_in_flight")
        ),
        _ => false,
    };
    (busy && refusals < 8).then(|| backoff(refusals))
}

/// The pause before sending an upload again after `refusals` refusals: 1 s, doubling to 8 s.
fn backoff(refusals: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1 << refusals.min(3))
}

#[cfg(test)]
mod tests {
    use realname_protocol::{ApiError, ErrorCode};

    use super::*;

    fn api(code: ErrorCode, detail: Option<&str>) -> CompanionError {
        let mut e = ApiError::new(code, "x");
        e.detail = detail.map(str::to_owned);
        CompanionError::Api(e)
    }

    #[test]
    fn only_busy_refusals_are_sent_again_with_a_growing_bounded_pause() {
        let full = api(ErrorCode::RateLimited, Some("concurrent_uploads_total"));
        let pauses: Vec<_> = (0..9).map(|k| busy_pause(&full, k).map(|d| d.as_secs())).collect();
        assert_eq!(pauses, [Some(1), Some(2), Some(4), Some(8), Some(8), Some(8), Some(8), Some(8), None]);
        assert!(busy_pause(&api(ErrorCode::ServiceUnavailable, None), 0).is_some());
        assert!(busy_pause(&api(ErrorCode::RateLimited, Some("face_attempts_in_flight")), 0).is_some());
        // A limit that lasts an hour, a refused nonce, a network error: not "busy".
        assert!(busy_pause(&api(ErrorCode::RateLimited, Some("captures_per_device")), 0).is_none());
        assert!(busy_pause(&api(ErrorCode::RateLimited, None), 0).is_none());
        assert!(busy_pause(&api(ErrorCode::NonceInvalid, None), 0).is_none());
        assert!(busy_pause(&CompanionError::Network("down".into()), 0).is_none());
    }

    #[test]
    fn a_lost_upload_is_sent_again_only_when_the_session_still_waits_for_it() {
        use realname_protocol::api::{Decision, Outcome, SessionState, SessionStatus};
        let decision = |attempts_left| Decision {
            outcome: Outcome::Retry,
            reason: None,
            action: None,
            message: "m".into(),
            attempts_left,
            challenge: None,
        };
        let status = |state, attempts_left, last_decision| SessionStatus {
            session_id: "s".into(),
            state,
            attempts_left,
            last_decision,
        };
        // Nothing decided: send again.
        assert_eq!(after_lost_upload(&status(SessionState::InProgress, 3, None), 3), LostUpload::NotDecided);
        // An earlier attempt's decision is not this one's.
        assert_eq!(
            after_lost_upload(&status(SessionState::InProgress, 2, Some(decision(2))), 2),
            LostUpload::NotDecided
        );
        // Decided meanwhile: a retry (one attempt fewer) or a final state.
        assert_eq!(
            after_lost_upload(&status(SessionState::InProgress, 1, Some(decision(1))), 2),
            LostUpload::Decided(decision(1))
        );
        assert_eq!(
            after_lost_upload(&status(SessionState::Passed, 2, Some(decision(2))), 2),
            LostUpload::Decided(decision(2))
        );
        // Expired or cancelled: give up.
        assert_eq!(after_lost_upload(&status(SessionState::Expired, 2, None), 2), LostUpload::Unknown);
    }
}
