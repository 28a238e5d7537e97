//! Pages of the two other verification paths: the partner popup's *Not Authorized Temporarily
//! and Manual Verification* (*Authorize Now* and the OAuth round trip are in `trust.rs`), the
//! mobile phone form, the SMS code page with resend, and the admin SMS outbox page testers
//! read codes from.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use realname_protocol::ErrorCode;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::{OrErrorPage as _, PageCtx, PageResult, SignedIn};
use crate::error::ServerError;
use crate::http::HttpState;
use crate::state::AppState;
use crate::store::methods::{SMS_VERIFIED, SmsChallenge};

/// The client's IP address ([`crate::http::security::ClientAddr`]: the connection, or
/// `X-Forwarded-For` behind a trusted proxy; "unknown" in in-process tests), the key of the
/// per-IP SMS limit.
#[derive(Debug, Clone)]
pub(super) struct ClientIp(pub String);

impl FromRequestParts<HttpState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Infallible> {
        Ok(Self(crate::http::security::ClientAddr::of(parts, &state.config.server).0))
    }
}

/// The details page's text for a stored method.
pub(super) fn method_text(lang: super::i18n::Lang, method: &str) -> String {
    let texts = super::i18n::texts(lang);
    let text = |k: &str| texts.get(k).copied().unwrap_or(k).to_owned();
    if method == crate::flows::face::METHOD_FACE {
        text("method_name_face")
    } else if method == crate::flows::mobile::METHOD_MOBILE {
        text("method_name_mobile")
    } else if let Some(partner) = method.strip_prefix(crate::flows::partner::METHOD_PARTNER_PREFIX) {
        text("method_name_partner").replace("{partner}", partner)
    } else {
        "?".into()
    }
}

#[derive(Deserialize)]
pub(super) struct PartnerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    partner: String,
}

/// *Not Authorized Temporarily and Manual Verification*: recorded, then the method choice.
#[instrument(skip_all)]
pub(super) async fn partner_decline(
    State(state): State<AppState>,
    ctx: PageCtx,
    user: SignedIn,
    Form(form): Form<PartnerForm>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    state.partner.decline_partner(&user.account, &form.partner).await.or_error_page(&ctx, &state)?;
    Ok(Redirect::to("/verify/method?manual=1").into_response())
}

pub(super) async fn mobile_page(State(state): State<AppState>, ctx: PageCtx, user: SignedIn) -> Response {
    if user.account.verified_at.is_some() {
        return Redirect::to("/verify/details").into_response();
    }
    ctx.render(&state, StatusCode::OK, "mobile.html", json!({}))
}

#[derive(Deserialize)]
pub(super) struct MobileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    phone: String,
}

/// The mobile form: checks, three-element check, code sent → the code page.
#[instrument(skip_all)]
pub(super) async fn mobile_submit(
    State(state): State<AppState>,
    ctx: PageCtx,
    ip: ClientIp,
    user: SignedIn,
    Form(form): Form<MobileForm>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    match state.mobile.send_mobile_code(&user.account, &user.web, &form.name, &form.id_number, &form.phone, &ip.0).await
    {
        Ok(c) => Ok(Redirect::to(&format!("/verify/mobile/{}", c.id)).into_response()),
        Err(fe) => Ok(ctx.form_error_page(
            &state,
            "mobile.html",
            fe,
            json!({ "name": form.name, "id_number": form.id_number, "phone": form.phone }),
        )),
    }
}

fn code_page(
    state: &AppState,
    ctx: PageCtx,
    status: StatusCode,
    c: &SmsChallenge,
    error: Option<ServerError>,
    resent: bool,
) -> Response {
    let phone = state
        .keys
        .decrypt_string(&c.phone_enc)
        .map(|p| realname_protocol::mask::mask_phone(&p))
        .unwrap_or_else(|_| "***".into());
    let minutes = ((state.config.sms.code_ttl_secs + 59) / 60).to_string();
    let error = error.map(|e| {
        e.log();
        e.body()
    });
    ctx.render(
        state,
        status,
        "mobile_code.html",
        json!({
            "challenge_id": c.id,
            "phone": phone,
            "minutes": minutes,
            "resend_wait": state.mobile.resend_wait(c),
            "max_wrong": state.config.sms.max_wrong_entries.to_string(),
            "error": error,
            "resent": resent,
        }),
    )
}

#[derive(Deserialize)]
pub(super) struct CodePageQuery {
    #[serde(default)]
    resent: Option<String>,
}

pub(super) async fn mobile_code_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
    Query(q): Query<CodePageQuery>,
    user: SignedIn,
) -> PageResult {
    let c = state.mobile.own_sms_challenge(&user.account, &user.web, &id).await.or_error_page(&ctx, &state)?;
    if c.state == SMS_VERIFIED {
        return Ok(Redirect::to("/verify/details").into_response());
    }
    Ok(code_page(&state, ctx, StatusCode::OK, &c, None, q.resent.is_some()))
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// The entered code: verified → details; otherwise the code page names the cause.
#[instrument(skip_all)]
pub(super) async fn mobile_code_submit(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    ctx: PageCtx,
    Path(id): Path<String>,
    user: SignedIn,
    Form(form): Form<CodeForm>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    let c = state.mobile.own_sms_challenge(&user.account, &user.web, &id).await.or_error_page(&ctx, &state)?;
    // Every entry counts (per account and per IP) before anything is compared.
    if let Err(refusal) = state.limiter.rate_hit(&crate::ratelimit::sms_code_keys(&client, &user.account.id)).await {
        let e = refusal.error();
        return Ok(code_page(&state, ctx, e.status(), &c, Some(e), false));
    }
    // Bounded input: a code is 6 digits; anything much longer is simply wrong.
    let entered: String = form.code.chars().take(16).collect();
    match state.mobile.enter_mobile_code(&c, &entered).await {
        Ok(_) => Ok(Redirect::to("/verify/details").into_response()),
        Err(e) => {
            let status = e.status();
            let fresh = state.mobile.own_sms_challenge(&user.account, &user.web, &id).await.unwrap_or(c);
            Ok(code_page(&state, ctx, status, &fresh, Some(e), false))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Resend: a new code no earlier than the configured wait.
#[instrument(skip_all)]
pub(super) async fn mobile_resend(
    State(state): State<AppState>,
    ctx: PageCtx,
    ip: ClientIp,
    Path(id): Path<String>,
    user: SignedIn,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    let c = state.mobile.own_sms_challenge(&user.account, &user.web, &id).await.or_error_page(&ctx, &state)?;
    match state.mobile.resend_mobile_code(&c, &ip.0).await {
        Ok(()) => Ok(Redirect::to(&format!("/verify/mobile/{id}?resent=1")).into_response()),
        Err(e) => {
            let status = e.status();
            Ok(code_page(&state, ctx, status, &c, Some(e), false))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct OutboxQuery {
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// `/admin/sms-outbox`: the local SMS gateway's messages (HTML, or JSON with `format=json`).
#[instrument(skip_all)]
/// Needs an admin credential ([`crate::http::security::AdminAccess`]).
pub(super) async fn admin_outbox(
    State(state): State<AppState>,
    _admin: crate::http::security::AdminAccess,
    ctx: PageCtx,
    Query(q): Query<OutboxQuery>,
) -> Result<Response, ServerError> {
    let phone = q.phone.as_deref().filter(|p| !p.trim().is_empty());
    let entries =
        crate::flows::mobile::read_outbox(&*state.store, &state.keys, phone, 100).await.map_err(|e| match e {
            crate::flows::mobile::ChannelError::Unavailable(m) => ServerError::new(ErrorCode::PhoneInvalid, m),
            e => ServerError::internal(e),
        })?;
    if q.format.as_deref() == Some("json") {
        return Ok(([(header::CACHE_CONTROL, "no-store")], Json(entries)).into_response());
    }
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "phone": e.phone,
                "text": e.text,
                "code": crate::flows::mobile::code_in(&e.text),
                "at": crate::flows::face::format_time(e.created_at),
            })
        })
        .collect();
    Ok(ctx.render(&state, StatusCode::OK, "outbox.html", json!({ "messages": rows })))
}
