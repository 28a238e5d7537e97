// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements HardeningStore (lockouts, attempt reservations, rate-limit counters) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::hardening::HardeningStore for Engine {
    async fn rate_limit_refund(&self, key_hash: &[u8], window_start: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rate_limit_hits SET hits = hits - 1 WHERE key_hash = $1 AND window_start = $2 AND hits > 0",
        )
        .bind(key_hash)
        .bind(window_start)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn spend_sms_try(&self, id: &str, now: i64) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE sms_challenges SET wrong_left = wrong_left - 1 \
             WHERE id = $1 AND state = 'pending' AND wrong_left > 0 AND expires_at > $2 RETURNING wrong_left",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }

    async fn reserve_sms_slot(&self, phone_hash: &[u8], now: i64, next_at: i64) -> Result<bool, StoreError> {
        // Inserted, or updated because the wait is over: a row comes back. While the
        // wait runs the WHERE fails and nothing does (PostgreSQL re-checks it on the
        // row a concurrent writer committed; SQLite runs writers one at a time).
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO sms_phone_slots (phone_hash, next_at) VALUES ($1, $3) \
             ON CONFLICT (phone_hash) DO UPDATE SET next_at = $3 WHERE sms_phone_slots.next_at <= $2 RETURNING next_at",
        )
        .bind(phone_hash)
        .bind(now)
        .bind(next_at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn record_failure_kind(
        &self,
        account_id: &str,
        id_hash: &[u8],
        kind: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO failed_attempts (account_id, id_hash, at, kind) VALUES ($1, $2, $3, $4)")
            .bind(account_id)
            .bind(id_hash)
            .bind(at)
            .bind(kind)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn failures_of_id_kind(&self, id_hash: &[u8], kind: &str, since: i64) -> Result<Vec<i64>, StoreError> {
        let times: Vec<(i64,)> =
            sqlx::query_as("SELECT at FROM failed_attempts WHERE id_hash = $1 AND kind = $2 AND at > $3 ORDER BY at")
                .bind(id_hash)
                .bind(kind)
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(times.into_iter().map(|(t,)| t).collect())
    }

    async fn settled_failures_of_account(&self, account_id: &str, since: i64) -> Result<Vec<i64>, StoreError> {
        let times: Vec<(i64,)> = sqlx::query_as(
            "SELECT at FROM failed_attempts WHERE account_id = $1 AND kind <> 'pending' AND at > $2 ORDER BY at",
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(times.into_iter().map(|(t,)| t).collect())
    }

    async fn reserve_face_attempt(
        &self,
        account_id: &str,
        id_hash: &[u8],
        since: i64,
        now: i64,
        max_account: i64,
        max_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Writes first: PostgreSQL holds these row locks to the commit, so a concurrent
        // reservation of the same account or ID number waits here and then counts the
        // rows this one committed; SQLite runs one writing transaction at a time.
        // Always the account first, then the ID number: no two reservations wait on
        // each other in a cycle.
        for key in [format!("account:{account_id}"), format!("id:{}", hex::encode(id_hash))] {
            sqlx::query("INSERT INTO attempt_locks (lock_key, n) VALUES ($1, 1) ON CONFLICT (lock_key) DO UPDATE SET n = attempt_locks.n + 1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        let (by_account,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM failed_attempts WHERE account_id = $1 AND at > $2")
                .bind(account_id)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
        let (by_id,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM failed_attempts WHERE id_hash = $1 AND kind IN ('face', 'pending') AND at > $2",
        )
        .bind(id_hash)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        if (max_account > 0 && by_account >= max_account) || (max_id > 0 && by_id >= max_id) {
            tx.rollback().await?;
            return Ok(None);
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO failed_attempts (account_id, id_hash, at, kind) VALUES ($1, $2, $3, 'pending') RETURNING id",
        )
        .bind(account_id)
        .bind(id_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    async fn release_face_attempt(&self, reservation: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM failed_attempts WHERE id = $1 AND kind = 'pending'")
            .bind(reservation)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_device(&self, device_id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(device_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("UPDATE device_tokens SET revoked_at = $2 WHERE device_id = $1 AND revoked_at IS NULL")
            .bind(device_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
