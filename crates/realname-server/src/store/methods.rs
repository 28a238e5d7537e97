//! Storage of the two other verification paths: partner sync (partner records, consents) and
//! mobile phone verification (carrier records, SMS codes, send log, the local SMS outbox).
//!
//! [`PathsStore`] is a supertrait of [`super::Store`], implemented for both engines by one
//! macro over SQL both understand, like the rest of the storage.

use std::fmt;

use async_trait::async_trait;

use super::{StoreError, VerifiedIdentity};

/// A completed verification a partner (sister service) holds for a shared account.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PartnerRecord {
    /// Partner display name (e.g. "JD Mall").
    pub partner: String,
    /// The partner's own login of the person (the local partner stand-in signs them in with
    /// it; see `store::trust`).
    pub account_key: String,
    /// AES-GCM of the name.
    pub name_enc: Vec<u8>,
    /// AES-GCM of the ID number.
    pub id_enc: Vec<u8>,
    /// When the partner verified the account, Unix seconds.
    pub verified_at: i64,
    /// Unix seconds.
    pub imported_at: i64,
}

impl fmt::Debug for PartnerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerRecord")
            .field("partner", &self.partner)
            .field("verified_at", &self.verified_at)
            .finish_non_exhaustive()
    }
}

/// A decision on the partner popup: who, which partner, what was shared, when.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PartnerConsent {
    /// Random id (also the verified identity's `session_id` when authorized).
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The partner.
    pub partner: String,
    /// What was shared (`name,id_number`).
    pub shared: String,
    /// `authorized` or `declined`.
    pub decision: String,
    /// Unix seconds.
    pub at: i64,
}

/// Who a mobile number is registered to (local carrier directory).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CarrierRecord {
    /// Keyed hash of the mobile number.
    pub phone_hash: Vec<u8>,
    /// Keyed hash of the holder's ID number.
    pub id_hash: Vec<u8>,
    /// AES-GCM of the holder's name.
    pub name_enc: Vec<u8>,
    /// Unix seconds.
    pub imported_at: i64,
}

impl fmt::Debug for CarrierRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarrierRecord").field("imported_at", &self.imported_at).finish_non_exhaustive()
    }
}

/// SMS challenge state `pending` (code sent, not yet entered correctly).
pub const SMS_PENDING: &str = "pending";
/// SMS challenge state `verified`.
pub const SMS_VERIFIED: &str = "verified";

/// An SMS one-time code sent for the mobile method; the code only as a keyed hash.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SmsChallenge {
    /// Random id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The browser session that asked for it.
    pub web_session_id: String,
    /// Keyed hash of the mobile number.
    pub phone_hash: Vec<u8>,
    /// AES-GCM of the mobile number.
    pub phone_enc: Vec<u8>,
    /// Keyed hash of the ID number.
    pub id_hash: Vec<u8>,
    /// AES-GCM of the ID number.
    pub id_enc: Vec<u8>,
    /// AES-GCM of the name.
    pub name_enc: Vec<u8>,
    /// Keyed hash of the current code.
    pub code_hash: Vec<u8>,
    /// When the current code was sent.
    pub sent_at: i64,
    /// When the current code stops working.
    pub expires_at: i64,
    /// Wrong entries left for the current code.
    pub wrong_left: i64,
    /// [`SMS_PENDING`] or [`SMS_VERIFIED`].
    pub state: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl fmt::Debug for SmsChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsChallenge")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("wrong_left", &self.wrong_left)
            .finish_non_exhaustive()
    }
}

/// A message in the local SMS outbox (phone and text encrypted).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxMessage {
    /// Sequence number.
    pub id: i64,
    /// AES-GCM of the mobile number.
    pub phone_enc: Vec<u8>,
    /// AES-GCM of the text.
    pub body_enc: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

impl fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Numbers of codes sent since a moment: per phone, per account, per IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendCounts {
    /// To this phone.
    pub phone: i64,
    /// For this account.
    pub account: i64,
    /// From this IP.
    pub ip: i64,
}

/// Storage of partner sync and mobile verification.
#[async_trait]
pub trait PathsStore: Send + Sync {
    /// Inserts or replaces a partner record.
    async fn upsert_partner_record(&self, r: &PartnerRecord) -> Result<(), StoreError>;
    /// Records a popup decision.
    async fn insert_partner_consent(&self, c: &PartnerConsent) -> Result<(), StoreError>;
    /// An account's popup decisions, oldest first.
    async fn partner_consents_of(&self, account_id: &str) -> Result<Vec<PartnerConsent>, StoreError>;

    /// Inserts or replaces a carrier record.
    async fn upsert_carrier_record(&self, r: &CarrierRecord) -> Result<(), StoreError>;
    /// The carrier record of a phone hash.
    async fn carrier_record(&self, phone_hash: &[u8]) -> Result<Option<CarrierRecord>, StoreError>;

    /// Stores a new SMS challenge and logs the send (for the rate limits).
    async fn insert_sms_challenge(&self, c: &SmsChallenge, ip_hash: &[u8]) -> Result<(), StoreError>;
    /// An SMS challenge by id.
    async fn sms_challenge(&self, id: &str) -> Result<Option<SmsChallenge>, StoreError>;
    /// Replaces the code of a pending challenge if its last code was sent at or before
    /// `sent_before` (race-safe "resend only after N seconds"), logging the send; `false` if not.
    async fn resend_sms_code(&self, c: &SmsChallenge, sent_before: i64, ip_hash: &[u8]) -> Result<bool, StoreError>;
    /// Uses up one wrong entry of a pending challenge; the entries left after it, or `None`
    /// if none were left (or the challenge is not pending).
    async fn spend_sms_wrong_entry(&self, id: &str) -> Result<Option<i64>, StoreError>;
    /// Codes sent since `since` to a phone, for an account and from an IP.
    async fn sms_send_counts(
        &self,
        phone_hash: &[u8],
        account_id: &str,
        ip_hash: &[u8],
        since: i64,
    ) -> Result<SendCounts, StoreError>;

    /// In one transaction: marks the SMS challenge `challenge_id` (if any) verified — `Ok(false)`
    /// if it was not pending —, inserts the verified identity and sets the account's
    /// `verified_at`. The unique keys give [`super::Constraint::IdentityIdHash`] /
    /// [`super::Constraint::IdentityAccount`] on a conflict, as for the face path.
    async fn complete_direct_verification(
        &self,
        challenge_id: Option<&str>,
        v: &VerifiedIdentity,
    ) -> Result<bool, StoreError>;

    /// Appends a message to the local outbox.
    async fn insert_outbox_message(&self, phone_enc: &[u8], body_enc: &[u8], at: i64) -> Result<(), StoreError>;
    /// The newest outbox messages, newest first.
    async fn list_outbox(&self, limit: i64) -> Result<Vec<OutboxMessage>, StoreError>;
}
