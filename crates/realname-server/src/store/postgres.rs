//! The PostgreSQL engine, for many instances sharing one database.

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{
    Account, AuthorityRecord, Device, DeviceToken, FaceSession, StoreError, VerifiedIdentity, WebSession, classify,
};

/// Migrations of this engine, oldest first (`migrations/postgres/`).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/postgres/0001_init.sql")),
    (2, "liveness_replay", include_str!("../../migrations/postgres/0002_liveness_replay.sql")),
    (3, "partner_mobile", include_str!("../../migrations/postgres/0003_partner_mobile.sql")),
    (4, "webhooks", include_str!("../../migrations/postgres/0004_webhooks.sql")),
    (5, "rate_limits", include_str!("../../migrations/postgres/0005_rate_limits.sql")),
    (6, "retention_keys", include_str!("../../migrations/postgres/0006_retention_keys.sql")),
    (7, "partner_oauth_email", include_str!("../../migrations/postgres/0007_partner_oauth_email.sql")),
    (8, "hardening", include_str!("../../migrations/postgres/0008_hardening.sql")),
    (9, "demo", include_str!("../../migrations/postgres/0009_demo.sql")),
    (10, "similarity_prints", include_str!("../../migrations/postgres/0010_similarity_prints.sql")),
];

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    webhooks: super::webhooks::PlannerSlot,
}

impl PgStore {
    /// Connects to a `postgres://` URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // A short acquire timeout: while the database is unreachable requests fail fast with
        // 503 instead of hanging; every connection is checked before use, so the pool
        // recovers by itself after a database restart.
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .test_before_acquire(true)
            .connect(url)
            .await?;
        Ok(Self { pool, webhooks: Default::default() })
    }
}

/// The `NOTIFY` channel of session changes.
const CHANNEL: &str = "realname_session";

impl PgStore {
    /// Tells the other instances (`NOTIFY`).
    async fn notify_changed(&self, instance: &str, session_id: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{instance} {session_id}"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The other instances' changes (`LISTEN`).
    async fn changes(&self) -> Result<Option<super::SessionChanges>, StoreError> {
        use futures::StreamExt as _;
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let stream = listener.into_stream().filter_map(|n| async move {
            let n = n.ok()?;
            let (instance, id) = n.payload().split_once(' ')?;
            Some((instance.to_owned(), id.to_owned()))
        });
        Ok(Some(stream.boxed()))
    }
}

// The shared SQL implementation (`engine/`), compiled once per engine with these in scope.
type Engine = PgStore;
type Db = sqlx::Postgres;
const ENGINE: &str = "postgres";
/// Added to the webhook claim's sub-select: rows another worker is claiming are skipped.
const SKIP_LOCKED: &str = "FOR UPDATE SKIP LOCKED";

include!("engine/store.rs");
include!("engine/methods.rs");
include!("engine/trust.rs");
include!("engine/webhooks.rs");
include!("engine/ops.rs");
include!("engine/hardening.rs");
include!("engine/similarity.rs");
include!("engine/demo.rs");
include!("engine/maintenance.rs");
