//! Request and response bodies of the companion API (`/api/v1/...`), shared by the server,
//! the companion core, the CLI and the desktop app.
//!
//! Times are RFC 3339 strings on the wire. Masked fields are masked by the server; clients
//! never see a full name or ID number.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Path prefix of this API version.
pub const API_PREFIX: &str = "/api/v1";

/// What a companion device says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Name shown on the PC page ("scanned by …"), e.g. the host name.
    pub name: String,
    /// `linux`, `windows`, `macos`, … (free text, for the audit log).
    #[serde(default)]
    pub platform: String,
    /// Version of the companion app.
    #[serde(default)]
    pub app_version: String,
}

/// Personal-mode sign-in: `POST /api/v1/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Account e-mail.
    pub email: String,
    /// Account password.
    pub password: String,
    /// The device signing in.
    pub device: DeviceInfo,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &crate::mask::mask_email(&self.email))
            .field("password", &"<redacted>")
            .field("device", &self.device)
            .finish()
    }
}

/// Token refresh: `POST /api/v1/auth/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    /// The refresh token from the last [`TokenResponse`].
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest { refresh_token: <redacted> }")
    }
}

/// Tokens for a personal device (`Authorization: Bearer <access_token>`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Short-lived access token.
    pub access_token: String,
    /// Long-lived refresh token (rotated on every refresh).
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The signed-in account.
    pub account: AccountSummary,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("account", &self.account)
            .finish()
    }
}

/// An account as a device sees it (`GET /api/v1/me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    /// Account id.
    pub id: String,
    /// Masked e-mail.
    pub email_masked: String,
    /// Whether the account has completed real-name verification.
    pub verified: bool,
}

/// Claim a QR handle: `POST /api/v1/companion/claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The handle from the QR payload.
    pub handle: String,
    /// The claiming device.
    pub device: DeviceInfo,
}

/// Answer to a claim: what to show before any capture, and the challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// Session id for the following calls.
    pub session_id: String,
    /// Context the person must confirm (or cancel) before capture.
    pub context: MaskedContext,
    /// The liveness challenge to perform after confirmation.
    pub challenge: LivenessChallenge,
    /// Limits the capture upload must respect.
    pub upload_limits: UploadLimits,
    /// Attempts left in this session.
    pub attempts_left: u32,
}

/// What the companion shows before capture, all masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedContext {
    /// Masked account (e-mail) that started the verification on the PC.
    pub account: String,
    /// Masked name being verified (`*三`).
    pub name: String,
    /// Masked ID number (`1****************X`).
    pub id_number: String,
    /// When the PC page started this verification.
    #[serde(with = "time::serde::rfc3339")]
    pub pc_started_at: OffsetDateTime,
    /// True for kiosk stations: the person must type the code shown on the PC.
    pub requires_station_code: bool,
}

/// One action of the liveness challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessAction {
    /// Close both eyes briefly.
    Blink,
    /// Turn the head to the person's own left.
    TurnLeft,
    /// Turn the head to the person's own right.
    TurnRight,
    /// Open the mouth wide.
    OpenMouth,
    /// Nod (down then up).
    Nod,
}

impl LivenessAction {
    /// All actions, in a fixed order.
    pub const ALL: [Self; 5] = [Self::Blink, Self::TurnLeft, Self::TurnRight, Self::OpenMouth, Self::Nod];

    /// The wire name (`blink`, `turn_left`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blink => "blink",
            Self::TurnLeft => "turn_left",
            Self::TurnRight => "turn_right",
            Self::OpenMouth => "open_mouth",
            Self::Nod => "nod",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A server-issued liveness challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivenessChallenge {
    /// Actions to perform, in this order.
    pub actions: Vec<LivenessAction>,
    /// Single-use nonce to send back with the capture.
    pub nonce: String,
    /// The capture must arrive before this time.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    /// The light step: colours the companion flashes from its own screen while it films the
    /// face (`None`: no light step — an older server, or the step switched off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light: Option<crate::light::LightSequence>,
}

/// Limits of a capture upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadLimits {
    /// Most frames in one capture.
    pub max_frames: u32,
    /// Largest encoded frame, bytes.
    pub max_frame_bytes: u64,
    /// Largest frame width and height, pixels.
    pub max_dimension: u32,
}

/// Confirm the context: `POST /api/v1/companion/sessions/{id}/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmRequest {
    /// Separate consent to face capture (must be true).
    pub consent: bool,
    /// Kiosk stations: the code shown on the PC page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_code: Option<String>,
}

/// The JSON part (`metadata`) of a capture upload
/// (`POST /api/v1/companion/sessions/{id}/capture`, multipart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureMetadata {
    /// The challenge nonce.
    pub nonce: String,
    /// One entry per frame part, in upload order.
    pub frames: Vec<FrameMeta>,
    /// When the companion painted each field of the challenge's light sequence (required
    /// when the challenge has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light: Option<crate::light::LightPresentation>,
}

/// Metadata of one uploaded frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameMeta {
    /// Name of the multipart part holding the JPEG (e.g. `frame0`).
    pub part: String,
    /// The challenge action this frame was captured for (`None` = neutral/reference frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<LivenessAction>,
    /// Capture time, milliseconds since the Unix epoch (device clock).
    pub captured_at_ms: i64,
    /// Captured during the light step (the face lit by the flashed colours; no action).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub light: bool,
}

/// Outcome of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Verified.
    Passed,
    /// Not verified; no attempts left or a definitive failure.
    Failed,
    /// Not verified this time; the same session may try again.
    Retry,
}

/// Why a capture did not pass — turned into advice by the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// No face found in a frame.
    NoFace,
    /// More than one face in a frame.
    MultipleFaces,
    /// The face is too small / too far away.
    FaceTooSmall,
    /// The image is too dark.
    TooDark,
    /// The face does not match the ID holder's reference photo.
    FaceMismatch,
    /// Not the same person in every frame.
    PersonChanged,
    /// A requested action was not seen.
    ActionNotSeen,
    /// The actions were performed in the wrong order.
    ActionOrder,
    /// Frames are (near-)identical copies.
    FramesDuplicated,
    /// Capture timestamps are not monotonic or not plausible.
    TimestampsInvalid,
    /// Presentation attack suspected (screen or print).
    PresentationAttack,
    /// The challenge's nonce was used before, or the frames were already submitted in an
    /// earlier upload (a replayed capture): start again with the new challenge.
    ChallengeReplayed,
    /// The ID holder has no usable reference photo.
    NoReference,
    /// The face did not reflect the light sequence the screen flashed (no response, or the
    /// whole scene — a screen or photo held up — reflects it alike).
    LightNotReflected,
    /// A response, but not to the issued sequence in step (another sequence, too late, or a
    /// paint report that does not follow the issued holds).
    LightOutOfStep,
    /// Too bright for the light check (a window behind or sunlight on the face).
    TooBrightForLightCheck,
    /// A reason this client version does not know.
    #[serde(other)]
    Unknown,
}

/// The server's decision on a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Passed, failed or retry.
    pub outcome: Outcome,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    /// The action concerned, for [`ReasonCode::ActionNotSeen`] and friends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<LivenessAction>,
    /// Human-readable message (the seed's text on a face mismatch).
    pub message: String,
    /// Attempts left in this session.
    pub attempts_left: u32,
    /// On [`Outcome::Retry`]: the fresh challenge (new actions, nonce and deadline) for the
    /// next capture of the same session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<LivenessChallenge>,
}

/// State of a face session as the PC page and the companion see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// QR shown, nobody has scanned it.
    Waiting,
    /// A device claimed the handle; waiting for the person to confirm.
    Scanned,
    /// Context confirmed; capture in progress.
    InProgress,
    /// Verified.
    Passed,
    /// Failed (definitively, or the last attempt failed).
    Failed,
    /// The QR or the session expired.
    Expired,
    /// The person cancelled on the device.
    Cancelled,
}

impl SessionState {
    /// Whether no further change can happen.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Passed | Self::Failed | Self::Expired | Self::Cancelled)
    }
}

/// `GET /api/v1/companion/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// Session id.
    pub session_id: String,
    /// Current state.
    pub state: SessionState,
    /// Attempts left.
    pub attempts_left: u32,
    /// The last decision, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<Decision>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_their_wire_names() {
        for a in LivenessAction::ALL {
            assert_eq!(LivenessAction::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_string(&a).expect("json"), format!("\"{}\"", a.as_str()));
        }
        assert_eq!(LivenessAction::parse("wink"), None);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let login = LoginRequest {
            email: "alice@example.com".into(),
            password: "hunter2".into(),
            device: DeviceInfo { name: "pc".into(), platform: String::new(), app_version: String::new() },
        };
        let text = format!("{login:?}");
        assert!(!text.contains("hunter2") && !text.contains("alice@"), "{text}");
    }

    #[test]
    fn capture_metadata_parses_without_optional_fields() {
        let m: CaptureMetadata = serde_json::from_str(
            r#"{"nonce":"n","frames":[{"part":"frame0","captured_at_ms":1},{"part":"frame1","action":"blink","captured_at_ms":2}]}"#,
        )
        .expect("parse");
        assert_eq!(m.frames[1].action, Some(LivenessAction::Blink));
        assert_eq!(m.frames[0].action, None);
    }
}
