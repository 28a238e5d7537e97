//! Every type that crosses between the Rust shell and the web UI, in one place. The TypeScript
//! declarations in `ui/src/bindings.ts` are generated from these with `ts-rs` and committed;
//! the `bindings_are_current` test fails when they drift (regenerate with
//! `REALNAME_UPDATE_BINDINGS=1 cargo test -p realname-desktop bindings`).

use realname_companion::CompanionError;
use realname_companion::flow::FlowEvent;
use realname_protocol::ErrorCode;
use realname_protocol::light::{LightPresentation, LightSequence};
use realname_protocol::qr::QrPayloadError;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub enum UiLanguage {
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en")]
    En,
}

/// Personal app or kiosk station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiMode {
    /// A person's own app, signed in to their account.
    Personal,
    /// An attended station: full screen, attract screen, auto-reset, admin PIN to exit.
    Kiosk,
}

/// The settings a person or operator edits (first run, settings screen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SettingsView {
    /// Backend origin, e.g. `https://verify.example.com` (the only trusted origin).
    pub backend_url: String,
    /// UI language.
    pub language: UiLanguage,
    /// Personal or kiosk.
    pub mode: UiMode,
    /// Source spec the QR is scanned from (`webcam:0`, `screen`, `file:qr.png`, `dir:…`, `synthetic:…`).
    pub qr_source: String,
    /// Source spec for the face; empty = the same source as the QR (a webcam turned to the face).
    pub face_source: String,
    /// Tester mode: recorded clips and files may stand in for the webcam (labelled as such).
    pub tester_mode: bool,
    /// Kiosk: seconds on the result screen before the automatic reset.
    pub kiosk_reset_secs: u32,
}

/// What the UI needs at start-up.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppState {
    /// App version (about box).
    pub version: String,
    /// No settings saved yet: show the first-run screen.
    pub first_run: bool,
    /// The settings.
    pub settings: SettingsView,
    /// Personal mode: the masked e-mail of the signed-in account.
    pub account: Option<String>,
    /// Kiosk mode: a station credential is stored.
    pub station_registered: bool,
    /// Kiosk mode: an admin PIN is set.
    pub admin_pin_set: bool,
    /// The local face detector (live feedback) is loaded.
    pub face_guidance: bool,
}

/// A camera or other frame source the chooser offers.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SourceOption {
    /// Spec to store (`webcam:0`, `screen`).
    pub spec: String,
    /// Name to show.
    pub label: String,
    /// Kind: `webcam`, `screen`, `file`, `dir`, `synthetic`.
    pub kind: String,
    /// A recording or file standing in for a camera (tester mode only).
    pub stand_in: bool,
}

/// The person's answer to the masked context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ContextAnswer {
    /// "Yes, I started this".
    Confirm,
    /// "Cancel — I did not start this".
    Cancel,
}

/// Progress of a verification, pushed to the UI on the `flow` event.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum UiEvent {
    /// Looking for a QR code.
    Scanning {
        /// Frames looked at so far.
        frames: u32,
    },
    /// A QR code was located in the preview: its corners in frame pixels, for the outline.
    QrSeen {
        /// Corners (x, y), in the code's order.
        corners: Vec<[f32; 2]>,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// Whether it is a Realname code.
        realname: bool,
    },
    /// A Realname QR was found.
    QrFound {
        /// The server it names.
        origin: String,
        /// Whether the app trusts it.
        trusted: bool,
    },
    /// Claiming the session.
    Claiming,
    /// What to show before any capture.
    Context {
        /// Masked account.
        account: String,
        /// Masked name.
        name: String,
        /// Masked ID number.
        id_number: String,
        /// When the PC started the verification (RFC 3339).
        pc_started_at: String,
        /// Kiosk: the person must type the code the PC shows.
        requires_station_code: bool,
        /// Liveness actions (`blink`, `turn_left`, …).
        actions: Vec<String>,
        /// Attempts left.
        attempts_left: u32,
    },
    /// Context confirmed, consent given, code accepted.
    Confirmed,
    /// The next liveness prompt.
    Prompt {
        /// 0-based index.
        index: u32,
        /// Number of actions.
        total: u32,
        /// Action (`blink`, `turn_left`, `turn_right`, `open_mouth`, `nod`).
        action: String,
        /// Text in the configured language.
        text: String,
    },
    /// Live feedback (`ok`, `no_face`, `several_faces`, `move_closer`, `too_dark`, …).
    Feedback {
        /// Feedback code.
        feedback: String,
        /// Text in the configured language.
        text: String,
    },
    /// An action's frames are captured.
    ActionCaptured {
        /// The action.
        action: String,
        /// Whether the local detector saw it.
        detected: bool,
    },
    /// Uploading.
    Uploading {
        /// Frames in the upload.
        frames: u32,
    },
    /// The server's decision.
    Decision {
        /// `passed`, `failed`, `retry`.
        outcome: String,
        /// Reason code when not passed.
        reason: Option<String>,
        /// Server message (shown as is; the UI branches on `reason`).
        message: String,
        /// Attempts left.
        attempts_left: u32,
    },
    /// The person (or the app) cancelled.
    Cancelled,
    /// The flow failed.
    Failed {
        /// Stable code.
        code: String,
        /// Message.
        message: String,
    },
    /// The camera was lost (the watchdog reconnects) or is back.
    Camera {
        /// `lost` or `reconnected`.
        state: String,
        /// Detail.
        message: String,
    },
    /// Show the light step: a short notice (with a Stop button), then every field full
    /// screen in order; the UI answers with the `light_report` command.
    Light {
        /// The sequence's nonce (echoed in the report).
        nonce: String,
        /// Lead-in, steps, tail, in display order.
        fields: Vec<LightField>,
        /// How long the notice is shown before the first field, ms.
        notice_ms: u32,
    },
    /// The flow is over (after `decision`, `cancelled` or `failed`).
    Finished {
        /// `passed`, `failed`, `retry`, `cancelled`, `error`.
        outcome: String,
    },
}

/// One full-screen field of the light step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LightField {
    /// CSS colour, `#rrggbb`.
    pub colour: String,
    /// How long it is held after it was painted, ms.
    pub hold_ms: u32,
}

impl LightField {
    /// The fields of `sequence` (lead-in, steps, tail).
    pub fn of(sequence: &LightSequence) -> Vec<Self> {
        sequence
            .fields()
            .into_iter()
            .map(|([r, g, b], hold_ms)| Self { colour: format!("#{r:02x}{g:02x}{b:02x}"), hold_ms })
            .collect()
    }
}

/// The UI's paint report of a light step: when each field was painted (after the web view
/// presented it: the frame callback after the one that set the colour), ms since the Unix
/// epoch on the system clock (the frames' clock), fractional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct LightReport {
    /// The nonce of the sequence shown.
    pub nonce: String,
    /// Paint time of each field, in the order of [`UiEvent::Light`]'s `fields`.
    pub shown_at_ms: Vec<f64>,
    /// When the app's own screen replaced the tail.
    pub ended_at_ms: f64,
    /// Median interval between the web view's frame callbacks during the step, ms.
    pub frame_ms: f64,
}

impl LightReport {
    /// The wire form, when the report is complete for `sequence` (right nonce, one paint
    /// time per field, in order).
    pub fn presentation(&self, sequence: &LightSequence) -> Option<LightPresentation> {
        let fields = sequence.steps.len() + 2;
        let ordered = self.shown_at_ms.windows(2).all(|w| w[0] <= w[1]);
        let finite = self.shown_at_ms.iter().chain([&self.ended_at_ms]).all(|t| t.is_finite() && *t > 0.0);
        if self.nonce != sequence.nonce || self.shown_at_ms.len() != fields || !ordered || !finite {
            return None;
        }
        // Whole ms since the epoch: far inside f64's exact integer range.
        let ms = |t: f64| t.round() as i64;
        Some(LightPresentation {
            nonce: self.nonce.clone(),
            shown_at_ms: self.shown_at_ms.iter().map(|&t| ms(t)).collect(),
            ended_at_ms: ms(self.ended_at_ms),
        })
    }
}

/// A tester's rehearsal of a light sequence (no verification): what was asked, what the UI
/// reported, and how far each field's measured hold was from its nominal hold.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct LightRehearsal {
    /// The fields shown.
    pub fields: Vec<LightField>,
    /// The UI's report.
    pub report: LightReport,
    /// For each field but the last: (next paint − this paint) − nominal hold, ms.
    pub hold_error_ms: Vec<f64>,
    /// From the request (the event sent) to the first field's paint, ms (notice included).
    pub start_delay_ms: f64,
    /// When asked to watch the screen: when each field's colour first appeared in the X
    /// display's pixels (`null`: never seen), ms since the epoch; empty otherwise.
    pub screen_seen_at_ms: Vec<Option<f64>>,
    /// Pixel reads the screen watch made (its resolution is the step's length / reads).
    pub screen_reads: u32,
}

/// Serialises a serde enum value (`"open_mouth"`) to its plain string.
fn tag<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

impl UiEvent {
    /// The UI's form of a core flow event (`None` for events the UI shows otherwise).
    pub fn from_flow(e: FlowEvent) -> Option<Self> {
        let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Some(match e {
            FlowEvent::Scanning { frames } => UiEvent::Scanning { frames: small(frames) },
            // Ignored codes are shown through `QrSeen { realname: false }`.
            FlowEvent::QrIgnored { .. } => return None,
            FlowEvent::QrFound { origin, trusted } => UiEvent::QrFound { origin, trusted },
            FlowEvent::Claiming => UiEvent::Claiming,
            FlowEvent::Claimed { context, actions, attempts_left, .. } => UiEvent::Context {
                account: context.account,
                name: context.name,
                id_number: context.id_number,
                pc_started_at: context
                    .pc_started_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                requires_station_code: context.requires_station_code,
                actions: actions.iter().map(tag).collect(),
                attempts_left,
            },
            FlowEvent::Confirmed => UiEvent::Confirmed,
            FlowEvent::ActionPrompt { index, total, action, text } => {
                UiEvent::Prompt { index: small(index as u64), total: small(total as u64), action: tag(&action), text }
            }
            FlowEvent::Feedback { feedback, text } => UiEvent::Feedback { feedback: tag(&feedback), text },
            FlowEvent::ActionCaptured { action, detected, .. } => {
                UiEvent::ActionCaptured { action: tag(&action), detected }
            }
            FlowEvent::Uploading { frames } => UiEvent::Uploading { frames: small(frames as u64) },
            FlowEvent::Decision { decision } => UiEvent::Decision {
                outcome: tag(&decision.outcome),
                reason: decision.reason.as_ref().map(tag),
                message: decision.message,
                attempts_left: decision.attempts_left,
            },
            FlowEvent::Cancelled => UiEvent::Cancelled,
            FlowEvent::Failed { error } => UiEvent::Failed { code: error.code, message: error.message },
        })
    }
}

/// An error a command returns to the UI: a stable code to branch on and a message to show.
#[derive(Debug, Clone, Serialize, TS, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct CommandError {
    /// Stable code.
    pub code: CommandErrorCode,
    /// Message.
    pub message: String,
}

impl CommandError {
    /// An error with `code`.
    pub fn new(code: CommandErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<CompanionError> for CommandError {
    fn from(e: CompanionError) -> Self {
        Self { code: CommandErrorCode::of(&e), message: e.to_string() }
    }
}

/// The stable code of a [`CommandError`] (snake_case on the wire): the shell's own codes, the
/// companion core's (the texts of `CompanionError::code`), and the server's [`ErrorCode`] when
/// the server refused. A released code keeps its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CommandErrorCode {
    // --- the shell ---
    /// A bug or a poisoned lock in the shell.
    Internal,
    /// The backend URL is missing or not `http(s)://host[:port]`.
    BackendUrlInvalid,
    /// The admin PIN is wrong or malformed.
    PinInvalid,
    /// A frame source spec cannot be parsed.
    SourceInvalid,
    /// No verification is running to answer.
    NoVerification,
    /// A tester-mode tool was asked for outside tester mode.
    TesterOnly,
    /// A rehearsal's light sequence breaks the sequence rules.
    LightSequenceInvalid,
    /// No X display to watch.
    NoDisplay,
    /// The person stopped the light step.
    LightStopped,
    /// The web view did not report the light step in time.
    LightTimeout,
    /// The web view's paint report does not match the sequence.
    LightReportInvalid,
    // --- the companion core ---
    /// The configuration (or the settings file) is invalid or cannot be written.
    Config,
    /// The server cannot be reached.
    Network,
    /// The server answered something that is not the API.
    Protocol,
    /// The QR code names a server this app does not trust.
    UntrustedOrigin,
    /// No credential for the server.
    NotSignedIn,
    /// The frame source failed.
    Camera,
    /// No Realname QR code in the frames.
    NoQrFound,
    /// The source ended before the challenge was captured.
    SourceEnded,
    /// The face engine failed.
    FaceEngine,
    /// The person declined the context or the consent.
    Declined,
    /// The flow was cancelled.
    Cancelled,
    /// The challenge deadline passed.
    DeadlineExceeded,
    /// This front end cannot show the challenge's light step.
    LightUnavailable,
    /// The credential store failed.
    Credentials,
    /// A local file failed.
    Io,
    // --- a scanned text that is not a Realname QR payload ---
    /// Too long.
    QrTooLong,
    /// Not a URL.
    QrNotUrl,
    /// Not http(s).
    QrScheme,
    /// Query, fragment or credentials in the URL.
    QrUrlParts,
    /// Not a Realname path.
    QrNotRealname,
    /// An unsupported payload version.
    QrVersion,
    /// A malformed handle.
    QrBadHandle,
    /// The server refused with this code.
    #[serde(untagged)]
    Server(ErrorCode),
}

impl CommandErrorCode {
    /// The code of a companion error: the same text as `CompanionError::code`.
    pub fn of(e: &CompanionError) -> Self {
        use CompanionError as E;
        match e {
            E::Api(api) => Self::Server(api.code),
            E::Network(_) => Self::Network,
            E::Protocol(_) => Self::Protocol,
            E::QrPayload(q) => match q {
                QrPayloadError::TooLong => Self::QrTooLong,
                QrPayloadError::NotAUrl => Self::QrNotUrl,
                QrPayloadError::UnsupportedScheme => Self::QrScheme,
                QrPayloadError::UnexpectedUrlParts => Self::QrUrlParts,
                QrPayloadError::NotRealname => Self::QrNotRealname,
                QrPayloadError::UnsupportedVersion(_) => Self::QrVersion,
                QrPayloadError::BadHandle => Self::QrBadHandle,
            },
            E::UntrustedOrigin { .. } => Self::UntrustedOrigin,
            E::NotSignedIn { .. } => Self::NotSignedIn,
            E::Camera(_) => Self::Camera,
            E::NoQrFound => Self::NoQrFound,
            E::SourceEnded => Self::SourceEnded,
            E::Face(_) => Self::FaceEngine,
            E::Declined(_) => Self::Declined,
            E::Cancelled => Self::Cancelled,
            E::DeadlineExceeded => Self::DeadlineExceeded,
            E::LightUnavailable(_) => Self::LightUnavailable,
            E::Config(_) => Self::Config,
            E::Credentials(_) => Self::Credentials,
            E::Io { .. } => Self::Io,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> String {
        tag(&self)
    }
}

/// The generated TypeScript for every type above, in a fixed order.
pub fn typescript_bindings() -> String {
    let decls = [
        UiLanguage::decl(),
        UiMode::decl(),
        SettingsView::decl(),
        AppState::decl(),
        SourceOption::decl(),
        ContextAnswer::decl(),
        LightField::decl(),
        LightReport::decl(),
        LightRehearsal::decl(),
        UiEvent::decl(),
        ErrorCode::decl(),
        CommandErrorCode::decl(),
        CommandError::decl(),
    ];
    let mut out = String::from(
        "// Generated from src-tauri/src/ipc.rs by ts-rs: do not edit by hand.\n// Regenerate: REALNAME_UPDATE_BINDINGS=1 cargo test -p realname-desktop bindings\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts");
        let fresh = typescript_bindings();
        if std::env::var_os("REALNAME_UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &fresh).expect("write bindings");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed, fresh,
            "ui/src/bindings.ts is stale: REALNAME_UPDATE_BINDINGS=1 cargo test -p realname-desktop bindings"
        );
    }

    #[test]
    fn command_error_codes_are_the_companion_codes() {
        use realname_protocol::ApiError;
        let errors = [
            CompanionError::Api(ApiError::new(ErrorCode::InvalidCredentials, "no")),
            CompanionError::Api(ApiError::new(ErrorCode::Unknown, "newer server")),
            CompanionError::Network("x".into()),
            CompanionError::Protocol("x".into()),
            CompanionError::QrPayload(QrPayloadError::TooLong),
            CompanionError::QrPayload(QrPayloadError::NotAUrl),
            CompanionError::QrPayload(QrPayloadError::UnsupportedScheme),
            CompanionError::QrPayload(QrPayloadError::UnexpectedUrlParts),
            CompanionError::QrPayload(QrPayloadError::NotRealname),
            CompanionError::QrPayload(QrPayloadError::UnsupportedVersion("9".into())),
            CompanionError::QrPayload(QrPayloadError::BadHandle),
            CompanionError::UntrustedOrigin { origin: "https://evil.example".into() },
            CompanionError::NotSignedIn { server: "https://a.example".into() },
            CompanionError::Camera("x".into()),
            CompanionError::NoQrFound,
            CompanionError::SourceEnded,
            CompanionError::Face("x".into()),
            CompanionError::Declined("consent"),
            CompanionError::Cancelled,
            CompanionError::DeadlineExceeded,
            CompanionError::LightUnavailable("x".into()),
            CompanionError::Config("x".into()),
            CompanionError::Credentials("x".into()),
            CompanionError::Io { path: "p".into(), message: "m".into() },
        ];
        for e in errors {
            let (code, shown) = (e.code(), format!("{e:?}"));
            let wire = serde_json::to_value(CommandError::from(e)).expect("json");
            assert_eq!(wire["code"], code, "{shown}");
        }
        let shell = serde_json::to_value(CommandError::new(CommandErrorCode::BackendUrlInvalid, "x")).expect("json");
        assert_eq!(shell["code"], "backend_url_invalid");
        assert_eq!(CommandError::new(CommandErrorCode::PinInvalid, "wrong").to_string(), "pin_invalid: wrong");
    }

    #[test]
    fn flow_events_map_to_tagged_ui_events() {
        let ev = UiEvent::from_flow(FlowEvent::Feedback {
            feedback: realname_companion::Feedback::NoFace,
            text: "x".into(),
        });
        let json = serde_json::to_value(ev.expect("mapped")).expect("json");
        assert_eq!(json["event"], "feedback");
        assert_eq!(json["feedback"], "no_face");
        let ignored = UiEvent::from_flow(FlowEvent::QrIgnored { code: "qr_not_realname".into() });
        assert!(ignored.is_none());
    }
}
