//! Partner sync (the seed's "JD Mall / JD Finance" popup): a [`PartnerDirectory`] says whether
//! a sister service sharing the account already verified it; *Authorize Now* records a consent,
//! imports name + ID number and applies every rule of the face path (one ID number, one
//! account; the identity authority's name ↔ ID check) before the account counts as verified.
//!
//! [`LocalPartnerDirectory`] answers from the backend's database (filled by
//! [`import_partner_records`], the `partners import` admin command); [`HttpPartnerDirectory`]
//! asks a partner service with HMAC-signed requests.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use realname_protocol::{ErrorCode, PersonName, ResidentId};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::authority::{ImportReport, csv_records, parse_person};
use crate::crypto::{self, DataKeys};
use crate::error::{ServerError, ServerResult};
use crate::state::AppState;
use crate::store::paths::{PartnerConsent, PartnerRecord};
use crate::store::{Account, Store, StoreError, VerifiedIdentity};

/// Prefix of the `method` of a verification synchronized from a partner (`partner:<name>`).
pub const METHOD_PARTNER_PREFIX: &str = "partner:";
/// What a partner sync shares (recorded in the consent).
pub const SHARED_FIELDS: &str = "name,id_number";

/// A completed verification held by a partner.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerVerification {
    /// Partner display name.
    pub partner: String,
    /// The verified name.
    pub name: String,
    /// The verified ID number.
    pub id_number: String,
    /// When the partner verified it, Unix seconds.
    pub verified_at: i64,
}

impl std::fmt::Debug for PartnerVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerVerification").field("partner", &self.partner).finish_non_exhaustive()
    }
}

/// Partner directory failures.
#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    /// The partner cannot be reached or answered garbage.
    #[error("partner directory unavailable: {0}")]
    Unavailable(String),
    /// Local storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data cannot be decrypted.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// "Which sister services verified this shared account?"
#[async_trait]
pub trait PartnerDirectory: Send + Sync + std::fmt::Debug {
    /// The completed verifications partners hold for the account with this (lower-cased) e-mail.
    async fn verifications(&self, account_email: &str) -> Result<Vec<PartnerVerification>, PartnerError>;
}

/// The partner records in the backend's own database.
#[derive(Debug, Clone)]
pub struct LocalPartnerDirectory {
    store: Arc<dyn Store>,
    keys: DataKeys,
}

impl LocalPartnerDirectory {
    /// A directory over `store`.
    pub fn new(store: Arc<dyn Store>, keys: DataKeys) -> Self {
        Self { store, keys }
    }
}

#[async_trait]
impl PartnerDirectory for LocalPartnerDirectory {
    async fn verifications(&self, account_email: &str) -> Result<Vec<PartnerVerification>, PartnerError> {
        let mut out = Vec::new();
        for r in self.store.partner_records_of(account_email).await? {
            out.push(PartnerVerification {
                partner: r.partner,
                name: self.keys.decrypt_string(&r.name_enc)?,
                id_number: self.keys.decrypt_string(&r.id_enc)?,
                verified_at: r.verified_at,
            });
        }
        Ok(out)
    }
}

/// Header with the request time (Unix seconds) of a signed partner request.
pub const TIMESTAMP_HEADER: &str = "x-realname-timestamp";
/// Header with the hex HMAC-SHA256 of a signed partner request.
pub const SIGNATURE_HEADER: &str = "x-realname-signature";
/// The lookup path under the partner's base URL.
pub const LOOKUP_PATH: &str = "/v1/verifications/lookup";

/// The signature of a partner request: hex HMAC-SHA256 with the shared secret over
/// `"{timestamp}\n{METHOD}\n{path}\n{body}"`.
pub fn sign_request(secret: &str, timestamp: i64, method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}\n{method}\n{path}\n").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A partner service over HTTP.
///
/// Protocol: `POST {url}/v1/verifications/lookup` with `{"account": "<e-mail>"}`, headers
/// [`TIMESTAMP_HEADER`] and [`SIGNATURE_HEADER`] (see [`sign_request`]) → `{"records": [{"partner",
/// "name", "id_number", "verified_at"}]}` (empty, or 404: none). Timeouts, connection failures
/// and 5xx answers are retried with a short backoff.
#[derive(Debug, Clone)]
pub struct HttpPartnerDirectory {
    client: reqwest::Client,
    base: String,
    secret: crate::config::Secret,
    retries: u32,
}

#[derive(Serialize)]
struct LookupBody<'a> {
    account: &'a str,
}

#[derive(Deserialize)]
struct LookupAnswer {
    #[serde(default)]
    records: Vec<PartnerVerification>,
}

impl HttpPartnerDirectory {
    /// A client for the partner at `base`.
    pub fn new(base: &str, secret: crate::config::Secret, timeout: Duration, retries: u32) -> Result<Self, PartnerError> {
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| PartnerError::Unavailable(e.to_string()))?;
        Ok(Self { client, base: base.trim_end_matches('/').to_owned(), secret, retries })
    }
}

#[async_trait]
impl PartnerDirectory for HttpPartnerDirectory {
    async fn verifications(&self, account_email: &str) -> Result<Vec<PartnerVerification>, PartnerError> {
        let body = serde_json::to_vec(&LookupBody { account: account_email }).map_err(|e| PartnerError::Unavailable(e.to_string()))?;
        let url = format!("{}{LOOKUP_PATH}", self.base);
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            let signature = sign_request(self.secret.expose(), ts, "POST", LOOKUP_PATH, &body);
            let req = self
                .client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, signature)
                .body(body.clone());
            match req.send().await {
                Ok(resp) if resp.status() == reqwest::StatusCode::NOT_FOUND => return Ok(Vec::new()),
                Ok(resp) if resp.status().is_success() => {
                    let answer: LookupAnswer =
                        resp.json().await.map_err(|_| PartnerError::Unavailable("malformed lookup answer".into()))?;
                    return Ok(answer.records);
                }
                Ok(resp) if resp.status().is_server_error() => last = format!("status {}", resp.status()),
                Ok(resp) => return Err(PartnerError::Unavailable(format!("status {}", resp.status()))),
                Err(e) if e.is_timeout() || e.is_connect() => last = "timeout or connection failure".into(),
                Err(e) => return Err(PartnerError::Unavailable(e.without_url().to_string())),
            }
            tracing::warn!(attempt, reason = %last, "partner request failed");
        }
        Err(PartnerError::Unavailable(last))
    }
}

/// Imports `partner,account_email,name,id_number[,verified_at]` rows (header recognised and
/// skipped) into the local partner directory.
pub async fn import_partner_records(
    store: &dyn Store,
    keys: &DataKeys,
    csv_text: &str,
    today: time::Date,
    now: i64,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    for (line_no, fields) in csv_records(csv_text, "partner") {
        let (partner, email, name, id, verified_at) = match fields.as_slice() {
            [p, e, n, i] => (p, e, n, i, None),
            [p, e, n, i, t] => (p, e, n, i, Some(t)),
            _ => {
                report.rejected.push((line_no, "expected 4 or 5 fields: partner,account_email,name,id_number[,verified_at]".into()));
                continue;
            }
        };
        if partner.is_empty() || partner.chars().count() > 64 || !email.contains('@') {
            report.rejected.push((line_no, "partner name or account e-mail invalid".into()));
            continue;
        }
        let (name, id) = match parse_person(name, id, today) {
            Ok(person) => person,
            Err(code) => {
                report.rejected.push((line_no, code.into()));
                continue;
            }
        };
        let verified_at = match verified_at.map(|t| t.parse::<i64>()) {
            None => now,
            Some(Ok(t)) => t,
            Some(Err(_)) => {
                report.rejected.push((line_no, "verified_at must be Unix seconds".into()));
                continue;
            }
        };
        store
            .upsert_partner_record(&PartnerRecord {
                partner: partner.clone(),
                account_key: email.trim().to_lowercase(),
                name_enc: keys.encrypt(name.as_str().as_bytes()),
                id_enc: keys.encrypt(id.as_str().as_bytes()),
                verified_at,
                imported_at: now,
            })
            .await?;
        report.imported += 1;
    }
    Ok(report)
}

impl AppState {
    /// The partner verification to offer on the popup, if a partner holds one. A partner that
    /// cannot be reached is logged and treated as "none": manual verification stays possible.
    pub async fn partner_offer(&self, account: &Account) -> Option<PartnerVerification> {
        match self.partners.verifications(&account.email).await {
            Ok(list) => list.into_iter().next(),
            Err(e) => {
                tracing::warn!(error = %e, "partner directory unavailable; no partner popup");
                None
            }
        }
    }

    /// Records that the person declined the partner sync ("Not Authorized Temporarily").
    pub async fn decline_partner(&self, account: &Account, partner: &str) -> ServerResult<()> {
        let consent = PartnerConsent {
            id: crypto::random_id(),
            account_id: account.id.clone(),
            partner: clip(partner),
            shared: String::new(),
            decision: "declined".into(),
            at: self.now(),
        };
        self.store.insert_partner_consent(&consent).await?;
        tracing::info!(account = %account.id, "partner sync declined");
        Ok(())
    }

    /// *Authorize Now*: records the consent, imports the partner's name and ID number and
    /// verifies the account under the same rules as the face path.
    pub async fn authorize_partner(&self, account: &Account, partner: &str) -> ServerResult<VerifiedIdentity> {
        let list = self.partners.verifications(&account.email).await.map_err(|e| {
            ServerError::unavailable(ErrorCode::PartnerUnavailable, "The partner service cannot be reached. Please try again later.", e)
        })?;
        let Some(found) = list.into_iter().find(|v| v.partner == partner) else {
            return Err(ServerError::new(
                ErrorCode::PartnerNotVerified,
                "This partner holds no completed real-name verification for your account.",
            ));
        };
        self.ensure_account_unverified(&account.id).await?;
        let now = self.now();
        self.store
            .insert_partner_consent(&PartnerConsent {
                id: crypto::random_id(),
                account_id: account.id.clone(),
                partner: found.partner.clone(),
                shared: SHARED_FIELDS.into(),
                decision: "authorized".into(),
                at: now,
            })
            .await?;
        // The partner's data is checked like typed data: it must be a valid ID number…
        let name = PersonName::parse(&found.name)
            .map_err(|e| ServerError::new(ErrorCode::NameInvalid, format!("The partner's name is not valid: {e}")).with_detail(e.code()))?;
        let id = ResidentId::parse(&found.id_number, self.today()).map_err(|e| {
            ServerError::new(ErrorCode::IdNumberInvalid, format!("The partner's ID number is not valid: {e}")).with_detail(e.code())
        })?;
        // …not verifying another account…
        let id_hash = self.id_rules(&account.id, &id).await.map_err(|fe| fe.error)?;
        // …and consistent at the identity authority.
        self.authority_match(&account.id, &id_hash, &name, &id).await.map_err(|fe| fe.error)?;
        let identity = VerifiedIdentity {
            id_hash,
            account_id: account.id.clone(),
            session_id: crypto::random_id(),
            id_enc: self.keys.encrypt(id.as_str().as_bytes()),
            name_enc: self.keys.encrypt(name.as_str().as_bytes()),
            method: format!("{METHOD_PARTNER_PREFIX}{}", found.partner),
            verified_at: now,
        };
        self.store.complete_direct_verification(None, &identity).await?;
        tracing::info!(account = %account.id, "verified by partner sync");
        Ok(identity)
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    use super::*;

    const SECRET: &str = "partner-shared-secret";

    /// A partner stub on port 0: checks the signature, fails the first `fail_first` calls
    /// with 500, answers one record for `a@example.com`.
    async fn stub(fail_first: usize, delay: Duration) -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let app = axum::Router::new().route(
            LOOKUP_PATH,
            post(move |headers: HeaderMap, body: Bytes| {
                let counter = counter.clone();
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    if n < fail_first {
                        return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
                    }
                    let ts: i64 = headers.get(TIMESTAMP_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
                    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                    if sig != sign_request(SECRET, ts, "POST", LOOKUP_PATH, &body) {
                        return (StatusCode::UNAUTHORIZED, String::new());
                    }
                    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let records = if req["account"] == "a@example.com" {
                        serde_json::json!([{ "partner": "JD Mall", "name": "张三", "id_number": "11010519491231002X", "verified_at": 5 }])
                    } else {
                        serde_json::json!([])
                    };
                    (StatusCode::OK, serde_json::json!({ "records": records }).to_string())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), calls)
    }

    fn client(base: &str, secret: &str, timeout_ms: u64, retries: u32) -> HttpPartnerDirectory {
        HttpPartnerDirectory::new(base, crate::config::Secret::new(secret), Duration::from_millis(timeout_ms), retries).expect("client")
    }

    #[tokio::test]
    async fn signed_lookup_finds_the_record_and_retries_server_errors() {
        let (base, calls) = stub(2, Duration::ZERO).await;
        let found = client(&base, SECRET, 2000, 2).verifications("a@example.com").await.expect("lookup");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "two 500s retried");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].partner.as_str(), found[0].name.as_str(), found[0].verified_at), ("JD Mall", "张三", 5));
        let none = client(&base, SECRET, 2000, 0).verifications("b@example.com").await.expect("lookup");
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_and_not_retried() {
        let (base, calls) = stub(0, Duration::ZERO).await;
        let err = client(&base, "another secret", 2000, 3).verifications("a@example.com").await;
        assert!(matches!(err, Err(PartnerError::Unavailable(ref m)) if m.contains("401")), "{err:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a 4xx is final");
    }

    #[tokio::test]
    async fn timeouts_give_up_after_the_retries() {
        let (base, calls) = stub(0, Duration::from_millis(400)).await;
        let err = client(&base, SECRET, 100, 1).verifications("a@example.com").await;
        assert!(matches!(err, Err(PartnerError::Unavailable(_))), "{err:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one try plus one retry");
    }

    #[test]
    fn signatures_cover_time_method_path_and_body() {
        let a = sign_request(SECRET, 1, "POST", LOOKUP_PATH, b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, sign_request(SECRET, 2, "POST", LOOKUP_PATH, b"{}"));
        assert_ne!(a, sign_request(SECRET, 1, "POST", LOOKUP_PATH, b"{ }"));
        assert_ne!(a, sign_request("other", 1, "POST", LOOKUP_PATH, b"{}"));
    }
}
