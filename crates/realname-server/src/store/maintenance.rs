//! Storage of retention and key rotation: face frames kept for audit (only when configured),
//! the purge of everything past its time, the id of the data key the database is encrypted
//! under, and the re-encryption of every encrypted column in one transaction.
//!
//! [`MaintenanceStore`] is a supertrait of [`super::Store`], implemented for both engines by
//! one macro over SQL both understand, like the rest of the storage.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

/// How to turn one stored ciphertext into its replacement (decrypt with the old key, encrypt
/// with the new one). `None` means the value cannot be opened.
pub type Recrypt<'a> = &'a (dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync);

/// The type of a primary-key column of an encrypted table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyColumn {
    /// `TEXT`.
    Text(&'static str),
    /// `BLOB` / `BYTEA`.
    Bytes(&'static str),
    /// `INTEGER` / `BIGINT`.
    Int(&'static str),
}

impl KeyColumn {
    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text(n) | Self::Bytes(n) | Self::Int(n) => n,
        }
    }
}

/// A table with AES-GCM encrypted columns: its primary key and those columns.
#[derive(Debug, Clone, Copy)]
pub struct EncryptedTable {
    /// Table name.
    pub table: &'static str,
    /// Primary-key columns.
    pub key: &'static [KeyColumn],
    /// Encrypted (non-null) columns.
    pub columns: &'static [&'static str],
}

/// Every encrypted column of the schema. A migration that adds one must add it here (a test
/// checks that no other `*_enc` column exists).
pub const ENCRYPTED_TABLES: &[EncryptedTable] = &[
    EncryptedTable {
        table: "authority_records",
        key: &[KeyColumn::Bytes("id_hash")],
        columns: &["id_enc", "name_enc"],
    },
    EncryptedTable { table: "face_sessions", key: &[KeyColumn::Text("id")], columns: &["id_enc", "name_enc"] },
    EncryptedTable {
        table: "verified_identities",
        key: &[KeyColumn::Bytes("id_hash")],
        columns: &["id_enc", "name_enc"],
    },
    EncryptedTable {
        table: "partner_records",
        key: &[KeyColumn::Text("partner"), KeyColumn::Text("account_key")],
        columns: &["name_enc", "id_enc"],
    },
    EncryptedTable { table: "carrier_records", key: &[KeyColumn::Bytes("phone_hash")], columns: &["name_enc"] },
    EncryptedTable {
        table: "sms_challenges",
        key: &[KeyColumn::Text("id")],
        columns: &["phone_enc", "id_enc", "name_enc"],
    },
    EncryptedTable { table: "sms_outbox", key: &[KeyColumn::Int("id")], columns: &["phone_enc", "body_enc"] },
    EncryptedTable { table: "audit_frames", key: &[KeyColumn::Int("id")], columns: &["frame_enc"] },
    EncryptedTable { table: "email_outbox", key: &[KeyColumn::Int("id")], columns: &["to_enc", "body_enc"] },
];

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Audit frames past their retention time.
    pub audit_frames: u64,
    /// Used liveness challenge nonces.
    pub liveness_nonces: u64,
    /// Liveness frame fingerprints (exact and similarity prints).
    pub liveness_frame_prints: u64,
    /// Expired browser sessions.
    pub web_sessions: u64,
    /// Expired companion tokens.
    pub device_tokens: u64,
}

/// The times before which each kind of row is deleted (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeCutoffs {
    /// Now: audit frames, sessions and tokens whose `expires_at` is not after it.
    pub now: i64,
    /// Nonces used before this.
    pub nonces_before: i64,
    /// Fingerprints first seen before this.
    pub frame_prints_before: i64,
}

/// Re-encrypted values per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecryptReport {
    /// `(table, rows)` in [`ENCRYPTED_TABLES`] order.
    pub tables: Vec<(String, u64)>,
    /// Values (cells) re-encrypted.
    pub values: u64,
}

/// Retention and key-rotation storage.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Keeps already encrypted frames of a session until `expires_at`.
    async fn insert_audit_frames(
        &self,
        session_id: &str,
        frames_enc: &[Vec<u8>],
        stored_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// The kept (encrypted) frames of a session, in upload order.
    async fn audit_frames_of(&self, session_id: &str) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Deletes everything past its time.
    async fn purge(&self, cutoffs: PurgeCutoffs) -> Result<PurgeReport, StoreError>;
    /// The id of the data key the encrypted columns are under (`None` before the first start).
    async fn data_key_id(&self) -> Result<Option<String>, StoreError>;
    /// Records `key_id` unless one is recorded already; returns the recorded one.
    async fn init_data_key_id(&self, key_id: &str, now: i64) -> Result<String, StoreError>;
    /// In one transaction: replaces every value of [`ENCRYPTED_TABLES`] by `recrypt(value)`
    /// and records `new_key_id`, but only if the recorded key id is still `old_key_id`. Any value
    /// that cannot be opened rolls everything back ([`StoreError::Corrupt`]).
    async fn recrypt_all(
        &self,
        recrypt: Recrypt<'_>,
        old_key_id: &str,
        new_key_id: &str,
        now: i64,
    ) -> Result<RecryptReport, StoreError>;
}
