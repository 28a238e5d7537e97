// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements OpsStore (readiness, admin listings) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::ops::OpsStore for Engine {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn rate_limit_hit(&self, key_hash: &[u8], window_start: i64, expires_at: i64) -> Result<i64, StoreError> {
        let (hits,): (i64,) = sqlx::query_as(
            "INSERT INTO rate_limit_hits (key_hash, window_start, hits, expires_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (key_hash, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1 RETURNING hits",
        )
        .bind(key_hash)
        .bind(window_start)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(hits)
    }

    async fn rate_limit_hits(&self, key_hash: &[u8], window_start: i64) -> Result<i64, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT hits FROM rate_limit_hits WHERE key_hash = $1 AND window_start = $2")
                .bind(key_hash)
                .bind(window_start)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map_or(0, |r| r.0))
    }

    async fn purge_rate_limits(&self, now: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM rate_limit_hits WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn count_open_sessions(&self, now: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM face_sessions WHERE state IN ('waiting', 'scanned', 'in_progress') AND expires_at > $1",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn count_sms_outbox(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sms_outbox").fetch_one(&self.pool).await?;
        Ok(n)
    }
}
