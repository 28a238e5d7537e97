//! The SQLite engine (default): one file, WAL journal, a busy timeout so concurrent writers
//! queue instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

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
    /// One instance per SQLite file: no other instance to tell.
    async fn notify_changed(&self, _instance: &str, _session_id: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// No other instance's changes to follow.
    async fn changes(&self) -> Result<Option<super::SessionChanges>, StoreError> {
        Ok(None)
    }

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

// The shared SQL implementation (`engine/`), compiled once per engine with these in scope.
type Engine = SqliteStore;
type Db = sqlx::Sqlite;
const ENGINE: &str = "sqlite";
/// Added to the webhook claim's sub-select (nothing: SQLite runs one writer at a time).
const SKIP_LOCKED: &str = "";

include!("engine/store.rs");
include!("engine/methods.rs");
include!("engine/trust.rs");
include!("engine/webhooks.rs");
include!("engine/ops.rs");
include!("engine/hardening.rs");
include!("engine/similarity.rs");
include!("engine/demo.rs");
include!("engine/maintenance.rs");
