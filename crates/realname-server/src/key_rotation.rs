//! Data key rotation (`realname-server keys rotate --new-key-file …`) and the start-up check
//! that the configured key is the one the database is encrypted under.
//!
//! ID numbers, names, phone numbers, SMS texts and audit frames are AES-256-GCM encrypted with
//! a key derived from the master key; the unique constraints are on HMAC-SHA256 keyed hashes
//! (ID number, phone number). Rotation replaces the encryption key: every encrypted column is
//! decrypted with the current key and encrypted with the new one in one database transaction,
//! and the database's key id switches in the same transaction. The keyed hashes cannot all be
//! recomputed — the carrier directory and the rate-limit logs hold hashes whose plain values
//! are stored nowhere — so the hash key is carried over: the new key file holds the new
//! master key and `id-hash-key=<hex>` (the derived hash key, which does not reveal the old
//! encryption key). Uniqueness checks therefore keep working across the rotation.
//!
//! The rotation is offline: stop every server instance, rotate, start them with the new key
//! file. A server started with the old key refuses to start (key id mismatch).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::crypto::{CryptoError, DataKeys};
use crate::store::{Store, StoreError};

/// Why a rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The new key file cannot be read or written.
    #[error("new key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The new key file does not start with 64 hex characters.
    #[error("the new key file must start with a 64-hex-character key")]
    BadKey,
    /// The new key is the current key.
    #[error("the new key is the current key")]
    SameKey,
    /// The database is not under the configured key.
    #[error(transparent)]
    Mismatch(CryptoError),
    /// The database refused or failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// Id of the key the data was under.
    pub old_key_id: String,
    /// Id of the key it is under now.
    pub new_key_id: String,
    /// The key file to configure from now on.
    pub key_file: PathBuf,
    /// Rows re-encrypted per table.
    pub tables: Vec<(String, u64)>,
    /// Values re-encrypted.
    pub values: u64,
}

/// Why the configured data key cannot be used with this database.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    /// The database cannot be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database is under another key.
    #[error(transparent)]
    Key(#[from] CryptoError),
}

/// Records the key id on first start; refuses a key that is not the database's.
pub async fn check_key_id(store: &dyn Store, keys: &DataKeys, now: i64) -> Result<(), KeyCheckError> {
    let configured = keys.key_id();
    let recorded = store.init_data_key_id(&configured, now).await?;
    if recorded != configured {
        return Err(CryptoError::KeyMismatch { configured, recorded }.into());
    }
    Ok(())
}

/// Re-encrypts everything under the master key in `new_key_file` (generated there, mode 0600,
/// if the file does not exist). The file is completed (`id-hash-key=`) before the database is
/// touched, so the key is never lost; running the command again after a failure is safe.
pub async fn rotate(
    store: &dyn Store,
    current: &DataKeys,
    new_key_file: &Path,
    now: i64,
) -> Result<RotationReport, RotationError> {
    let io = |source| RotationError::KeyFile { path: new_key_file.to_owned(), source };
    let master: [u8; 32] = match std::fs::read_to_string(new_key_file) {
        Ok(text) => {
            let first = text.split_whitespace().next().unwrap_or_default();
            hex::decode(first).ok().and_then(|b| b.try_into().ok()).ok_or(RotationError::BadKey)?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::crypto::random_bytes::<32>(),
        Err(e) => return Err(io(e)),
    };
    let (new_keys, text) = current.rotated(&master);
    let (old_id, new_id) = (current.key_id(), new_keys.key_id());
    if old_id == new_id {
        return Err(RotationError::SameKey);
    }
    let recorded = store.init_data_key_id(&old_id, now).await?;
    if recorded != old_id {
        return Err(RotationError::Mismatch(CryptoError::KeyMismatch { configured: old_id, recorded }));
    }
    // Written to a temporary file and renamed: the key file is whole or absent, never torn.
    let tmp = new_key_file.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    crate::crypto::write_private(&tmp, text.as_bytes()).map_err(io)?;
    std::fs::rename(&tmp, new_key_file).map_err(io)?;
    let recrypt = |old: &[u8]| current.decrypt(old).ok().map(|plain| new_keys.encrypt(&plain));
    let report = store.recrypt_all(&recrypt, &old_id, &new_id, now).await?;
    tracing::info!(old_key_id = %old_id, new_key_id = %new_id, values = report.values, "data key rotated");
    Ok(RotationReport {
        old_key_id: old_id,
        new_key_id: new_id,
        key_file: new_key_file.to_owned(),
        tables: report.tables,
        values: report.values,
    })
}
