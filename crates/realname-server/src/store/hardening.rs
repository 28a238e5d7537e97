//! Storage of the security review's controls: a rate-limit hit given back, SMS tries spent
//! before a code is compared, the per-phone send slot, failed attempts by kind, and station
//! revocation. Every check-and-count here is one conditional statement, so concurrent
//! requests (on one instance or many) cannot each pass a check that only one should.

use async_trait::async_trait;

use super::StoreError;

/// Failure kind: a face decision failed (locks the account, and the ID number across accounts).
pub const FAILURE_FACE: &str = "face";
/// Failure kind: the name or phone did not match the ID number (locks the account only).
pub const FAILURE_IDENTITY: &str = "identity";

/// Failure kind: a face attempt reserved and not yet decided (counts only while reserving).
pub const FAILURE_PENDING: &str = "pending";

/// The hardening queries of a storage engine.
#[async_trait]
pub trait HardeningStore: Send + Sync {
    /// Gives back one hit of the window starting at `window_start` (an attempt that was
    /// counted before it ran and turned out not to count: a correct password).
    async fn rate_limit_refund(&self, key_hash: &[u8], window_start: i64) -> Result<(), StoreError>;

    /// Spends one try of a pending, unexpired SMS challenge, in one statement, before the
    /// code is compared; the tries left after this one, or `None` when none was left (or the
    /// challenge is finished or expired).
    async fn spend_sms_try(&self, id: &str, now: i64) -> Result<Option<i64>, StoreError>;

    /// Reserves the next send to a phone: `true` (and the next slot set to `next_at`) when the
    /// phone's slot is free at `now`, `false` while the resend wait runs.
    async fn reserve_sms_slot(&self, phone_hash: &[u8], now: i64, next_at: i64) -> Result<bool, StoreError>;

    /// Records a failed attempt of a kind ([`FAILURE_FACE`], [`FAILURE_IDENTITY`]).
    async fn record_failure_kind(
        &self,
        account_id: &str,
        id_hash: &[u8],
        kind: &str,
        at: i64,
    ) -> Result<(), StoreError>;

    /// Times of an ID number's failures of one kind after `since`, oldest first.
    async fn failures_of_id_kind(&self, id_hash: &[u8], kind: &str, since: i64) -> Result<Vec<i64>, StoreError>;

    /// Times of an account's failures after `since` (reservations left out), oldest first.
    async fn settled_failures_of_account(&self, account_id: &str, since: i64) -> Result<Vec<i64>, StoreError>;

    /// Reserves a face attempt under the daily lockouts: in one transaction that first locks
    /// the account's and the ID number's rows, counts the account's failures (reservations
    /// included) and the ID number's face failures (reservations included) after `since`, and
    /// if both are under their limits (`0` = no limit) inserts a [`FAILURE_PENDING`] row.
    /// Its id, or `None` when the attempt would go past a limit.
    async fn reserve_face_attempt(
        &self,
        account_id: &str,
        id_hash: &[u8],
        since: i64,
        now: i64,
        max_account: i64,
        max_id: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// Drops a reservation (its decision is stored, as a failure row of its own if it failed).
    async fn release_face_attempt(&self, reservation: i64) -> Result<(), StoreError>;

    /// Revokes a device (station credentials stop working; personal tokens too); `false` if
    /// there is no such unrevoked device.
    async fn revoke_device(&self, device_id: &str, now: i64) -> Result<bool, StoreError>;
}
