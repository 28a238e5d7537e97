//! Pages and routes of the trust chain behind partner sync: *Authorize Now* (redirect to the
//! partner's authorization endpoint) and our OAuth callback; the local partner stand-in's
//! sign-in, consent and token endpoints under `/partner/{name}/oauth/…`; the e-mail
//! confirmation link, its resend, and the admin e-mail outbox QA reads links from.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use realname_protocol::ErrorCode;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::{OrErrorPage as _, PageCtx, PageResult, SignedIn};
use crate::error::ServerError;
use crate::flows::partner::local::{self as partner_local, AuthorizeParams};
use crate::flows::partner::{SIGNATURE_HEADER, TIMESTAMP_HEADER, TokenGrant, sign_request};
use crate::http::HttpState;
use crate::state::AppState;

/// The routes of this module.
pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/verify/partner/authorize", get(partner_start_link).post(partner_start_form))
        .route(crate::flows::partner::CALLBACK_PATH, get(partner_callback))
        .route("/partner/{partner}/oauth/authorize", get(oauth_authorize_page).post(oauth_sign_in))
        .route("/partner/{partner}/oauth/consent", post(oauth_consent))
        .route("/partner/{partner}/oauth/token", post(oauth_token))
        .route(crate::email::CONFIRM_PATH, get(confirm_email))
        .route("/account/confirm-email/resend", post(resend_confirmation))
        .route("/admin/email-outbox", get(admin_email_outbox))
}

/// The popup's data for the method page: the partners on offer — names only, no person's
/// data before the partner was authorized — and whether the e-mail is confirmed.
pub(super) async fn partner_popup(state: &AppState, account: &crate::store::Account) -> Option<serde_json::Value> {
    let partners = state.partner.partner_offers().await;
    let first = partners.first()?.clone();
    let confirmed = state.email.email_confirmed(account).await.unwrap_or(false);
    Some(json!({
        "name": first,
        "names": partners,
        "email_confirmed": confirmed,
        "email": realname_protocol::mask::mask_email(&account.email),
    }))
}

/// The e-mail notice of the verification page (`None` once confirmed).
pub(super) async fn email_notice(state: &AppState, account: &crate::store::Account) -> Option<String> {
    match state.email.email_confirmed(account).await {
        Ok(true) => None,
        Ok(false) => Some(realname_protocol::mask::mask_email(&account.email)),
        Err(e) => {
            e.log();
            None
        }
    }
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    partner: String,
}

/// *Authorize Now* as a link (`GET`, CSRF token in the query). A link, not a form: the
/// pages' CSP `form-action 'self'` would stop a form's redirect to another origin.
#[instrument(skip_all)]
async fn partner_start_link(State(state): State<AppState>, ctx: PageCtx, Query(q): Query<StartForm>) -> PageResult {
    partner_start(state, ctx, q).await
}

/// *Authorize Now* as a form post (same checks).
#[instrument(skip_all)]
async fn partner_start_form(State(state): State<AppState>, ctx: PageCtx, Form(f): Form<StartForm>) -> PageResult {
    partner_start(state, ctx, f).await
}

async fn partner_start(state: AppState, ctx: PageCtx, f: StartForm) -> PageResult {
    let user = ctx.require_user()?;
    ctx.check_csrf(&state, &f.csrf).or_error_page(&ctx, &state)?;
    Ok(match state.partner.begin_partner_authorization(&user.account, &user.web, &f.partner).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => method_page_error(&state, ctx, e).await,
    })
}

/// The method page with an error and the popup again (the manual methods stay open).
async fn method_page_error(state: &AppState, ctx: PageCtx, e: ServerError) -> Response {
    e.log();
    let status = e.status();
    let popup = match &ctx.user {
        Some(u) if u.account.verified_at.is_none() => partner_popup(state, &u.account).await,
        _ => None,
    };
    ctx.render(state, status, "method.html", json!({ "error": e.body(), "partner": popup }))
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The partner's redirect back with `code` + `state` (or `error` + `state`).
#[instrument(skip_all)]
async fn partner_callback(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<CallbackQuery>,
    user: SignedIn,
) -> Response {
    match state
        .partner
        .finish_partner_authorization(&user.account, &user.web, &q.state, q.code.as_deref(), q.error.as_deref())
        .await
    {
        Ok(_) => Redirect::to("/verify/details").into_response(),
        Err(e) => method_page_error(&state, ctx, e).await,
    }
}

// ---- the local partner stand-in ----

/// The stand-in's sign-in page for an authorization request.
#[instrument(skip_all)]
async fn oauth_authorize_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(partner): Path<String>,
    Query(p): Query<AuthorizeParams>,
) -> PageResult {
    partner_local::check_authorize(&state.partner, &partner, &p).await.or_error_page(&ctx, &state)?;
    Ok(ctx.render(&state, StatusCode::OK, "partner_signin.html", json!({ "partner": partner, "oauth": p })))
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(flatten)]
    oauth: AuthorizeParams,
}

/// The stand-in's sign-in: right credentials → the consent page (with a signed ticket).
#[instrument(skip_all)]
async fn oauth_sign_in(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    ctx: PageCtx,
    Path(partner): Path<String>,
    Form(f): Form<SignInForm>,
) -> PageResult {
    ctx.check_csrf(&state, &f.csrf).or_error_page(&ctx, &state)?;
    partner_local::check_authorize(&state.partner, &partner, &f.oauth).await.or_error_page(&ctx, &state)?;
    let login = f.login.trim().to_owned();
    let limits = crate::ratelimit::signin_keys(&client, &format!("partner/{partner}/{login}"));
    let kept = json!({ "partner": partner, "oauth": f.oauth, "login": login });
    state
        .limiter
        .rate_check(&limits)
        .await
        .map_err(|refusal| ctx.clone().refusal_page(&state, refusal, "partner_signin.html", kept.clone()))?;
    if partner_local::sign_in(&state.partner, &partner, &login, &f.password).await.or_error_page(&ctx, &state)? {
        let (ticket, expires) = partner_local::ticket(&state.keys, &partner, &login, &f.oauth, state.now());
        let extra =
            json!({ "partner": partner, "oauth": f.oauth, "login": login, "ticket": ticket, "expires": expires });
        return Ok(ctx.render(&state, StatusCode::OK, "partner_consent.html", extra));
    }
    state
        .limiter
        .rate_hit(&limits)
        .await
        .map_err(|refusal| ctx.clone().refusal_page(&state, refusal, "partner_signin.html", kept.clone()))?;
    let err = ServerError::new(ErrorCode::InvalidCredentials, "The login or the password is wrong.");
    err.log();
    let mut extra = kept;
    extra["error"] = serde_json::to_value(err.body()).unwrap_or_default();
    Ok(ctx.render(&state, StatusCode::UNAUTHORIZED, "partner_signin.html", extra))
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    decision: String,
    #[serde(flatten)]
    oauth: AuthorizeParams,
}

/// The stand-in's consent: *Authorize* → a code to the client's redirect URI; *Deny* →
/// `error=access_denied`.
#[instrument(skip_all)]
async fn oauth_consent(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(partner): Path<String>,
    Form(f): Form<ConsentForm>,
) -> PageResult {
    ctx.check_csrf(&state, &f.csrf).or_error_page(&ctx, &state)?;
    partner_local::check_authorize(&state.partner, &partner, &f.oauth).await.or_error_page(&ctx, &state)?;
    let expires = f.expires.parse::<i64>().unwrap_or(0);
    if !partner_local::ticket_valid(&state.keys, &partner, &f.login, &f.oauth, expires, &f.ticket, state.now()) {
        let e = ServerError::new(ErrorCode::Unauthorized, "Your sign-in at the partner expired. Please sign in again.");
        return Err(ctx.error_page(&state, e).into());
    }
    let target = if f.decision == "approve" {
        partner_local::issue_code(&state.partner, &partner, &f.login, &f.oauth).await
    } else {
        partner_local::redirect_with(&f.oauth.redirect_uri, &[("error", "access_denied"), ("state", &f.oauth.state)])
    };
    let url = target.or_error_page(&ctx, &state)?;
    Ok(Redirect::to(&url).into_response())
}

/// The stand-in's token endpoint: a signed form `grant_type=authorization_code&code&
/// redirect_uri&client_id&code_verifier` → the verified person as JSON; refusals are 4xx
/// `{"error", "code", "message"}`.
#[instrument(skip_all)]
async fn oauth_token(
    State(state): State<AppState>,
    Path(partner): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refuse = |status: StatusCode, code: ErrorCode, message: &str| {
        tracing::info!(code = %code, "partner token request refused");
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": partner_local::oauth_error(code), "code": code, "message": message })),
        )
            .into_response()
    };
    let ts: i64 = headers.get(TIMESTAMP_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let given = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let fresh = (time::OffsetDateTime::now_utc().unix_timestamp() - ts).abs() <= 300;
    let expected = sign_request(&partner_local::client_secret(&state.partner), ts, "POST", uri.path(), &body);
    if !fresh || !crate::crypto::same_secret(given, &expected) {
        return refuse(StatusCode::UNAUTHORIZED, ErrorCode::PartnerClientInvalid, "Client authentication failed.");
    }
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let grant = TokenGrant {
        grant_type: field("grant_type"),
        code: field("code"),
        redirect_uri: field("redirect_uri"),
        client_id: field("client_id"),
        code_verifier: field("code_verifier"),
    };
    match partner_local::exchange_code(&*state.store, &state.keys, state.now(), &partner, &grant).await {
        Ok(Ok(found)) => ([(header::CACHE_CONTROL, "no-store")], Json(found)).into_response(),
        Ok(Err(code)) => {
            let status = if code == ErrorCode::PartnerClientInvalid {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            refuse(status, code, "The authorization grant was refused.")
        }
        Err(e) => ServerError::internal(e).into_response(),
    }
}

// ---- e-mail confirmation ----

#[derive(Deserialize)]
struct ConfirmQuery {
    #[serde(default)]
    token: String,
}

/// The confirmation link. It confirms only in a browser signed in to the account it was sent
/// for; without a sign-in the token is not even looked at (no oracle).
#[instrument(skip_all)]
async fn confirm_email(State(state): State<AppState>, ctx: PageCtx, Query(q): Query<ConfirmQuery>) -> Response {
    let Some(user) = ctx.user.clone() else {
        return ctx.render(&state, StatusCode::OK, "email_confirm.html", json!({ "signin_needed": true }));
    };
    let email = realname_protocol::mask::mask_email(&user.account.email);
    match state.email.confirm_email(&user.account, &q.token).await {
        Ok(()) => {
            ctx.render(&state, StatusCode::OK, "email_confirm.html", json!({ "confirmed": true, "email": email }))
        }
        Err(e) => {
            e.log();
            let status = e.status();
            let confirmed = state.email.email_confirmed(&user.account).await.unwrap_or(false);
            ctx.render(
                &state,
                status,
                "email_confirm.html",
                json!({ "error": e.body(), "confirmed": confirmed, "email": email }),
            )
        }
    }
}

#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// A new confirmation link (after the resend wait, a few a day).
#[instrument(skip_all)]
async fn resend_confirmation(
    State(state): State<AppState>,
    ctx: PageCtx,
    user: SignedIn,
    Form(f): Form<ResendForm>,
) -> PageResult {
    ctx.check_csrf(&state, &f.csrf).or_error_page(&ctx, &state)?;
    let email = realname_protocol::mask::mask_email(&user.account.email);
    if state.email.email_confirmed(&user.account).await.or_error_page(&ctx, &state)? {
        return Ok(Redirect::to("/verify").into_response());
    }
    match state.email.send_confirmation(&user.account).await {
        Ok(()) => {
            let next = if f.next == "method" { "/verify/method?email_sent=1" } else { "/verify?email_sent=1" };
            Ok(Redirect::to(next).into_response())
        }
        Err(e) => {
            e.log();
            let status = e.status();
            let extra = json!({ "error": e.body(), "confirmed": false, "email": email });
            Ok(ctx.render(&state, status, "email_confirm.html", extra))
        }
    }
}

#[derive(Deserialize)]
struct OutboxQuery {
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// `/admin/email-outbox`: the local mailer's messages (HTML, or JSON with `format=json`),
/// optionally only those `to` one address. Needs an admin credential.
#[instrument(skip_all)]
async fn admin_email_outbox(
    State(state): State<AppState>,
    _admin: crate::http::security::AdminAccess,
    ctx: PageCtx,
    Query(q): Query<OutboxQuery>,
) -> Result<Response, ServerError> {
    let to = q.to.as_deref().filter(|t| !t.trim().is_empty());
    let entries =
        crate::email::read_email_outbox(&*state.store, &state.keys, to, 100).await.map_err(ServerError::internal)?;
    if q.format.as_deref() == Some("json") {
        return Ok(([(header::CACHE_CONTROL, "no-store")], Json(entries)).into_response());
    }
    let rows: Vec<_> = entries
        .iter()
        .map(|e| json!({ "id": e.id, "to": e.to, "text": e.text, "link": e.link, "at": crate::flows::face::format_time(e.created_at) }))
        .collect();
    Ok(ctx.render(&state, StatusCode::OK, "email_outbox.html", json!({ "messages": rows })))
}
