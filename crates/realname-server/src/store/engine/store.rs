// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements Store (accounts, sessions, devices, verified identities) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::Store for Engine {
    async fn notify_session_changed(&self, instance: &str, session_id: &str) -> Result<(), StoreError> {
        self.notify_changed(instance, session_id).await
    }

    async fn session_changes(&self) -> Result<Option<crate::store::SessionChanges>, StoreError> {
        self.changes().await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = sqlx::migrate::Migrator::new(crate::store::EmbeddedMigrations(MIGRATIONS)).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    fn engine(&self) -> &'static str {
        ENGINE
    }

    async fn insert_account(&self, a: &Account) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, created_at, verified_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&a.id)
        .bind(&a.email)
        .bind(&a.password_hash)
        .bind(a.created_at)
        .bind(a.verified_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        Ok(sqlx::query_as::<Db, Account>(
            "SELECT id, email, password_hash, created_at, verified_at FROM accounts WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, StoreError> {
        Ok(sqlx::query_as::<Db, Account>(
            "SELECT id, email, password_hash, created_at, verified_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn list_accounts(&self, limit: i64) -> Result<Vec<Account>, StoreError> {
        Ok(sqlx::query_as::<Db, Account>("SELECT id, email, password_hash, created_at, verified_at FROM accounts ORDER BY created_at DESC, id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn insert_web_session(&self, s: &WebSession, token_hash: &[u8], now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO web_sessions (id, token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id)
        .bind(token_hash)
        .bind(&s.account_id)
        .bind(now)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn web_session(&self, token_hash: &[u8], now: i64) -> Result<Option<WebSession>, StoreError> {
        Ok(sqlx::query_as::<Db, WebSession>(
            "SELECT id, account_id, expires_at FROM web_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_web_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_device(&self, d: &Device, credential_hash: Option<&[u8]>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO devices (id, kind, name, platform, account_id, credential_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&d.id)
            .bind(d.kind.as_str())
            .bind(&d.name)
            .bind(&d.platform)
            .bind(&d.account_id)
            .bind(credential_hash)
            .bind(d.created_at)
            .bind(d.revoked_at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn device(&self, id: &str) -> Result<Option<Device>, StoreError> {
        Ok(sqlx::query_as::<Db, Device>(
            "SELECT id, kind, name, platform, account_id, created_at, revoked_at FROM devices WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn station_by_credential(&self, credential_hash: &[u8]) -> Result<Option<Device>, StoreError> {
        Ok(sqlx::query_as::<Db, Device>("SELECT id, kind, name, platform, account_id, created_at, revoked_at FROM devices WHERE credential_hash = $1 AND kind = 'station' AND revoked_at IS NULL")
            .bind(credential_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_devices(&self) -> Result<Vec<Device>, StoreError> {
        Ok(sqlx::query_as::<Db, Device>("SELECT id, kind, name, platform, account_id, created_at, revoked_at FROM devices ORDER BY created_at DESC, id")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn insert_token(&self, token_hash: &[u8], t: &DeviceToken, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO device_tokens (token_hash, kind, device_id, account_id, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(token_hash)
            .bind(t.kind.as_str())
            .bind(&t.device_id)
            .bind(&t.account_id)
            .bind(now)
            .bind(t.expires_at)
            .bind(t.revoked_at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn token(&self, token_hash: &[u8]) -> Result<Option<DeviceToken>, StoreError> {
        Ok(sqlx::query_as::<Db, DeviceToken>(
            "SELECT kind, device_id, account_id, expires_at, revoked_at FROM device_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn revoke_token(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE device_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(token_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_device_tokens(&self, device_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE device_tokens SET revoked_at = $2 WHERE device_id = $1 AND revoked_at IS NULL")
            .bind(device_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn upsert_authority_record(&self, r: &AuthorityRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO authority_records (id_hash, id_enc, name_enc, descriptor, photo_sha256, imported_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (id_hash) DO UPDATE SET id_enc = excluded.id_enc, name_enc = excluded.name_enc, descriptor = excluded.descriptor, \
                     photo_sha256 = excluded.photo_sha256, imported_at = excluded.imported_at")
            .bind(&r.id_hash)
            .bind(&r.id_enc)
            .bind(&r.name_enc)
            .bind(&r.descriptor)
            .bind(&r.photo_sha256)
            .bind(r.imported_at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn authority_record(&self, id_hash: &[u8]) -> Result<Option<AuthorityRecord>, StoreError> {
        Ok(sqlx::query_as::<Db, AuthorityRecord>("SELECT id_hash, id_enc, name_enc, descriptor, photo_sha256, imported_at FROM authority_records WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn count_authority_records(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM authority_records").fetch_one(&self.pool).await?;
        Ok(n)
    }

    async fn insert_face_session(&self, s: &FaceSession) -> Result<(), StoreError> {
        let (state, challenge, decision) = crate::store::sql::session_json(s);
        let sql = format!(
            "INSERT INTO face_sessions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
            crate::store::sql::SESSION_COLUMNS
        );
        sqlx::query(&sql)
            .bind(&s.id)
            .bind(s.version)
            .bind(&s.account_id)
            .bind(&s.web_session_id)
            .bind(&s.id_hash)
            .bind(&s.id_enc)
            .bind(&s.name_enc)
            .bind(&s.method)
            .bind(state)
            .bind(s.created_at)
            .bind(s.expires_at)
            .bind(&s.handle_hash)
            .bind(s.handle_expires_at)
            .bind(s.attempts_left)
            .bind(&s.device_id)
            .bind(&s.device_name)
            .bind(&s.station_code)
            .bind(s.claimed_at)
            .bind(challenge)
            .bind(s.confirmed_at)
            .bind(s.decided_at)
            .bind(decision)
            .bind(s.failure_code.map(crate::store::FailureCode::as_str))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn face_session(&self, id: &str) -> Result<Option<FaceSession>, StoreError> {
        let sql = format!("SELECT {} FROM face_sessions WHERE id = $1", crate::store::sql::SESSION_COLUMNS);
        sqlx::query_as::<Db, crate::store::sql::FaceSessionRow>(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(FaceSession::try_from)
            .transpose()
    }

    async fn face_session_by_handle(&self, handle_hash: &[u8]) -> Result<Option<FaceSession>, StoreError> {
        let sql = format!("SELECT {} FROM face_sessions WHERE handle_hash = $1", crate::store::sql::SESSION_COLUMNS);
        sqlx::query_as::<Db, crate::store::sql::FaceSessionRow>(&sql)
            .bind(handle_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(FaceSession::try_from)
            .transpose()
    }

    async fn update_face_session(&self, s: &FaceSession) -> Result<bool, StoreError> {
        // A final state with webhook endpoints configured: the outbox rows commit with it.
        let rows = crate::store::webhooks::plan(&self.webhooks, crate::store::webhooks::face_outcome(s));
        if rows.is_empty() {
            return Self::write_session(&self.pool, s).await;
        }
        let mut tx = self.pool.begin().await?;
        if !Self::write_session(&mut *tx, s).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::insert_webhooks(&mut tx, &rows).await?;
        tx.commit().await.map_err(classify)?;
        Ok(true)
    }

    async fn list_face_sessions(&self, limit: i64) -> Result<Vec<FaceSession>, StoreError> {
        let sql = format!(
            "SELECT {} FROM face_sessions ORDER BY created_at DESC, id LIMIT $1",
            crate::store::sql::SESSION_COLUMNS
        );
        sqlx::query_as::<Db, crate::store::sql::FaceSessionRow>(&sql)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(FaceSession::try_from)
            .collect()
    }

    async fn complete_verification(&self, s: &FaceSession, v: &VerifiedIdentity) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The first statement writes, so SQLite takes the write lock at once (no
        // read-then-upgrade deadlock); PostgreSQL row-locks the session.
        if !Self::write_session(&mut *tx, s).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        self.commit_verified_identity(tx, v).await
    }

    async fn verified_identity_of_account(&self, account_id: &str) -> Result<Option<VerifiedIdentity>, StoreError> {
        Ok(sqlx::query_as::<Db, VerifiedIdentity>("SELECT id_hash, account_id, session_id, id_enc, name_enc, method, verified_at FROM verified_identities WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn verified_identity_by_id_hash(&self, id_hash: &[u8]) -> Result<Option<VerifiedIdentity>, StoreError> {
        Ok(sqlx::query_as::<Db, VerifiedIdentity>("SELECT id_hash, account_id, session_id, id_enc, name_enc, method, verified_at FROM verified_identities WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_verified_identities(&self, limit: i64) -> Result<Vec<VerifiedIdentity>, StoreError> {
        Ok(sqlx::query_as::<Db, VerifiedIdentity>("SELECT id_hash, account_id, session_id, id_enc, name_enc, method, verified_at FROM verified_identities ORDER BY verified_at DESC, session_id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn record_failure(&self, account_id: &str, id_hash: &[u8], at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO failed_attempts (account_id, id_hash, at) VALUES ($1, $2, $3)")
            .bind(account_id)
            .bind(id_hash)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn failures_of_account(&self, account_id: &str, since: i64) -> Result<Vec<i64>, StoreError> {
        let times: Vec<(i64,)> =
            sqlx::query_as("SELECT at FROM failed_attempts WHERE account_id = $1 AND at > $2 ORDER BY at")
                .bind(account_id)
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(times.into_iter().map(|(t,)| t).collect())
    }

    async fn failures_of_id(&self, id_hash: &[u8], since: i64) -> Result<Vec<i64>, StoreError> {
        let times: Vec<(i64,)> =
            sqlx::query_as("SELECT at FROM failed_attempts WHERE id_hash = $1 AND at > $2 ORDER BY at")
                .bind(id_hash)
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(times.into_iter().map(|(t,)| t).collect())
    }

    async fn claim_nonce(&self, nonce: &str, at: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("INSERT INTO liveness_nonces (nonce, used_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING")
                .bind(nonce)
                .bind(at)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_frame_prints(&self, prints: &[u64], at: i64) -> Result<bool, StoreError> {
        let mut distinct: Vec<u64> = prints.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        // One transaction: either the whole upload is recorded or none of it.
        let mut tx = self.pool.begin().await?;
        let mut fresh = 0u64;
        for p in &distinct {
            // Stored as the signed reinterpretation of the 64 bits.
            let done = sqlx::query("INSERT INTO liveness_frame_prints (fingerprint, seen_at) VALUES ($1, $2) ON CONFLICT (fingerprint) DO NOTHING")
                .bind(i64::from_ne_bytes(p.to_ne_bytes()))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            fresh += done.rows_affected();
        }
        tx.commit().await?;
        Ok(fresh == distinct.len() as u64)
    }
}

impl Engine {
    /// "One ID number, one account": the write every method ends with, in the caller's
    /// transaction, then committed. Inserts the verified identity (the unique keys on
    /// `id_hash` and `account_id` refuse a second one: `Constraint::IdentityIdHash` /
    /// `Constraint::IdentityAccount`), marks the account verified and plans the
    /// completion webhooks. `Ok(true)` once committed.
    pub(crate) async fn commit_verified_identity(
        &self,
        mut tx: sqlx::Transaction<'_, Db>,
        v: &VerifiedIdentity,
    ) -> Result<bool, StoreError> {
        sqlx::query("INSERT INTO verified_identities (id_hash, account_id, session_id, id_enc, name_enc, method, verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&v.id_hash)
            .bind(&v.account_id)
            .bind(&v.session_id)
            .bind(&v.id_enc)
            .bind(&v.name_enc)
            .bind(&v.method)
            .bind(v.verified_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query("UPDATE accounts SET verified_at = $2 WHERE id = $1")
            .bind(&v.account_id)
            .bind(v.verified_at)
            .execute(&mut *tx)
            .await?;
        let rows = crate::store::webhooks::plan(&self.webhooks, Some(crate::store::webhooks::passed_outcome(v)));
        Self::insert_webhooks(&mut tx, &rows).await?;
        tx.commit().await.map_err(classify)?;
        Ok(true)
    }

    /// Writes `s` over the stored session if the stored version is still `s.version`
    /// (optimistic locking); `false` when another writer got there first. Shared by
    /// plain updates and the verification transaction.
    async fn write_session<'e, E>(executor: E, s: &FaceSession) -> Result<bool, StoreError>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        let (state, challenge, decision) = crate::store::sql::session_json(s);
        let done = sqlx::query(crate::store::sql::UPDATE_SESSION)
            .bind(&s.id)
            .bind(s.version)
            .bind(state)
            .bind(&s.handle_hash)
            .bind(s.handle_expires_at)
            .bind(s.attempts_left)
            .bind(&s.device_id)
            .bind(&s.device_name)
            .bind(&s.station_code)
            .bind(s.claimed_at)
            .bind(challenge)
            .bind(s.confirmed_at)
            .bind(s.decided_at)
            .bind(decision)
            .bind(s.failure_code.map(crate::store::FailureCode::as_str))
            .bind(s.expires_at)
            .execute(executor)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }
}
