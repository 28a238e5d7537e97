//! HTTP hardening shared by every route: security headers on every response, the client's
//! IP address (`X-Forwarded-For` only from configured proxies), and admin authentication
//! (`Authorization: Bearer <admin token>` or a signed admin cookie from `/admin/signin`).
//!
//! Content-Security-Policy: the pages load only same-origin scripts and styles (no inline
//! script, no inline style attribute), the QR image is same-origin, the live status is an
//! same-origin event stream; `frame-ancestors 'none'` (and `X-Frame-Options: DENY` for old
//! browsers) stop click-jacking of the *Verify Now* and consent buttons.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use hmac::Mac as _;
use realname_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::crypto::{HmacSha256, bearer_token, hmac_sha256, same_secret};
use crate::error::ServerError;
use crate::http::HttpState;
use crate::http::web::{OrErrorPage as _, PageCtx, PageResult};
use crate::state::AppState;

/// The policy of every response (pages, API, static files).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// HSTS value sent when the public URL is https (one year, subdomains included).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// Cookie of a signed-in admin browser (path `/admin`, SameSite=Strict).
pub const ADMIN_COOKIE: &str = "rn_admin";

/// Lifetime of the admin cookie, seconds.
const ADMIN_COOKIE_TTL_SECS: i64 = 8 * 3600;

/// Network settings (`[server]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Reverse proxies (IP addresses or CIDR ranges, e.g. `10.0.0.0/8`) whose
    /// `X-Forwarded-For` header names the client (`REALNAME_TRUSTED_PROXIES`, comma-separated).
    /// Empty (default): the socket's peer address is the client, and the header is ignored.
    pub trusted_proxies: Vec<String>,
}

impl NetworkConfig {
    /// Overlays `REALNAME_TRUSTED_PROXIES`.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), crate::settings::ConfigError> {
        let proxies: crate::settings::EnvVar<Self> = crate::settings::env_var!("REALNAME_TRUSTED_PROXIES", |c, v| {
            c.trusted_proxies = v.text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        });
        crate::settings::apply_env(self, &[proxies], get)
    }

    /// Checks that every entry is an IP address or a CIDR range.
    pub fn validate(&self) -> Result<(), crate::settings::ConfigError> {
        for p in &self.trusted_proxies {
            if IpRange::parse(p).is_none() {
                return Err(crate::settings::ConfigError::Invalid(format!(
                    "server.trusted_proxies: {p:?} is not an IP address or CIDR range"
                )));
            }
        }
        Ok(())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().filter_map(|p| IpRange::parse(p)).any(|r| r.contains(ip))
    }
}

/// An IP address range (`addr/prefix`; a bare address is a single-address range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.trim().parse::<IpAddr>().ok()?, Some(p.trim().parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    fn contains(self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Middleware: the security headers of every response (kept if a handler set its own).
pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "same-origin");
    set(header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(header::HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()");
    if state.origin.starts_with("https://") {
        set(header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY);
    }
    response
}

pub use crate::ratelimit::ClientAddr;

impl ClientAddr {
    /// Resolves the client address of a request.
    pub fn of(parts: &Parts, net: &NetworkConfig) -> Self {
        let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
            return Self("unknown".into());
        };
        if !net.trusts(peer) {
            return Self(peer.to_string());
        }
        // Proxies append; walk from the right past our own proxies. Entries we cannot parse
        // end the walk: everything left of them was written by the client and is not trusted.
        let mut client = peer;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        for entry in forwarded.rsplit(',').map(str::trim).filter(|s| !s.is_empty()) {
            match entry.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !net.trusts(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Self(client.to_string())
    }
}

impl FromRequestParts<HttpState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.config.server))
    }
}

fn admin_mac(admin_token: &str, expires: i64) -> HmacSha256 {
    let mut mac = hmac_sha256(admin_token.as_bytes());
    mac.update(b"realname admin cookie\0");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// The admin cookie's value: `<expires>.<hex HMAC-SHA256 keyed by the admin token>`, so
/// changing the admin token signs every admin browser out.
fn admin_cookie_value(admin_token: &str, expires: i64) -> String {
    format!("{expires}.{}", hex::encode(admin_mac(admin_token, expires).finalize().into_bytes()))
}

fn admin_cookie_valid(admin_token: &str, value: &str, now: i64) -> bool {
    let Some((expires, tag)) = value.split_once('.') else { return false };
    let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), hex::decode(tag)) else { return false };
    expires > now && admin_mac(admin_token, expires).verify_slice(&tag).is_ok()
}

/// Proof that the request comes from an admin. Every `/admin/…` handler takes it.
///
/// Refusals: 404 `not_found` when no admin token is configured (the admin pages are off),
/// 401 `unauthorized` without a valid bearer token or admin cookie. A token in the query
/// string is not accepted (it would end up in proxy logs and browser history).
#[derive(Debug, Clone, Copy)]
pub struct AdminAccess;

impl FromRequestParts<HttpState> for AdminAccess {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, ServerError> {
        let Some(expected) = &state.config.admin_token else {
            return Err(ServerError::new(ErrorCode::NotFound, "Not found."));
        };
        if let Some(given) = bearer_token(&parts.headers) {
            let client = ClientAddr::of(parts, &state.config.server);
            return check_counted(state, &client, given, expected.expose(), "The admin token is wrong.")
                .await
                .map(|()| Self);
        }
        let jar = CookieJar::from_headers(&parts.headers);
        if let Some(c) = jar.get(ADMIN_COOKIE)
            && admin_cookie_valid(expected.expose(), c.value(), state.now())
        {
            return Ok(Self);
        }
        Err(ServerError::new(
            ErrorCode::Unauthorized,
            "Admin credential required: Authorization: Bearer <admin token>, or sign in at /admin/signin.",
        ))
    }
}

/// Shortest admin or metrics token the server accepts (`openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LEN: usize = 32;

/// Checks a presented admin or metrics bearer token, counting the attempt against the
/// client's admin limit (`admin_signin_failures_per_ip`) *before* comparing, so guesses on
/// `/admin/*` and `/metrics` are limited like `/admin/signin`; a right token gives its count
/// back. 429 `rate_limited` past the limit, 401 `unauthorized` for a wrong token.
pub async fn check_counted(
    state: &AppState,
    client: &ClientAddr,
    given: &str,
    expected: &str,
    wrong: &str,
) -> Result<(), ServerError> {
    let keys = [(crate::ratelimit::Scope::AdminSigninIp, crate::ratelimit::ip_key(client))];
    let attempt = state.limiter.rate_attempt(&keys).await?;
    if same_secret(given, expected) {
        attempt.succeeded().await;
        Ok(())
    } else {
        Err(ServerError::new(ErrorCode::Unauthorized, wrong))
    }
}

/// The admin sign-in routes.
pub fn routes() -> Router<HttpState> {
    Router::new().route("/admin/signin", get(admin_signin_page).post(admin_signin))
}

#[derive(Deserialize)]
struct AdminSigninForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn admin_signin_page(State(state): State<AppState>, ctx: PageCtx) -> Response {
    if state.config.admin_token.is_none() {
        return ServerError::new(ErrorCode::NotFound, "Not found.").into_response();
    }
    ctx.render(&state, StatusCode::OK, "admin_signin.html", json!({}))
}

/// `POST /admin/signin`: the admin token typed into a form (for browsers, where no header
/// can be set) becomes an admin cookie. Failures count against the client's sign-in limit.
async fn admin_signin(
    State(state): State<AppState>,
    client: ClientAddr,
    ctx: PageCtx,
    Form(form): Form<AdminSigninForm>,
) -> PageResult {
    let Some(expected) = state.config.admin_token.clone() else {
        return Ok(ServerError::new(ErrorCode::NotFound, "Not found.").into_response());
    };
    ctx.check_csrf(&state, &form.csrf).or_error_page(&ctx, &state)?;
    let keys = [(crate::ratelimit::Scope::AdminSigninIp, crate::ratelimit::ip_key(&client))];
    let attempt = state
        .limiter
        .rate_attempt(&keys)
        .await
        .map_err(|refusal| ctx.clone().refusal_page(&state, refusal, "admin_signin.html", json!({})))?;
    if same_secret(form.token.trim(), expected.expose()) {
        attempt.succeeded().await;
    } else {
        let err = ServerError::new(ErrorCode::Unauthorized, "The admin token is wrong.");
        err.log();
        let extra = json!({ "error": err.body() });
        return Ok(ctx.render(&state, StatusCode::UNAUTHORIZED, "admin_signin.html", extra));
    }
    tracing::info!("admin signed in");
    let expires = state.now() + ADMIN_COOKIE_TTL_SECS;
    let mut c = Cookie::new(ADMIN_COOKIE, admin_cookie_value(expected.expose(), expires));
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/admin");
    c.set_secure(ctx.secure());
    c.set_max_age(time::Duration::seconds(ADMIN_COOKIE_TTL_SECS));
    Ok((ctx.jar.add(c), Redirect::to("/admin/sms-outbox")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: Option<&str>, forwarded: &[&str]) -> Parts {
        let mut req = axum::http::Request::builder().uri("/");
        for f in forwarded {
            req = req.header("x-forwarded-for", *f);
        }
        let (mut parts, ()) = req.body(()).expect("request").into_parts();
        if let Some(p) = peer {
            parts.extensions.insert(ConnectInfo(p.parse::<SocketAddr>().expect("addr")));
        }
        parts
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let none = NetworkConfig::default();
        let proxy = NetworkConfig { trusted_proxies: vec!["10.0.0.0/8".into(), "::1".into()] };
        assert_eq!(ClientAddr::of(&parts(None, &[]), &none).0, "unknown");
        // Not trusted: the header is the client's own words.
        assert_eq!(ClientAddr::of(&parts(Some("203.0.113.9:4000"), &["1.2.3.4"]), &proxy).0, "203.0.113.9");
        assert_eq!(ClientAddr::of(&parts(Some("10.1.2.3:4000"), &["1.2.3.4"]), &none).0, "10.1.2.3");
        // Trusted: the right-most address that is not one of our proxies.
        assert_eq!(ClientAddr::of(&parts(Some("10.1.2.3:4000"), &["6.6.6.6, 1.2.3.4, 10.9.9.9"]), &proxy).0, "1.2.3.4");
        assert_eq!(ClientAddr::of(&parts(Some("[::1]:4000"), &["6.6.6.6", "1.2.3.4"]), &proxy).0, "1.2.3.4");
        // Garbage ends the walk at the last good address.
        assert_eq!(ClientAddr::of(&parts(Some("10.1.2.3:4000"), &["nonsense"]), &proxy).0, "10.1.2.3");
        assert!(NetworkConfig { trusted_proxies: vec!["10.0.0.0/33".into()] }.validate().is_err());
        assert!(proxy.validate().is_ok());
    }

    #[test]
    fn admin_cookies_are_bound_to_the_token_and_expire() {
        let v = admin_cookie_value("tok", 1000);
        assert!(admin_cookie_valid("tok", &v, 999));
        assert!(!admin_cookie_valid("tok", &v, 1000), "expired");
        assert!(!admin_cookie_valid("other", &v, 999), "another admin token");
        assert!(!admin_cookie_valid("tok", &v.replace("1000.", "2000."), 999), "extended by hand");
        assert!(!admin_cookie_valid("tok", "garbage", 0));
        assert!(same_secret("a", "a") && !same_secret("a", "b") && !same_secret("", "a"));
    }
}
