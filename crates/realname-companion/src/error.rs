//! The companion's error type: every failure has a stable machine-readable code (the server's
//! codes where the server answered) so front ends branch on codes, never on message text.

use realname_protocol::{ApiError, ErrorCode, QrPayloadError};
use serde::Serialize;

/// Which broad class an error belongs to; the CLI maps it to its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The caller's input or local configuration is wrong.
    Usage,
    /// The server refused or could not be reached.
    Server,
    /// The camera or another frame source failed.
    Camera,
    /// The verification itself did not pass (or was refused for safety, e.g. an untrusted QR).
    Verification,
    /// The flow was cancelled.
    Cancelled,
    /// Local storage (configuration, credentials) failed.
    Local,
}

/// Everything that can go wrong in the companion core.
#[derive(Debug, thiserror::Error)]
pub enum CompanionError {
    /// The server answered with a stable error code.
    #[error("server refused: {0}")]
    Api(ApiError),
    /// The server could not be reached or answered something that is not the API.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server answered with an unexpected body.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// A scanned QR code is not a Realname code.
    #[error("{0}")]
    QrPayload(#[from] QrPayloadError),
    /// The QR code points at a server this app is not configured to trust. Nothing was sent
    /// to it: a hostile QR must not collect faces.
    #[error("the QR code points at {origin}, which is not a trusted Realname server")]
    UntrustedOrigin {
        /// The origin the QR named.
        origin: String,
    },
    /// No credential is stored for the server.
    #[error("not signed in to {server}: run `realname login` (or `realname station register` on a kiosk)")]
    NotSignedIn {
        /// The server origin.
        server: String,
    },
    /// The frame source failed.
    #[error("camera: {0}")]
    Camera(String),
    /// The frame source ended before a QR code was found.
    #[error("no Realname QR code found in the frames of the source")]
    NoQrFound,
    /// The source ended before the challenge could be captured.
    #[error("the source ended before the liveness challenge was captured")]
    SourceEnded,
    /// The face engine could not be loaded or failed.
    #[error("face engine: {0}")]
    Face(String),
    /// The person declined the context ("I did not start this") or consent.
    #[error("cancelled: {0}")]
    Declined(&'static str),
    /// The flow was cancelled through its cancellation token.
    #[error("cancelled")]
    Cancelled,
    /// The challenge deadline passed before capture finished.
    #[error("the liveness challenge deadline passed")]
    DeadlineExceeded,
    /// The challenge has a light step this front end (or frame source) cannot show; nothing
    /// was uploaded (an upload without the paint report would only be refused).
    #[error("light check: {0}")]
    LightUnavailable(String),
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The credential store failed.
    #[error("credential store: {0}")]
    Credentials(String),
    /// A local file operation failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What happened.
        message: String,
    },
}

impl CompanionError {
    /// Stable machine-readable code: the server's code for API errors, else a local code.
    pub fn code(&self) -> String {
        match self {
            Self::Api(e) => e.code.as_str().to_owned(),
            Self::Network(_) => "network".into(),
            Self::Protocol(_) => "protocol".into(),
            Self::QrPayload(e) => e.code().into(),
            Self::UntrustedOrigin { .. } => "untrusted_origin".into(),
            Self::NotSignedIn { .. } => "not_signed_in".into(),
            Self::Camera(_) => "camera".into(),
            Self::NoQrFound => "no_qr_found".into(),
            Self::SourceEnded => "source_ended".into(),
            Self::Face(_) => "face_engine".into(),
            Self::Declined(_) => "declined".into(),
            Self::Cancelled => "cancelled".into(),
            Self::DeadlineExceeded => "deadline_exceeded".into(),
            Self::LightUnavailable(_) => "light_unavailable".into(),
            Self::Config(_) => "config".into(),
            Self::Credentials(_) => "credentials".into(),
            Self::Io { .. } => "io".into(),
        }
    }

    /// The server's error code, when the server answered with one.
    pub fn api_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api(e) => Some(e.code),
            _ => None,
        }
    }

    /// The broad class (drives exit codes).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api(e) => match e.code {
                ErrorCode::AttemptsExhausted | ErrorCode::LockedOut | ErrorCode::IdAlreadyVerified => {
                    ErrorClass::Verification
                }
                _ => ErrorClass::Server,
            },
            Self::Network(_) | Self::Protocol(_) | Self::NotSignedIn { .. } => ErrorClass::Server,
            Self::QrPayload(_) | Self::UntrustedOrigin { .. } | Self::DeadlineExceeded => ErrorClass::Verification,
            Self::Camera(_) | Self::NoQrFound | Self::SourceEnded | Self::Face(_) => ErrorClass::Camera,
            Self::Declined(_) | Self::Cancelled => ErrorClass::Cancelled,
            Self::Config(_) | Self::LightUnavailable(_) => ErrorClass::Usage,
            Self::Credentials(_) | Self::Io { .. } => ErrorClass::Local,
        }
    }
}

/// Serialisable form of an error for UIs and `--json` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// Stable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Class.
    pub class: ErrorClass,
    /// The server's detail code, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<&CompanionError> for ErrorReport {
    fn from(e: &CompanionError) -> Self {
        let detail = match e {
            CompanionError::Api(api) => api.detail.clone(),
            _ => None,
        };
        Self { code: e.code(), message: e.to_string(), class: e.class(), detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_the_server_code() {
        let e = CompanionError::Api(ApiError::new(ErrorCode::HandleExpired, "expired"));
        assert_eq!(e.code(), "handle_expired");
        assert_eq!(e.api_code(), Some(ErrorCode::HandleExpired));
        assert_eq!(e.class(), ErrorClass::Server);
        let untrusted = CompanionError::UntrustedOrigin { origin: "https://evil.example".into() };
        assert_eq!(untrusted.code(), "untrusted_origin");
        assert_eq!(ErrorReport::from(&untrusted).class, ErrorClass::Verification);
    }
}
