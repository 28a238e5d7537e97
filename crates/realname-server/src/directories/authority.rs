//! The identity authority's interface: does this name belong to this ID number, and what does
//! the holder look like? The local registry and the HTTP provider implementing it live in
//! `flows/face/authority.rs`.

use async_trait::async_trait;
use realname_face::Descriptor;
use realname_protocol::{PersonName, ResidentId};
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// The authority's answer to a name ↔ ID check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityVerdict {
    /// Name and number belong together.
    Match,
    /// The number exists but belongs to another name.
    Mismatch,
    /// The number is not known.
    Unknown,
}

/// Authority failures.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// The provider cannot be reached or answered garbage.
    #[error("identity authority unavailable: {0}")]
    Unavailable(String),
    /// Local storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data cannot be decrypted.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// Name ↔ ID checks and reference faces.
#[async_trait]
pub trait IdentityAuthority: Send + Sync + std::fmt::Debug {
    /// Checks that `name` belongs to `id`.
    async fn check(&self, name: &PersonName, id: &ResidentId) -> Result<AuthorityVerdict, AuthorityError>;
    /// The reference face descriptor of the holder of `id` (`None`: no usable photo).
    async fn reference(&self, id: &ResidentId) -> Result<Option<Descriptor>, AuthorityError>;
}
