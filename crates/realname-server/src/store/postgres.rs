//! The PostgreSQL engine, for many instances sharing one database.

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::sql::impl_store;
use super::{
    Account, AuthorityRecord, Device, DeviceToken, FaceSession, StoreError, VerifiedIdentity, WebSession,
    classify,
};

/// Migrations of this engine, oldest first (`migrations/postgres/`).
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../migrations/postgres/0001_init.sql"))];

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().max_connections(10).connect(url).await?;
        Ok(Self { pool })
    }
}

impl_store!(PgStore, sqlx::Postgres, "postgres", MIGRATIONS);
