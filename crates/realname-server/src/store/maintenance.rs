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

/// Implements [`MaintenanceStore`] for `$store` (a struct with a `pool` field).
macro_rules! impl_maintenance_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::maintenance::MaintenanceStore for $store {
            async fn insert_audit_frames(
                &self,
                session_id: &str,
                frames_enc: &[Vec<u8>],
                stored_at: i64,
                expires_at: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                for (i, frame) in frames_enc.iter().enumerate() {
                    sqlx::query("INSERT INTO audit_frames (session_id, frame_index, frame_enc, stored_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(session_id)
                        .bind(i as i64)
                        .bind(frame)
                        .bind(stored_at)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn audit_frames_of(&self, session_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT frame_enc FROM audit_frames WHERE session_id = $1 ORDER BY id")
                    .bind(session_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(f,)| f).collect())
            }

            async fn purge(&self, c: $crate::store::maintenance::PurgeCutoffs) -> Result<$crate::store::maintenance::PurgeReport, StoreError> {
                let run = |sql: &'static str, at: i64| async move {
                    Ok::<u64, StoreError>(sqlx::query::<$db>(sql).bind(at).execute(&self.pool).await?.rows_affected())
                };
                Ok($crate::store::maintenance::PurgeReport {
                    audit_frames: run("DELETE FROM audit_frames WHERE expires_at <= $1", c.now).await?,
                    liveness_nonces: run("DELETE FROM liveness_nonces WHERE used_at < $1", c.nonces_before).await?,
                    // Both kinds of frame print (exact and similarity, migration 0010).
                    liveness_frame_prints: run("DELETE FROM liveness_frame_prints WHERE seen_at < $1", c.frame_prints_before).await?
                        + run("DELETE FROM liveness_similarity_prints WHERE seen_at < $1", c.frame_prints_before).await?,
                    web_sessions: run("DELETE FROM web_sessions WHERE expires_at <= $1", c.now).await?,
                    device_tokens: run("DELETE FROM device_tokens WHERE expires_at <= $1", c.now).await?,
                })
            }

            async fn data_key_id(&self) -> Result<Option<String>, StoreError> {
                let row: Option<(String,)> = sqlx::query_as("SELECT key_id FROM data_key_state WHERE singleton = 1")
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(k,)| k))
            }

            async fn init_data_key_id(&self, key_id: &str, now: i64) -> Result<String, StoreError> {
                sqlx::query("INSERT INTO data_key_state (singleton, key_id, rotated_at) VALUES (1, $1, $2) ON CONFLICT (singleton) DO NOTHING")
                    .bind(key_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                let (k,): (String,) = sqlx::query_as("SELECT key_id FROM data_key_state WHERE singleton = 1").fetch_one(&self.pool).await?;
                Ok(k)
            }

            async fn recrypt_all(
                &self,
                recrypt: $crate::store::maintenance::Recrypt<'_>,
                old_key_id: &str,
                new_key_id: &str,
                now: i64,
            ) -> Result<$crate::store::maintenance::RecryptReport, StoreError> {
                use sqlx::Row as _;
                use $crate::store::maintenance::{ENCRYPTED_TABLES, KeyColumn};
                let mut tx = self.pool.begin().await?;
                // The first statement writes: it takes the write lock (SQLite) / the row lock
                // (PostgreSQL), so two rotations cannot interleave.
                let claimed = sqlx::query("UPDATE data_key_state SET key_id = $1, rotated_at = $2 WHERE singleton = 1 AND key_id = $3")
                    .bind(new_key_id)
                    .bind(now)
                    .bind(old_key_id)
                    .execute(&mut *tx)
                    .await?;
                if claimed.rows_affected() != 1 {
                    return Err(StoreError::Corrupt("the database is not under the current data key (rotated meanwhile?)".into()));
                }
                let mut report = $crate::store::maintenance::RecryptReport::default();
                for t in ENCRYPTED_TABLES {
                    let key_names: Vec<&str> = t.key.iter().map(|k| k.name()).collect();
                    let select = format!("SELECT {}, {} FROM {}", key_names.join(", "), t.columns.join(", "), t.table);
                    let set: Vec<String> = t.columns.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
                    let cond: Vec<String> =
                        key_names.iter().enumerate().map(|(i, k)| format!("{k} = ${}", t.columns.len() + i + 1)).collect();
                    let update = format!("UPDATE {} SET {} WHERE {}", t.table, set.join(", "), cond.join(" AND "));
                    let rows = sqlx::query::<$db>(&select).fetch_all(&mut *tx).await?;
                    for row in &rows {
                        let mut q = sqlx::query::<$db>(&update);
                        for (i, c) in t.columns.iter().enumerate() {
                            let old: Vec<u8> = row.try_get(t.key.len() + i)?;
                            let new = recrypt(&old)
                                .ok_or_else(|| StoreError::Corrupt(format!("{}.{c}: a value does not open with the current data key", t.table)))?;
                            q = q.bind(new);
                        }
                        for (i, k) in t.key.iter().enumerate() {
                            q = match k {
                                KeyColumn::Text(_) => q.bind(row.try_get::<String, _>(i)?),
                                KeyColumn::Bytes(_) => q.bind(row.try_get::<Vec<u8>, _>(i)?),
                                KeyColumn::Int(_) => q.bind(row.try_get::<i64, _>(i)?),
                            };
                        }
                        let done = q.execute(&mut *tx).await?;
                        if done.rows_affected() != 1 {
                            return Err(StoreError::Corrupt(format!("{}: a row changed during the rotation", t.table)));
                        }
                    }
                    report.values += rows.len() as u64 * t.columns.len() as u64;
                    report.tables.push((t.table.to_owned(), rows.len() as u64));
                }
                tx.commit().await?;
                Ok(report)
            }
        }
    };
}

pub(crate) use impl_maintenance_store;
