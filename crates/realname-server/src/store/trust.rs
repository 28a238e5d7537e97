//! Storage of the trust chain behind partner sync: OAuth authorization requests (our side),
//! the local partner stand-in's logins and single-use codes (its side), and e-mail
//! confirmation (links, confirmed accounts, the local e-mail outbox).
//!
//! [`TrustStore`] is a supertrait of [`super::Store`], implemented for both engines by one
//! macro over SQL both understand, like the rest of the storage.

use std::fmt;

use async_trait::async_trait;

use super::StoreError;
use super::methods::PartnerRecord;

/// A pending *Authorize Now*: what the callback needs to finish it.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PartnerAuthRequest {
    /// SHA-256 of the OAuth `state`.
    pub state_hash: Vec<u8>,
    /// The account that started it.
    pub account_id: String,
    /// The browser session that started it (the `state` is bound to it).
    pub web_session_id: String,
    /// The partner asked.
    pub partner: String,
    /// The PKCE code verifier (sent only to the partner's token endpoint).
    pub code_verifier: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for PartnerAuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerAuthRequest")
            .field("partner", &self.partner)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An authorization code the local partner issued (the code only as a hash).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PartnerAuthCode {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The partner that issued it.
    pub partner: String,
    /// The partner user who approved.
    pub login: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge of the authorization request.
    pub code_challenge: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// When it was exchanged (codes are single-use).
    pub used_at: Option<i64>,
}

impl fmt::Debug for PartnerAuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerAuthCode")
            .field("partner", &self.partner)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What exchanging a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// First use: the code's row (now marked used).
    First(PartnerAuthCode),
    /// The code was exchanged before.
    Reused,
    /// No such code.
    Unknown,
}

/// What a confirmation link click found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The account's e-mail is now confirmed.
    Confirmed,
    /// The link of this account is past its time.
    Expired,
    /// Unknown, used, or another account's link (one answer for all: no oracle).
    Invalid,
}

/// A message in the local e-mail outbox (address and text encrypted).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EmailOutboxMessage {
    /// Sequence number.
    pub id: i64,
    /// AES-GCM of the address.
    pub to_enc: Vec<u8>,
    /// AES-GCM of the text.
    pub body_enc: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

impl fmt::Debug for EmailOutboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailOutboxMessage")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Limits of [`TrustStore::insert_email_confirmation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    /// No link if one was created after this (the resend wait).
    pub none_after: i64,
    /// Count the links created after this…
    pub count_after: i64,
    /// …and send only while fewer than this.
    pub max: i64,
}

/// Trust-chain storage.
#[async_trait]
pub trait TrustStore: Send + Sync {
    /// Sets (or clears) the local partner login's password hash.
    async fn set_partner_password(
        &self,
        partner: &str,
        login: &str,
        password_hash: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The local partners whose users can sign in, by name.
    async fn partner_names(&self) -> Result<Vec<String>, StoreError>;
    /// A local partner login's record and password hash.
    async fn partner_login(
        &self,
        partner: &str,
        login: &str,
    ) -> Result<Option<(PartnerRecord, Option<String>)>, StoreError>;

    /// Stores a pending authorization, replacing the browser session's earlier ones.
    async fn insert_partner_auth_request(&self, r: &PartnerAuthRequest) -> Result<(), StoreError>;
    /// Removes and returns the pending authorization of `state_hash` if it belongs to this
    /// browser session (single use).
    async fn take_partner_auth_request(
        &self,
        state_hash: &[u8],
        web_session_id: &str,
    ) -> Result<Option<PartnerAuthRequest>, StoreError>;

    /// Stores a code the local partner issued.
    async fn insert_partner_auth_code(&self, c: &PartnerAuthCode) -> Result<(), StoreError>;
    /// Marks a code used, atomically: only the first call gets [`CodeUse::First`].
    async fn use_partner_auth_code(&self, code_hash: &[u8], now: i64) -> Result<CodeUse, StoreError>;

    /// Stores a confirmation link unless the window's limits say no (race-safe); `false` then.
    async fn insert_email_confirmation(
        &self,
        token_hash: &[u8],
        account_id: &str,
        created_at: i64,
        expires_at: i64,
        window: SendWindow,
    ) -> Result<bool, StoreError>;
    /// When the account's newest link was created.
    async fn last_email_confirmation(&self, account_id: &str) -> Result<Option<i64>, StoreError>;
    /// Uses a link of `account_id` (single use) and confirms the account.
    async fn confirm_email(&self, token_hash: &[u8], account_id: &str, now: i64) -> Result<ConfirmOutcome, StoreError>;
    /// When the account's e-mail was confirmed.
    async fn email_confirmed_at(&self, account_id: &str) -> Result<Option<i64>, StoreError>;

    /// Appends a message to the local e-mail outbox.
    async fn insert_email_outbox(&self, to_enc: &[u8], body_enc: &[u8], at: i64) -> Result<(), StoreError>;
    /// The newest e-mail outbox messages, newest first.
    async fn list_email_outbox(&self, limit: i64) -> Result<Vec<EmailOutboxMessage>, StoreError>;
}
