//! The SQLite engine (default): one file, WAL journal, a busy timeout so concurrent writers
//! queue instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

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

/// Migrations of this engine, oldest first (`migrations/sqlite/`).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, "liveness_replay", include_str!("../../migrations/sqlite/0002_liveness_replay.sql")),
    (3, "partner_mobile", include_str!("../../migrations/sqlite/0003_partner_mobile.sql")),
    (4, "webhooks", include_str!("../../migrations/sqlite/0004_webhooks.sql")),
    (5, "rate_limits", include_str!("../../migrations/sqlite/0005_rate_limits.sql")),
    (6, "retention_keys", include_str!("../../migrations/sqlite/0006_retention_keys.sql")),
    (7, "partner_oauth_email", include_str!("../../migrations/sqlite/0007_partner_oauth_email.sql")),
    (8, "hardening", include_str!("../../migrations/sqlite/0008_hardening.sql")),
    (9, "demo", include_str!("../../migrations/sqlite/0009_demo.sql")),
    (10, "similarity_prints", include_str!("../../migrations/sqlite/0010_similarity_prints.sql")),
];

/// SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    webhooks: super::webhooks::PlannerSlot,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file named by a `sqlite://` URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        Ok(Self { pool, webhooks: Default::default() })
    }
}

impl_store!(SqliteStore, sqlx::Sqlite, "sqlite", MIGRATIONS);

impl_paths_store!(SqliteStore, sqlx::Sqlite);
impl_trust_store!(SqliteStore, sqlx::Sqlite);

impl_webhook_store!(SqliteStore, sqlx::Sqlite, "");
impl_ops_store!(SqliteStore, sqlx::Sqlite);
impl_hardening_store!(SqliteStore);
impl_similarity_store!(SqliteStore);
impl_demo_store!(SqliteStore, sqlx::Sqlite);
impl_maintenance_store!(SqliteStore, sqlx::Sqlite);
