//! The PC side over HTTP: the router of every route (pages, static files, the companion API
//! under `/api/v1`), browser sessions in cookies, CSRF protection and the page context.
//!
//! Cookies: `rn_session` (browser session token, HttpOnly, SameSite=Lax, Secure on https),
//! `rn_csrf` (random per browser, HttpOnly; forms carry `csrf` = HMAC of it and of the
//! sign-in session's id, scripts send it as `X-CSRF-Token`), `rn_lang` (`zh-CN` or `en`). On
//! https the session and CSRF cookies are named `__Host-rn_session` and `__Host-rn_csrf`: a
//! browser takes such a cookie only from this host, Secure, with `Path=/` and no `Domain`, so a
//! sibling subdomain cannot plant one.

pub mod i18n;
mod i18n_trust;
mod methods;
mod pages;
mod redirect;
pub mod templates;
mod trust;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use tower_http::trace::TraceLayer;

use crate::crypto;
use crate::error::ServerError;
use crate::http::HttpState;
use crate::state::AppState;
use crate::store::{Account, WebSession};
use i18n::Lang;
use templates::Templates;

/// Browser session cookie.
pub const SESSION_COOKIE: &str = "rn_session";
/// CSRF cookie.
pub const CSRF_COOKIE: &str = "rn_csrf";
/// Language cookie.
pub const LANG_COOKIE: &str = "rn_lang";
/// Header carrying the CSRF token on script requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .merge(crate::http::ops::routes())
        .merge(crate::http::security::routes())
        .route("/static/app.css", get(pages::css))
        .route("/static/verify.js", get(pages::js))
        .route("/static/countdown.js", get(pages::countdown_js))
        .route("/lang/{code}", get(pages::set_lang))
        .route("/signin", get(pages::signin_page).post(pages::signin))
        .route("/signup", get(pages::signup_page).post(pages::signup))
        .route("/signout", post(pages::signout))
        .route("/verify", get(pages::verify_page))
        .route("/verify/method", get(pages::method_page))
        .route("/verify/identity", get(pages::identity_page).post(pages::identity_submit))
        .route("/verify/details", get(pages::details_page))
        .route("/verify/sessions/{id}", get(pages::qr_page))
        .route("/verify/sessions/{id}/qr.png", get(pages::qr_png))
        .route("/verify/sessions/{id}/qr", post(pages::qr_refresh))
        .route("/verify/sessions/{id}/events", get(pages::events))
        .route("/verify/sessions/{id}/status", get(pages::status))
        .route("/verify/sessions/{id}/retry", post(pages::retry))
        .route("/verify/partner/decline", post(methods::partner_decline))
        .route("/verify/mobile", get(methods::mobile_page).post(methods::mobile_submit))
        .route("/verify/mobile/{id}", get(methods::mobile_code_page))
        .route("/verify/mobile/{id}/code", post(methods::mobile_code_submit))
        .route("/verify/mobile/{id}/resend", post(methods::mobile_resend))
        .route("/admin/sms-outbox", get(methods::admin_outbox))
        .route("/v1/q/{handle}", get(pages::scan_landing))
        // Partner OAuth (client side and the local partner stand-in), e-mail confirmation.
        .merge(trust::routes())
        .nest("/api/v1", crate::http::api::router(&state))
        .with_state(HttpState::new(state.clone()))
        // CSP, nosniff, frame-ancestors/X-Frame-Options, Referrer-Policy, HSTS on https.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::http::security::headers))
        // Requests by route template and status class (`/metrics`).
        .layer(axum::middleware::from_fn_with_state(state, crate::http::ops::track_requests))
        // Outermost: one span per request (method and path only; no bodies, no query).
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
}

/// The signed-in user of a page request.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The account.
    pub account: Account,
    /// The browser session.
    pub web: WebSession,
}

/// A page handler that takes `SignedIn` runs only for a signed-in browser; a signed-out one
/// is sent to `/signin`. The page context (extracted first) has already looked the user up.
impl FromRequestParts<HttpState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Response> {
        let user = match parts.extensions.get::<Option<SignedIn>>() {
            Some(user) => user.clone(),
            None => PageCtx::from_request_parts(parts, state).await?.user,
        };
        user.ok_or_else(|| Redirect::to("/signin").into_response())
    }
}

/// What every page handler knows about the browser (cloned only to draw an error page).
#[derive(Debug, Clone)]
pub struct PageCtx {
    /// Page language.
    pub lang: Lang,
    /// Cookies to send back (a new CSRF cookie, a session cookie…).
    pub jar: CookieJar,
    /// The browser's CSRF cookie value.
    csrf_cookie: String,
    /// The signed-in user, if any.
    pub user: Option<SignedIn>,
    /// Request path (for the language switch's `next`).
    pub path: String,
    secure: bool,
    templates: Arc<Templates>,
}

impl FromRequestParts<HttpState> for PageCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let lang = jar
            .get(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()))
            .or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::ZhCn);
        let secure = state.secure_cookies;
        let (jar, csrf_cookie) = match jar.get(&cookie_name(CSRF_COOKIE, secure)).map(|c| c.value().to_owned()) {
            Some(v) if v.len() >= 16 => (jar, v),
            _ => {
                let v = crypto::random_id();
                (jar.add(cookie(CSRF_COOKIE, v.clone(), secure)), v)
            }
        };
        let mut user = None;
        if let Some(token) = jar.get(&cookie_name(SESSION_COOKIE, secure)).map(|c| c.value().to_owned()) {
            let hash = crypto::token_hash(&token);
            let web =
                state.store.web_session(&hash, state.now()).await.map_err(|e| ServerError::from(e).into_response())?;
            if let Some(web) = web
                && let Some(account) = state
                    .store
                    .account_by_id(&web.account_id)
                    .await
                    .map_err(|e| ServerError::from(e).into_response())?
            {
                user = Some(SignedIn { account, web });
            }
        }
        // Read once per request: the `SignedIn` extractor after this one takes it from here.
        parts.extensions.insert(user.clone());
        let templates = Arc::clone(&state.templates);
        Ok(Self { lang, jar, csrf_cookie, user, path: parts.uri.path().to_owned(), secure, templates })
    }
}

/// The name a cookie has: `__Host-<name>` when cookies are Secure (https).
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure { format!("__Host-{name}") } else { name.to_owned() }
}

/// A cookie with the project's attributes (`__Host-` name on https).
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(cookie_name(name, secure), value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(secure);
    c
}

impl PageCtx {
    /// What the CSRF token is bound to: the browser's CSRF cookie and its sign-in session (a
    /// token obtained in another session, e.g. the attacker's own, is worthless in this one,
    /// even with a planted CSRF cookie).
    fn csrf_binding(&self) -> String {
        let session = self.user.as_ref().map_or("", |u| u.web.id.as_str());
        format!("{}\u{0}{session}", self.csrf_cookie)
    }

    /// The CSRF token for this browser's forms.
    pub fn csrf_token(&self, state: &AppState) -> String {
        state.keys.csrf_token(&self.csrf_binding())
    }

    /// Checks a submitted CSRF token.
    pub fn check_csrf(&self, state: &AppState, submitted: &str) -> Result<(), ServerError> {
        if state.keys.csrf_valid(&self.csrf_binding(), submitted) {
            Ok(())
        } else {
            Err(ServerError::new(
                realname_protocol::ErrorCode::CsrfInvalid,
                "The form expired or came from another site. Reload the page and try again.",
            ))
        }
    }

    /// Whether cookies are `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Renders a page with the common context (texts, language, user, CSRF token) plus `extra`.
    pub fn render(self, state: &AppState, status: StatusCode, name: &str, extra: serde_json::Value) -> Response {
        let mut ctx = serde_json::Map::new();
        ctx.insert("t".into(), serde_json::to_value(i18n::texts(self.lang)).unwrap_or_default());
        ctx.insert("lang".into(), self.lang.code().into());
        ctx.insert("path".into(), self.path.clone().into());
        ctx.insert("csrf".into(), self.csrf_token(state).into());
        if let Some(u) = &self.user {
            ctx.insert("user".into(), realname_protocol::mask::mask_email(&u.account.email).into());
        }
        if let serde_json::Value::Object(mut extra) = extra {
            localize_error(self.lang, &mut extra);
            ctx.extend(extra);
        }
        match self.templates.render(name, serde_json::Value::Object(ctx)) {
            Ok(html) => (status, self.jar, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
            Err(e) => ServerError::internal(format!("template {name}: {e}")).into_response(),
        }
    }

    /// The page `template` re-rendered with a rate-limit refusal (its end time in the page
    /// language), status 429 and `Retry-After`; the error page when the limit store failed.
    pub fn refusal_page(
        self,
        state: &AppState,
        refusal: crate::ratelimit::Refusal,
        template: &str,
        mut extra: serde_json::Value,
    ) -> Response {
        let crate::ratelimit::Refusal::Limited { .. } = &refusal else {
            return self.error_page(state, refusal.error());
        };
        let err = refusal.error();
        err.log();
        if let Some(obj) = extra.as_object_mut() {
            obj.insert("error".into(), serde_json::to_value(err.body()).unwrap_or_default());
        }
        let mut response = self.render(state, StatusCode::TOO_MANY_REQUESTS, template, extra);
        if let Some((name, value)) = refusal.retry_after_header() {
            response.headers_mut().insert(name, value);
        }
        response
    }

    /// Re-renders the form page `template` with a form error (naming its field) and the
    /// person's input in `kept`: they correct it instead of retyping everything.
    pub fn form_error_page(
        self,
        state: &AppState,
        template: &str,
        form_error: crate::flows::face::FormError,
        mut kept: serde_json::Value,
    ) -> Response {
        form_error.error.log();
        let status = form_error.error.status();
        let mut error = serde_json::to_value(form_error.error.body()).unwrap_or_default();
        if let (Some(field), Some(obj)) = (form_error.field, error.as_object_mut()) {
            obj.insert("field".into(), field.into());
        }
        kept["error"] = error;
        self.render(state, status, template, kept)
    }

    /// Renders the error page for `error`.
    pub fn error_page(self, state: &AppState, error: ServerError) -> Response {
        error.log();
        let status = error.status();
        let body = serde_json::json!({ "error": error.body() });
        self.render(state, status, "error.html", body)
    }

    /// The signed-in user, or a redirect to the sign-in page.
    pub fn require_user(&self) -> PageResult<SignedIn> {
        self.user.clone().ok_or_else(|| Redirect::to("/signin").into_response().into())
    }
}

/// What a page handler returns: its page, or the response that stands in for it (an error
/// page, a refusal). `?` ends a handler with the latter, so a handler reads as its happy path;
/// an early redirect is an `Ok` page of its own.
pub type PageResult<T = Response> = Result<T, PageError>;

/// The response a page handler ends with instead of its page (boxed: a response is large and
/// travels through every `?`).
#[derive(Debug)]
pub struct PageError(Box<Response>);

impl From<Response> for PageError {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// `?` for page handlers: an error becomes the error page in the browser's language.
pub trait OrErrorPage<T> {
    /// The value, or the error page for the error.
    fn or_error_page(self, ctx: &PageCtx, state: &AppState) -> PageResult<T>;
}

impl<T, E: Into<ServerError>> OrErrorPage<T> for Result<T, E> {
    fn or_error_page(self, ctx: &PageCtx, state: &AppState) -> PageResult<T> {
        self.map_err(|e| ctx.clone().error_page(state, e.into()).into())
    }
}

/// Replaces an `error` object's English message with the page language's text.
fn localize_error(lang: Lang, extra: &mut serde_json::Map<String, serde_json::Value>) {
    let Some(serde_json::Value::Object(err)) = extra.get_mut("error") else { return };
    let code = err.get("code").and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let detail = err.get("detail").and_then(|v| v.as_str()).map(str::to_owned);
    let until = detail
        .as_deref()
        .and_then(|d| d.strip_prefix("until="))
        .and_then(|t| t.parse::<i64>().ok())
        .map(crate::flows::face::format_time);
    if let Some(text) = i18n::error_text(lang, &code, detail.as_deref(), until.as_deref()) {
        err.insert("message".into(), text.into());
    }
}

/// Puts a session event's message into the page language.
pub fn localize_event(lang: Lang, ev: &mut crate::events::SessionEvent) {
    use realname_protocol::api::SessionState;
    let text = match (&ev.code, ev.reason, ev.state) {
        (Some(code), _, _) => i18n::error_text(lang, code, None, None),
        (None, _, SessionState::Expired) => i18n::texts(lang).get("state_expired").map(|t| (*t).to_owned()),
        (None, _, SessionState::Cancelled) => i18n::texts(lang).get("state_cancelled").map(|t| (*t).to_owned()),
        (None, Some(reason), _) => serde_json::to_value(reason)
            .ok()
            .and_then(|v| v.as_str().and_then(|r| i18n::reason_text(lang, r)))
            .map(str::to_owned),
        _ => None,
    };
    if let (Some(text), Some(_)) = (text, &ev.message) {
        ev.message = Some(text);
    }
}

/// Re-checks expiry on the SSE stream at least this often.
pub(crate) const SSE_RECHECK: Duration = Duration::from_secs(30);
