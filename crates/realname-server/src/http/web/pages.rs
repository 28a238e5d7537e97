//! Page handlers: accounts, the verification pages, the QR image, the live status (SSE, with
//! a polling endpoint as fallback) and the details page.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::Cookie;
use futures::Stream;
use realname_protocol::ErrorCode;
use realname_protocol::api::SessionState;
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::{CSRF_HEADER, LANG_COOKIE, OrErrorPage as _, PageCtx, PageResult, SESSION_COOKIE, SignedIn, cookie};
use crate::crypto;
use crate::error::ServerError;
use crate::flows::face::format_time;
use crate::state::AppState;
use crate::store::{Account, FaceSession, WebSession};

pub(super) async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../static/app.css"),
    )
        .into_response()
}

pub(super) async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../static/verify.js"),
    )
        .into_response()
}

/// The SMS code page's resend countdown (a file, not an inline script: the CSP allows only
/// same-origin scripts).
pub(super) async fn countdown_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../static/countdown.js"),
    )
        .into_response()
}

pub(super) async fn home(ctx: PageCtx) -> Response {
    if ctx.user.is_some() { Redirect::to("/verify") } else { Redirect::to("/signin") }.into_response()
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

pub(super) async fn set_lang(ctx: PageCtx, Path(code): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let lang = super::i18n::Lang::parse(&code).unwrap_or(ctx.lang);
    // Only a path on this server, as a browser would read it: no open redirect.
    let next = q.next.as_deref().and_then(super::redirect::local_path).unwrap_or_else(|| "/".into());
    let mut c = Cookie::new(LANG_COOKIE, lang.code());
    c.set_path("/");
    c.set_max_age(time::Duration::days(365));
    c.set_same_site(axum_extra::extract::cookie::SameSite::Lax);
    (ctx.jar.add(c), Redirect::to(&next)).into_response()
}

// ---- accounts ----

#[derive(Deserialize)]
pub(super) struct CredentialsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn signin_page(State(state): State<AppState>, ctx: PageCtx) -> Response {
    if ctx.user.is_some() {
        return Redirect::to("/verify").into_response();
    }
    ctx.render(&state, StatusCode::OK, "signin.html", json!({}))
}

pub(super) async fn signup_page(State(state): State<AppState>, ctx: PageCtx) -> Response {
    ctx.render(&state, StatusCode::OK, "signup.html", json!({}))
}

fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

async fn sign_in_response(state: &AppState, ctx: PageCtx, account: &Account) -> PageResult {
    let token = crypto::random_token("rn_ws_");
    let now = state.now();
    let web = WebSession {
        id: crypto::random_id(),
        account_id: account.id.clone(),
        expires_at: now + state.config.limits.web_session_ttl_secs,
    };
    state.store.insert_web_session(&web, &crypto::token_hash(&token), now).await.or_error_page(&ctx, state)?;
    // A fresh CSRF cookie too, so a token planted before sign-in is worthless afterwards.
    let secure = ctx.secure();
    let jar =
        ctx.jar.add(cookie(SESSION_COOKIE, token, secure)).add(cookie(super::CSRF_COOKIE, crypto::random_id(), secure));
    Ok((jar, Redirect::to("/verify")).into_response())
}

#[instrument(skip_all)]
pub(super) async fn signin(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    ctx: PageCtx,
    Form(form): Form<CredentialsForm>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    let email = normalise_email(&form.email);
    let limits = crate::ratelimit::signin_keys(&client, &email);
    // Counted before the password is checked (one statement per counter), so a burst of
    // concurrent guesses gets no more tries than the limit.
    let attempt = state
        .limiter
        .rate_attempt(&limits)
        .await
        .map_err(|r| ctx.clone().refusal_page(&state, r, "signin.html", json!({ "email": form.email })))?;
    let account = state.store.account_by_email(&email).await.or_error_page(&ctx, &state)?;
    let stored =
        account.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || crypto::verify_password(&password, &stored)).await.unwrap_or(false);
    match account {
        Some(account) if ok => {
            attempt.succeeded().await;
            tracing::info!(account = %account.id, "signed in");
            sign_in_response(&state, ctx, &account).await
        }
        _ => {
            tokio::time::sleep(attempt.backoff()).await;
            let err = ServerError::new(ErrorCode::InvalidCredentials, "The e-mail address or the password is wrong.");
            err.log();
            Ok(ctx.render(
                &state,
                StatusCode::UNAUTHORIZED,
                "signin.html",
                json!({ "error": err.body(), "email": form.email }),
            ))
        }
    }
}

#[instrument(skip_all)]
pub(super) async fn signup(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    ctx: PageCtx,
    Form(form): Form<CredentialsForm>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    // Every sign-up costs an Argon2 hash and makes an account: limited per IP (IPv6: per /64),
    // counted before any work.
    state
        .limiter
        .rate_attempt(&crate::ratelimit::signup_keys(&client))
        .await
        .map_err(|r| ctx.clone().refusal_page(&state, r, "signup.html", json!({ "email": form.email })))?;
    let email = normalise_email(&form.email);
    let invalid = |message: &str| {
        let err = ServerError::new(ErrorCode::ValidationFailed, message);
        json!({ "error": err.body(), "email": form.email })
    };
    let email_ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.chars().any(char::is_whitespace);
    if !email_ok {
        let extra = invalid("Enter a valid e-mail address.");
        return Ok(ctx.render(&state, StatusCode::UNPROCESSABLE_ENTITY, "signup.html", extra));
    }
    if form.password.chars().count() < 8 || form.password.len() > 1024 {
        let extra = invalid("The password must have at least 8 characters.");
        return Ok(ctx.render(&state, StatusCode::UNPROCESSABLE_ENTITY, "signup.html", extra));
    }
    let password = form.password.clone();
    let hash = tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(ServerError::internal)
        .or_error_page(&ctx, &state)?
        .or_error_page(&ctx, &state)?;
    let account =
        Account { id: crypto::random_id(), email, password_hash: hash, created_at: state.now(), verified_at: None };
    match state.store.insert_account(&account).await {
        Ok(()) => {
            tracing::info!(account = %account.id, "account created");
            // The confirmation link; a mail failure does not stop the sign-up (resend exists).
            if let Err(e) = state.email.send_confirmation(&account).await {
                e.log();
            }
            sign_in_response(&state, ctx, &account).await
        }
        Err(e) => {
            let err = ServerError::from(e);
            if err.code == ErrorCode::AccountExists {
                err.log();
                let extra = json!({ "error": err.body(), "email": form.email });
                Ok(ctx.render(&state, StatusCode::CONFLICT, "signup.html", extra))
            } else {
                Err(ctx.error_page(&state, err).into())
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[instrument(skip_all)]
pub(super) async fn signout(State(state): State<AppState>, ctx: PageCtx, Form(form): Form<CsrfForm>) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    let session_cookie = super::cookie_name(SESSION_COOKIE, ctx.secure());
    if let Some(token) = ctx.jar.get(&session_cookie).map(|c| c.value().to_owned()) {
        state.store.delete_web_session(&crypto::token_hash(&token)).await.or_error_page(&ctx, &state)?;
    }
    let mut gone = Cookie::from(session_cookie);
    gone.set_path("/");
    Ok((ctx.jar.remove(gone), Redirect::to("/signin")).into_response())
}

// ---- verification pages ----

/// Masked details of an account's verification, for the pages.
async fn verified_details(
    state: &AppState,
    ctx: &PageCtx,
    account_id: &str,
) -> Result<Option<serde_json::Value>, ServerError> {
    let Some(v) = state.store.verified_identity_of_account(account_id).await? else { return Ok(None) };
    let name = state.keys.decrypt_string(&v.name_enc)?;
    let id = state.keys.decrypt_string(&v.id_enc)?;
    let method = super::methods::method_text(ctx.lang, &v.method);
    // The database's mark (migration 0009), or the number's range should the mark be missing.
    let demo =
        crate::flows::face::demo::DemoStore::verification_is_demo(&*state.store, account_id).await?.unwrap_or(false)
            || crate::flows::face::demo::is_demo_id(&id);
    Ok(Some(json!({
        "demo": demo,
        "name": realname_protocol::mask::mask_name(&name),
        "id_number": realname_protocol::mask::mask_id_number(&id),
        "method": method,
        "verified_at": format_time(v.verified_at),
    })))
}

pub(super) async fn verify_page(State(state): State<AppState>, ctx: PageCtx, user: SignedIn) -> PageResult {
    let email_notice = super::trust::email_notice(&state, &user.account).await;
    let verified = verified_details(&state, &ctx, &user.account.id).await.or_error_page(&ctx, &state)?;
    let extra = json!({ "verified": verified, "email_notice": email_notice });
    Ok(ctx.render(&state, StatusCode::OK, "verify.html", extra))
}

#[derive(Deserialize)]
pub(super) struct MethodQuery {
    /// Set after "Not Authorized Temporarily and Manual Verification": no popup again.
    #[serde(default)]
    manual: Option<String>,
}

pub(super) async fn method_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<MethodQuery>,
    user: SignedIn,
) -> Response {
    if user.account.verified_at.is_some() {
        return Redirect::to("/verify/details").into_response();
    }
    // Partner sync: the popup appears when a partner holds a verification of this account.
    let partner = if q.manual.is_some() { None } else { super::trust::partner_popup(&state, &user.account).await };
    ctx.render(&state, StatusCode::OK, "method.html", json!({ "partner": partner }))
}

#[derive(Deserialize)]
pub(super) struct IdentityQuery {
    #[serde(default)]
    method: Option<String>,
}

pub(super) async fn identity_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<IdentityQuery>,
    user: SignedIn,
) -> Response {
    if q.method.as_deref() == Some(crate::flows::mobile::METHOD_MOBILE) {
        return Redirect::to("/verify/mobile").into_response();
    }
    if user.account.verified_at.is_some() {
        return Redirect::to("/verify/details").into_response();
    }
    ctx.render(&state, StatusCode::OK, "identity.html", json!({}))
}

#[derive(Deserialize)]
pub(super) struct IdentityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
}

#[instrument(skip_all)]
pub(super) async fn identity_submit(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    ctx: PageCtx,
    user: SignedIn,
    Form(form): Form<IdentityForm>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    let limits = crate::ratelimit::session_keys(&client, &user.account.id, Some(&form.id_number));
    state.limiter.rate_hit(&limits).await.map_err(|refusal| {
        let kept = json!({ "name": form.name, "id_number": form.id_number });
        ctx.clone().refusal_page(&state, refusal, "identity.html", kept)
    })?;
    match state.face.begin_verification(&user.account, &user.web, &form.name, &form.id_number).await {
        Ok(session) => Ok(Redirect::to(&format!("/verify/sessions/{}", session.id)).into_response()),
        Err(fe) => Ok(ctx.form_error_page(
            &state,
            "identity.html",
            fe,
            json!({ "name": form.name, "id_number": form.id_number }),
        )),
    }
}

/// Loads a session that belongs to this browser (same account AND same browser session).
async fn own_session(state: &AppState, user: &SignedIn, id: &str) -> Result<FaceSession, ServerError> {
    let s = state.face.load_session(id).await?;
    if s.account_id != user.account.id || s.web_session_id != user.web.id {
        return Err(ServerError::new(ErrorCode::NotFound, "No such verification session."));
    }
    Ok(s)
}

fn qr_src(session_id: &str, handle: &str) -> String {
    format!("/verify/sessions/{session_id}/qr.png?h={handle}")
}

#[instrument(skip(state, ctx, user))]
pub(super) async fn qr_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
    user: SignedIn,
) -> PageResult {
    let mut session = own_session(&state, &user, &id).await.or_error_page(&ctx, &state)?;
    let (mut src, mut payload, mut expires) = (None, None, session.handle_expires_at);
    if session.state == SessionState::Waiting {
        match state.face.rotate_handle(&id).await {
            Ok((p, exp)) => {
                src = Some(qr_src(&id, p.handle().as_str()));
                payload = Some(p.to_string());
                expires = exp;
            }
            Err(e) if e.code == ErrorCode::SessionState || e.code == ErrorCode::SessionExpired => {}
            Err(e) => return Err(ctx.error_page(&state, e).into()),
        }
        if let Ok(s) = state.face.load_session(&id).await {
            session = s;
        }
    }
    let (name, idn) = match (state.keys.decrypt_string(&session.name_enc), state.keys.decrypt_string(&session.id_enc)) {
        (Ok(n), Ok(i)) => (realname_protocol::mask::mask_name(&n), realname_protocol::mask::mask_id_number(&i)),
        _ => return Err(ctx.error_page(&state, ServerError::internal("cannot decrypt session subject")).into()),
    };
    let texts = super::i18n::texts(ctx.lang);
    let js_texts: std::collections::BTreeMap<&str, &str> = texts
        .iter()
        .filter(|(k, _)| k.starts_with("state_") || **k == "attempts_left" || **k == "qr_expires_in")
        .map(|(k, v)| (*k, *v))
        .collect();
    let status_text =
        texts.get(format!("state_{}", crate::store::state_name(session.state)).as_str()).copied().unwrap_or("");
    Ok(ctx.render(
        &state,
        StatusCode::OK,
        "qr.html",
        json!({
            "session_id": id,
            "state": crate::store::state_name(session.state),
            "qr_src": src,
            "qr_payload": payload,
            "qr_expires_at": expires,
            "now": state.now(),
            "subject_name": name,
            "subject_id": idn,
            "status_text": status_text,
            "js_texts": js_texts,
        }),
    ))
}

#[derive(Deserialize)]
pub(super) struct HandleQuery {
    #[serde(default)]
    h: String,
}

/// The QR code as a PNG. The handle comes in the query (the page got it when the handle was
/// made); it must be the session's current one.
#[instrument(skip(state, ctx, q))]
pub(super) async fn qr_png(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
    Query(q): Query<HandleQuery>,
) -> Result<Response, ServerError> {
    let user = signed_in_api(&ctx)?;
    let session = own_session(&state, &user, &id).await?;
    let handle = realname_protocol::QrHandle::parse(&q.h)
        .map_err(|_| ServerError::new(ErrorCode::HandleUnknown, "Unknown QR handle."))?;
    if session.state != SessionState::Waiting
        || session.handle_hash.as_deref() != Some(crypto::token_hash(handle.as_str()).as_slice())
    {
        return Err(ServerError::new(ErrorCode::HandleExpired, "This QR code is no longer current."));
    }
    let payload = realname_protocol::QrPayload::new(&state.origin, handle).map_err(ServerError::internal)?;
    let png = crate::qr::render_png(&payload.to_string())?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "no-store")], png).into_response())
}

/// The signed-in user of a script's request (the page's QR refresh, status, events): its
/// errors are JSON, not pages.
fn signed_in_api(ctx: &PageCtx) -> Result<SignedIn, ServerError> {
    ctx.user.clone().ok_or_else(|| ServerError::new(ErrorCode::Unauthorized, "Sign in first."))
}

fn header_csrf(ctx: &PageCtx, state: &AppState, headers: &HeaderMap) -> Result<(), ServerError> {
    let submitted = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    ctx.check_csrf(state, submitted)
}

/// A fresh handle for the page (called before the current one expires).
#[instrument(skip(state, ctx, headers))]
pub(super) async fn qr_refresh(
    State(state): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ServerError> {
    let user = signed_in_api(&ctx)?;
    header_csrf(&ctx, &state, &headers)?;
    own_session(&state, &user, &id).await?;
    let (payload, expires_at) = state.face.rotate_handle(&id).await?;
    Ok(Json(json!({
        "qr_src": qr_src(&id, payload.handle().as_str()),
        "qr_payload": payload.to_string(),
        "expires_at": expires_at,
    }))
    .into_response())
}

/// Polling fallback: the current state as the SSE stream would send it.
#[instrument(skip(state, ctx))]
pub(super) async fn status(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> Result<Response, ServerError> {
    let user = signed_in_api(&ctx)?;
    let s = own_session(&state, &user, &id).await?;
    let mut ev = state.face.event_of(&s);
    super::localize_event(ctx.lang, &mut ev);
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(ev)).into_response())
}

/// Server push of state changes (`event: state`, `data: SessionEvent` JSON); the stream ends
/// after a final state.
#[instrument(skip(state, ctx))]
pub(super) async fn events(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> Result<Response, ServerError> {
    let user = signed_in_api(&ctx)?;
    // Ownership first: an id that is not this browser's session gets no channel in the hub
    // (else any signed-in browser could fill the hub's table with made-up ids).
    own_session(&state, &user, &id).await?;
    // Then subscribe, then read the state, so no change can fall in between.
    let rx = state
        .events
        .subscribe(&id)
        .ok_or_else(|| ServerError::new(ErrorCode::NotFound, "No such verification session."))?;
    let session = state.face.load_session(&id).await?;
    let first = state.face.event_of(&session);
    Ok(Sse::new(event_stream(state, id, rx, first, ctx.lang)).keep_alive(KeepAlive::default()).into_response())
}

fn sse_event(ev: &crate::events::SessionEvent) -> Event {
    Event::default().event("state").json_data(ev).unwrap_or_else(|_| Event::default().event("state"))
}

struct StreamState {
    state: AppState,
    id: String,
    rx: crate::events::Subscription,
    pending: Option<crate::events::SessionEvent>,
    done: bool,
    shutdown: tokio::sync::watch::Receiver<bool>,
    lang: super::i18n::Lang,
}

fn event_stream(
    state: AppState,
    id: String,
    rx: crate::events::Subscription,
    first: crate::events::SessionEvent,
    lang: super::i18n::Lang,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let shutdown = state.shutdown.subscribe();
    let init = StreamState { state, id, rx, pending: Some(first), done: false, shutdown, lang };
    futures::stream::unfold(init, |mut st| async move {
        loop {
            if let Some(mut ev) = st.pending.take() {
                super::localize_event(st.lang, &mut ev);
                st.done = ev.state.is_final();
                return Some((Ok(sse_event(&ev)), st));
            }
            if st.done || *st.shutdown.borrow() {
                return None;
            }
            let wait = match st.state.face.load_session(&st.id).await {
                Ok(s) if s.state.is_final() => {
                    // Expired (or decided) while we were not looking.
                    st.pending = Some(st.state.face.event_of(&s));
                    continue;
                }
                Ok(s) => st
                    .state
                    .face
                    .next_deadline(&s)
                    .map(|d| Duration::from_secs(u64::try_from(d - st.state.now()).unwrap_or(0).max(1)))
                    .unwrap_or(super::SSE_RECHECK)
                    .min(super::SSE_RECHECK),
                Err(_) => return None,
            };
            tokio::select! {
                r = st.rx.recv() => match r {
                    Ok(ev) => st.pending = Some(ev),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        // The hub dropped the channel after a final event; the reload above
                        // picks the final state up. Resubscribe in case it was not final.
                        match st.state.events.subscribe(&st.id) {
                            Some(rx) => st.rx = rx,
                            None => return None,
                        }
                    }
                },
                _ = tokio::time::sleep(wait) => {}
                _ = st.shutdown.changed() => return None,
            }
        }
    })
}

/// "Try again" without retyping: a new session for the same subject.
#[instrument(skip(state, client, ctx, form, user))]
pub(super) async fn retry(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    ctx: PageCtx,
    Path(id): Path<String>,
    user: SignedIn,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    state
        .limiter
        .rate_hit(&crate::ratelimit::session_keys(&client, &user.account.id, None))
        .await
        .map_err(|refusal| refusal.error())
        .or_error_page(&ctx, &state)?;
    let old = own_session(&state, &user, &id).await.or_error_page(&ctx, &state)?;
    let s = state.face.retry_session(&old, &user.web).await.or_error_page(&ctx, &state)?;
    Ok(Redirect::to(&format!("/verify/sessions/{}", s.id)).into_response())
}

pub(super) async fn details_page(State(state): State<AppState>, ctx: PageCtx, user: SignedIn) -> PageResult {
    Ok(match verified_details(&state, &ctx, &user.account.id).await.or_error_page(&ctx, &state)? {
        Some(v) => ctx.render(&state, StatusCode::OK, "details.html", json!({ "verified": v })),
        None => Redirect::to("/verify").into_response(),
    })
}

/// What a phone browser shows when the QR is opened outside the app.
pub(super) async fn scan_landing(State(state): State<AppState>, ctx: PageCtx, Path(_handle): Path<String>) -> Response {
    ctx.render(&state, StatusCode::OK, "scan_landing.html", json!({}))
}
