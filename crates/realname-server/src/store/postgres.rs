//! The PostgreSQL engine, for many instances sharing one database.

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::demo::impl_demo_store;
use super::hardening::impl_hardening_store;
use super::maintenance::impl_maintenance_store;
use super::methods::impl_paths_store;
use super::ops::impl_ops_store;
use super::similarity::impl_similarity_store;
use super::sql::impl_store;
use super::trust::impl_trust_store;
use super::webhooks::impl_webhook_store;
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

impl_store!(
    PgStore,
    sqlx::Postgres,
    "postgres",
    MIGRATIONS,
    async fn notify_session_changed(&self, instance: &str, session_id: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{instance} {session_id}"))
            .execute(&self.pool)
            .await?;
        Ok(())
    },
    async fn session_changes(&self) -> Result<Option<super::SessionChanges>, StoreError> {
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
);

impl_paths_store!(PgStore, sqlx::Postgres);
impl_trust_store!(PgStore, sqlx::Postgres);

impl_webhook_store!(PgStore, sqlx::Postgres, "FOR UPDATE SKIP LOCKED");
impl_ops_store!(PgStore, sqlx::Postgres);
impl_hardening_store!(PgStore);
impl_similarity_store!(PgStore);
impl_demo_store!(PgStore, sqlx::Postgres);
impl_maintenance_store!(PgStore, sqlx::Postgres);
