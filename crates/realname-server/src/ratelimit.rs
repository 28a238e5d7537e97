//! Rate limits per client IP, account, e-mail, ID number and device, counted in the database
//! so that every instance behind a load balancer sees the same counts.
//!
//! Each limit is a fixed window (`max` hits per `window_secs`); a counter row is keyed by
//! HMAC-SHA256 (the data key's ID-hash key) of the limit's name and the keyed value, so the
//! table never holds an IP address, an e-mail or an ID number. A refused request gets 429
//! `{code:"rate_limited", message, detail:"until=<unix>", retry_after}` with a `Retry-After`
//! header; pages show the end of the lockout in the page language. A fixed window can let
//! up to twice `max` through around a window boundary; the limits are sized with that in mind.
//! Limits on guessable or expensive steps (passwords, admin tokens, sign-ups, SMS sends) use
//! [`RateLimiter::rate_attempt`]: counted *before* the step in one statement per counter, so
//! concurrent requests cannot all pass a check that only the first few should. IPv6 clients
//! are counted per /64 ([`ip_key`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use realname_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::error::ServerError;
use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::DataKeys;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// The window of the SMS rate limits, seconds.
pub const SEND_WINDOW_SECS: i64 = 3600;

/// The client's IP address: the socket's peer, or — when the peer is a trusted proxy — the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy. `unknown` when the request
/// did not come over a socket (in-process tests). Resolved by its extractor in
/// `http/security.rs`; the per-IP limits key on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

/// One limit: at most `max` hits per `window_secs`; `max = 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Hits allowed per window.
    pub max: u32,
    /// Window length, seconds.
    pub window_secs: i64,
}

impl Limit {
    const fn new(max: u32, window_secs: i64) -> Self {
        Self { max, window_secs }
    }
}

/// Rate limits (`[rate_limits]`; each also `REALNAME_RATE_LIMIT_<NAME>=<max>/<window_secs>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Failed password sign-ins (pages and `/api/v1/auth/login`) per client IP.
    pub signin_failures_per_ip: Limit,
    /// Failed password sign-ins per e-mail address (whether or not the account exists).
    pub signin_failures_per_account: Limit,
    /// Failed admin sign-ins (`/admin/signin`) per client IP.
    pub admin_signin_failures_per_ip: Limit,
    /// Identity form submissions (each asks the identity authority) per client IP.
    pub sessions_per_ip: Limit,
    /// Identity form submissions and retries per account.
    pub sessions_per_account: Limit,
    /// Identity form submissions per ID number (stops probing names against one ID).
    pub sessions_per_id_number: Limit,
    /// QR claims per client IP.
    pub claims_per_ip: Limit,
    /// QR claims per device.
    pub claims_per_device: Limit,
    /// Capture uploads per client IP.
    pub captures_per_ip: Limit,
    /// Capture uploads per device.
    pub captures_per_device: Limit,
    /// New accounts (`/signup`, an Argon2 hash each) per client IP (per /64 for IPv6).
    pub signups_per_ip: Limit,
    /// SMS code entries per account (each compares a code).
    pub sms_code_entries_per_account: Limit,
    /// SMS code entries per client IP.
    pub sms_code_entries_per_ip: Limit,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            signin_failures_per_ip: Limit::new(50, 15 * 60),
            signin_failures_per_account: Limit::new(10, 15 * 60),
            admin_signin_failures_per_ip: Limit::new(10, 15 * 60),
            // Per IP limits stay generous: many people can share one NAT or office address,
            // and a load test's virtual users all come from one.
            sessions_per_ip: Limit::new(2000, 3600),
            sessions_per_account: Limit::new(30, 3600),
            sessions_per_id_number: Limit::new(10, 3600),
            claims_per_ip: Limit::new(2000, 600),
            claims_per_device: Limit::new(60, 600),
            captures_per_ip: Limit::new(6000, 600),
            captures_per_device: Limit::new(120, 600),
            signups_per_ip: Limit::new(100, 3600),
            sms_code_entries_per_account: Limit::new(30, 3600),
            sms_code_entries_per_ip: Limit::new(600, 3600),
        }
    }
}

impl RateLimitConfig {
    fn named_mut(&mut self) -> [(&'static str, &mut Limit); 13] {
        [
            ("SIGNIN_FAILURES_PER_IP", &mut self.signin_failures_per_ip),
            ("SIGNIN_FAILURES_PER_ACCOUNT", &mut self.signin_failures_per_account),
            ("ADMIN_SIGNIN_FAILURES_PER_IP", &mut self.admin_signin_failures_per_ip),
            ("SESSIONS_PER_IP", &mut self.sessions_per_ip),
            ("SESSIONS_PER_ACCOUNT", &mut self.sessions_per_account),
            ("SESSIONS_PER_ID_NUMBER", &mut self.sessions_per_id_number),
            ("CLAIMS_PER_IP", &mut self.claims_per_ip),
            ("CLAIMS_PER_DEVICE", &mut self.claims_per_device),
            ("CAPTURES_PER_IP", &mut self.captures_per_ip),
            ("CAPTURES_PER_DEVICE", &mut self.captures_per_device),
            ("SIGNUPS_PER_IP", &mut self.signups_per_ip),
            ("SMS_CODE_ENTRIES_PER_ACCOUNT", &mut self.sms_code_entries_per_account),
            ("SMS_CODE_ENTRIES_PER_IP", &mut self.sms_code_entries_per_ip),
        ]
    }

    /// Overlays `REALNAME_RATE_LIMIT_<NAME>=<max>/<window_secs>` (e.g.
    /// `REALNAME_RATE_LIMIT_SIGNIN_FAILURES_PER_IP=50/900`).
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), crate::settings::ConfigError> {
        for (name, limit) in self.named_mut() {
            let var = format!("REALNAME_RATE_LIMIT_{name}");
            if let Some(v) = get(&var) {
                let parsed = v
                    .trim()
                    .split_once('/')
                    .and_then(|(m, w)| Some(Limit::new(m.trim().parse().ok()?, w.trim().parse().ok()?)));
                *limit = parsed.ok_or_else(|| {
                    crate::settings::ConfigError::Invalid(format!("{var}: expected <max>/<window_secs>, got {v:?}"))
                })?;
            }
        }
        Ok(())
    }

    /// Every window must be at least one second.
    pub fn validate(&self) -> Result<(), crate::settings::ConfigError> {
        let mut copy = self.clone();
        for (name, limit) in copy.named_mut() {
            if limit.window_secs < 1 {
                return Err(crate::settings::ConfigError::Invalid(format!(
                    "rate_limits.{}.window_secs must be >= 1",
                    name.to_ascii_lowercase()
                )));
            }
        }
        Ok(())
    }
}

/// What a counter counts; its name is also the label of `realname_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Failed sign-ins from one IP.
    SigninIp,
    /// Failed sign-ins for one e-mail address.
    SigninAccount,
    /// Failed admin sign-ins from one IP.
    AdminSigninIp,
    /// New face sessions from one IP.
    SessionIp,
    /// New face sessions of one account.
    SessionAccount,
    /// New face sessions for one ID number.
    SessionIdNumber,
    /// Claims from one IP.
    ClaimIp,
    /// Claims by one device.
    ClaimDevice,
    /// Captures from one IP.
    CaptureIp,
    /// Captures by one device.
    CaptureDevice,
    /// New accounts from one IP (or IPv6 /64).
    SignupIp,
    /// SMS code entries of one account.
    SmsCodeAccount,
    /// SMS code entries from one IP.
    SmsCodeIp,
    /// SMS codes sent to one phone per hour (`sms.per_phone_per_hour`).
    SmsPhone,
    /// SMS codes sent for one account per hour (`sms.per_account_per_hour`).
    SmsAccount,
    /// SMS codes sent for one IP per hour (`sms.per_ip_per_hour`).
    SmsIp,
}

impl Scope {
    /// Stable name (metrics label, part of the counter key).
    pub fn name(self) -> &'static str {
        match self {
            Self::SigninIp => "signin_ip",
            Self::SigninAccount => "signin_account",
            Self::AdminSigninIp => "admin_signin_ip",
            Self::SessionIp => "session_ip",
            Self::SessionAccount => "session_account",
            Self::SessionIdNumber => "session_id_number",
            Self::ClaimIp => "claim_ip",
            Self::ClaimDevice => "claim_device",
            Self::CaptureIp => "capture_ip",
            Self::CaptureDevice => "capture_device",
            Self::SignupIp => "signup_ip",
            Self::SmsCodeAccount => "sms_code_account",
            Self::SmsCodeIp => "sms_code_ip",
            Self::SmsPhone => "sms_phone",
            Self::SmsAccount => "sms_account",
            Self::SmsIp => "sms_ip",
        }
    }

    /// The limit of this scope: from `c`, and for the SMS sends from `sms_per_hour` (per phone,
    /// per account, per IP: the `[sms]` section's hourly figures).
    fn limit(self, c: &RateLimitConfig, sms_per_hour: [u32; 3]) -> Limit {
        let [per_phone, per_account, per_ip] = sms_per_hour;
        let hourly = |max: u32| Limit::new(max, SEND_WINDOW_SECS);
        match self {
            Self::SigninIp => c.signin_failures_per_ip,
            Self::SigninAccount => c.signin_failures_per_account,
            Self::AdminSigninIp => c.admin_signin_failures_per_ip,
            Self::SessionIp => c.sessions_per_ip,
            Self::SessionAccount => c.sessions_per_account,
            Self::SessionIdNumber => c.sessions_per_id_number,
            Self::ClaimIp => c.claims_per_ip,
            Self::ClaimDevice => c.claims_per_device,
            Self::CaptureIp => c.captures_per_ip,
            Self::CaptureDevice => c.captures_per_device,
            Self::SignupIp => c.signups_per_ip,
            Self::SmsCodeAccount => c.sms_code_entries_per_account,
            Self::SmsCodeIp => c.sms_code_entries_per_ip,
            Self::SmsPhone => hourly(per_phone),
            Self::SmsAccount => hourly(per_account),
            Self::SmsIp => hourly(per_ip),
        }
    }
}

/// A request refused by a limit, or the database failing while counting.
#[derive(Debug)]
pub enum Refusal {
    /// Over the limit until `until` (Unix seconds).
    Limited {
        /// Which limit.
        scope: Scope,
        /// When the window ends.
        until: i64,
        /// Seconds from now to `until` (at least 1).
        retry_after: i64,
    },
    /// The counters could not be read or written.
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Refusal {
    /// The `{code, message, detail}` error (`rate_limited`, `detail = until=<unix>`).
    pub fn error(&self) -> ServerError {
        match self {
            Self::Limited { until, .. } => ServerError::new(
                ErrorCode::RateLimited,
                format!("Too many attempts. Please try again after {}.", crate::error::format_time(*until)),
            )
            .with_detail(format!("until={until}")),
            Self::Store(e) => ServerError::unavailable(
                ErrorCode::ServiceUnavailable,
                "The service is temporarily unavailable. Please try again.",
                e,
            ),
        }
    }

    pub fn retry_after_header(&self) -> Option<(header::HeaderName, HeaderValue)> {
        match self {
            Self::Limited { retry_after, .. } => Some((header::RETRY_AFTER, HeaderValue::from(*retry_after))),
            Self::Store(_) => None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Self::Limited { retry_after, .. } = &self else { return self.error().into_response() };
        let err = self.error();
        err.log();
        let mut body = serde_json::to_value(err.body()).unwrap_or_default();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("retry_after".into(), (*retry_after).into());
        }
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        if let Some((name, value)) = self.retry_after_header() {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<Refusal> for ServerError {
    /// For handlers that answer with a [`ServerError`] (no `retry_after` then; the detail
    /// still carries the end of the window).
    fn from(r: Refusal) -> Self {
        r.error()
    }
}

/// The counters of a password sign-in: the client IP and the e-mail address typed.
pub fn signin_keys(client: &ClientAddr, email: &str) -> [(Scope, String); 2] {
    [(Scope::SigninIp, ip_key(client)), (Scope::SigninAccount, email.trim().to_lowercase())]
}

/// The key of per-IP counters: the address, except that an IPv6 address counts by its /64
/// prefix (one customer line gets a whole /64; keying single addresses would give an attacker
/// 2^64 fresh counters). IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn ip_key(client: &ClientAddr) -> String {
    match client.0.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
        _ => client.0.clone(),
    }
}

/// The counters of a sign-up: the client IP (or IPv6 /64).
pub fn signup_keys(client: &ClientAddr) -> [(Scope, String); 1] {
    [(Scope::SignupIp, ip_key(client))]
}

/// The counters of an SMS code entry: the account and the client IP.
pub fn sms_code_keys(client: &ClientAddr, account_id: &str) -> [(Scope, String); 2] {
    [(Scope::SmsCodeAccount, account_id.to_owned()), (Scope::SmsCodeIp, ip_key(client))]
}

/// The counters of a new face session: client IP, account and (identity form only) the ID
/// number as typed, normalised (trimmed, upper-case `X`) so spelling variants share a count.
pub fn session_keys(client: &ClientAddr, account_id: &str, id_number: Option<&str>) -> Vec<(Scope, String)> {
    let mut keys = vec![(Scope::SessionIp, ip_key(client)), (Scope::SessionAccount, account_id.to_owned())];
    if let Some(id) = id_number {
        let id: String = id.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        // Per (account, ID number): counted across accounts, strangers could use up the
        // holder's own allowance with throwaway accounts.
        keys.push((Scope::SessionIdNumber, format!("{account_id}\u{0}{id}")));
    }
    keys
}

/// A companion API operation limited per device and per IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `POST /companion/claim`.
    Claim,
    /// `POST /companion/sessions/{id}/capture`.
    Capture,
}

/// The counters of a companion API operation: client IP and device.
pub fn device_keys(op: Operation, client: &ClientAddr, device_id: &str) -> [(Scope, String); 2] {
    match op {
        Operation::Claim => [(Scope::ClaimIp, ip_key(client)), (Scope::ClaimDevice, device_id.to_owned())],
        Operation::Capture => [(Scope::CaptureIp, ip_key(client)), (Scope::CaptureDevice, device_id.to_owned())],
    }
}

/// The rate limits, counted in the store (cheap to clone; put together in `lib.rs`).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    store: Arc<dyn Store>,
    keys: DataKeys,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    limits: RateLimitConfig,
    /// The SMS limits (per phone, per account, per IP and hour), from the mobile path's section.
    sms_per_hour: [u32; 3],
}

impl RateLimiter {
    /// A limiter with `limits` and the mobile path's hourly SMS limits (per phone, per
    /// account, per IP).
    pub fn new(
        store: Arc<dyn Store>,
        keys: DataKeys,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        limits: RateLimitConfig,
        sms_per_hour: [u32; 3],
    ) -> Self {
        Self { store, keys, clock, metrics, limits, sms_per_hour }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn limit(&self, scope: Scope) -> Limit {
        scope.limit(&self.limits, self.sms_per_hour)
    }

    fn rate_key(&self, scope: Scope, value: &str) -> Vec<u8> {
        // Domain-separated from the ID number's own unique hash, which uses the same key.
        self.keys.id_hash(&format!("ratelimit\u{0}{}\u{0}{value}", scope.name()))
    }

    fn window(&self, limit: Limit) -> (i64, i64) {
        let now = self.now();
        let start = now - now.rem_euclid(limit.window_secs.max(1));
        (start, start + limit.window_secs.max(1))
    }

    fn refused(&self, scope: Scope, end: i64) -> Refusal {
        self.metrics.rate_limited(scope.name());
        tracing::info!(limit = scope.name(), until = end, "rate limited");
        Refusal::Limited { scope, until: end, retry_after: (end - self.now()).max(1) }
    }

    /// Refuses if any of the counters is already at its limit; counts nothing (for limits on
    /// failures, checked before the attempt and counted with [`RateLimiter::rate_hit`] after).
    pub async fn rate_check(&self, keys: &[(Scope, String)]) -> Result<(), Refusal> {
        for (scope, value) in keys {
            let limit = self.limit(*scope);
            if limit.max == 0 {
                continue;
            }
            let (start, end) = self.window(limit);
            if self.store.rate_limit_hits(&self.rate_key(*scope, value), start).await? >= i64::from(limit.max) {
                return Err(self.refused(*scope, end));
            }
        }
        Ok(())
    }

    /// Counts one attempt on every counter *before* the attempt runs, in one statement per
    /// counter, and refuses (giving the hits back) if any went over its limit: of many
    /// concurrent attempts at most `max` get through. A successful attempt that should not
    /// count (a correct password) is given back with [`Attempt::succeeded`].
    pub async fn rate_attempt(&self, keys: &[(Scope, String)]) -> Result<Attempt, Refusal> {
        let mut counted = Vec::with_capacity(keys.len());
        let mut refusal = None;
        let mut most = 0;
        for (scope, value) in keys {
            let limit = self.limit(*scope);
            if limit.max == 0 {
                continue;
            }
            let (start, end) = self.window(limit);
            let key = self.rate_key(*scope, value);
            let hits = match self.store.rate_limit_hit(&key, start, end).await {
                Ok(h) => h,
                Err(e) => {
                    refusal = Some(Refusal::Store(e));
                    break;
                }
            };
            counted.push((key, start));
            most = most.max(hits);
            if hits > i64::from(limit.max) && refusal.is_none() {
                refusal = Some(self.refused(*scope, end));
            }
        }
        let attempt = Attempt { store: Arc::clone(&self.store), counted, hits: most };
        match refusal {
            Some(r) => {
                // Refused attempts do not run, so they do not count: the counters stay at
                // their limit instead of growing with every refused request.
                attempt.give_back().await;
                Err(r)
            }
            None => Ok(attempt),
        }
    }

    /// The current window's count of one counter (admin checks and tests).
    pub async fn rate_count(&self, scope: Scope, value: &str) -> Result<i64, StoreError> {
        let (start, _) = self.window(self.limit(scope));
        self.store.rate_limit_hits(&self.rate_key(scope, value), start).await
    }

    /// Counts one hit on every counter and refuses if any went over its limit.
    pub async fn rate_hit(&self, keys: &[(Scope, String)]) -> Result<(), Refusal> {
        let mut refusal = None;
        for (scope, value) in keys {
            let limit = self.limit(*scope);
            if limit.max == 0 {
                continue;
            }
            let (start, end) = self.window(limit);
            let hits = self.store.rate_limit_hit(&self.rate_key(*scope, value), start, end).await?;
            if hits > i64::from(limit.max) && refusal.is_none() {
                refusal = Some(self.refused(*scope, end));
            }
        }
        refusal.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_environment_and_bad_values_are_refused() {
        let mut c = RateLimitConfig::default();
        let env = |k: &str| (k == "REALNAME_RATE_LIMIT_CLAIMS_PER_DEVICE").then(|| " 3 / 60 ".to_owned());
        assert_eq!(ip_key(&ClientAddr("2001:db8:1:2:3:4:5:6".into())), "2001:db8:1:2::/64");
        assert_eq!(ip_key(&ClientAddr("2001:db8:1:2:ffff::1".into())), "2001:db8:1:2::/64");
        assert_eq!(ip_key(&ClientAddr("::ffff:192.0.2.7".into())), "192.0.2.7");
        assert_eq!(ip_key(&ClientAddr("192.0.2.7".into())), "192.0.2.7");
        c.apply_env(&env).expect("env");
        assert_eq!(c.claims_per_device, Limit::new(3, 60));
        let bad = |k: &str| (k == "REALNAME_RATE_LIMIT_SIGNIN_FAILURES_PER_IP").then(|| "ten".to_owned());
        assert!(c.apply_env(&bad).is_err());
        c.sessions_per_ip.window_secs = 0;
        assert!(c.validate().is_err());
    }
}

/// An attempt counted by [`RateLimiter::rate_attempt`].
#[derive(Debug)]
pub struct Attempt {
    store: Arc<dyn Store>,
    counted: Vec<(Vec<u8>, i64)>,
    hits: i64,
}

impl Attempt {
    /// The highest count among the counters, this attempt included (for the back-off).
    pub fn hits(&self) -> i64 {
        self.hits
    }

    /// The attempt succeeded and does not count against the limits (a correct password).
    pub async fn succeeded(self) {
        self.give_back().await;
    }

    async fn give_back(&self) {
        for (key, start) in &self.counted {
            if let Err(e) = crate::store::hardening::HardeningStore::rate_limit_refund(&*self.store, key, *start).await
            {
                // Worst case the attempt stays counted: stricter, never looser.
                tracing::warn!(error = %e, "could not give a rate-limit hit back");
            }
        }
    }

    /// How long to hold a failed attempt's answer: nothing for the first three failures in
    /// the window, then 100 ms doubling per failure up to 1.6 s. This slows a single guesser
    /// down; concurrent guessers are stopped by the count itself.
    pub fn backoff(&self) -> std::time::Duration {
        let extra = u32::try_from(self.hits.saturating_sub(3)).unwrap_or(u32::MAX).min(5);
        if extra == 0 { std::time::Duration::ZERO } else { std::time::Duration::from_millis(100 << (extra - 1)) }
    }
}
