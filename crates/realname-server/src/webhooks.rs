//! Signed webhooks for integrators: `verification.completed` / `verification.failed` events
//! from a persisted outbox, delivered by a worker with retries, and the signature scheme.
//!
//! * The store writes one outbox row per configured endpoint in the same transaction that
//!   records a verification's final state ([`Planner`] builds the rows; see
//!   `store::webhooks`), so an event exists exactly when the outcome does.
//! * [`run_worker`] (spawned at server start) claims due rows with a lease, POSTs the body
//!   and records every attempt in the delivery log. 2xx is delivered; anything else is
//!   retried with exponential backoff and jitter until `max_attempts`, then the row is `dead`
//!   (`webhooks resend` queues it again with the same event id). A row leased by a worker
//!   that died becomes claimable when its lease ends, so nothing is lost across restarts.
//! * Signature (like Stripe's): `Realname-Signature: t=<unix seconds>,v1=<hex>` where the hex
//!   is HMAC-SHA256 with the endpoint's secret over `"<t>.<raw body>"`; receivers check it
//!   with [`verify_signature`] and reject old timestamps. `Realname-Event-Id` is the same on
//!   every attempt and every resend: receivers deduplicate on it. See `docs/webhooks.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::Mac as _;
use serde::{Deserialize, Serialize};

use crate::crypto::DataKeys;
use crate::settings::{ConfigError, Secret, env_var};
use crate::store::Store;
use crate::store::webhooks::{AttemptOutcome, FinalOutcome, NewWebhookRow, WebhookAttempt, WebhookPlanner, WebhookRow};

/// Event type of a passed verification.
pub const EVENT_COMPLETED: &str = "verification.completed";
/// Event type of a failed, expired or cancelled verification.
pub const EVENT_FAILED: &str = "verification.failed";
/// Header carrying the event id.
pub const HEADER_EVENT_ID: &str = "Realname-Event-Id";
/// Header carrying the signing time (Unix seconds).
pub const HEADER_TIMESTAMP: &str = "Realname-Timestamp";
/// Header carrying the signature.
pub const HEADER_SIGNATURE: &str = "Realname-Signature";
/// Largest response body read from a receiver (the rest is ignored).
const MAX_RESPONSE_BYTES: usize = 4096;

/// One receiving endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// Stable name (`[a-z0-9_-]`, at most 64): outbox rows refer to it, so the URL and the
    /// secret can change without losing pending events.
    pub name: String,
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// Signing secret shared with the receiver (at least 16 characters).
    pub secret: Secret,
}

/// `[webhooks]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Receiving endpoints (`[[webhooks.endpoints]]`); none: no events are written.
    pub endpoints: Vec<WebhookEndpoint>,
    /// Attempts per event and endpoint before it is `dead`.
    pub max_attempts: u32,
    /// Delay before the second attempt, ms; doubled for each further attempt.
    pub backoff_base_ms: u64,
    /// Longest delay between attempts, ms.
    pub backoff_cap_ms: u64,
    /// Per-request timeout, ms.
    pub timeout_ms: u64,
    /// How often an idle worker looks for due rows, ms.
    pub poll_interval_ms: u64,
    /// Whether this instance runs a delivery worker (any number of instances may).
    pub worker: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            max_attempts: 12,
            backoff_base_ms: 10_000,
            backoff_cap_ms: 3_600_000,
            timeout_ms: 10_000,
            poll_interval_ms: 1_000,
            worker: true,
        }
    }
}

/// The retry and worker environment variables (the endpoint's are read by
/// [`WebhooksConfig::apply_env`] together).
const ENV: &[crate::settings::EnvVar<WebhooksConfig>] = &[
    env_var!("REALNAME_WEBHOOK_MAX_ATTEMPTS", |c, v| {
        c.max_attempts = u32::try_from(v.parse::<u64>()?).unwrap_or(u32::MAX)
    }),
    env_var!("REALNAME_WEBHOOK_BACKOFF_BASE_MS", |c, v| c.backoff_base_ms = v.parse()?),
    env_var!("REALNAME_WEBHOOK_BACKOFF_CAP_MS", |c, v| c.backoff_cap_ms = v.parse()?),
    env_var!("REALNAME_WEBHOOK_TIMEOUT_MS", |c, v| c.timeout_ms = v.parse()?),
    env_var!("REALNAME_WEBHOOK_POLL_INTERVAL_MS", |c, v| c.poll_interval_ms = v.parse()?),
    env_var!("REALNAME_WEBHOOK_WORKER", |c, v| {
        // Unlike the other switches, an empty value is refused here.
        c.worker = match v.text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            other => return Err(v.invalid(format!("expected a boolean, got {other:?}"))),
        }
    }),
];

impl WebhooksConfig {
    /// Overlays `REALNAME_WEBHOOK_*`: `_URL` and `_SECRET` add (or replace) the endpoint named
    /// `REALNAME_WEBHOOK_NAME` (default `default`); `_MAX_ATTEMPTS`, `_BACKOFF_BASE_MS`,
    /// `_BACKOFF_CAP_MS`, `_TIMEOUT_MS`, `_POLL_INTERVAL_MS`, `_WORKER` set the rest.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let url = get("REALNAME_WEBHOOK_URL");
        let secret = get("REALNAME_WEBHOOK_SECRET");
        if url.is_some() || secret.is_some() {
            let name = get("REALNAME_WEBHOOK_NAME").unwrap_or_else(|| "default".into());
            let existing = self.endpoints.iter().position(|e| e.name == name);
            let mut endpoint = match existing {
                Some(i) => self.endpoints.remove(i),
                None => WebhookEndpoint { name, url: String::new(), secret: Secret::default() },
            };
            if let Some(url) = url {
                endpoint.url = url;
            }
            if let Some(secret) = secret {
                endpoint.secret = Secret::new(secret);
            }
            self.endpoints.push(endpoint);
        }
        crate::settings::apply_env(self, ENV, get)
    }

    /// Checks the endpoints and the retry settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let mut names = std::collections::HashSet::new();
        for e in &self.endpoints {
            let name_ok = !e.name.is_empty()
                && e.name.len() <= 64
                && e.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
            if !name_ok {
                return bad(format!("webhooks.endpoints: name {:?} must be 1-64 of [a-z0-9_-]", e.name));
            }
            if !names.insert(e.name.as_str()) {
                return bad(format!("webhooks.endpoints: name {:?} is used twice", e.name));
            }
            match url::Url::parse(&e.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => return bad(format!("webhooks.endpoints.{}: url must be an http(s) URL", e.name)),
            }
            if e.secret.expose().chars().count() < 16 {
                return bad(format!("webhooks.endpoints.{}: secret must have at least 16 characters", e.name));
            }
        }
        if !(1..=100).contains(&self.max_attempts) {
            return bad("webhooks.max_attempts must be within 1..=100".into());
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            return bad("webhooks.backoff_base_ms must be >= 1 and <= webhooks.backoff_cap_ms".into());
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return bad("webhooks.timeout_ms must be within 100..=120000".into());
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return bad("webhooks.poll_interval_ms must be within 10..=60000".into());
        }
        Ok(())
    }
}

/// Turns final states into outbox rows: masks the name and ID number (decrypted only here,
/// in memory), draws the event id and renders the body once, so every attempt and every
/// resend sends the same bytes.
#[derive(Debug)]
pub struct Planner {
    endpoints: Vec<String>,
    keys: DataKeys,
}

impl Planner {
    /// A planner for the configured endpoints.
    pub fn new(config: &WebhooksConfig, keys: DataKeys) -> Self {
        Self { endpoints: config.endpoints.iter().map(|e| e.name.clone()).collect(), keys }
    }
}

/// A new event id: `evt_` and 32 random hex digits.
pub fn new_event_id() -> String {
    format!("evt_{}", hex::encode(crate::crypto::random_bytes::<16>()))
}

/// The JSON body of an event (masked name and ID number only).
/// `demo`: the ID number is a demo identity's (`crate::flows::face::demo`), verified in demo mode.
pub fn event_body(
    event_id: &str,
    o: &FinalOutcome<'_>,
    name_masked: &str,
    id_masked: &str,
    demo: bool,
) -> (String, &'static str) {
    let event_type = if o.outcome == "passed" { EVENT_COMPLETED } else { EVENT_FAILED };
    let body = serde_json::json!({
        "id": event_id,
        "type": event_type,
        "created_at": o.at,
        "data": {
            "verification_id": o.verification_id,
            "account_id": o.account_id,
            "method": o.method,
            "outcome": o.outcome,
            "reason": o.reason,
            "name_masked": name_masked,
            "id_number_masked": id_masked,
            "demo": demo,
        }
    });
    (body.to_string(), event_type)
}

impl WebhookPlanner for Planner {
    fn plan(&self, o: &FinalOutcome<'_>) -> Vec<NewWebhookRow> {
        if self.endpoints.is_empty() {
            return Vec::new();
        }
        let name = self
            .keys
            .decrypt_string(o.name_enc)
            .map(|n| realname_protocol::mask::mask_name(&n))
            .unwrap_or_else(|_| "?".into());
        let plain_id = self.keys.decrypt_string(o.id_enc).ok();
        let id = plain_id.as_deref().map_or_else(|| "?".into(), realname_protocol::mask::mask_id_number);
        let demo = plain_id.as_deref().is_some_and(crate::store::demo::is_demo_id);
        let event_id = new_event_id();
        let (body, event_type) = event_body(&event_id, o, &name, &id, demo);
        self.endpoints
            .iter()
            .map(|endpoint| NewWebhookRow {
                event_id: event_id.clone(),
                endpoint: endpoint.clone(),
                event_type: event_type.into(),
                verification_id: o.verification_id.into(),
                body: body.clone(),
                created_at: o.at,
                next_attempt_ms: 0,
            })
            .collect()
    }
}

/// The `v1` signature: hex HMAC-SHA256(secret, `"<timestamp>.<body>"`).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = crate::crypto::hmac_sha256(secret.as_bytes());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Realname-Signature` header value for `body` signed at `timestamp`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Why a webhook signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix>,v1=<hex>[,v1=…]`.
    #[error("malformed Realname-Signature header")]
    Malformed,
    /// The timestamp is further from now than the tolerance (a replay or a wrong clock).
    #[error("signature timestamp outside the tolerance")]
    Expired,
    /// No `v1` value matches the body and the secret.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a `Realname-Signature` header against the raw request body: the timestamp must be
/// within `tolerance_secs` of `now` (Unix seconds) and one `v1` value must equal
/// HMAC-SHA256(secret, `"<t>.<body>"`) (compared in constant time).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    if header.len() > 1024 {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(t) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Expired);
    }
    for c in candidates {
        let mut mac = crate::crypto::hmac_sha256(secret.as_bytes());
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&c).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Delay before attempt `attempts + 1` after `attempts` failed ones: `base * 2^(attempts-1)`
/// capped at `cap`, then "equal jitter" (a uniform draw from the upper half).
pub fn backoff_ms(attempts: u32, base_ms: u64, cap_ms: u64, rng: &mut impl rand::Rng) -> u64 {
    let exp = attempts.saturating_sub(1).min(40);
    let full = base_ms.saturating_mul(1u64 << exp).min(cap_ms).max(1);
    let half = full / 2;
    half + rng.gen_range(0..=full - half)
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A delivery worker: claims due rows, POSTs them, records the attempts.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    config: WebhooksConfig,
    endpoints: HashMap<String, WebhookEndpoint>,
    client: reqwest::Client,
    id: String,
}

impl Worker {
    /// A worker over `store` with the `[webhooks]` settings.
    pub fn new(store: Arc<dyn Store>, config: WebhooksConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Realname-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let endpoints = config.endpoints.iter().map(|e| (e.name.clone(), e.clone())).collect();
        Ok(Self { store, config, endpoints, client, id: format!("wh-{}", crate::crypto::random_id()) })
    }

    /// This worker's id (recorded in the delivery log).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.timeout_ms).unwrap_or(120_000) + 30_000
    }

    /// Claims and delivers one batch of due rows; the number of rows attempted.
    pub async fn run_once(&self) -> Result<usize, crate::store::StoreError> {
        let rows = self.store.claim_webhooks(&self.id, now_ms(), self.lease_ms(), 16).await?;
        let n = rows.len();
        let results = futures::future::join_all(rows.into_iter().map(|row| self.deliver(row))).await;
        for r in results {
            r?;
        }
        Ok(n)
    }

    async fn deliver(&self, row: WebhookRow) -> Result<(), crate::store::StoreError> {
        let attempt = row.attempts + 1;
        let started_ms = now_ms();
        let started = Instant::now();
        let (status_code, error) = match self.endpoints.get(&row.endpoint) {
            None => (None, Some("unknown_endpoint")),
            Some(endpoint) => {
                let t = started_ms / 1000;
                let sent = self
                    .client
                    .post(&endpoint.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(HEADER_EVENT_ID, &row.event_id)
                    .header(HEADER_TIMESTAMP, t.to_string())
                    .header(HEADER_SIGNATURE, signature_header(endpoint.secret.expose(), t, row.body.as_bytes()))
                    .body(row.body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(mut resp) => {
                        let status = resp.status();
                        // Read (a bounded part of) the answer so the connection can be reused.
                        let mut read = 0;
                        while read < MAX_RESPONSE_BYTES {
                            match resp.chunk().await {
                                Ok(Some(c)) => read += c.len(),
                                _ => break,
                            }
                        }
                        let code = Some(i64::from(status.as_u16()));
                        if status.is_success() { (code, None) } else { (code, Some("http_status")) }
                    }
                    Err(e) if e.is_timeout() => (None, Some("timeout")),
                    Err(e) if e.is_connect() => (None, Some("connect")),
                    Err(_) => (None, Some("request")),
                }
            }
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let outcome = if error.is_none() {
            AttemptOutcome::Delivered
        } else if attempt >= i64::from(self.config.max_attempts) {
            AttemptOutcome::Dead
        } else {
            let delay = backoff_ms(
                u32::try_from(attempt).unwrap_or(u32::MAX),
                self.config.backoff_base_ms,
                self.config.backoff_cap_ms,
                &mut rand::thread_rng(),
            );
            AttemptOutcome::Retry(now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)))
        };
        let record = WebhookAttempt {
            event_id: row.event_id.clone(),
            endpoint: row.endpoint.clone(),
            attempt,
            at_ms: started_ms,
            status_code,
            error: error.map(str::to_owned),
            duration_ms,
            worker: self.id.clone(),
        };
        let kept = self.store.finish_webhook_attempt(&self.id, &record, &outcome).await?;
        match (&outcome, kept) {
            (_, false) => {
                tracing::warn!(event = %row.event_id, endpoint = %row.endpoint, "webhook lease lost before the attempt was recorded")
            }
            (AttemptOutcome::Delivered, true) => {
                tracing::info!(event = %row.event_id, endpoint = %row.endpoint, attempt, duration_ms, "webhook delivered")
            }
            (AttemptOutcome::Retry(_), true) => {
                tracing::info!(event = %row.event_id, endpoint = %row.endpoint, attempt, ?status_code, error, "webhook attempt failed; will retry")
            }
            (AttemptOutcome::Dead, true) => {
                tracing::warn!(event = %row.event_id, endpoint = %row.endpoint, attempt, ?status_code, error, "webhook dead after its last attempt")
            }
        }
        Ok(())
    }

    /// Runs until `shutdown` turns `true`: a batch, then (if it was empty) a pause.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let idle = Duration::from_millis(self.config.poll_interval_ms);
        tracing::info!(worker = %self.id, endpoints = self.endpoints.len(), "webhook delivery worker started");
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pause = match self.run_once().await {
                Ok(0) => idle,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker cannot reach the database");
                    idle
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// Sets the store's planner and, if `[webhooks]` has endpoints, spawns this instance's
/// delivery worker (unless `worker = false`) and the expiry sweep. Called by `build_state`.
pub fn start(state: &crate::state::AppState) -> Result<(), reqwest::Error> {
    let config = &state.config.webhooks;
    if config.endpoints.is_empty() {
        state.store.set_webhook_planner(None);
        return Ok(());
    }
    state.store.set_webhook_planner(Some(Arc::new(Planner::new(config, state.keys.clone()))));
    if config.worker {
        let worker = Worker::new(Arc::clone(&state.store), config.clone())?;
        tokio::spawn(worker.run(state.shutdown.subscribe()));
    }
    tokio::spawn(expiry_sweep(state.clone()));
    Ok(())
}

/// Sessions expire lazily when read; with webhooks on, this sweep (every 5 poll intervals,
/// 100 ms..30 s) expires overdue sessions nobody reads any more, so their
/// `verification.failed` (`expired`) events are written too.
async fn expiry_sweep(state: crate::state::AppState) {
    let every = Duration::from_millis(state.config.webhooks.poll_interval_ms.saturating_mul(5).clamp(100, 30_000));
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match state.store.overdue_face_sessions(state.now(), 100).await {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = state.face.load_session(&id).await {
                        tracing::debug!(session = %id, code = %e.code, "expiry sweep could not expire a session");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep cannot reach the database"),
        }
    }
}

/// Re-queues an event for immediate delivery (same event id, same body): the number of
/// endpoint rows queued again.
pub async fn resend(store: &dyn Store, event_id: &str) -> Result<u64, crate::store::StoreError> {
    store.requeue_webhook(event_id, now_ms()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    #[test]
    fn signatures_verify_and_tampering_is_refused() {
        let body = br#"{"id":"evt_1","type":"verification.completed"}"#;
        let header = signature_header("whsec_0123456789abcdef", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify_signature("whsec_0123456789abcdef", &header, body, 1_700_000_100, 300), Ok(()));
        let tampered = br#"{"id":"evt_1","type":"verification.completes"}"#;
        assert_eq!(
            verify_signature("whsec_0123456789abcdef", &header, tampered, 1_700_000_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("another-secret-of-16", &header, body, 1_700_000_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("whsec_0123456789abcdef", &header, body, 1_700_000_301, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature("whsec_0123456789abcdef", &header, body, 1_699_999_699, 300),
            Err(SignatureError::Expired)
        );
        // A rotated secret: the receiver accepts any matching v1.
        let rotated = format!("{header},v1={}", sign("new-secret-0123456789", 1_700_000_000, body));
        assert_eq!(verify_signature("new-secret-0123456789", &rotated, body, 1_700_000_000, 300), Ok(()));
        for bad in ["", "t=1700000000", "v1=00", "t=x,v1=00", "t=1700000000,v1=zz", "garbage"] {
            assert_eq!(
                verify_signature("whsec_0123456789abcdef", bad, body, 1_700_000_000, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-style check against an independent computation of the same construction.
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b"key").expect("key");
        mac.update(b"12.{}");
        assert_eq!(sign("key", 12, b"{}"), hex::encode(mac.finalize().into_bytes()));
        assert_ne!(sign("key", 13, b"{}"), sign("key", 12, b"{}"));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let first = backoff_ms(1, 1000, 60_000, &mut rng);
            assert!((500..=1000).contains(&first), "{first}");
            let third = backoff_ms(3, 1000, 60_000, &mut rng);
            assert!((2000..=4000).contains(&third), "{third}");
            let late = backoff_ms(30, 1000, 60_000, &mut rng);
            assert!((30_000..=60_000).contains(&late), "{late}");
        }
        let draws: std::collections::HashSet<u64> = (0..50).map(|_| backoff_ms(4, 1000, 60_000, &mut rng)).collect();
        assert!(draws.len() > 10, "jitter spreads the retries: {draws:?}");
    }

    #[test]
    fn configuration_from_the_environment_is_checked_and_secrets_stay_hidden() {
        let mut c = WebhooksConfig::default();
        let env: HashMap<&str, &str> = [
            ("REALNAME_WEBHOOK_URL", "https://crm.example.com/hooks/realname"),
            ("REALNAME_WEBHOOK_SECRET", "whsec_abcdefghijklmnop"),
            ("REALNAME_WEBHOOK_MAX_ATTEMPTS", "5"),
            ("REALNAME_WEBHOOK_BACKOFF_BASE_MS", "200"),
        ]
        .into_iter()
        .collect();
        c.apply_env(&|k| env.get(k).map(|v| v.to_string())).expect("env");
        c.validate().expect("valid");
        assert_eq!(c.endpoints.len(), 1);
        assert_eq!(c.endpoints[0].name, "default");
        assert_eq!((c.max_attempts, c.backoff_base_ms), (5, 200));
        assert!(!format!("{c:?}").contains("whsec_abcdefghijklmnop"));
        c.endpoints[0].secret = Secret::new("short");
        assert!(c.validate().is_err());
        c.endpoints[0].secret = Secret::new("whsec_abcdefghijklmnop");
        c.endpoints[0].url = "ftp://x".into();
        assert!(c.validate().is_err());
        c.endpoints[0].url = "http://127.0.0.1:9/x".into();
        c.endpoints.push(c.endpoints[0].clone());
        assert!(c.validate().is_err(), "duplicate names");
        c.endpoints.pop();
        c.backoff_cap_ms = 10;
        assert!(c.validate().is_err());
        assert!(c.apply_env(&|k| (k == "REALNAME_WEBHOOK_TIMEOUT_MS").then(|| "soon".to_string())).is_err());
        assert!(c.apply_env(&|k| (k == "REALNAME_WEBHOOK_WORKER").then(|| "maybe".to_string())).is_err());
        c.apply_env(&|k| (k == "REALNAME_WEBHOOK_WORKER").then(|| "off".to_string())).expect("env");
        assert!(!c.worker);
    }

    #[test]
    fn the_event_body_shape() {
        let outcome = FinalOutcome {
            verification_id: "3q7kz2m9xw4r",
            account_id: "a8d1f0c2",
            method: "face",
            outcome: "passed",
            reason: None,
            name_enc: &[],
            id_enc: &[],
            at: 1_764_121_200,
        };
        let (body, event_type) =
            event_body("evt_00112233445566778899aabbccddeeff", &outcome, "*三", "1****************X", false);
        assert_eq!(event_type, EVENT_COMPLETED);
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&body).expect("json"))
            .expect("json");
        insta::assert_snapshot!("event_body_completed", pretty);
    }

    #[test]
    fn bodies_carry_masked_identities_only() {
        let keys = DataKeys::from_master(&[7u8; 32]);
        let planner = Planner::new(
            &WebhooksConfig {
                endpoints: vec![
                    WebhookEndpoint {
                        name: "a".into(),
                        url: "http://a.example".into(),
                        secret: Secret::new("0123456789abcdef"),
                    },
                    WebhookEndpoint {
                        name: "b".into(),
                        url: "http://b.example".into(),
                        secret: Secret::new("0123456789abcdef"),
                    },
                ],
                ..WebhooksConfig::default()
            },
            keys.clone(),
        );
        let (name_enc, id_enc) = (keys.encrypt("张三丰".as_bytes()), keys.encrypt(b"110105199003071234"));
        let outcome = FinalOutcome {
            verification_id: "s1",
            account_id: "a1",
            method: "face",
            outcome: "failed",
            reason: Some("face_mismatch".into()),
            name_enc: &name_enc,
            id_enc: &id_enc,
            at: 1_700_000_000,
        };
        let rows = planner.plan(&outcome);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].event_id, rows[1].event_id, "one event, one id, for every endpoint");
        assert_eq!(rows[0].body, rows[1].body);
        assert!(!rows[0].body.contains("张三丰") && !rows[0].body.contains("110105199003071234"), "{}", rows[0].body);
        let v: serde_json::Value = serde_json::from_str(&rows[0].body).expect("json");
        assert_eq!(v["type"], EVENT_FAILED);
        assert_eq!(v["data"]["reason"], "face_mismatch");
        assert_eq!(v["data"]["name_masked"], "**丰");
        assert_eq!(v["data"]["id_number_masked"], "1****************4");
        assert_eq!(v["data"]["demo"], false);
        assert_ne!(planner.plan(&outcome)[0].event_id, rows[0].event_id, "each final state gets a fresh id");
    }
}
