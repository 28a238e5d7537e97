//! Real-name mobile phone verification: name + ID number (checked as on the face path) +
//! a mainland mobile number; the three-element check at a [`CarrierDirectory`] (is this number
//! registered to this name and ID number?), then a 6-digit one-time code by SMS through an
//! [`SmsGateway`]. Codes live 5 minutes, allow 5 wrong entries, can be resent after 60 s,
//! are stored only as keyed hashes, and sending is rate limited per phone, account and IP.
//!
//! [`LocalCarrierDirectory`] and [`OutboxGateway`] (the local outbox QA reads codes from) are
//! the defaults; [`HttpCarrierDirectory`] and [`HttpSmsGateway`] talk to real services.

pub mod config;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng as _;
use realname_protocol::{ErrorCode, PersonName, ResidentId};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, DataKeys, constant_time_eq};
pub use crate::directories::mobile::{
    CarrierDirectory, CarrierVerdict, ChannelError, MobileNumber, MobileNumberError, SmsGateway,
};
use crate::error::{ID_ALREADY_VERIFIED_MESSAGE, ServerError, ServerResult};
use crate::flows::core::FlowCore;
use crate::flows::face::FormError;
use crate::flows::face::authority::{ImportReport, csv_records, parse_person, same_name};
use crate::store::methods::{CarrierRecord, SMS_PENDING, SMS_VERIFIED, SmsChallenge};
use crate::store::{Account, Store, StoreError, VerifiedIdentity, WebSession};

/// Method name of mobile phone verification.
pub const METHOD_MOBILE: &str = "mobile";
/// Digits of a one-time code.
pub const CODE_DIGITS: usize = 6;
pub use crate::ratelimit::SEND_WINDOW_SECS;

/// Keyed hash of a mobile number (domain-separated from the ID number hash).
pub fn phone_hash(keys: &DataKeys, phone: &MobileNumber) -> Vec<u8> {
    keys.id_hash(&format!("phone:{}", phone.as_str()))
}

/// Keyed hash of a one-time code, bound to its challenge.
fn code_hash(keys: &DataKeys, challenge_id: &str, code: &str) -> Vec<u8> {
    keys.id_hash(&format!("sms-code:{challenge_id}:{code}"))
}

/// Keyed hash of a client IP (the rate limit's key; the IP itself is not stored).
fn ip_hash(keys: &DataKeys, ip: &str) -> Vec<u8> {
    keys.id_hash(&format!("ip:{ip}"))
}

/// The carrier records in the backend's own database.
#[derive(Debug, Clone)]
pub struct LocalCarrierDirectory {
    store: Arc<dyn Store>,
    keys: DataKeys,
}

impl LocalCarrierDirectory {
    /// A directory over `store`.
    pub fn new(store: Arc<dyn Store>, keys: DataKeys) -> Self {
        Self { store, keys }
    }
}

#[async_trait]
impl CarrierDirectory for LocalCarrierDirectory {
    async fn check(
        &self,
        phone: &MobileNumber,
        name: &PersonName,
        id: &ResidentId,
    ) -> Result<CarrierVerdict, ChannelError> {
        let Some(r) = self.store.carrier_record(&phone_hash(&self.keys, phone)).await? else {
            return Ok(CarrierVerdict::Unknown);
        };
        let same_id = constant_time_eq(&r.id_hash, &self.keys.id_hash(id.as_str()));
        let holder = self.keys.decrypt_string(&r.name_enc)?;
        Ok(if same_id && same_name(&holder, name.as_str()) { CarrierVerdict::Match } else { CarrierVerdict::Mismatch })
    }
}

/// Retries a request on timeouts, connection failures and 5xx answers.
async fn post_with_retries(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&crate::settings::Secret>,
    body: &serde_json::Value,
    retries: u32,
    what: &'static str,
) -> Result<reqwest::Response, ChannelError> {
    let mut last = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        let mut req = client.post(url).json(body);
        if let Some(key) = bearer {
            req = req.bearer_auth(key.expose());
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) if resp.status().is_server_error() => last = format!("status {}", resp.status()),
            Ok(resp) => return Err(ChannelError::Unavailable(format!("status {}", resp.status()))),
            Err(e) if e.is_timeout() || e.is_connect() => last = "timeout or connection failure".into(),
            Err(e) => return Err(ChannelError::Unavailable(e.without_url().to_string())),
        }
        tracing::warn!(attempt, reason = %last, service = what, "request failed");
    }
    Err(ChannelError::Unavailable(last))
}

/// A carrier service over HTTP.
///
/// Protocol: `POST {url}/v1/three-elements` with `{"phone", "name", "id_number"}` →
/// `{"result": "match" | "mismatch" | "unknown"}`; `Authorization: Bearer <api_key>` when set.
#[derive(Debug, Clone)]
pub struct HttpCarrierDirectory {
    client: reqwest::Client,
    base: String,
    api_key: Option<crate::settings::Secret>,
    retries: u32,
}

impl HttpCarrierDirectory {
    /// A client for the carrier service at `base`.
    pub fn new(
        base: &str,
        api_key: Option<crate::settings::Secret>,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self, ChannelError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ChannelError::Unavailable(e.to_string()))?;
        Ok(Self { client, base: base.trim_end_matches('/').to_owned(), api_key, retries })
    }
}

#[derive(Deserialize)]
struct CarrierAnswer {
    result: CarrierVerdict,
}

#[async_trait]
impl CarrierDirectory for HttpCarrierDirectory {
    async fn check(
        &self,
        phone: &MobileNumber,
        name: &PersonName,
        id: &ResidentId,
    ) -> Result<CarrierVerdict, ChannelError> {
        let body = serde_json::json!({ "phone": phone.as_str(), "name": name.as_str(), "id_number": id.as_str() });
        let url = format!("{}/v1/three-elements", self.base);
        let resp = post_with_retries(&self.client, &url, self.api_key.as_ref(), &body, self.retries, "carrier").await?;
        let answer: CarrierAnswer =
            resp.json().await.map_err(|_| ChannelError::Unavailable("malformed carrier answer".into()))?;
        Ok(answer.result)
    }
}

/// The local outbox: messages are stored (encrypted) instead of sent; testers read them with
/// `realname-server sms outbox` or on `/admin/sms-outbox`.
#[derive(Debug, Clone)]
pub struct OutboxGateway {
    store: Arc<dyn Store>,
    keys: DataKeys,
    clock: Arc<dyn crate::clock::Clock>,
}

impl OutboxGateway {
    /// An outbox in `store`.
    pub fn new(store: Arc<dyn Store>, keys: DataKeys, clock: Arc<dyn crate::clock::Clock>) -> Self {
        Self { store, keys, clock }
    }
}

#[async_trait]
impl SmsGateway for OutboxGateway {
    async fn send(&self, phone: &MobileNumber, text: &str) -> Result<(), ChannelError> {
        self.store
            .insert_outbox_message(
                &self.keys.encrypt(phone.as_str().as_bytes()),
                &self.keys.encrypt(text.as_bytes()),
                self.clock.now(),
            )
            .await?;
        tracing::info!(phone = %phone.masked(), "SMS stored in the local outbox");
        Ok(())
    }
}

/// An HTTP SMS gateway: `POST {url}` with `{"to": "<11 digits>", "text": "…"}`,
/// `Authorization: Bearer <api_key>` when set; any 2xx is "sent".
#[derive(Debug, Clone)]
pub struct HttpSmsGateway {
    client: reqwest::Client,
    url: String,
    api_key: Option<crate::settings::Secret>,
}

impl HttpSmsGateway {
    /// A gateway posting to `url`.
    pub fn new(url: &str, api_key: Option<crate::settings::Secret>, timeout: Duration) -> Result<Self, ChannelError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ChannelError::Unavailable(e.to_string()))?;
        Ok(Self { client, url: url.to_owned(), api_key })
    }
}

#[async_trait]
impl SmsGateway for HttpSmsGateway {
    async fn send(&self, phone: &MobileNumber, text: &str) -> Result<(), ChannelError> {
        // No retries: a retried send after a lost answer would deliver two codes.
        let body = serde_json::json!({ "to": phone.as_str(), "text": text });
        post_with_retries(&self.client, &self.url, self.api_key.as_ref(), &body, 0, "sms").await?;
        Ok(())
    }
}

/// One decrypted outbox message (for the admin command and page).
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    /// Sequence number.
    pub id: i64,
    /// The 11-digit number.
    pub phone: String,
    /// The text.
    pub text: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The newest outbox messages (optionally only to `phone`), newest first.
pub async fn read_outbox(
    store: &dyn Store,
    keys: &DataKeys,
    phone: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxEntry>, ChannelError> {
    let wanted = phone.map(MobileNumber::parse).transpose().map_err(|e| ChannelError::Unavailable(e.to_string()))?;
    let mut out = Vec::new();
    // Filtering happens after decryption, so read a bounded window.
    for m in store.list_outbox(if wanted.is_some() { 1000 } else { limit.clamp(1, 1000) }).await? {
        let entry = OutboxEntry {
            id: m.id,
            phone: keys.decrypt_string(&m.phone_enc)?,
            text: keys.decrypt_string(&m.body_enc)?,
            created_at: m.created_at,
        };
        if wanted.as_ref().is_none_or(|w| w.as_str() == entry.phone) {
            out.push(entry);
        }
        if out.len() as i64 >= limit {
            break;
        }
    }
    Ok(out)
}

/// The first run of [`CODE_DIGITS`] digits in a message (how a tester's script reads a code).
pub fn code_in(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(CODE_DIGITS).enumerate().find_map(|(i, w)| {
        let before = i.checked_sub(1).and_then(|j| chars.get(j)).is_some_and(char::is_ascii_digit);
        let after = chars.get(i + CODE_DIGITS).is_some_and(char::is_ascii_digit);
        (w.iter().all(char::is_ascii_digit) && !before && !after).then(|| w.iter().collect())
    })
}

/// Imports `phone,name,id_number` rows (header recognised and skipped) into the local carrier
/// directory.
pub async fn import_carrier_records(
    store: &dyn Store,
    keys: &DataKeys,
    csv_text: &str,
    today: time::Date,
    now: i64,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    for (line_no, fields) in csv_records(csv_text, "phone") {
        let [phone, name, id] = fields.as_slice() else {
            report.rejected.push((line_no, "expected 3 fields: phone,name,id_number".into()));
            continue;
        };
        let phone = match MobileNumber::parse(phone) {
            Ok(p) => p,
            Err(e) => {
                report.rejected.push((line_no, e.code().into()));
                continue;
            }
        };
        let (name, id) = match parse_person(name, id, today) {
            Ok(person) => person,
            Err(code) => {
                report.rejected.push((line_no, code.into()));
                continue;
            }
        };
        store
            .upsert_carrier_record(&CarrierRecord {
                phone_hash: phone_hash(keys, &phone),
                id_hash: keys.id_hash(id.as_str()),
                name_enc: keys.encrypt(name.as_str().as_bytes()),
                imported_at: now,
            })
            .await?;
        report.imported += 1;
    }
    Ok(report)
}

/// The lockout error shared by the paths.
fn new_code() -> String {
    let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
    format!("{n:06}")
}

/// The answer to a code entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// The account is verified.
    Verified,
}

/// The mobile path: the carrier's three-element check and a one-time SMS code (cheap to
/// clone).
#[derive(Debug, Clone)]
pub struct MobileFlow {
    /// What every flow shares.
    pub core: FlowCore,
    /// The carrier directory.
    pub carrier: Arc<dyn CarrierDirectory>,
    /// The SMS gateway.
    pub sms: Arc<dyn SmsGateway>,
    /// Rate limits (sends per phone, account and IP).
    pub limiter: crate::ratelimit::RateLimiter,
}

impl MobileFlow {
    fn sms_text(&self, code: &str) -> String {
        let minutes = (self.core.config.sms.code_ttl_secs + 59) / 60;
        self.core.config.sms.template.replace("{code}", code).replace("{minutes}", &minutes.to_string())
    }

    /// Reserves one send (and the carrier look-up before it) on the hourly per-phone,
    /// per-account and per-IP counters, each counted in one statement before anything is
    /// looked up or sent: of concurrent submissions at most the limit get through.
    async fn reserve_send(&self, phone_hash: &[u8], account_id: &str, client_ip: &str) -> ServerResult<()> {
        use crate::ratelimit::Scope;
        let ip = crate::ratelimit::ip_key(&crate::ratelimit::ClientAddr(client_ip.to_owned()));
        let keys = [
            (Scope::SmsPhone, hex::encode(phone_hash)),
            (Scope::SmsAccount, account_id.to_owned()),
            (Scope::SmsIp, ip),
        ];
        match self.limiter.rate_attempt(&keys).await {
            Ok(_counted) => Ok(()),
            Err(crate::ratelimit::Refusal::Limited { scope, .. }) => {
                let which = match scope {
                    Scope::SmsPhone => "phone",
                    Scope::SmsAccount => "account",
                    _ => "ip",
                };
                Err(ServerError::new(
                    ErrorCode::RateLimited,
                    "Too many verification codes were requested. Please try again in an hour.",
                )
                .with_detail(format!("limit={which}")))
            }
            Err(refusal) => Err(refusal.into()),
        }
    }

    /// Takes the phone's send slot: no other code goes to this phone for `resend_after_secs`.
    /// One conditional upsert, so of concurrent submissions only one sends.
    async fn take_phone_slot(&self, phone_hash: &[u8]) -> ServerResult<()> {
        let now = self.core.now();
        let wait = self.core.config.sms.resend_after_secs;
        if crate::store::hardening::HardeningStore::reserve_sms_slot(&*self.core.store, phone_hash, now, now + wait)
            .await?
        {
            Ok(())
        } else {
            Err(too_early(wait))
        }
    }

    /// Validates the mobile form, applies the rules of the face path (one ID one account,
    /// lockouts, the identity authority), runs the three-element check, and sends a code.
    pub async fn send_mobile_code(
        &self,
        account: &Account,
        web: &WebSession,
        name_input: &str,
        id_input: &str,
        phone_input: &str,
        client_ip: &str,
    ) -> Result<SmsChallenge, FormError> {
        let (name, id) = self.core.parse_identity_form(name_input, id_input)?;
        let phone = MobileNumber::parse(phone_input).map_err(|e| FormError {
            field: Some("phone"),
            error: ServerError::new(ErrorCode::PhoneInvalid, e.to_string()).with_detail(e.code()),
        })?;
        self.core.ensure_account_unverified(&account.id).await?;
        let id_hash = self.core.id_lockout(&account.id, &id).await?;
        let phone_hash = phone_hash(&self.core.keys, &phone);
        let ip_hash = ip_hash(&self.core.keys, client_ip);
        self.reserve_send(&phone_hash, &account.id, client_ip).await?;
        self.core.authority_match(&account.id, &id_hash, &name, &id).await?;
        self.core.ensure_id_unverified(&id_hash).await?;
        // A new form is no way around "resend only after N seconds" (a cheap early answer, after
        // the identity rules so that "ID already verified" is not hidden behind it; the
        // slot taken just before sending decides races).
        let recent = self
            .core
            .store
            .sms_send_counts(
                &phone_hash,
                &account.id,
                &ip_hash,
                self.core.now() - self.core.config.sms.resend_after_secs,
            )
            .await?;
        if recent.phone > 0 {
            return Err(too_early(self.core.config.sms.resend_after_secs).into());
        }
        let verdict = self.carrier.check(&phone, &name, &id).await.map_err(|e| {
            ServerError::unavailable(
                ErrorCode::CarrierUnavailable,
                "The carrier directory cannot be reached. Please try again later.",
                e,
            )
        })?;
        if verdict != CarrierVerdict::Match {
            // Counted against this account only: a wrong phone says nothing about the holder.
            self.core.record_identity_failure(&account.id, &id_hash).await?;
            let detail = if verdict == CarrierVerdict::Unknown { "phone_unknown" } else { "phone_other_person" };
            return Err(FormError {
                field: Some("phone"),
                error: ServerError::new(
                    ErrorCode::PhoneMismatch,
                    "This mobile number is not registered to the name and ID number entered. Use a number registered in your own name.",
                )
                .with_detail(detail),
            });
        }
        self.take_phone_slot(&phone_hash).await?;
        let now = self.core.now();
        let id_str = crypto::random_id();
        let code = new_code();
        let challenge = SmsChallenge {
            code_hash: code_hash(&self.core.keys, &id_str, &code),
            id: id_str,
            account_id: account.id.clone(),
            web_session_id: web.id.clone(),
            phone_hash,
            phone_enc: self.core.keys.encrypt(phone.as_str().as_bytes()),
            id_hash,
            id_enc: self.core.keys.encrypt(id.as_str().as_bytes()),
            name_enc: self.core.keys.encrypt(name.as_str().as_bytes()),
            sent_at: now,
            expires_at: now + self.core.config.sms.code_ttl_secs,
            wrong_left: i64::from(self.core.config.sms.max_wrong_entries),
            state: SMS_PENDING.into(),
            created_at: now,
        };
        self.core.store.insert_sms_challenge(&challenge, &ip_hash).await?;
        self.sms.send(&phone, &self.sms_text(&code)).await.map_err(|e| {
            ServerError::unavailable(
                ErrorCode::SmsUnavailable,
                "The verification code could not be sent. Please try again later.",
                e,
            )
        })?;
        tracing::info!(challenge = %challenge.id, phone = %phone.masked(), "SMS code sent");
        Ok(challenge)
    }

    /// A challenge of this browser (same account and browser session).
    pub async fn own_sms_challenge(&self, account: &Account, web: &WebSession, id: &str) -> ServerResult<SmsChallenge> {
        match self.core.store.sms_challenge(id).await? {
            Some(c) if c.account_id == account.id && c.web_session_id == web.id => Ok(c),
            _ => Err(ServerError::new(ErrorCode::NotFound, "No such verification code request.")),
        }
    }

    /// Seconds until a new code may be sent (0: now).
    pub fn resend_wait(&self, c: &SmsChallenge) -> i64 {
        (c.sent_at + self.core.config.sms.resend_after_secs - self.core.now()).max(0)
    }

    /// Sends a new code for a pending challenge, no earlier than `resend_after_secs` after the
    /// last one; the new code gets a fresh lifetime and all its wrong entries.
    pub async fn resend_mobile_code(&self, c: &SmsChallenge, client_ip: &str) -> ServerResult<()> {
        if c.state != SMS_PENDING {
            return Err(ServerError::new(ErrorCode::SessionState, "This verification is finished."));
        }
        let wait = self.resend_wait(c);
        if wait > 0 {
            return Err(too_early(wait));
        }
        let ip_hash = ip_hash(&self.core.keys, client_ip);
        self.reserve_send(&c.phone_hash, &c.account_id, client_ip).await?;
        self.take_phone_slot(&c.phone_hash).await?;
        let now = self.core.now();
        let code = new_code();
        let mut next = c.clone();
        next.code_hash = code_hash(&self.core.keys, &c.id, &code);
        next.sent_at = now;
        next.expires_at = now + self.core.config.sms.code_ttl_secs;
        next.wrong_left = i64::from(self.core.config.sms.max_wrong_entries);
        if !self.core.store.resend_sms_code(&next, now - self.core.config.sms.resend_after_secs, &ip_hash).await? {
            // Another request resent first.
            return Err(too_early(self.core.config.sms.resend_after_secs));
        }
        let phone =
            MobileNumber::parse(&self.core.keys.decrypt_string(&c.phone_enc)?).map_err(ServerError::internal)?;
        self.sms.send(&phone, &self.sms_text(&code)).await.map_err(|e| {
            ServerError::unavailable(
                ErrorCode::SmsUnavailable,
                "The verification code could not be sent. Please try again later.",
                e,
            )
        })?;
        tracing::info!(challenge = %c.id, "SMS code resent");
        Ok(())
    }

    /// Checks an entered code; on success the account is verified (method `mobile`).
    pub async fn enter_mobile_code(&self, c: &SmsChallenge, entered: &str) -> ServerResult<CodeOutcome> {
        if c.state == SMS_VERIFIED {
            return Ok(CodeOutcome::Verified);
        }
        if self.core.now() >= c.expires_at {
            return Err(ServerError::new(
                ErrorCode::SmsCodeExpired,
                "The verification code has expired. Request a new code.",
            ));
        }
        if c.wrong_left <= 0 {
            return Err(exhausted());
        }
        // A try is spent *before* the code is compared, in one conditional statement: `c` may
        // be a copy loaded before concurrent guesses spent the last tries.
        let Some(left) =
            crate::store::hardening::HardeningStore::spend_sms_try(&*self.core.store, &c.id, self.core.now()).await?
        else {
            return Err(exhausted());
        };
        let entered = entered.trim();
        let well_formed = entered.len() == CODE_DIGITS && entered.bytes().all(|b| b.is_ascii_digit());
        if !well_formed || !constant_time_eq(&code_hash(&self.core.keys, &c.id, entered), &c.code_hash) {
            if left > 0 {
                return Err(ServerError::new(
                    ErrorCode::SmsCodeWrong,
                    format!("The verification code is wrong. {left} tries left."),
                )
                .with_detail(format!("tries_left={left}")));
            }
            self.core.record_identity_failure(&c.account_id, &c.id_hash).await?;
            return Err(exhausted());
        }
        // The rules again at the moment of verifying: the ID may have verified another
        // account since the code was sent (the unique key decides races).
        if self.core.store.verified_identity_by_id_hash(&c.id_hash).await?.is_some() {
            return Err(ServerError::new(ErrorCode::IdAlreadyVerified, ID_ALREADY_VERIFIED_MESSAGE));
        }
        let identity = VerifiedIdentity {
            id_hash: c.id_hash.clone(),
            account_id: c.account_id.clone(),
            session_id: c.id.clone(),
            id_enc: c.id_enc.clone(),
            name_enc: c.name_enc.clone(),
            method: METHOD_MOBILE.into(),
            verified_at: self.core.now(),
        };
        if !self.core.store.complete_direct_verification(Some(&c.id), &identity).await? {
            return Err(ServerError::new(ErrorCode::SessionState, "This verification is finished."));
        }
        tracing::info!(challenge = %c.id, "verified by mobile phone");
        Ok(CodeOutcome::Verified)
    }
}

fn too_early(wait: i64) -> ServerError {
    ServerError::new(ErrorCode::SmsResendTooEarly, format!("A new code can be sent in {wait} seconds."))
        .with_detail(format!("retry_after={wait}"))
}

fn exhausted() -> ServerError {
    ServerError::new(ErrorCode::SmsCodeExhausted, "The code was entered wrongly too many times. Request a new code.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_mobile_numbers_are_normalised_or_refused() {
        for ok in ["13812345678", "138 1234 5678", "+86 138-1234-5678", "8613812345678", "0086 19912345678"] {
            assert!(MobileNumber::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(MobileNumber::parse("+8613812345678").map(|p| p.as_str().to_owned()), Ok("13812345678".into()));
        assert_eq!(MobileNumber::parse(" ").err(), Some(MobileNumberError::Empty));
        for bad in
            ["12812345678", "1381234567", "138123456789", "1381234567x", "２３８１２３４５６７８", &"1".repeat(10_000)]
        {
            assert_eq!(MobileNumber::parse(bad).err(), Some(MobileNumberError::Format), "{bad:.20}");
        }
        assert_eq!(format!("{:?}", MobileNumber::parse("13812345678").expect("ok")), "MobileNumber(138****5678)");
    }

    #[test]
    fn codes_are_six_digits_and_found_in_messages() {
        for _ in 0..200 {
            let c = new_code();
            assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()), "{c}");
        }
        assert_eq!(code_in("【Realname】验证码为 042917，5 分钟内有效").as_deref(), Some("042917"));
        assert_eq!(code_in("call 4001234567 now"), None, "longer digit runs are not codes");
    }

    /// A carrier + SMS stub on port 0: the carrier knows one number; the SMS endpoint keeps
    /// what it got and wants the bearer token.
    async fn stub() -> (String, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::post;
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = sent.clone();
        let app = axum::Router::new()
            .route(
                "/v1/three-elements",
                post(|axum::Json(b): axum::Json<serde_json::Value>| async move {
                    let result = match (b["phone"].as_str(), b["id_number"].as_str()) {
                        (Some("13812345678"), Some("11010519491231002X")) if b["name"] == "张三" => "match",
                        (Some("13812345678"), _) => "mismatch",
                        _ => "unknown",
                    };
                    axum::Json(serde_json::json!({ "result": result }))
                }),
            )
            .route(
                "/sms",
                post(move |headers: HeaderMap, axum::Json(b): axum::Json<serde_json::Value>| {
                    let kept = kept.clone();
                    async move {
                        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sms-key") {
                            return StatusCode::UNAUTHORIZED;
                        }
                        kept.lock().expect("lock").push(b);
                        StatusCode::ACCEPTED
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), sent)
    }

    #[tokio::test]
    async fn http_carrier_and_sms_gateway_speak_their_protocols() {
        let (base, sent) = stub().await;
        let today = time::macros::date!(2026 - 01 - 01);
        let carrier = HttpCarrierDirectory::new(&base, None, Duration::from_secs(2), 0).expect("client");
        let phone = MobileNumber::parse("13812345678").expect("phone");
        let name = PersonName::parse("张三").expect("name");
        let id = ResidentId::parse("11010519491231002X", today).expect("id");
        assert_eq!(carrier.check(&phone, &name, &id).await.expect("check"), CarrierVerdict::Match);
        let other = PersonName::parse("李四").expect("name");
        assert_eq!(carrier.check(&phone, &other, &id).await.expect("check"), CarrierVerdict::Mismatch);
        let unknown = MobileNumber::parse("13900000000").expect("phone");
        assert_eq!(carrier.check(&unknown, &name, &id).await.expect("check"), CarrierVerdict::Unknown);

        let sms = HttpSmsGateway::new(
            &format!("{base}/sms"),
            Some(crate::settings::Secret::new("sms-key")),
            Duration::from_secs(2),
        )
        .expect("gw");
        sms.send(&phone, "code 123456").await.expect("sent");
        assert_eq!(
            sent.lock().expect("lock").as_slice(),
            [serde_json::json!({ "to": "13812345678", "text": "code 123456" })]
        );
        let wrong = HttpSmsGateway::new(
            &format!("{base}/sms"),
            Some(crate::settings::Secret::new("nope")),
            Duration::from_secs(2),
        )
        .expect("gw");
        assert!(matches!(wrong.send(&phone, "x").await, Err(ChannelError::Unavailable(_))));
    }

    #[test]
    fn code_hashes_are_keyed_and_bound_to_the_challenge() {
        let a = DataKeys::from_master(&[1; 32]);
        let b = DataKeys::from_master(&[2; 32]);
        assert_ne!(code_hash(&a, "c1", "123456"), code_hash(&b, "c1", "123456"));
        assert_ne!(code_hash(&a, "c1", "123456"), code_hash(&a, "c2", "123456"));
        assert!(constant_time_eq(&code_hash(&a, "c1", "123456"), &code_hash(&a, "c1", "123456")));
    }
}
