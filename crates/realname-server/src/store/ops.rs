//! Storage for operations: the readiness probe, the shared rate-limit counters and the
//! figures `/metrics` reads at scrape time.
//!
//! [`OpsStore`] is a supertrait of [`super::Store`], implemented for both engines by one macro
//! over SQL both understand, like the rest of the storage.

use async_trait::async_trait;

use super::StoreError;

/// Operations queries of a storage engine.
#[async_trait]
pub trait OpsStore: Send + Sync {
    /// `SELECT 1` on a pooled connection: the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the pool: every later query fails (shutdown; tests of `/readyz`).
    async fn close(&self);

    /// Counts one hit for `key_hash` in the fixed window starting at `window_start` (the row
    /// expires at `expires_at`) and returns the window's hits including this one. One
    /// statement, so concurrent instances never lose a hit.
    async fn rate_limit_hit(&self, key_hash: &[u8], window_start: i64, expires_at: i64) -> Result<i64, StoreError>;

    /// The hits of `key_hash` in the window starting at `window_start`, without counting one.
    async fn rate_limit_hits(&self, key_hash: &[u8], window_start: i64) -> Result<i64, StoreError>;

    /// Deletes counters whose window ended before `now`; returns how many.
    async fn purge_rate_limits(&self, now: i64) -> Result<u64, StoreError>;

    /// Face sessions not yet in a final state and not expired at `now`.
    async fn count_open_sessions(&self, now: i64) -> Result<i64, StoreError>;

    /// Messages in the local SMS outbox.
    async fn count_sms_outbox(&self) -> Result<i64, StoreError>;
}
