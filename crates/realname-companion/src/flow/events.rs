//! What a flow reports: typed progress events for a UI, the sink they go through, and the
//! final report with its outcome and step timings.

use realname_protocol::api::{Decision, LivenessAction, MaskedContext};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::Language;
use crate::error::ErrorReport;
use crate::liveness::{Feedback, TrackerEvent};

/// Progress of a flow, for a UI to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FlowEvent {
    /// Looking for a QR code.
    Scanning {
        /// Frames looked at so far.
        frames: u64,
    },
    /// A QR code that is not a Realname code was seen and ignored.
    QrIgnored {
        /// Why (`qr_not_realname`, …).
        code: String,
    },
    /// A Realname QR was found.
    QrFound {
        /// The server it names.
        origin: String,
        /// Whether that server is trusted.
        trusted: bool,
    },
    /// Claiming the session.
    Claiming,
    /// Claimed: what to show before any capture.
    Claimed {
        /// Session id.
        session_id: String,
        /// Masked context.
        context: MaskedContext,
        /// The challenge's actions.
        actions: Vec<LivenessAction>,
        /// Attempts left.
        attempts_left: u32,
    },
    /// Context confirmed, consent given.
    Confirmed,
    /// Prompt for the next action.
    ActionPrompt {
        /// 0-based index.
        index: usize,
        /// Number of actions.
        total: usize,
        /// The action.
        action: LivenessAction,
        /// Text to show.
        text: String,
    },
    /// Live feedback changed.
    Feedback {
        /// The state.
        feedback: Feedback,
        /// Text to show.
        text: String,
    },
    /// An action's frames are captured.
    ActionCaptured {
        /// The action.
        action: LivenessAction,
        /// Frames kept.
        frames: usize,
        /// Whether the local detector saw the action.
        detected: bool,
    },
    /// Uploading the capture.
    Uploading {
        /// Frames in the upload.
        frames: usize,
    },
    /// The server's decision.
    Decision {
        /// The decision.
        decision: Decision,
    },
    /// The flow was cancelled (by the person or the token).
    Cancelled,
    /// The flow failed.
    Failed {
        /// The error.
        error: ErrorReport,
    },
}

/// Sends events to the UI; a closed receiver is ignored (the flow does not depend on a UI).
#[derive(Debug, Clone)]
pub struct EventSink(Option<mpsc::UnboundedSender<FlowEvent>>);

impl EventSink {
    /// A sink into `tx`.
    pub fn new(tx: mpsc::UnboundedSender<FlowEvent>) -> Self {
        Self(Some(tx))
    }

    /// A sink that drops everything.
    pub fn none() -> Self {
        Self(None)
    }

    /// Emits one event.
    pub fn emit(&self, event: FlowEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

/// How a verification ended (when it did not fail with an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowOutcome {
    /// Verified.
    Passed,
    /// Not verified.
    Failed,
    /// Not verified; the session allows another attempt.
    Retry,
    /// The person cancelled ("I did not start this", no consent, no kiosk code).
    Cancelled,
}

/// The result of [`Companion::verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// How it ended.
    pub outcome: FlowOutcome,
    /// The server.
    pub origin: String,
    /// Session id.
    pub session_id: String,
    /// The masked context that was shown.
    pub context: MaskedContext,
    /// The challenge's actions.
    pub actions: Vec<LivenessAction>,
    /// The decision, when a capture was uploaded.
    pub decision: Option<Decision>,
    /// Frames uploaded (all attempts).
    pub frames_uploaded: usize,
    /// Capture uploads made (1 + retries).
    pub attempts: u32,
    /// Step timings, milliseconds.
    pub timings: StepTimings,
}

/// Milliseconds spent in each step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepTimings {
    /// Scanning until a QR was found.
    pub scan_ms: u64,
    /// Claim request.
    pub claim_ms: u64,
    /// Confirm request (after the answers).
    pub confirm_ms: u64,
    /// Capturing frames (the light step included).
    pub capture_ms: u64,
    /// The light step alone (0 when the challenge has none).
    pub light_ms: u64,
    /// Upload until the decision.
    pub decision_ms: u64,
}

pub(super) fn tracker_event(e: TrackerEvent, total: usize, lang: Language) -> Option<FlowEvent> {
    Some(match e {
        TrackerEvent::Feedback { feedback } => {
            FlowEvent::Feedback { feedback, text: crate::i18n::feedback_text(feedback, lang).to_owned() }
        }
        TrackerEvent::Prompt { index, action } => {
            FlowEvent::ActionPrompt { index, total, action, text: crate::i18n::action_prompt(action, lang).to_owned() }
        }
        TrackerEvent::Captured { action, frames, detected } => FlowEvent::ActionCaptured { action, frames, detected },
        TrackerEvent::Complete => return None,
    })
}
