// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements WebhookStore (the outbox) for `Engine` (a struct with a `pool` field), and the
// inherent `insert_webhooks` used inside the final-state transactions.

impl Engine {
    /// Inserts outbox rows on `executor` (the caller's transaction).
    pub(crate) async fn insert_webhooks(
        conn: &mut <Db as sqlx::Database>::Connection,
        rows: &[crate::store::webhooks::NewWebhookRow],
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
impl crate::store::webhooks::WebhookStore for Engine {
    fn set_webhook_planner(&self, planner: Option<std::sync::Arc<dyn crate::store::webhooks::WebhookPlanner>>) {
        if let Ok(mut slot) = self.webhooks.write() {
            *slot = planner;
        }
    }

    async fn insert_webhook_rows(&self, rows: &[crate::store::webhooks::NewWebhookRow]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = Self::insert_webhooks(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn claim_webhooks(
        &self,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<crate::store::webhooks::WebhookRow>, StoreError> {
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
            SKIP_LOCKED,
            crate::store::webhooks::ROW_COLUMNS
        );
        Ok(sqlx::query_as::<Db, crate::store::webhooks::WebhookRow>(&sql)
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
        a: &crate::store::webhooks::WebhookAttempt,
        outcome: &crate::store::webhooks::AttemptOutcome,
    ) -> Result<bool, StoreError> {
        use crate::store::webhooks::AttemptOutcome;
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

    async fn list_webhooks(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::store::webhooks::WebhookRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM webhook_outbox WHERE ($1 IS NULL OR status = $1) ORDER BY created_at DESC, event_id, endpoint LIMIT $2",
            crate::store::webhooks::ROW_COLUMNS
        );
        Ok(sqlx::query_as::<Db, crate::store::webhooks::WebhookRow>(&sql)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn webhook_event(&self, event_id: &str) -> Result<Vec<crate::store::webhooks::WebhookRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM webhook_outbox WHERE event_id = $1 ORDER BY endpoint",
            crate::store::webhooks::ROW_COLUMNS
        );
        Ok(sqlx::query_as::<Db, crate::store::webhooks::WebhookRow>(&sql).bind(event_id).fetch_all(&self.pool).await?)
    }

    async fn webhook_attempts(
        &self,
        event_id: &str,
    ) -> Result<Vec<crate::store::webhooks::WebhookAttempt>, StoreError> {
        Ok(sqlx::query_as::<Db, crate::store::webhooks::WebhookAttempt>(
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
