//! What a flow is given: where the QR and the face frames come from, and who answers the
//! questions a person must answer (a UI, a terminal, or fixed answers for automation).

use std::sync::Arc;

use realname_protocol::api::MaskedContext;
use realname_protocol::light::{LightPresentation, LightSequence};
use realname_scan::FrameSource;
use serde::{Deserialize, Serialize};

use super::clip::PreparedClip;

/// Where the QR code comes from.
pub enum QrInput {
    /// Scan frames of a source until a Realname QR appears.
    Source(Box<dyn FrameSource>),
    /// Already decoded text (e.g. a QR read from a page's PNG).
    Text(String),
}

impl std::fmt::Debug for QrInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Source(s) => write!(f, "QrInput::Source({})", s.info().name),
            Self::Text(_) => f.write_str("QrInput::Text(..)"),
        }
    }
}

/// Where the face frames come from.
pub enum FaceInput {
    /// The same source that showed the QR (a webcam turned from the screen to the face).
    SameAsQr,
    /// Another source.
    Source(Box<dyn FrameSource>),
    /// A clip loaded and analysed in advance (load generator: many flows, one analysis).
    Prepared(Arc<PreparedClip>),
}

impl std::fmt::Debug for FaceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SameAsQr => f.write_str("FaceInput::SameAsQr"),
            Self::Source(s) => write!(f, "FaceInput::Source({})", s.info().name),
            Self::Prepared(c) => write!(f, "FaceInput::Prepared({} frames)", c.frames.len()),
        }
    }
}

/// The person's answer to the masked context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextChoice {
    /// "Yes, I started this".
    Confirm,
    /// "Cancel — I did not start this".
    Cancel,
}

/// The questions a person answers during the flow (terminal prompts, dialog buttons, or
/// fixed answers for automation).
#[async_trait::async_trait]
pub trait Prompter: Send + Sync {
    /// Shows the masked context; confirm and cancel are equal choices.
    async fn confirm_context(&self, context: &MaskedContext) -> ContextChoice;
    /// Asks for consent to face capture.
    async fn consent(&self) -> bool;
    /// Kiosk stations: asks for the code shown on the PC (`None` = cancel).
    async fn station_code(&self) -> Option<String>;
    /// Shows the challenge's light sequence full screen (lead-in, steps, tail) while the flow
    /// films the face, and reports when each field was actually painted, on the same clock as
    /// the frames' capture timestamps. `None`: this front end cannot show it (the capture then
    /// goes without a paint report and the server answers with a `light_*` reason).
    async fn show_light(&self, _sequence: &LightSequence) -> Option<LightPresentation> {
        None
    }
}

/// Fixed answers (`--yes`, `--cancel`, load generator).
#[derive(Debug, Clone)]
pub struct FixedAnswers {
    /// Answer to the context question.
    pub choice: ContextChoice,
    /// Consent.
    pub consent: bool,
    /// Kiosk code.
    pub station_code: Option<String>,
}

#[async_trait::async_trait]
impl Prompter for FixedAnswers {
    async fn confirm_context(&self, _context: &MaskedContext) -> ContextChoice {
        self.choice
    }
    async fn consent(&self) -> bool {
        self.consent
    }
    async fn station_code(&self) -> Option<String> {
        self.station_code.clone()
    }
}
