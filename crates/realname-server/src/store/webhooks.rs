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
