//! After the claim: the person's answers (context, consent, kiosk code), then capture →
//! upload → decision, repeated while the server grants another attempt.

use std::time::Instant;

use realname_protocol::api::{CaptureMetadata, ClaimResponse, ConfirmRequest, FrameMeta, Outcome};

use super::capture::{FaceFeed, FramePumpState};
use super::clip::encode_selection;
use super::events::{EventSink, FlowEvent, FlowOutcome, VerifyReport};
use super::inputs::{ContextChoice, FaceInput, Prompter};
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
            FaceInput::Prepared(clip) => FaceFeed::Prepared(clip),
            FaceInput::Source(s) => FaceFeed::Pump(FramePumpState { pump: FramePump::spawn(s), ended: false }),
            FaceInput::SameAsQr => FaceFeed::Pump(FramePumpState {
                pump: qr_pump.ok_or_else(|| CompanionError::Config("no frame source for the face".into()))?,
                ended: false,
            }),
        };
        let mut challenge = claim.challenge.clone();
        loop {
            let t = Instant::now();
            let selection = self.capture(&challenge, &claim.upload_limits, &mut feed, events, cancel).await?;
            report.timings.capture_ms += elapsed_ms(t);
            if selection.is_empty() {
                return Err(CompanionError::SourceEnded);
            }

            let t = Instant::now();
            let limits = claim.upload_limits;
            let encoded = {
                let selection = selection.clone();
                tokio::task::spawn_blocking(move || encode_selection(&selection, &limits))
                    .await
                    .map_err(|e| CompanionError::Camera(format!("encoder stopped: {e}")))??
            };
            let metadata = CaptureMetadata {
                nonce: challenge.nonce.clone(),
                frames: selection
                    .iter()
                    .enumerate()
                    .map(|(i, f)| FrameMeta {
                        part: format!("frame{i}"),
                        action: f.action,
                        captured_at_ms: f.captured_at_ms,
                        light: false,
                    })
                    .collect(),
                light: None,
            };
            events.emit(FlowEvent::Uploading { frames: encoded.len() });
            report.frames_uploaded += encoded.len();
            let decision = cancellable(
                cancel,
                client.call(|api, bearer| {
                    let (metadata, encoded) = (&metadata, &encoded);
                    async move { api.capture(&bearer, session, metadata, encoded).await }
                }),
            )
            .await?;
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
