// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements MaintenanceStore (audit frames, purges, key rotation) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::maintenance::MaintenanceStore for Engine {
    async fn insert_audit_frames(
        &self,
        session_id: &str,
        frames_enc: &[Vec<u8>],
        stored_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (i, frame) in frames_enc.iter().enumerate() {
            sqlx::query("INSERT INTO audit_frames (session_id, frame_index, frame_enc, stored_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(session_id)
                .bind(i as i64)
                .bind(frame)
                .bind(stored_at)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_frames_of(&self, session_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows: Vec<(Vec<u8>,)> =
            sqlx::query_as("SELECT frame_enc FROM audit_frames WHERE session_id = $1 ORDER BY id")
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(f,)| f).collect())
    }

    async fn purge(
        &self,
        c: crate::store::maintenance::PurgeCutoffs,
    ) -> Result<crate::store::maintenance::PurgeReport, StoreError> {
        let run = |sql: &'static str, at: i64| async move {
            Ok::<u64, StoreError>(sqlx::query::<Db>(sql).bind(at).execute(&self.pool).await?.rows_affected())
        };
        Ok(crate::store::maintenance::PurgeReport {
            audit_frames: run("DELETE FROM audit_frames WHERE expires_at <= $1", c.now).await?,
            liveness_nonces: run("DELETE FROM liveness_nonces WHERE used_at < $1", c.nonces_before).await?,
            // Both kinds of frame print (exact and similarity, migration 0010).
            liveness_frame_prints: run("DELETE FROM liveness_frame_prints WHERE seen_at < $1", c.frame_prints_before)
                .await?
                + run("DELETE FROM liveness_similarity_prints WHERE seen_at < $1", c.frame_prints_before).await?,
            web_sessions: run("DELETE FROM web_sessions WHERE expires_at <= $1", c.now).await?,
            device_tokens: run("DELETE FROM device_tokens WHERE expires_at <= $1", c.now).await?,
        })
    }

    async fn data_key_id(&self) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT key_id FROM data_key_state WHERE singleton = 1").fetch_optional(&self.pool).await?;
        Ok(row.map(|(k,)| k))
    }

    async fn init_data_key_id(&self, key_id: &str, now: i64) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO data_key_state (singleton, key_id, rotated_at) VALUES (1, $1, $2) ON CONFLICT (singleton) DO NOTHING")
            .bind(key_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let (k,): (String,) =
            sqlx::query_as("SELECT key_id FROM data_key_state WHERE singleton = 1").fetch_one(&self.pool).await?;
        Ok(k)
    }

    async fn recrypt_all(
        &self,
        recrypt: crate::store::maintenance::Recrypt<'_>,
        old_key_id: &str,
        new_key_id: &str,
        now: i64,
    ) -> Result<crate::store::maintenance::RecryptReport, StoreError> {
        use crate::store::maintenance::{ENCRYPTED_TABLES, KeyColumn};
        use sqlx::Row as _;
        let mut tx = self.pool.begin().await?;
        // The first statement writes: it takes the write lock (SQLite) / the row lock
        // (PostgreSQL), so two rotations cannot interleave.
        let claimed =
            sqlx::query("UPDATE data_key_state SET key_id = $1, rotated_at = $2 WHERE singleton = 1 AND key_id = $3")
                .bind(new_key_id)
                .bind(now)
                .bind(old_key_id)
                .execute(&mut *tx)
                .await?;
        if claimed.rows_affected() != 1 {
            return Err(StoreError::Corrupt(
                "the database is not under the current data key (rotated meanwhile?)".into(),
            ));
        }
        let mut report = crate::store::maintenance::RecryptReport::default();
        for t in ENCRYPTED_TABLES {
            let key_names: Vec<&str> = t.key.iter().map(|k| k.name()).collect();
            let select = format!("SELECT {}, {} FROM {}", key_names.join(", "), t.columns.join(", "), t.table);
            let set: Vec<String> = t.columns.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
            let cond: Vec<String> =
                key_names.iter().enumerate().map(|(i, k)| format!("{k} = ${}", t.columns.len() + i + 1)).collect();
            let update = format!("UPDATE {} SET {} WHERE {}", t.table, set.join(", "), cond.join(" AND "));
            let rows = sqlx::query::<Db>(&select).fetch_all(&mut *tx).await?;
            for row in &rows {
                let mut q = sqlx::query::<Db>(&update);
                for (i, c) in t.columns.iter().enumerate() {
                    let old: Vec<u8> = row.try_get(t.key.len() + i)?;
                    let new = recrypt(&old).ok_or_else(|| {
                        StoreError::Corrupt(format!("{}.{c}: a value does not open with the current data key", t.table))
                    })?;
                    q = q.bind(new);
                }
                for (i, k) in t.key.iter().enumerate() {
                    q = match k {
                        KeyColumn::Text(_) => q.bind(row.try_get::<String, _>(i)?),
                        KeyColumn::Bytes(_) => q.bind(row.try_get::<Vec<u8>, _>(i)?),
                        KeyColumn::Int(_) => q.bind(row.try_get::<i64, _>(i)?),
                    };
                }
                let done = q.execute(&mut *tx).await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Corrupt(format!("{}: a row changed during the rotation", t.table)));
                }
            }
            report.values += rows.len() as u64 * t.columns.len() as u64;
            report.tables.push((t.table.to_owned(), rows.len() as u64));
        }
        tx.commit().await?;
        Ok(report)
    }
}
