//! Storage of demo identities (see `crate::flows::face::demo` for the demo range and mode): the registry
//! insert of `demo enroll` and the marker of a verified demo identity, for both engines.

use async_trait::async_trait;

use super::{AuthorityRecord, StoreError};

/// Region code of every demo ID number (Taiwan, province level: never on a resident ID).
pub const DEMO_REGION: &str = "710000";

/// Whether an ID number (normalised, 18 characters) lies in the demo range.
pub fn is_demo_id(id: &str) -> bool {
    id.len() == 18 && id.starts_with(DEMO_REGION) && id.get(6..10) == Some("1900")
}

/// Storage of demo identities (migration 0009: `demo` columns on `authority_records` and
/// `verified_identities`; a trigger marks a verified identity whose registry entry is a demo
/// one, on every path that inserts it).
#[async_trait]
pub trait DemoStore: Send + Sync {
    /// Inserts a demo registry entry; `false` if the number is taken (draw another).
    async fn insert_demo_identity(&self, r: &AuthorityRecord) -> Result<bool, StoreError>;
    /// Whether the account's verified identity is a demo one (`None`: not verified).
    async fn verification_is_demo(&self, account_id: &str) -> Result<Option<bool>, StoreError>;
}
