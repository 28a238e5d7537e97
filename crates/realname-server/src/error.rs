//! The one server error type: a stable [`ErrorCode`] and a message for people, turned into a
//! `{code, message}` JSON response; the cause is logged (never personal data) and never shown.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use realname_protocol::{ApiError, ErrorCode};

use crate::store::{Constraint, StoreError};

/// The seed's message when the face does not belong to the ID number's holder.
pub const FACE_MISMATCH_MESSAGE: &str =
    "Face recognition for verification failed: the ID number must belong to the person doing the face scan.";

/// The message for the "one ID number, one account" rule.
pub const ID_ALREADY_VERIFIED_MESSAGE: &str =
    "This ID number has already verified another account. One ID number can verify at most one account.";

/// An error answered to a client.
#[derive(Debug)]
pub struct ServerError {
    /// Stable code.
    pub code: ErrorCode,
    /// Message for people.
    pub message: String,
    /// Finer-grained detail code (e.g. `id_number_check_digit`).
    pub detail: Option<String>,
    /// Internal cause, logged only.
    cause: Option<String>,
}

impl ServerError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), detail: None, cause: None }
    }

    /// Adds a detail code.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// An internal error; `cause` goes to the log only (it must not contain personal data).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: "Internal error. Please try again later.".into(),
            detail: None,
            cause: Some(cause.to_string()),
        }
    }

    /// A dependency is unavailable (database, face engine, authority).
    pub fn unavailable(code: ErrorCode, message: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Self { code, message: message.into(), detail: None, cause: Some(cause.to_string()) }
    }

    /// The HTTP status of the code.
    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    /// The wire body.
    pub fn body(&self) -> ApiError {
        ApiError { code: self.code, message: self.message.clone(), detail: self.detail.clone() }
    }

    /// Logs the error at a level fitting its status.
    pub fn log(&self) {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = %self.code, cause = self.cause.as_deref().unwrap_or(""), "request failed");
        } else {
            tracing::info!(code = %self.code, detail = self.detail.as_deref().unwrap_or(""), "request refused");
        }
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServerError {}

/// HTTP status for each code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::BadRequest | C::MetadataInvalid | C::ImageInvalid | C::FrameCountInvalid => StatusCode::BAD_REQUEST,
        C::ValidationFailed | C::IdNumberInvalid | C::NameInvalid | C::PhoneInvalid => StatusCode::UNPROCESSABLE_ENTITY,
        C::PhoneMismatch | C::SmsCodeWrong => StatusCode::UNPROCESSABLE_ENTITY,
        C::SmsCodeExpired => StatusCode::GONE,
        C::SmsCodeExhausted | C::SmsResendTooEarly => StatusCode::TOO_MANY_REQUESTS,
        C::PartnerNotVerified => StatusCode::NOT_FOUND,
        C::PartnerStateInvalid | C::PartnerCodeInvalid | C::PartnerCodeUsed | C::PartnerCodeExpired => {
            StatusCode::BAD_REQUEST
        }
        C::PartnerVerifierInvalid | C::PartnerRedirectInvalid | C::EmailTokenInvalid => StatusCode::BAD_REQUEST,
        C::PartnerClientInvalid => StatusCode::UNAUTHORIZED,
        C::PartnerDenied | C::EmailUnconfirmed => StatusCode::FORBIDDEN,
        C::EmailTokenExpired => StatusCode::GONE,
        C::EmailResendTooEarly => StatusCode::TOO_MANY_REQUESTS,
        C::EmailUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::SmsUnavailable | C::CarrierUnavailable | C::PartnerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::IdentityMismatch | C::IdentityUnknown => StatusCode::UNPROCESSABLE_ENTITY,
        C::PayloadTooLarge | C::ImageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        C::NotFound | C::HandleUnknown => StatusCode::NOT_FOUND,
        C::CsrfInvalid | C::Forbidden | C::SessionWrongAccount | C::ConsentRequired | C::StationCodeInvalid => {
            StatusCode::FORBIDDEN
        }
        C::RateLimited | C::LockedOut | C::AttemptsExhausted => StatusCode::TOO_MANY_REQUESTS,
        C::Unauthorized | C::InvalidCredentials | C::TokenExpired | C::TokenInvalid => StatusCode::UNAUTHORIZED,
        C::AccountExists | C::IdAlreadyVerified | C::AccountAlreadyVerified | C::HandleUsed | C::SessionState => {
            StatusCode::CONFLICT
        }
        C::NonceInvalid => StatusCode::CONFLICT,
        C::HandleExpired | C::SessionExpired | C::SessionCancelled | C::ChallengeExpired => StatusCode::GONE,
        C::AuthorityUnavailable | C::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(crate::queue::RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<StoreError> for ServerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Constraint::AccountEmail) => {
                Self::new(ErrorCode::AccountExists, "An account with this e-mail address exists already.")
            }
            StoreError::Conflict(Constraint::IdentityIdHash) => {
                Self::new(ErrorCode::IdAlreadyVerified, ID_ALREADY_VERIFIED_MESSAGE)
            }
            StoreError::Conflict(Constraint::IdentityAccount) => Self::new(
                ErrorCode::AccountAlreadyVerified,
                "This account has completed real-name verification already.",
            ),
            StoreError::Database(sqlx::Error::PoolTimedOut) => Self::unavailable(
                ErrorCode::ServiceUnavailable,
                "The service is busy. Please try again.",
                "database pool timed out",
            ),
            StoreError::Database(e) if database_unreachable(&e) => Self::unavailable(
                ErrorCode::ServiceUnavailable,
                "The service is temporarily unavailable. Please try again in a moment.",
                e,
            ),
            other => Self::internal(other),
        }
    }
}

impl From<crate::crypto::CryptoError> for ServerError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Self::internal(e)
    }
}

/// Whether a database error means "the database is not reachable right now" (restart,
/// failover, network) rather than a fault of the request or of the code.
pub fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now, connection_exception.
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03") || c.starts_with("08"))
        }
        _ => false,
    }
}

/// Result alias for handlers.
pub type ServerResult<T> = Result<T, ServerError>;
/// Formats a lockout end for messages (UTC, minute precision).
pub fn format_time(secs: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}
