//! Partner sync (the seed's "JD Mall / JD Finance" popup) as an OAuth 2.0 client: *Authorize
//! Now* sends the browser to the partner's authorization endpoint (authorization code flow
//! with PKCE S256 and a `state` bound to the browser session); the partner signs its own user
//! in and asks for consent; on the callback the server exchanges the single-use code (with the
//! PKCE verifier) at the partner's token endpoint and gets the partner's assertion of which
//! verified person this user is. Nothing is matched on e-mail text, the popup shows no
//! person's data before the partner was authorized, and sync needs a confirmed e-mail
//! (`email.rs`). The imported name and ID number then pass every rule of the face path (one ID
//! number, one account; the identity authority's name ↔ ID check).
//!
//! [`LocalPartnerDirectory`] is the local partner stand-in ([`local`], records filled
//! by [`import_partner_records`], pages under `/partner/{name}/oauth/…`); its code exchange runs
//! in-process through the same checks as its HTTP token endpoint. [`HttpPartnerDirectory`]
//! talks to a real partner over HTTP with HMAC-signed token requests.

pub mod local;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use realname_protocol::{ErrorCode, PersonName, ResidentId};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::clock::Clock;
use crate::crypto::{self, DataKeys};
pub use crate::directories::partner::{PartnerDirectory, PartnerError, PartnerVerification, TokenGrant};
use crate::error::{ServerError, ServerResult};
use crate::flows::core::FlowCore;
use crate::flows::face::authority::{ImportReport, csv_records, parse_person};
use crate::store::methods::{PartnerConsent, PartnerRecord};
use crate::store::trust::PartnerAuthRequest;
use crate::store::{Account, Store, StoreError, VerifiedIdentity, WebSession};

/// Which partner directory answers "is this account verified at a sister service?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    /// The local partner stand-in: records in the backend's database (filled by `partners
    /// import`), with its own sign-in and consent pages under `/partner/{name}/oauth/…`.
    #[default]
    Local,
    /// A partner service speaking OAuth 2.0 (authorization code + PKCE) over HTTP.
    Http,
}

/// Partner sync settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartnersConfig {
    /// `local` or `http`.
    pub kind: PartnerKind,
    /// Display name of the HTTP partner (the popup's "JD Mall"; `partner:<name>` method).
    pub name: String,
    /// The HTTP partner's OAuth authorization endpoint (the browser is sent there).
    pub authorize_url: Option<String>,
    /// The HTTP partner's token endpoint (the server exchanges the code there).
    pub token_url: Option<String>,
    /// Our OAuth client id at the partner.
    pub client_id: String,
    /// Client secret: signs the token request (HMAC-SHA256, see `partner::sign_request`).
    /// The local partner stand-in checks its token requests with it too (default: derived
    /// from the data key).
    pub secret: Option<crate::settings::Secret>,
    /// Lifetime of a pending *Authorize Now* (the `state`), seconds.
    pub request_ttl_secs: i64,
    /// Lifetime of the local partner's authorization codes, seconds.
    pub code_ttl_secs: i64,
    /// Redirect URIs the local partner stand-in accepts besides this server's own
    /// `{public origin}/verify/partner/callback` (e.g. another Realname instance in a test).
    pub redirect_uris: Vec<String>,
    /// Per-request timeout, milliseconds.
    pub timeout_ms: u64,
    /// Retries after a failed token request (timeouts and connection failures only: a code
    /// is single-use, so an answered request is never repeated).
    pub retries: u32,
}

impl Default for PartnersConfig {
    fn default() -> Self {
        Self {
            kind: PartnerKind::Local,
            name: "Partner".into(),
            authorize_url: None,
            token_url: None,
            client_id: "realname".into(),
            secret: None,
            request_ttl_secs: 600,
            code_ttl_secs: 60,
            redirect_uris: Vec::new(),
            timeout_ms: 3000,
            retries: 1,
        }
    }
}

/// Prefix of the `method` of a verification synchronized from a partner (`partner:<name>`).
pub const METHOD_PARTNER_PREFIX: &str = "partner:";
/// What a partner sync shares (recorded in the consent).
pub const SHARED_FIELDS: &str = "name,id_number";
/// Our callback path (the OAuth `redirect_uri` is `{public origin}{CALLBACK_PATH}`).
pub const CALLBACK_PATH: &str = "/verify/partner/callback";
/// The OAuth scope asked for.
pub const SCOPE: &str = "verified_identity";

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The local partner stand-in (records in the backend's database).
#[derive(Debug, Clone)]
pub struct LocalPartnerDirectory {
    store: Arc<dyn Store>,
    keys: DataKeys,
    clock: Arc<dyn Clock>,
}

impl LocalPartnerDirectory {
    /// A directory over `store`.
    pub fn new(store: Arc<dyn Store>, keys: DataKeys, clock: Arc<dyn Clock>) -> Self {
        Self { store, keys, clock }
    }
}

#[async_trait]
impl PartnerDirectory for LocalPartnerDirectory {
    async fn partners(&self) -> Result<Vec<String>, PartnerError> {
        Ok(self.store.partner_names().await?)
    }

    fn authorize_endpoint(&self, partner: &str, origin: &str) -> Option<String> {
        Some(crate::flows::partner::local::endpoint(origin, partner, "authorize"))
    }

    async fn exchange(&self, partner: &str, grant: &TokenGrant) -> Result<PartnerVerification, PartnerError> {
        // In-process: the same function the stand-in's `/token` route runs after checking the
        // client's signature (this caller is the server itself).
        crate::flows::partner::local::exchange_code(&*self.store, &self.keys, self.clock.now(), partner, grant)
            .await?
            .map_err(PartnerError::Refused)
    }
}

/// Header with the request time (Unix seconds) of a signed token request.
pub const TIMESTAMP_HEADER: &str = "x-realname-timestamp";
/// Header with the hex HMAC-SHA256 of a signed token request.
pub const SIGNATURE_HEADER: &str = "x-realname-signature";

/// The signature of a partner request: hex HMAC-SHA256 with the client secret over
/// `"{timestamp}\n{METHOD}\n{path}\n{body}"`.
pub fn sign_request(secret: &str, timestamp: i64, method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = crypto::hmac_sha256(secret.as_bytes());
    mac.update(format!("{timestamp}\n{method}\n{path}\n").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A partner's error answer (`error` per RFC 6749 §5.2, `code` when it is a Realname server).
#[derive(Deserialize)]
struct TokenErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    code: Option<ErrorCode>,
}

/// A partner service over HTTP.
///
/// Protocol: the browser goes to `authorize_url?response_type=code&client_id&redirect_uri&
/// scope=verified_identity&state&code_challenge&code_challenge_method=S256`; the server then
/// `POST`s `token_url` with the form `grant_type=authorization_code&code&redirect_uri&client_id&
/// code_verifier`, headers [`TIMESTAMP_HEADER`] and [`SIGNATURE_HEADER`] (see [`sign_request`],
/// keyed with the client secret) → `{"partner", "name", "id_number", "verified_at"}`; a refusal
/// is a 4xx `{"error": "invalid_grant" | "invalid_client" | …}`. Only connection failures and
/// timeouts are retried: an answered request may have used the single-use code.
#[derive(Debug, Clone)]
pub struct HttpPartnerDirectory {
    client: reqwest::Client,
    name: String,
    authorize_url: String,
    token_url: String,
    secret: crate::settings::Secret,
    retries: u32,
}

impl HttpPartnerDirectory {
    /// A client for the partner named `name` at these endpoints.
    pub fn new(
        name: &str,
        authorize_url: &str,
        token_url: &str,
        secret: crate::settings::Secret,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self, PartnerError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PartnerError::Unavailable(e.to_string()))?;
        url::Url::parse(authorize_url).map_err(|e| PartnerError::Unavailable(format!("authorize_url: {e}")))?;
        url::Url::parse(token_url).map_err(|e| PartnerError::Unavailable(format!("token_url: {e}")))?;
        Ok(Self {
            client,
            name: name.to_owned(),
            authorize_url: authorize_url.to_owned(),
            token_url: token_url.to_owned(),
            secret,
            retries,
        })
    }
}

#[async_trait]
impl PartnerDirectory for HttpPartnerDirectory {
    async fn partners(&self) -> Result<Vec<String>, PartnerError> {
        Ok(vec![self.name.clone()])
    }

    fn authorize_endpoint(&self, partner: &str, _origin: &str) -> Option<String> {
        (partner == self.name).then(|| self.authorize_url.clone())
    }

    async fn exchange(&self, partner: &str, grant: &TokenGrant) -> Result<PartnerVerification, PartnerError> {
        if partner != self.name {
            return Err(PartnerError::Refused(ErrorCode::PartnerNotVerified));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", &grant.grant_type)
            .append_pair("code", &grant.code)
            .append_pair("redirect_uri", &grant.redirect_uri)
            .append_pair("client_id", &grant.client_id)
            .append_pair("code_verifier", &grant.code_verifier)
            .finish();
        let path = url::Url::parse(&self.token_url).map(|u| u.path().to_owned()).unwrap_or_default();
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            let signature = sign_request(self.secret.expose(), ts, "POST", &path, body.as_bytes());
            let req = self
                .client
                .post(&self.token_url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, signature)
                .body(body.clone());
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let mut found: PartnerVerification =
                        resp.json().await.map_err(|_| PartnerError::Unavailable("malformed token answer".into()))?;
                    // The display name is ours: the partner cannot claim to be another one.
                    found.partner = self.name.clone();
                    return Ok(found);
                }
                Ok(resp) if resp.status().is_client_error() => {
                    let answer: Option<TokenErrorAnswer> = resp.json().await.ok();
                    let code = match answer {
                        Some(TokenErrorAnswer { code: Some(code), .. }) if code != ErrorCode::Unknown => code,
                        Some(a) if a.error == "invalid_client" => ErrorCode::PartnerClientInvalid,
                        _ => ErrorCode::PartnerCodeInvalid,
                    };
                    return Err(PartnerError::Refused(code));
                }
                Ok(resp) => return Err(PartnerError::Unavailable(format!("status {}", resp.status()))),
                Err(e) if e.is_timeout() || e.is_connect() => last = "timeout or connection failure".into(),
                Err(e) => return Err(PartnerError::Unavailable(e.without_url().to_string())),
            }
            tracing::warn!(attempt, reason = %last, "partner token request failed");
        }
        Err(PartnerError::Unavailable(last))
    }
}

/// Imports `partner,login,password,name,id_number[,verified_at]` rows (header recognised and
/// skipped) into the local partner stand-in: each row is a partner user who completed
/// verification there and signs in with `login` + `password` on the stand-in's own page.
/// `password` may be an argon2 PHC string (`$argon2id$…`), stored as is; otherwise it is hashed.
pub async fn import_partner_records(
    store: &dyn Store,
    keys: &DataKeys,
    csv_text: &str,
    today: time::Date,
    now: i64,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    for (line_no, fields) in csv_records(csv_text, "partner") {
        let (partner, login, password, name, id, verified_at) = match fields.as_slice() {
            [p, l, pw, n, i] => (p, l, pw, n, i, None),
            [p, l, pw, n, i, t] => (p, l, pw, n, i, Some(t)),
            _ => {
                report.rejected.push((
                    line_no,
                    "expected 5 or 6 fields: partner,login,password,name,id_number[,verified_at]".into(),
                ));
                continue;
            }
        };
        let login = login.trim();
        if partner.is_empty()
            || partner.chars().count() > 64
            || partner.contains('/')
            || login.is_empty()
            || login.chars().count() > 128
        {
            report.rejected.push((line_no, "partner name or login invalid".into()));
            continue;
        }
        if password.chars().count() < 8 {
            report.rejected.push((line_no, "password must have at least 8 characters".into()));
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
        let hash = if password.starts_with("$argon2") {
            password.clone()
        } else {
            let password = password.clone();
            match tokio::task::spawn_blocking(move || crypto::hash_password(&password)).await {
                Ok(Ok(h)) => h,
                _ => {
                    report.rejected.push((line_no, "password cannot be hashed".into()));
                    continue;
                }
            }
        };
        store
            .upsert_partner_record(&PartnerRecord {
                partner: partner.clone(),
                account_key: login.to_owned(),
                name_enc: keys.encrypt(name.as_str().as_bytes()),
                id_enc: keys.encrypt(id.as_str().as_bytes()),
                verified_at,
                imported_at: now,
            })
            .await?;
        store.set_partner_password(partner, login, Some(&hash)).await?;
        report.imported += 1;
    }
    Ok(report)
}

/// The partner-sync path: the popup's offers, *Not Authorized Temporarily*, and the OAuth
/// round trip with a partner that verified the person already (cheap to clone).
#[derive(Debug, Clone)]
pub struct PartnerFlow {
    /// What every flow shares.
    pub core: FlowCore,
    /// The partner directory.
    pub partners: Arc<dyn PartnerDirectory>,
    /// E-mail confirmations (a partner's verification needs a confirmed address).
    pub email: crate::email::Confirmations,
    /// This server's origin (the OAuth redirect URI).
    pub origin: String,
}

impl PartnerFlow {
    /// The partners to offer on the popup. A partner directory that fails is logged and
    /// treated as "none": manual verification stays possible.
    pub async fn partner_offers(&self) -> Vec<String> {
        match self.partners.partners().await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "partner directory unavailable; no partner popup");
                Vec::new()
            }
        }
    }

    /// Our OAuth redirect URI.
    pub fn partner_redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.origin)
    }

    /// Records that the person declined the partner sync ("Not Authorized Temporarily").
    pub async fn decline_partner(&self, account: &Account, partner: &str) -> ServerResult<()> {
        self.record_partner_decision(account, partner, "declined", "").await?;
        tracing::info!(account = %account.id, "partner sync declined");
        Ok(())
    }

    async fn record_partner_decision(
        &self,
        account: &Account,
        partner: &str,
        decision: &str,
        shared: &str,
    ) -> ServerResult<()> {
        let consent = PartnerConsent {
            id: crypto::random_id(),
            account_id: account.id.clone(),
            partner: clip(partner),
            shared: shared.into(),
            decision: decision.into(),
            at: self.core.now(),
        };
        self.core.store.insert_partner_consent(&consent).await?;
        Ok(())
    }

    /// *Authorize Now*: a pending authorization bound to this browser session, and the URL of
    /// the partner's authorization endpoint to send the browser to.
    pub async fn begin_partner_authorization(
        &self,
        account: &Account,
        web: &WebSession,
        partner: &str,
    ) -> ServerResult<String> {
        self.core.ensure_account_unverified(&account.id).await?;
        if !self.email.email_confirmed(account).await? {
            return Err(email_unconfirmed());
        }
        let not_offered = || {
            ServerError::new(
                ErrorCode::PartnerNotVerified,
                "This partner is not available for real-name information sync.",
            )
        };
        if !self.partner_offers().await.iter().any(|p| p == partner) {
            return Err(not_offered());
        }
        let endpoint = self.partners.authorize_endpoint(partner, &self.origin).ok_or_else(not_offered)?;
        let state = crypto::random_token("");
        let verifier = URL_SAFE_NO_PAD.encode(crypto::random_bytes::<32>());
        let now = self.core.now();
        self.core
            .store
            .insert_partner_auth_request(&PartnerAuthRequest {
                state_hash: crypto::token_hash(&state),
                account_id: account.id.clone(),
                web_session_id: web.id.clone(),
                partner: partner.to_owned(),
                code_verifier: verifier.clone(),
                created_at: now,
                expires_at: now + self.core.config.partners.request_ttl_secs,
            })
            .await?;
        let mut url = url::Url::parse(&endpoint).map_err(ServerError::internal)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.core.config.partners.client_id)
            .append_pair("redirect_uri", &self.partner_redirect_uri())
            .append_pair("scope", SCOPE)
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        tracing::info!(account = %account.id, "partner authorization started");
        Ok(url.into())
    }

    /// The partner's redirect back (`code` + `state`, or `error` + `state`): checks the state
    /// against this browser session, exchanges the code, records the consent and verifies the
    /// account under the same rules as the face path.
    pub async fn finish_partner_authorization(
        &self,
        account: &Account,
        web: &WebSession,
        state: &str,
        code: Option<&str>,
        error: Option<&str>,
    ) -> ServerResult<VerifiedIdentity> {
        let state_invalid = || {
            ServerError::new(
                ErrorCode::PartnerStateInvalid,
                "This partner authorization does not belong to this browser session or has expired. Please start again.",
            )
        };
        if state.is_empty() || state.len() > 200 {
            return Err(state_invalid());
        }
        let request = self
            .core
            .store
            .take_partner_auth_request(&crypto::token_hash(state), &web.id)
            .await?
            .ok_or_else(state_invalid)?;
        if request.account_id != account.id || request.expires_at <= self.core.now() {
            return Err(state_invalid());
        }
        if let Some(error) = error {
            self.record_partner_decision(account, &request.partner, "declined", "").await?;
            tracing::info!(account = %account.id, reason = %clip(error), "partner authorization not granted");
            return Err(ServerError::new(ErrorCode::PartnerDenied, "The sharing was not authorized at the partner."));
        }
        let code = code.filter(|c| !c.is_empty() && c.len() <= 200).ok_or_else(|| {
            ServerError::new(ErrorCode::PartnerCodeInvalid, "The partner did not send a valid authorization code.")
        })?;
        self.core.ensure_account_unverified(&account.id).await?;
        if !self.email.email_confirmed(account).await? {
            return Err(email_unconfirmed());
        }
        let grant = TokenGrant {
            grant_type: "authorization_code".into(),
            code: code.to_owned(),
            redirect_uri: self.partner_redirect_uri(),
            client_id: self.core.config.partners.client_id.clone(),
            code_verifier: request.code_verifier.clone(),
        };
        let found = self.partners.exchange(&request.partner, &grant).await.map_err(|e| match e {
            PartnerError::Refused(code) => {
                ServerError::new(code, "The partner refused the authorization. Please start again.")
            }
            other => ServerError::unavailable(
                ErrorCode::PartnerUnavailable,
                "The partner service cannot be reached. Please try again later.",
                other,
            ),
        })?;
        let now = self.core.now();
        self.record_partner_decision(account, &request.partner, "authorized", SHARED_FIELDS).await?;
        // The partner's data is checked like typed data: it must be a valid ID number…
        let name = PersonName::parse(&found.name).map_err(|e| {
            ServerError::new(ErrorCode::NameInvalid, format!("The partner's name is not valid: {e}"))
                .with_detail(e.code())
        })?;
        let id = ResidentId::parse(&found.id_number, self.core.today()).map_err(|e| {
            ServerError::new(ErrorCode::IdNumberInvalid, format!("The partner's ID number is not valid: {e}"))
                .with_detail(e.code())
        })?;
        // …not verifying another account…
        let id_hash = self.core.id_rules(&account.id, &id).await.map_err(|fe| fe.error)?;
        // …and consistent at the identity authority.
        self.core.authority_match(&account.id, &id_hash, &name, &id).await.map_err(|fe| fe.error)?;
        let identity = VerifiedIdentity {
            id_hash,
            account_id: account.id.clone(),
            session_id: crypto::random_id(),
            id_enc: self.core.keys.encrypt(id.as_str().as_bytes()),
            name_enc: self.core.keys.encrypt(name.as_str().as_bytes()),
            method: format!("{METHOD_PARTNER_PREFIX}{}", request.partner),
            verified_at: now,
        };
        self.core.store.complete_direct_verification(None, &identity).await?;
        tracing::info!(account = %account.id, "verified by partner sync");
        Ok(identity)
    }
}

fn email_unconfirmed() -> ServerError {
    ServerError::new(
        ErrorCode::EmailUnconfirmed,
        "Confirm your e-mail address first: partner sync is available to accounts with a confirmed e-mail.",
    )
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
    const TOKEN_PATH: &str = "/oauth/token";

    /// A partner token endpoint on port 0: checks the signature, answers the code `good`
    /// with one person and refuses other codes as a Realname partner would.
    async fn stub() -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let app = axum::Router::new().route(
            TOKEN_PATH,
            post(move |headers: HeaderMap, body: Bytes| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let ts: i64 = headers.get(TIMESTAMP_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
                    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                    if sig != sign_request(SECRET, ts, "POST", TOKEN_PATH, &body) {
                        return (StatusCode::UNAUTHORIZED, serde_json::json!({ "error": "invalid_client" }).to_string());
                    }
                    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
                    if form.get("code").map(String::as_str) == Some("good") && form.get("code_verifier").is_some_and(|v| v.len() == 43) {
                        let answer = serde_json::json!({ "partner": "Spoofed", "name": "张三", "id_number": "11010519491231002X", "verified_at": 5 });
                        (StatusCode::OK, answer.to_string())
                    } else if form.get("code").map(String::as_str) == Some("used") {
                        (StatusCode::BAD_REQUEST, serde_json::json!({ "error": "invalid_grant", "code": "partner_code_used" }).to_string())
                    } else {
                        (StatusCode::BAD_REQUEST, serde_json::json!({ "error": "invalid_grant" }).to_string())
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), calls)
    }

    fn client(base: &str, secret: &str) -> HttpPartnerDirectory {
        HttpPartnerDirectory::new(
            "JD Mall",
            &format!("{base}/oauth/authorize"),
            &format!("{base}{TOKEN_PATH}"),
            crate::settings::Secret::new(secret),
            Duration::from_millis(2000),
            2,
        )
        .expect("client")
    }

    fn grant(code: &str) -> TokenGrant {
        TokenGrant {
            grant_type: "authorization_code".into(),
            code: code.into(),
            redirect_uri: "http://127.0.0.1:8080/verify/partner/callback".into(),
            client_id: "realname".into(),
            code_verifier: URL_SAFE_NO_PAD.encode([7u8; 32]),
        }
    }

    #[tokio::test]
    async fn a_signed_token_request_gets_the_assertion_under_our_partner_name() {
        let (base, calls) = stub().await;
        let c = client(&base, SECRET);
        assert_eq!(c.partners().await.expect("partners"), ["JD Mall"]);
        assert_eq!(
            c.authorize_endpoint("JD Mall", "http://x").as_deref(),
            Some(format!("{base}/oauth/authorize").as_str())
        );
        assert_eq!(c.authorize_endpoint("Other", "http://x"), None);
        let found = c.exchange("JD Mall", &grant("good")).await.expect("exchange");
        assert_eq!((found.partner.as_str(), found.name.as_str(), found.verified_at), ("JD Mall", "张三", 5));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refusals_keep_their_code_and_are_not_retried() {
        let (base, calls) = stub().await;
        let c = client(&base, SECRET);
        assert!(matches!(
            c.exchange("JD Mall", &grant("used")).await,
            Err(PartnerError::Refused(ErrorCode::PartnerCodeUsed))
        ));
        assert!(matches!(
            c.exchange("JD Mall", &grant("other")).await,
            Err(PartnerError::Refused(ErrorCode::PartnerCodeInvalid))
        ));
        let wrong = client(&base, "another secret");
        assert!(matches!(
            wrong.exchange("JD Mall", &grant("good")).await,
            Err(PartnerError::Refused(ErrorCode::PartnerClientInvalid))
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a 4xx is final: the code is single-use");
    }

    #[tokio::test]
    async fn an_unreachable_partner_is_unavailable_after_the_retries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let c = client(&format!("http://127.0.0.1:{port}"), SECRET);
        assert!(matches!(c.exchange("JD Mall", &grant("good")).await, Err(PartnerError::Unavailable(_))));
    }

    #[test]
    fn signatures_cover_time_method_path_and_body_and_pkce_is_s256() {
        let a = sign_request(SECRET, 1, "POST", TOKEN_PATH, b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, sign_request(SECRET, 2, "POST", TOKEN_PATH, b"{}"));
        assert_ne!(a, sign_request(SECRET, 1, "POST", TOKEN_PATH, b"{ }"));
        assert_ne!(a, sign_request("other", 1, "POST", TOKEN_PATH, b"{}"));
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
