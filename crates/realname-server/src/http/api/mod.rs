//! The companion API (`/api/v1/…`, JSON, errors `{code, message}`): device sign-in with access
//! and refresh tokens, claim, confirm, cancel, capture (multipart) and status, plus the OpenAPI
//! document. Authentication: `Authorization: Bearer <token>` — an access token of a personal
//! device (`rn_at_…`) or a kiosk station credential (`rn_st_…`).

pub mod openapi;
pub mod upload;

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use realname_protocol::ErrorCode;
use realname_protocol::api::{
    AccountSummary, CaptureMetadata, ClaimRequest, ClaimResponse, ConfirmRequest, Decision, LoginRequest,
    RefreshRequest, SessionStatus, TokenResponse,
};
use tracing::instrument;

use crate::crypto;
use crate::error::{ServerError, ServerResult};
use crate::flows::face::Caller;
use crate::http::HttpState;
use crate::state::AppState;
use crate::store::{Device, DeviceKind, DeviceToken, TokenKind};

/// Prefix of access tokens.
pub const ACCESS_PREFIX: &str = "rn_at_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "rn_rt_";
/// Prefix of station credentials.
pub const STATION_PREFIX: &str = "rn_st_";

/// The API routes (mounted under `/api/v1`).
pub fn router(state: &AppState) -> Router<HttpState> {
    let face = &state.config.face;
    // Frames plus the metadata part and multipart overhead.
    let capture_limit = usize::try_from(u64::from(face.upload_frame_limit()) * face.max_frame_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(256 * 1024);
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .route("/companion/claim", post(claim))
        .route("/companion/sessions/{id}", get(session_status))
        .route("/companion/sessions/{id}/confirm", post(confirm))
        .route("/companion/sessions/{id}/cancel", post(cancel))
        .route("/companion/sessions/{id}/capture", post(capture).layer(DefaultBodyLimit::max(capture_limit)))
        .fallback(|| async { ServerError::new(ErrorCode::NotFound, "No such API endpoint.") })
        .layer(DefaultBodyLimit::max(64 * 1024))
}

/// JSON body whose rejections are `{code, message}` errors.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ServerError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ServerError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::PayloadTooLarge
                } else if status == axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    ErrorCode::UnsupportedMediaType
                } else {
                    ErrorCode::BadRequest
                };
                Err(ServerError::new(code, rejection.body_text()))
            }
        }
    }
}

impl FromRequestParts<HttpState> for Caller {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, ServerError> {
        let token = crate::crypto::bearer_token(&parts.headers).map(str::to_owned).ok_or_else(|| {
            ServerError::new(ErrorCode::Unauthorized, "Sign in on the device first (no bearer token).")
        })?;
        let hash = crypto::token_hash(&token);
        if token.starts_with(STATION_PREFIX) {
            let device =
                state.store.station_by_credential(&hash).await?.ok_or_else(|| {
                    ServerError::new(ErrorCode::TokenInvalid, "Unknown or revoked station credential.")
                })?;
            return Ok(Caller::Station { device });
        }
        let invalid = || ServerError::new(ErrorCode::TokenInvalid, "The access token is not valid. Sign in again.");
        let t = state.store.token(&hash).await?.ok_or_else(invalid)?;
        if t.kind != TokenKind::Access || t.revoked_at.is_some() {
            return Err(invalid());
        }
        if t.expires_at <= state.now() {
            return Err(ServerError::new(ErrorCode::TokenExpired, "The access token expired. Refresh it."));
        }
        let device = state.store.device(&t.device_id).await?.ok_or_else(invalid)?;
        if device.revoked_at.is_some() {
            return Err(invalid());
        }
        Ok(Caller::Personal { device, account_id: t.account_id })
    }
}

async fn issue_tokens(
    state: &AppState,
    device_id: &str,
    account: &crate::store::Account,
) -> ServerResult<TokenResponse> {
    let now = state.now();
    let limits = &state.config.limits;
    let access = crypto::random_token(ACCESS_PREFIX);
    let refresh = crypto::random_token(REFRESH_PREFIX);
    for (token, kind, ttl) in [
        (&access, TokenKind::Access, limits.access_token_ttl_secs),
        (&refresh, TokenKind::Refresh, limits.refresh_token_ttl_secs),
    ] {
        let record = DeviceToken {
            kind,
            device_id: device_id.into(),
            account_id: account.id.clone(),
            expires_at: now + ttl,
            revoked_at: None,
        };
        state.store.insert_token(&crypto::token_hash(token), &record, now).await?;
    }
    Ok(TokenResponse {
        access_token: access,
        refresh_token: refresh,
        expires_in: u64::try_from(limits.access_token_ttl_secs).unwrap_or(0),
        account: summary(account),
    })
}

fn summary(account: &crate::store::Account) -> AccountSummary {
    AccountSummary {
        id: account.id.clone(),
        email_masked: realname_protocol::mask::mask_email(&account.email),
        verified: account.verified_at.is_some(),
    }
}

/// `POST /api/v1/auth/login`: a personal device signs in to an account.
#[instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, Response> {
    let email = req.email.trim().to_lowercase();
    let limits = crate::ratelimit::signin_keys(&client, &email);
    // Counted before the password is checked: concurrent guesses get no more than the limit.
    let attempt = state.limiter.rate_attempt(&limits).await.map_err(IntoResponse::into_response)?;
    login_checked(&state, &req, &email, attempt).await.map(Json)
}

async fn login_checked(
    state: &AppState,
    req: &LoginRequest,
    email: &str,
    attempt: crate::ratelimit::Attempt,
) -> Result<TokenResponse, Response> {
    let account = state.store.account_by_email(email).await.map_err(|e| ServerError::from(e).into_response())?;
    let stored =
        account.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || crypto::verify_password(&password, &stored)).await.unwrap_or(false);
    let account = match account {
        Some(a) if ok => {
            attempt.succeeded().await;
            a
        }
        _ => {
            tokio::time::sleep(attempt.backoff()).await;
            let err = ServerError::new(ErrorCode::InvalidCredentials, "The e-mail address or the password is wrong.");
            return Err(err.into_response());
        }
    };
    let device = Device {
        id: crypto::random_id(),
        kind: DeviceKind::Personal,
        name: req.device.name.chars().filter(|c| !c.is_control()).take(60).collect(),
        platform: req.device.platform.chars().take(40).collect(),
        account_id: Some(account.id.clone()),
        created_at: state.now(),
        revoked_at: None,
    };
    state.store.insert_device(&device, None).await.map_err(|e| ServerError::from(e).into_response())?;
    tracing::info!(account = %account.id, device = %device.id, "device signed in");
    issue_tokens(state, &device.id, &account).await.map_err(IntoResponse::into_response)
}

/// `POST /api/v1/auth/refresh`: rotates the token pair. A refresh token works once; reusing
/// one revokes the device's tokens (it was stolen, or the client is confused).
#[instrument(skip_all)]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ServerResult<Json<TokenResponse>> {
    let invalid = || ServerError::new(ErrorCode::TokenInvalid, "The refresh token is not valid. Sign in again.");
    let hash = crypto::token_hash(&req.refresh_token);
    let t = state.store.token(&hash).await?.ok_or_else(invalid)?;
    if t.kind != TokenKind::Refresh {
        return Err(invalid());
    }
    if t.expires_at <= state.now() {
        return Err(ServerError::new(ErrorCode::TokenExpired, "The refresh token expired. Sign in again."));
    }
    if !state.store.revoke_token(&hash, state.now()).await? {
        tracing::warn!(device = %t.device_id, "refresh token reused; revoking the device's tokens");
        state.store.revoke_device_tokens(&t.device_id, state.now()).await?;
        return Err(invalid());
    }
    let account = state.store.account_by_id(&t.account_id).await?.ok_or_else(invalid)?;
    Ok(Json(issue_tokens(&state, &t.device_id, &account).await?))
}

/// `POST /api/v1/auth/logout`: revokes the device's tokens.
#[instrument(skip_all)]
async fn logout(State(state): State<AppState>, caller: Caller) -> ServerResult<Response> {
    state.store.revoke_device_tokens(&caller.device().id, state.now()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/me`.
#[instrument(skip_all)]
async fn me(State(state): State<AppState>, caller: Caller) -> ServerResult<Json<AccountSummary>> {
    let Caller::Personal { account_id, .. } = caller else {
        return Err(ServerError::new(ErrorCode::Forbidden, "Stations have no account."));
    };
    let account = state
        .store
        .account_by_id(&account_id)
        .await?
        .ok_or_else(|| ServerError::new(ErrorCode::TokenInvalid, "The account no longer exists."))?;
    Ok(Json(summary(&account)))
}

/// `POST /api/v1/companion/claim`.
#[instrument(skip_all, fields(device = %caller.device().id))]
async fn claim(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    caller: Caller,
    ApiJson(req): ApiJson<ClaimRequest>,
) -> Result<Json<ClaimResponse>, Response> {
    let limits = crate::ratelimit::device_keys(crate::ratelimit::Operation::Claim, &client, &caller.device().id);
    state.limiter.rate_hit(&limits).await.map_err(IntoResponse::into_response)?;
    state.face.claim(&caller, &req.handle, &req.device).await.map(Json).map_err(IntoResponse::into_response)
}

/// `GET /api/v1/companion/sessions/{id}`.
#[instrument(skip(state, caller))]
async fn session_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ServerResult<Json<SessionStatus>> {
    let s = state.face.session_for_device(&caller, &id).await?;
    Ok(Json(state.face.status_of(&s)))
}

/// `POST /api/v1/companion/sessions/{id}/confirm`.
#[instrument(skip(state, caller, req))]
async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> ServerResult<Json<SessionStatus>> {
    Ok(Json(state.face.confirm(&caller, &id, req.consent, req.station_code.as_deref()).await?))
}

/// `POST /api/v1/companion/sessions/{id}/cancel` ("Cancel — I did not start this").
#[instrument(skip(state, caller))]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ServerResult<Json<SessionStatus>> {
    Ok(Json(state.face.cancel(&caller, &id).await?))
}

/// `POST /api/v1/companion/sessions/{id}/capture`: multipart with a `metadata` JSON part
/// ([`CaptureMetadata`]) first and one part per frame, named as in the metadata.
// No client address in the span: the documentation promises that no IP is kept.
#[instrument(skip(state, client, caller, multipart))]
async fn capture(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    caller: Caller,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Decision>, Response> {
    // Counted before the upload is read, so a flood costs the server no image decoding.
    let limits = crate::ratelimit::device_keys(crate::ratelimit::Operation::Capture, &client, &caller.device().id);
    state.limiter.rate_hit(&limits).await.map_err(refused_upload)?;
    // Held while the body is read and decided: bounded uploads per device and in total.
    let _permit = state.uploads.enter(&caller.device().id).map_err(refused_upload)?;
    read_and_decide(&state, &caller, &id, multipart).await.map(Json).map_err(refused_upload)
}

/// The answer to a refused upload, which may come before its body was read: the connection
/// closes after it (`Connection: close`), so the client does not send its next request on a
/// connection the server drops for the unread body ("broken pipe", "connection closed before
/// message completed" under load, measured with 200 users: docs/benchmarks-load.md).
fn refused_upload(e: impl IntoResponse) -> Response {
    let mut response = e.into_response();
    response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

fn multipart_error(e: &axum::extract::multipart::MultipartError) -> ServerError {
    let code = if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::PayloadTooLarge
    } else {
        ErrorCode::BadRequest
    };
    ServerError::new(code, format!("Malformed multipart body: {}", e.body_text()))
}

async fn read_and_decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ServerResult<Decision> {
    let mut multipart = multipart.map_err(|e| {
        ServerError::new(ErrorCode::UnsupportedMediaType, format!("Expected multipart/form-data: {}", e.body_text()))
    })?;
    let max_frame = state.config.face.max_frame_bytes;
    // The metadata part comes first and is checked before any frame is read: a session of
    // another device, a finished session or a stale nonce costs the server no frame bytes.
    let first = multipart.next_field().await.map_err(|e| multipart_error(&e))?;
    let Some(first) = first.filter(|f| f.name() == Some("metadata")) else {
        return Err(ServerError::new(
            ErrorCode::MetadataInvalid,
            "The metadata part is missing (it must be the first part).",
        ));
    };
    let data = first.bytes().await.map_err(|e| multipart_error(&e))?;
    let metadata: CaptureMetadata = serde_json::from_slice(&data)
        .map_err(|e| ServerError::new(ErrorCode::MetadataInvalid, format!("The metadata part is not valid: {e}")))?;
    drop(data);
    let session = state.face.capture_precheck(caller, id, &metadata).await?;
    let mut parts: HashMap<String, bytes::Bytes> = HashMap::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e)),
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "metadata" {
            return Err(ServerError::new(ErrorCode::MetadataInvalid, "Duplicate part \"metadata\"."));
        }
        if parts.len() >= state.config.face.upload_frame_limit() as usize {
            return Err(ServerError::new(ErrorCode::FrameCountInvalid, "Too many frame parts."));
        }
        let data = field.bytes().await.map_err(|e| multipart_error(&e))?;
        if data.len() as u64 > max_frame {
            return Err(ServerError::new(
                ErrorCode::ImageTooLarge,
                format!("Frame part {name:?} is larger than {max_frame} bytes."),
            ));
        }
        if parts.insert(name.clone(), data).is_some() {
            return Err(ServerError::new(ErrorCode::MetadataInvalid, format!("Duplicate part {name:?}.")));
        }
    }
    let mut frames = Vec::with_capacity(metadata.frames.len());
    for meta in &metadata.frames {
        let data = parts.remove(&meta.part).ok_or_else(|| {
            ServerError::new(
                ErrorCode::MetadataInvalid,
                format!("The metadata names part {:?}, which is missing.", meta.part),
            )
        })?;
        frames.push(crate::flows::face::UploadedFrame {
            action: meta.action,
            captured_at_ms: meta.captured_at_ms,
            light: meta.light,
            bytes: data,
        });
    }
    if let Some(extra) = parts.keys().next() {
        return Err(ServerError::new(
            ErrorCode::MetadataInvalid,
            format!("Part {extra:?} is not named in the metadata."),
        ));
    }
    // Held through the decision; given back once its outcome (and failure, if any) is stored.
    let attempt = state.face.reserve_face_attempt(&session).await?;
    let started = std::time::Instant::now();
    let decided = state.face.capture(caller, id, &metadata.nonce, frames, metadata.light).await;
    attempt.release().await;
    let decision = decided?;
    let reason = decision.reason.and_then(|r| serde_json::to_value(r).ok()).and_then(|v| v.as_str().map(str::to_owned));
    let outcome = serde_json::to_value(decision.outcome).ok().and_then(|v| v.as_str().map(str::to_owned));
    state.metrics.decision(
        outcome.as_deref().unwrap_or("unknown"),
        reason.as_deref().unwrap_or("none"),
        started.elapsed(),
    );
    Ok(decision)
}

/// Registers a kiosk station; returns the device and its credential (shown once).
pub async fn register_station(
    store: &dyn crate::store::Store,
    name: &str,
    now: i64,
) -> Result<(Device, String), crate::store::StoreError> {
    let credential = crypto::random_token(STATION_PREFIX);
    let device = Device {
        id: crypto::random_id(),
        kind: DeviceKind::Station,
        name: name.chars().filter(|c| !c.is_control()).take(60).collect(),
        platform: String::new(),
        account_id: None,
        created_at: now,
        revoked_at: None,
    };
    store.insert_device(&device, Some(&crypto::token_hash(&credential))).await?;
    Ok((device, credential))
}
