//! Stable error codes and the `{code, message}` body every Realname API error has.
//!
//! Clients (CLI, desktop app, PC page scripts) branch on [`ErrorCode`], never on the message
//! text, which is for people and may change or be translated. A code, once released, keeps its
//! meaning; new codes are added at the end of their group.

use serde::{Deserialize, Serialize};

/// Every error code the backend can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    // --- request shape ---
    /// The request body or query is malformed.
    BadRequest,
    /// A form or JSON field failed validation (the message says which).
    ValidationFailed,
    /// Body larger than allowed.
    PayloadTooLarge,
    /// Content type not accepted by this endpoint.
    UnsupportedMediaType,
    /// No such resource.
    NotFound,
    /// A form was posted without a valid CSRF token.
    CsrfInvalid,
    /// Too many requests; retry later.
    RateLimited,

    // --- accounts and devices ---
    /// Not signed in, or the token is missing.
    Unauthorized,
    /// Signed in, but not allowed to do this.
    Forbidden,
    /// E-mail or password wrong.
    InvalidCredentials,
    /// An account with this e-mail exists already.
    AccountExists,
    /// The access token expired; refresh it.
    TokenExpired,
    /// The token is not valid (revoked, malformed, unknown).
    TokenInvalid,

    // --- identity ---
    /// The resident ID number is invalid (the message says why).
    IdNumberInvalid,
    /// The name is invalid.
    NameInvalid,
    /// The identity authority says name and ID number do not belong together.
    IdentityMismatch,
    /// The identity authority does not know this ID number.
    IdentityUnknown,
    /// The identity authority could not be reached.
    AuthorityUnavailable,
    /// This ID number already verifies another account (one ID, one account).
    IdAlreadyVerified,
    /// This account is verified already.
    AccountAlreadyVerified,
    /// Too many failed attempts; locked until the time stated.
    LockedOut,

    // --- face sessions (companion API) ---
    /// The QR handle is unknown.
    HandleUnknown,
    /// The QR handle expired; the PC page shows a fresh one.
    HandleExpired,
    /// The QR handle was claimed already (single use).
    HandleUsed,
    /// The session belongs to another account than the signed-in device.
    SessionWrongAccount,
    /// The session is not in a state that allows this step.
    SessionState,
    /// The session expired.
    SessionExpired,
    /// The person cancelled the session.
    SessionCancelled,
    /// The code typed on a kiosk station does not match the PC page.
    StationCodeInvalid,
    /// The challenge nonce is wrong or was used before.
    NonceInvalid,
    /// The challenge deadline passed.
    ChallengeExpired,
    /// No attempts left in this session.
    AttemptsExhausted,
    /// Consent to face capture was not given.
    ConsentRequired,

    // --- capture uploads ---
    /// The capture metadata part is missing or malformed.
    MetadataInvalid,
    /// A frame is not a decodable JPEG/PNG.
    ImageInvalid,
    /// A frame is larger than the upload limits (bytes or pixels).
    ImageTooLarge,
    /// More frames than allowed, or none.
    FrameCountInvalid,

    // --- partner sync and mobile phone verification ---
    /// The mobile number is not a valid mainland number.
    PhoneInvalid,
    /// The carrier says the mobile number is not registered to this name and ID number.
    PhoneMismatch,
    /// The SMS code is wrong (`detail`: `tries_left=N`).
    SmsCodeWrong,
    /// The SMS code expired; request a new one.
    SmsCodeExpired,
    /// Too many wrong SMS codes; request a new one.
    SmsCodeExhausted,
    /// A new code can be sent only later (`detail`: `retry_after=N` seconds).
    SmsResendTooEarly,
    /// The SMS gateway could not send the code.
    SmsUnavailable,
    /// The carrier directory could not be reached.
    CarrierUnavailable,
    /// The partner directory could not be reached.
    PartnerUnavailable,
    /// The partner holds no completed verification for this account.
    PartnerNotVerified,

    // --- partner authorization (OAuth 2.0 + PKCE) and e-mail confirmation ---
    /// The partner callback's `state` is unknown, used, expired or from another browser session.
    PartnerStateInvalid,
    /// The partner's authorization code is unknown (or the token request is malformed).
    PartnerCodeInvalid,
    /// The authorization code was exchanged before (codes are single-use).
    PartnerCodeUsed,
    /// The authorization code is past its lifetime.
    PartnerCodeExpired,
    /// The PKCE code verifier does not match the code's S256 challenge.
    PartnerVerifierInvalid,
    /// The redirect URI is not the registered one, or not the one the code was issued for.
    PartnerRedirectInvalid,
    /// The OAuth client is unknown or its authentication failed.
    PartnerClientInvalid,
    /// The person did not authorize the sharing at the partner.
    PartnerDenied,
    /// Partner sync needs a confirmed e-mail address.
    EmailUnconfirmed,
    /// The confirmation link is unknown, used, or belongs to another account.
    EmailTokenInvalid,
    /// The confirmation link is past its lifetime.
    EmailTokenExpired,
    /// A confirmation e-mail was sent moments ago, or too many were sent today.
    EmailResendTooEarly,
    /// The confirmation e-mail could not be sent.
    EmailUnavailable,

    // --- server side ---
    /// Internal error (details only in the server log).
    Internal,
    /// A dependency (database, face engine) is unavailable; retry.
    ServiceUnavailable,

    /// A code this client version does not know (newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ValidationFailed => "validation_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::CsrfInvalid => "csrf_invalid",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountExists => "account_exists",
            Self::TokenExpired => "token_expired",
            Self::TokenInvalid => "token_invalid",
            Self::IdNumberInvalid => "id_number_invalid",
            Self::NameInvalid => "name_invalid",
            Self::IdentityMismatch => "identity_mismatch",
            Self::IdentityUnknown => "identity_unknown",
            Self::AuthorityUnavailable => "authority_unavailable",
            Self::IdAlreadyVerified => "id_already_verified",
            Self::AccountAlreadyVerified => "account_already_verified",
            Self::LockedOut => "locked_out",
            Self::HandleUnknown => "handle_unknown",
            Self::HandleExpired => "handle_expired",
            Self::HandleUsed => "handle_used",
            Self::SessionWrongAccount => "session_wrong_account",
            Self::SessionState => "session_state",
            Self::SessionExpired => "session_expired",
            Self::SessionCancelled => "session_cancelled",
            Self::StationCodeInvalid => "station_code_invalid",
            Self::NonceInvalid => "nonce_invalid",
            Self::ChallengeExpired => "challenge_expired",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::ConsentRequired => "consent_required",
            Self::MetadataInvalid => "metadata_invalid",
            Self::ImageInvalid => "image_invalid",
            Self::ImageTooLarge => "image_too_large",
            Self::FrameCountInvalid => "frame_count_invalid",
            Self::PhoneInvalid => "phone_invalid",
            Self::PhoneMismatch => "phone_mismatch",
            Self::SmsCodeWrong => "sms_code_wrong",
            Self::SmsCodeExpired => "sms_code_expired",
            Self::SmsCodeExhausted => "sms_code_exhausted",
            Self::SmsResendTooEarly => "sms_resend_too_early",
            Self::SmsUnavailable => "sms_unavailable",
            Self::CarrierUnavailable => "carrier_unavailable",
            Self::PartnerUnavailable => "partner_unavailable",
            Self::PartnerNotVerified => "partner_not_verified",
            Self::PartnerStateInvalid => "partner_state_invalid",
            Self::PartnerCodeInvalid => "partner_code_invalid",
            Self::PartnerCodeUsed => "partner_code_used",
            Self::PartnerCodeExpired => "partner_code_expired",
            Self::PartnerVerifierInvalid => "partner_verifier_invalid",
            Self::PartnerRedirectInvalid => "partner_redirect_invalid",
            Self::PartnerClientInvalid => "partner_client_invalid",
            Self::PartnerDenied => "partner_denied",
            Self::EmailUnconfirmed => "email_unconfirmed",
            Self::EmailTokenInvalid => "email_token_invalid",
            Self::EmailTokenExpired => "email_token_expired",
            Self::EmailResendTooEarly => "email_resend_too_early",
            Self::EmailUnavailable => "email_unavailable",
            Self::Internal => "internal",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response: a stable code plus a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation (may be translated; never parse it).
    pub message: String,
    /// Finer-grained detail code where one exists (e.g. `id_number_check_digit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ApiError {
    /// An error with a code and message and no detail.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), detail: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_wire_names() {
        for code in [ErrorCode::IdAlreadyVerified, ErrorCode::HandleUsed, ErrorCode::Internal] {
            let json = serde_json::to_string(&code).expect("serialise");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn unknown_codes_deserialise_to_unknown() {
        let e: ApiError = serde_json::from_str(r#"{"code":"brand_new_code","message":"x"}"#).expect("parse");
        assert_eq!(e.code, ErrorCode::Unknown);
    }
}
