//! HTTP client of the companion API (`/api/v1/...`): sign-in, token refresh, claim, confirm,
//! cancel, capture upload and session status. Error bodies become [`CompanionError::Api`] with
//! the server's stable code.

use std::sync::Arc;
use std::time::Duration;

use realname_protocol::api::{
    AccountSummary, CaptureMetadata, ClaimRequest, ClaimResponse, ConfirmRequest, Decision, DeviceInfo, LoginRequest,
    RefreshRequest, SessionStatus, TokenResponse,
};
use realname_protocol::{ApiError, ErrorCode};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::credentials::{Credential, CredentialStore, Secret};
use crate::error::CompanionError;

/// Route paths of the companion API (relative to the server origin).
pub mod routes {
    /// `POST` sign in.
    pub const LOGIN: &str = "/api/v1/auth/login";
    /// `POST` rotate tokens.
    pub const REFRESH: &str = "/api/v1/auth/refresh";
    /// `POST` revoke this device's tokens.
    pub const LOGOUT: &str = "/api/v1/auth/logout";
    /// `GET` the signed-in account.
    pub const ME: &str = "/api/v1/me";
    /// `POST` claim a QR handle.
    pub const CLAIM: &str = "/api/v1/companion/claim";

    /// `GET` a session's state.
    pub fn session(id: &str) -> String {
        format!("/api/v1/companion/sessions/{id}")
    }
    /// `POST` confirm the context (consent, station code).
    pub fn confirm(id: &str) -> String {
        format!("/api/v1/companion/sessions/{id}/confirm")
    }
    /// `POST` "I did not start this".
    pub fn cancel(id: &str) -> String {
        format!("/api/v1/companion/sessions/{id}/cancel")
    }
    /// `POST` multipart capture upload.
    pub fn capture(id: &str) -> String {
        format!("/api/v1/companion/sessions/{id}/capture")
    }
}

/// One encoded frame of a capture upload.
#[derive(Clone)]
pub struct UploadFrame {
    /// JPEG bytes.
    pub jpeg: Vec<u8>,
}

impl std::fmt::Debug for UploadFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UploadFrame({} bytes)", self.jpeg.len())
    }
}

/// Unauthenticated access to one server's companion API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    origin: String,
}

fn network(e: reqwest::Error) -> CompanionError {
    // reqwest's Display can include the URL (never a secret here: tokens travel in headers);
    // its causes ("connection closed before message completed", …) say what went wrong.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    CompanionError::Network(text)
}

impl ApiClient {
    /// A client for `origin` with a per-request timeout.
    ///
    /// # Errors
    /// [`CompanionError::Network`] when the HTTP stack cannot be set up.
    pub fn new(origin: &str, timeout: Duration) -> Result<Self, CompanionError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("realname-companion/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(network)?;
        Ok(Self::with_http(http, origin))
    }

    /// A client sharing an existing connection pool.
    pub fn with_http(http: reqwest::Client, origin: &str) -> Self {
        Self { http, origin: origin.trim_end_matches('/').to_owned() }
    }

    /// The server origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn request(&self, method: Method, path: &str, bearer: Option<&str>) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.origin));
        match bearer {
            Some(token) => rb.bearer_auth(token),
            None => rb,
        }
    }

    async fn send<T: DeserializeOwned>(rb: RequestBuilder) -> Result<T, CompanionError> {
        let resp = rb.send().await.map_err(network)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(network)?;
        if status.is_success() {
            let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(body)
                .map_err(|e| CompanionError::Protocol(format!("HTTP {status}: cannot parse the answer: {e}")));
        }
        Err(api_error(status, &bytes))
    }

    /// `POST /api/v1/auth/login`.
    ///
    /// # Errors
    /// `invalid_credentials` and other API errors, network errors.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        device: DeviceInfo,
    ) -> Result<TokenResponse, CompanionError> {
        let body = LoginRequest { email: email.to_owned(), password: password.to_owned(), device };
        Self::send(self.request(Method::POST, routes::LOGIN, None).json(&body)).await
    }

    /// `POST /api/v1/auth/refresh`.
    ///
    /// # Errors
    /// `token_invalid` and other API errors, network errors.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, CompanionError> {
        let body = RefreshRequest { refresh_token: refresh_token.to_owned() };
        Self::send(self.request(Method::POST, routes::REFRESH, None).json(&body)).await
    }

    /// `POST /api/v1/auth/logout` (revokes this device's tokens).
    ///
    /// # Errors
    /// API and network errors.
    pub async fn logout(&self, bearer: &str) -> Result<(), CompanionError> {
        Self::send::<serde_json::Value>(self.request(Method::POST, routes::LOGOUT, Some(bearer))).await.map(drop)
    }

    /// `GET /api/v1/me`.
    ///
    /// # Errors
    /// `unauthorized`, `token_expired`, …, network errors.
    pub async fn me(&self, bearer: &str) -> Result<AccountSummary, CompanionError> {
        Self::send(self.request(Method::GET, routes::ME, Some(bearer))).await
    }

    /// `POST /api/v1/companion/claim`.
    ///
    /// # Errors
    /// `handle_unknown`, `handle_expired`, `handle_used`, `session_wrong_account`, …
    pub async fn claim(&self, bearer: &str, request: &ClaimRequest) -> Result<ClaimResponse, CompanionError> {
        Self::send(self.request(Method::POST, routes::CLAIM, Some(bearer)).json(request)).await
    }

    /// `POST /api/v1/companion/sessions/{id}/confirm`.
    ///
    /// # Errors
    /// `station_code_invalid`, `consent_required`, `session_state`, …
    pub async fn confirm(&self, bearer: &str, session: &str, request: &ConfirmRequest) -> Result<(), CompanionError> {
        Self::send::<serde_json::Value>(
            self.request(Method::POST, &routes::confirm(session), Some(bearer)).json(request),
        )
        .await
        .map(drop)
    }

    /// `POST /api/v1/companion/sessions/{id}/cancel`.
    ///
    /// # Errors
    /// `session_state`, …
    pub async fn cancel(&self, bearer: &str, session: &str) -> Result<(), CompanionError> {
        Self::send::<serde_json::Value>(
            self.request(Method::POST, &routes::cancel(session), Some(bearer)).json(&serde_json::json!({})),
        )
        .await
        .map(drop)
    }

    /// `POST /api/v1/companion/sessions/{id}/capture` (multipart: `metadata` JSON + `frameN` JPEGs).
    ///
    /// # Errors
    /// `nonce_invalid`, `challenge_expired`, `image_too_large`, …
    pub async fn capture(
        &self,
        bearer: &str,
        session: &str,
        metadata: &CaptureMetadata,
        frames: &[UploadFrame],
    ) -> Result<Decision, CompanionError> {
        let meta = serde_json::to_string(metadata).map_err(|e| CompanionError::Protocol(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("metadata", reqwest::multipart::Part::text(meta).mime_str("application/json").map_err(network)?);
        for (meta, frame) in metadata.frames.iter().zip(frames) {
            let part = reqwest::multipart::Part::bytes(frame.jpeg.clone())
                .file_name(format!("{}.jpg", meta.part))
                .mime_str("image/jpeg")
                .map_err(network)?;
            form = form.part(meta.part.clone(), part);
        }
        Self::send(self.request(Method::POST, &routes::capture(session), Some(bearer)).multipart(form)).await
    }

    /// `GET /api/v1/companion/sessions/{id}`.
    ///
    /// # Errors
    /// API and network errors.
    pub async fn status(&self, bearer: &str, session: &str) -> Result<SessionStatus, CompanionError> {
        Self::send(self.request(Method::GET, &routes::session(session), Some(bearer))).await
    }
}

/// Turns an error response into [`CompanionError::Api`] (or a protocol error when the body is
/// not `{code, message}`).
fn api_error(status: StatusCode, body: &[u8]) -> CompanionError {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(e) => CompanionError::Api(e),
        Err(_) => {
            let code = match status {
                StatusCode::UNAUTHORIZED => Some(ErrorCode::Unauthorized),
                StatusCode::FORBIDDEN => Some(ErrorCode::Forbidden),
                StatusCode::NOT_FOUND => Some(ErrorCode::NotFound),
                StatusCode::TOO_MANY_REQUESTS => Some(ErrorCode::RateLimited),
                StatusCode::PAYLOAD_TOO_LARGE => Some(ErrorCode::PayloadTooLarge),
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => {
                    Some(ErrorCode::ServiceUnavailable)
                }
                s if s.is_server_error() => Some(ErrorCode::Internal),
                _ => None,
            };
            match code {
                Some(code) => CompanionError::Api(ApiError::new(code, format!("HTTP {status}"))),
                None => CompanionError::Protocol(format!("HTTP {status} without an error body")),
            }
        }
    }
}

/// Credential from a token response.
pub fn credential_from_tokens(tokens: &TokenResponse, now_unix: i64) -> Credential {
    Credential::Personal {
        access_token: Secret::new(tokens.access_token.clone()),
        refresh_token: Secret::new(tokens.refresh_token.clone()),
        access_expires_at: now_unix.saturating_add(i64::try_from(tokens.expires_in).unwrap_or(i64::MAX)),
        account_id: tokens.account.id.clone(),
        email_masked: tokens.account.email_masked.clone(),
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An API client that carries this device's credential, refreshes a personal access token
/// when the server says `token_expired` (or shortly before it expires), and saves the rotated
/// tokens back to the store.
#[derive(Debug, Clone)]
pub struct AuthedClient {
    api: ApiClient,
    store: Arc<dyn CredentialStore>,
    credential: Arc<Mutex<Credential>>,
}

impl AuthedClient {
    /// Loads the credential for the client's origin.
    ///
    /// # Errors
    /// [`CompanionError::NotSignedIn`] when there is none, store errors.
    pub fn from_store(api: ApiClient, store: Arc<dyn CredentialStore>) -> Result<Self, CompanionError> {
        let credential =
            store.load(api.origin())?.ok_or_else(|| CompanionError::NotSignedIn { server: api.origin().to_owned() })?;
        Ok(Self { api, store, credential: Arc::new(Mutex::new(credential)) })
    }

    /// A client with a credential held only in memory (and saved to `store` on refresh).
    pub fn with_credential(api: ApiClient, store: Arc<dyn CredentialStore>, credential: Credential) -> Self {
        Self { api, store, credential: Arc::new(Mutex::new(credential)) }
    }

    /// The unauthenticated client.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The credential's kind (`personal` or `station`).
    pub async fn kind(&self) -> &'static str {
        self.credential.lock().await.kind()
    }

    /// Refreshes the personal tokens now and saves them.
    ///
    /// # Errors
    /// `token_invalid` (sign in again), network errors; station credentials cannot refresh.
    pub async fn refresh(&self) -> Result<(), CompanionError> {
        let mut guard = self.credential.lock().await;
        let Credential::Personal { refresh_token, .. } = &*guard else {
            return Err(CompanionError::Api(ApiError::new(
                ErrorCode::TokenExpired,
                "station credentials do not expire by refresh",
            )));
        };
        let tokens = self.api.refresh(refresh_token.expose()).await?;
        let fresh = credential_from_tokens(&tokens, now_unix());
        self.store.save(self.api.origin(), &fresh)?;
        *guard = fresh;
        tracing::debug!("access token refreshed");
        Ok(())
    }

    async fn bearer(&self) -> Result<String, CompanionError> {
        let expiring = matches!(&*self.credential.lock().await,
            Credential::Personal { access_expires_at, .. } if *access_expires_at <= now_unix() + 5);
        if expiring {
            self.refresh().await?;
        }
        Ok(self.credential.lock().await.bearer().to_owned())
    }

    /// Runs `call` with the bearer token; on `token_expired` refreshes once and retries.
    ///
    /// # Errors
    /// Whatever `call` returns.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, CompanionError>
    where
        F: Fn(ApiClient, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, CompanionError>>,
    {
        let bearer = self.bearer().await?;
        match call(self.api.clone(), bearer).await {
            Err(e) if e.api_code() == Some(ErrorCode::TokenExpired) && self.kind().await == "personal" => {
                self.refresh().await?;
                let bearer = self.credential.lock().await.bearer().to_owned();
                call(self.api.clone(), bearer).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_keep_their_code() {
        let e = api_error(StatusCode::GONE, br#"{"code":"handle_expired","message":"expired"}"#);
        assert_eq!(e.api_code(), Some(ErrorCode::HandleExpired));
        let e = api_error(StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(e.api_code(), Some(ErrorCode::ServiceUnavailable));
        let e = api_error(StatusCode::IM_A_TEAPOT, b"");
        assert_eq!(e.code(), "protocol");
    }
}
