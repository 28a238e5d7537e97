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

/// Implements [`TrustStore`] for `$store` (a struct with a `pool: $pool` field).
macro_rules! impl_trust_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::trust::TrustStore for $store {
            async fn set_partner_password(&self, partner: &str, login: &str, password_hash: Option<&str>) -> Result<(), StoreError> {
                sqlx::query("UPDATE partner_records SET password_hash = $3 WHERE partner = $1 AND account_key = $2")
                    .bind(partner)
                    .bind(login)
                    .bind(password_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn partner_names(&self) -> Result<Vec<String>, StoreError> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT DISTINCT partner FROM partner_records WHERE password_hash IS NOT NULL ORDER BY partner")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(|(p,)| p).collect())
            }

            async fn partner_login(
                &self,
                partner: &str,
                login: &str,
            ) -> Result<Option<($crate::store::methods::PartnerRecord, Option<String>)>, StoreError> {
                let record = sqlx::query_as::<$db, $crate::store::methods::PartnerRecord>(
                    "SELECT partner, account_key, name_enc, id_enc, verified_at, imported_at FROM partner_records WHERE partner = $1 AND account_key = $2",
                )
                .bind(partner)
                .bind(login)
                .fetch_optional(&self.pool)
                .await?;
                let Some(record) = record else { return Ok(None) };
                let (hash,): (Option<String>,) =
                    sqlx::query_as("SELECT password_hash FROM partner_records WHERE partner = $1 AND account_key = $2")
                        .bind(partner)
                        .bind(login)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(Some((record, hash)))
            }

            async fn insert_partner_auth_request(&self, r: &$crate::store::trust::PartnerAuthRequest) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM partner_auth_requests WHERE web_session_id = $1 OR expires_at <= $2")
                    .bind(&r.web_session_id)
                    .bind(r.created_at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO partner_auth_requests (state_hash, account_id, web_session_id, partner, code_verifier, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(&r.state_hash)
                    .bind(&r.account_id)
                    .bind(&r.web_session_id)
                    .bind(&r.partner)
                    .bind(&r.code_verifier)
                    .bind(r.created_at)
                    .bind(r.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await?;
                Ok(())
            }

            async fn take_partner_auth_request(
                &self,
                state_hash: &[u8],
                web_session_id: &str,
            ) -> Result<Option<$crate::store::trust::PartnerAuthRequest>, StoreError> {
                Ok(sqlx::query_as::<$db, $crate::store::trust::PartnerAuthRequest>(
                    "DELETE FROM partner_auth_requests WHERE state_hash = $1 AND web_session_id = $2 \
                     RETURNING state_hash, account_id, web_session_id, partner, code_verifier, created_at, expires_at",
                )
                .bind(state_hash)
                .bind(web_session_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn insert_partner_auth_code(&self, c: &$crate::store::trust::PartnerAuthCode) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM partner_auth_codes WHERE expires_at <= $1 AND created_at < $1")
                    .bind(c.created_at - 86_400)
                    .execute(&self.pool)
                    .await?;
                sqlx::query("INSERT INTO partner_auth_codes (code_hash, partner, login, client_id, redirect_uri, code_challenge, created_at, expires_at, used_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)")
                    .bind(&c.code_hash)
                    .bind(&c.partner)
                    .bind(&c.login)
                    .bind(&c.client_id)
                    .bind(&c.redirect_uri)
                    .bind(&c.code_challenge)
                    .bind(c.created_at)
                    .bind(c.expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(classify)?;
                Ok(())
            }

            async fn use_partner_auth_code(&self, code_hash: &[u8], now: i64) -> Result<$crate::store::trust::CodeUse, StoreError> {
                let first = sqlx::query_as::<$db, $crate::store::trust::PartnerAuthCode>(
                    "UPDATE partner_auth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL \
                     RETURNING code_hash, partner, login, client_id, redirect_uri, code_challenge, created_at, expires_at, used_at",
                )
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                if let Some(code) = first {
                    return Ok($crate::store::trust::CodeUse::First(code));
                }
                let seen: Option<(i64,)> = sqlx::query_as("SELECT created_at FROM partner_auth_codes WHERE code_hash = $1")
                    .bind(code_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(if seen.is_some() { $crate::store::trust::CodeUse::Reused } else { $crate::store::trust::CodeUse::Unknown })
            }

            async fn insert_email_confirmation(
                &self,
                token_hash: &[u8],
                account_id: &str,
                created_at: i64,
                expires_at: i64,
                window: $crate::store::trust::SendWindow,
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                // Writes first: the account row is locked (PostgreSQL) / the database write
                // lock is taken (SQLite), so two concurrent sends cannot both pass the checks.
                sqlx::query("UPDATE accounts SET created_at = created_at WHERE id = $1").bind(account_id).execute(&mut *tx).await?;
                let (recent, in_window): (i64, i64) = sqlx::query_as(
                    "SELECT COALESCE(SUM(CASE WHEN created_at > $2 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN created_at > $3 THEN 1 ELSE 0 END), 0) \
                     FROM email_confirmations WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(window.none_after)
                .bind(window.count_after)
                .fetch_one(&mut *tx)
                .await?;
                if recent > 0 || in_window >= window.max {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query("INSERT INTO email_confirmations (token_hash, account_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
                    .bind(token_hash)
                    .bind(account_id)
                    .bind(created_at)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await?;
                Ok(true)
            }

            async fn last_email_confirmation(&self, account_id: &str) -> Result<Option<i64>, StoreError> {
                let (at,): (Option<i64>,) = sqlx::query_as("SELECT MAX(created_at) FROM email_confirmations WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(at)
            }

            async fn confirm_email(&self, token_hash: &[u8], account_id: &str, now: i64) -> Result<$crate::store::trust::ConfirmOutcome, StoreError> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "UPDATE email_confirmations SET used_at = $3 WHERE token_hash = $1 AND account_id = $2 AND used_at IS NULL AND expires_at > $3",
                )
                .bind(token_hash)
                .bind(account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    let expired: Option<(i64,)> = sqlx::query_as(
                        "SELECT expires_at FROM email_confirmations WHERE token_hash = $1 AND account_id = $2 AND used_at IS NULL AND expires_at <= $3",
                    )
                    .bind(token_hash)
                    .bind(account_id)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    return Ok(if expired.is_some() {
                        $crate::store::trust::ConfirmOutcome::Expired
                    } else {
                        $crate::store::trust::ConfirmOutcome::Invalid
                    });
                }
                sqlx::query("INSERT INTO email_confirmed (account_id, confirmed_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING")
                    .bind(account_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::store::trust::ConfirmOutcome::Confirmed)
            }

            async fn email_confirmed_at(&self, account_id: &str) -> Result<Option<i64>, StoreError> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT confirmed_at FROM email_confirmed WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(t,)| t))
            }

            async fn insert_email_outbox(&self, to_enc: &[u8], body_enc: &[u8], at: i64) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO email_outbox (to_enc, body_enc, created_at) VALUES ($1, $2, $3)")
                    .bind(to_enc)
                    .bind(body_enc)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn list_email_outbox(&self, limit: i64) -> Result<Vec<$crate::store::trust::EmailOutboxMessage>, StoreError> {
                Ok(sqlx::query_as::<$db, $crate::store::trust::EmailOutboxMessage>(
                    "SELECT id, to_enc, body_enc, created_at FROM email_outbox ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use impl_trust_store;
