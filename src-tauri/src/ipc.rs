//! Every type that crosses between the Rust shell and the web UI, in one place. The TypeScript
//! declarations in `ui/src/bindings.ts` are generated from these with `ts-rs` and committed;
//! the `bindings_are_current` test fails when they drift (regenerate with
//! `REALNAME_UPDATE_BINDINGS=1 cargo test -p realname-desktop bindings`).

use realname_companion::flow::FlowEvent;
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
    /// The flow is over (after `decision`, `cancelled` or `failed`).
    Finished {
        /// `passed`, `failed`, `retry`, `cancelled`, `error`.
        outcome: String,
    },
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
#[error("{code}: {message}")]
pub struct CommandError {
    /// Stable code (`invalid_credentials`, `config`, `untrusted_origin`, `pin_invalid`, …).
    pub code: String,
    /// Message.
    pub message: String,
}

impl CommandError {
    /// An error with `code`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into() }
    }
}

impl From<realname_companion::CompanionError> for CommandError {
    fn from(e: realname_companion::CompanionError) -> Self {
        Self { code: e.code(), message: e.to_string() }
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
        UiEvent::decl(),
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
