//! Storage of the webhook outbox and its delivery log ([`WebhookStore`], a supertrait of
//! [`super::Store`]), implemented for both engines by one macro like the rest of the storage.
//!
//! Rows are claimed with a lease (`locked_until_ms`, `lock_owner`) set by one atomic `UPDATE`
//! whose sub-select on PostgreSQL also takes `FOR UPDATE SKIP LOCKED`, so several workers on
//! one database never hold the same row at the same time; a crashed worker's rows become
//! claimable again when the lease runs out.

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;

/// `webhook_outbox.status` of a row still to be delivered.
pub const STATUS_PENDING: &str = "pending";
/// `webhook_outbox.status` of a row a receiver acknowledged (2xx).
pub const STATUS_DELIVERED: &str = "delivered";
/// `webhook_outbox.status` of a row that used up its attempts.
pub const STATUS_DEAD: &str = "dead";

/// A new outbox row: one event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookRow {
    /// The event id (the same for every endpoint and every attempt).
    pub event_id: String,
    /// The configured endpoint's name.
    pub endpoint: String,
    /// `verification.completed` or `verification.failed`.
    pub event_type: String,
    /// The verification (face session, SMS challenge or partner record) it reports.
    pub verification_id: String,
    /// The JSON body exactly as it is signed and sent.
    pub body: String,
    /// Unix seconds.
    pub created_at: i64,
    /// First delivery no earlier than this, Unix ms.
    pub next_attempt_ms: i64,
}

/// An outbox row as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookRow {
    /// Event id.
    pub event_id: String,
    /// Endpoint name.
    pub endpoint: String,
    /// Event type.
    pub event_type: String,
    /// The reported verification.
    pub verification_id: String,
    /// JSON body (masked name and ID number only).
    pub body: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made since it was (re)queued.
    pub attempts: i64,
    /// Next attempt no earlier than this, Unix ms.
    pub next_attempt_ms: i64,
    /// Leased to `lock_owner` until this, Unix ms.
    pub locked_until_ms: i64,
    /// The worker holding the lease.
    pub lock_owner: Option<String>,
    /// HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// Error class of the last failed attempt.
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub delivered_at: Option<i64>,
}

/// One delivery attempt (no personal data: ids, times, status, error class).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookAttempt {
    /// Event id.
    pub event_id: String,
    /// Endpoint name.
    pub endpoint: String,
    /// 1 for the first attempt since the row was (re)queued.
    pub attempt: i64,
    /// When the request started, Unix ms.
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// Error class (`timeout`, `connect`, `request`, `http_status`, `unknown_endpoint`).
    pub error: Option<String>,
    /// Request duration, ms.
    pub duration_ms: i64,
    /// The worker that made it.
    pub worker: String,
}

/// What a worker does with a row after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx: done.
    Delivered,
    /// Try again at this time (Unix ms).
    Retry(i64),
    /// No attempts left.
    Dead,
}

/// Where verification outcomes become outbox rows: set on the store at start-up when
/// endpoints are configured, and called inside the transaction that stores a final state.
pub trait WebhookPlanner: Send + Sync + std::fmt::Debug {
    /// The rows (one per endpoint) for a verification that reached a final state.
    fn plan(&self, outcome: &FinalOutcome<'_>) -> Vec<NewWebhookRow>;
}

/// A verification's final state, as the store sees it when committing it.
#[derive(Debug, Clone)]
pub struct FinalOutcome<'a> {
    /// Face session, SMS challenge or partner verification id.
    pub verification_id: &'a str,
    /// The account.
    pub account_id: &'a str,
    /// `face`, `mobile`, `partner:<name>`.
    pub method: &'a str,
    /// `passed`, `failed`, `expired` or `cancelled`.
    pub outcome: &'a str,
    /// Stable reason or error code of a failure.
    pub reason: Option<String>,
    /// AES-GCM of the name.
    pub name_enc: &'a [u8],
    /// AES-GCM of the ID number.
    pub id_enc: &'a [u8],
    /// When the final state was reached, Unix seconds.
    pub at: i64,
}

/// The planner slot every engine's store carries.
pub type PlannerSlot = Arc<std::sync::RwLock<Option<Arc<dyn WebhookPlanner>>>>;

/// The outcome a face session's final state reports, if it is final.
pub(crate) fn face_outcome(s: &super::FaceSession) -> Option<FinalOutcome<'_>> {
    use realname_protocol::api::SessionState;
    let outcome = match s.state {
        SessionState::Passed => "passed",
        SessionState::Failed => "failed",
        SessionState::Expired => "expired",
        SessionState::Cancelled => "cancelled",
        _ => return None,
    };
    let reason = s.failure_code.map(|c| c.as_str().to_owned()).or_else(|| {
        s.last_decision
            .as_ref()
            .filter(|_| s.state == SessionState::Failed)
            .and_then(|d| d.reason)
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
    });
    let reason = match s.state {
        SessionState::Expired => Some("expired".to_owned()),
        SessionState::Cancelled => Some("cancelled".to_owned()),
        _ => reason,
    };
    Some(FinalOutcome {
        verification_id: &s.id,
        account_id: &s.account_id,
        method: &s.method,
        outcome,
        reason,
        name_enc: &s.name_enc,
        id_enc: &s.id_enc,
        at: s.decided_at.unwrap_or(s.created_at),
    })
}

/// The outcome of a completed (passed) verification.
pub(crate) fn passed_outcome(v: &super::VerifiedIdentity) -> FinalOutcome<'_> {
    FinalOutcome {
        verification_id: &v.session_id,
        account_id: &v.account_id,
        method: &v.method,
        outcome: "passed",
        reason: None,
        name_enc: &v.name_enc,
        id_enc: &v.id_enc,
        at: v.verified_at,
    }
}

/// The rows the slot's planner makes for `outcome` (none without a planner).
pub(crate) fn plan(slot: &PlannerSlot, outcome: Option<FinalOutcome<'_>>) -> Vec<NewWebhookRow> {
    let planner = slot.read().ok().and_then(|p| p.clone());
    match (planner, outcome) {
        (Some(p), Some(o)) => p.plan(&o),
        _ => Vec::new(),
    }
}

/// Webhook outbox storage.
#[async_trait]
pub trait WebhookStore {
    /// Sets (or clears) the planner that turns final states into outbox rows.
    fn set_webhook_planner(&self, planner: Option<Arc<dyn WebhookPlanner>>);
    /// Inserts rows outside a verification (tests, tools); existing (event, endpoint) or
    /// (verification, endpoint) pairs are left as they are. Returns the rows inserted.
    async fn insert_webhook_rows(&self, rows: &[NewWebhookRow]) -> Result<u64, StoreError>;
    /// Leases up to `limit` due pending rows to `worker` until `now_ms + lease_ms`.
    async fn claim_webhooks(
        &self,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<WebhookRow>, StoreError>;
    /// Records an attempt and applies its outcome, if `worker` still holds the lease (`false`
    /// when the lease was lost; the attempt is logged either way).
    async fn finish_webhook_attempt(
        &self,
        worker: &str,
        a: &WebhookAttempt,
        outcome: &AttemptOutcome,
    ) -> Result<bool, StoreError>;
    /// Outbox rows, newest first, optionally of one status.
    async fn list_webhooks(&self, status: Option<&str>, limit: i64) -> Result<Vec<WebhookRow>, StoreError>;
    /// The rows of one event (one per endpoint).
    async fn webhook_event(&self, event_id: &str) -> Result<Vec<WebhookRow>, StoreError>;
    /// The delivery log of one event, oldest first.
    async fn webhook_attempts(&self, event_id: &str) -> Result<Vec<WebhookAttempt>, StoreError>;
    /// Queues an event again (same event id and body) for immediate delivery; the number of
    /// rows re-queued (0: unknown event).
    async fn requeue_webhook(&self, event_id: &str, now_ms: i64) -> Result<u64, StoreError>;
    /// Ids of unfinished face sessions past their session or QR deadline at `now` (Unix
    /// seconds), oldest deadline first: the expiry sweep expires them so that their
    /// `verification.failed` events are written even when nobody looks at them again.
    async fn overdue_face_sessions(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError>;
}

/// The columns of [`WebhookRow`].
pub(crate) const ROW_COLUMNS: &str = "event_id, endpoint, event_type, verification_id, body, status, attempts, \
     next_attempt_ms, locked_until_ms, lock_owner, last_status, last_error, created_at, delivered_at";

/// Implements [`WebhookStore`] for `$store` (fields `pool: $pool`, `webhooks: PlannerSlot`),
/// plus the inherent `insert_webhooks` used inside the final-state transactions.
macro_rules! impl_webhook_store {
    ($store:ty, $db:ty, $skip_locked:literal) => {
        impl $store {
            /// Inserts outbox rows on `executor` (the caller's transaction).
            pub(crate) async fn insert_webhooks(
                conn: &mut <$db as sqlx::Database>::Connection,
                rows: &[$crate::store::webhooks::NewWebhookRow],
            ) -> Result<u64, StoreError> {
                let mut n = 0;
                for r in rows {
                    let done = sqlx::query(
                        "INSERT INTO webhook_outbox (event_id, endpoint, event_type, verification_id, body, status, attempts, next_attempt_ms, locked_until_ms, created_at) \
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, 0, $7) ON CONFLICT DO NOTHING",
                    )
                    .bind(&r.event_id)
                    .bind(&r.endpoint)
                    .bind(&r.event_type)
                    .bind(&r.verification_id)
                    .bind(&r.body)
                    .bind(r.next_attempt_ms)
                    .bind(r.created_at)
                    .execute(&mut *conn)
                    .await?;
                    n += done.rows_affected();
                }
                Ok(n)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::webhooks::WebhookStore for $store {
            fn set_webhook_planner(&self, planner: Option<std::sync::Arc<dyn $crate::store::webhooks::WebhookPlanner>>) {
                if let Ok(mut slot) = self.webhooks.write() {
                    *slot = planner;
                }
            }

            async fn insert_webhook_rows(&self, rows: &[$crate::store::webhooks::NewWebhookRow]) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await?;
                let n = Self::insert_webhooks(&mut tx, rows).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn claim_webhooks(&self, worker: &str, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<$crate::store::webhooks::WebhookRow>, StoreError> {
                // One statement: the sub-select picks due, unleased rows (PostgreSQL skips rows
                // another worker is claiming right now); the outer condition re-checks the lease
                // on the row version it updates, so a row is never leased twice.
                let sql = format!(
                    "UPDATE webhook_outbox SET locked_until_ms = $2, lock_owner = $1 \
                     WHERE locked_until_ms <= $3 AND status = 'pending' AND (event_id, endpoint) IN ( \
                       SELECT event_id, endpoint FROM webhook_outbox \
                       WHERE status = 'pending' AND next_attempt_ms <= $3 AND locked_until_ms <= $3 \
                       ORDER BY next_attempt_ms, event_id LIMIT $4 {}) \
                     RETURNING {}",
                    $skip_locked,
                    $crate::store::webhooks::ROW_COLUMNS
                );
                Ok(sqlx::query_as::<$db, $crate::store::webhooks::WebhookRow>(&sql)
                    .bind(worker)
                    .bind(now_ms + lease_ms)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn finish_webhook_attempt(
                &self,
                worker: &str,
                a: &$crate::store::webhooks::WebhookAttempt,
                outcome: &$crate::store::webhooks::AttemptOutcome,
            ) -> Result<bool, StoreError> {
                use $crate::store::webhooks::AttemptOutcome;
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO webhook_deliveries (event_id, endpoint, attempt, at_ms, status_code, error, duration_ms, worker) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&a.event_id)
                    .bind(&a.endpoint)
                    .bind(a.attempt)
                    .bind(a.at_ms)
                    .bind(a.status_code)
                    .bind(&a.error)
                    .bind(a.duration_ms)
                    .bind(&a.worker)
                    .execute(&mut *tx)
                    .await?;
                let (status, next, delivered_at) = match outcome {
                    AttemptOutcome::Delivered => ("delivered", 0, Some((a.at_ms + a.duration_ms) / 1000)),
                    AttemptOutcome::Retry(at) => ("pending", *at, None),
                    AttemptOutcome::Dead => ("dead", 0, None),
                };
                let done = sqlx::query(
                    "UPDATE webhook_outbox SET status = $4, attempts = attempts + 1, next_attempt_ms = CASE WHEN $5 > 0 THEN $5 ELSE next_attempt_ms END, \
                     locked_until_ms = 0, lock_owner = NULL, last_status = $6, last_error = $7, delivered_at = COALESCE($8, delivered_at) \
                     WHERE event_id = $1 AND endpoint = $2 AND lock_owner = $3 AND status = 'pending'",
                )
                .bind(&a.event_id)
                .bind(&a.endpoint)
                .bind(worker)
                .bind(status)
                .bind(next)
                .bind(a.status_code)
                .bind(&a.error)
                .bind(delivered_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_webhooks(&self, status: Option<&str>, limit: i64) -> Result<Vec<$crate::store::webhooks::WebhookRow>, StoreError> {
                let sql = format!(
                    "SELECT {} FROM webhook_outbox WHERE ($1 IS NULL OR status = $1) ORDER BY created_at DESC, event_id, endpoint LIMIT $2",
                    $crate::store::webhooks::ROW_COLUMNS
                );
                Ok(sqlx::query_as::<$db, $crate::store::webhooks::WebhookRow>(&sql)
                    .bind(status)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn webhook_event(&self, event_id: &str) -> Result<Vec<$crate::store::webhooks::WebhookRow>, StoreError> {
                let sql = format!("SELECT {} FROM webhook_outbox WHERE event_id = $1 ORDER BY endpoint", $crate::store::webhooks::ROW_COLUMNS);
                Ok(sqlx::query_as::<$db, $crate::store::webhooks::WebhookRow>(&sql)
                    .bind(event_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn webhook_attempts(&self, event_id: &str) -> Result<Vec<$crate::store::webhooks::WebhookAttempt>, StoreError> {
                Ok(sqlx::query_as::<$db, $crate::store::webhooks::WebhookAttempt>(
                    "SELECT event_id, endpoint, attempt, at_ms, status_code, error, duration_ms, worker FROM webhook_deliveries WHERE event_id = $1 ORDER BY id",
                )
                .bind(event_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn overdue_face_sessions(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
                let ids: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM face_sessions WHERE state IN ('waiting', 'scanned', 'in_progress') \
                     AND (expires_at <= $1 OR (state = 'waiting' AND handle_hash IS NOT NULL AND handle_expires_at <= $1)) \
                     ORDER BY expires_at, id LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(ids.into_iter().map(|(id,)| id).collect())
            }

            async fn requeue_webhook(&self, event_id: &str, now_ms: i64) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE webhook_outbox SET status = 'pending', attempts = 0, next_attempt_ms = $2, locked_until_ms = 0, lock_owner = NULL WHERE event_id = $1",
                )
                .bind(event_id)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_webhook_store;
