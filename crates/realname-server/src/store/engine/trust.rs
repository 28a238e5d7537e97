// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements TrustStore (partner requests, e-mail confirmations) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::trust::TrustStore for Engine {
    async fn set_partner_password(
        &self,
        partner: &str,
        login: &str,
        password_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE partner_records SET password_hash = $3 WHERE partner = $1 AND account_key = $2")
            .bind(partner)
            .bind(login)
            .bind(password_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn partner_names(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT partner FROM partner_records WHERE password_hash IS NOT NULL ORDER BY partner",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    async fn partner_login(
        &self,
        partner: &str,
        login: &str,
    ) -> Result<Option<(crate::store::methods::PartnerRecord, Option<String>)>, StoreError> {
        let record = sqlx::query_as::<Db, crate::store::methods::PartnerRecord>(
            "SELECT partner, account_key, name_enc, id_enc, verified_at, imported_at FROM partner_records WHERE partner = $1 AND account_key = $2",
        )
        .bind(partner)
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        let Some(record) = record else { return Ok(None) };
        let (hash,): (Option<String>,) =
            sqlx::query_as("SELECT password_hash FROM partner_records WHERE partner = $1 AND account_key = $2")
                .bind(partner)
                .bind(login)
                .fetch_one(&self.pool)
                .await?;
        Ok(Some((record, hash)))
    }

    async fn insert_partner_auth_request(&self, r: &crate::store::trust::PartnerAuthRequest) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM partner_auth_requests WHERE web_session_id = $1 OR expires_at <= $2")
            .bind(&r.web_session_id)
            .bind(r.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO partner_auth_requests (state_hash, account_id, web_session_id, partner, code_verifier, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&r.state_hash)
            .bind(&r.account_id)
            .bind(&r.web_session_id)
            .bind(&r.partner)
            .bind(&r.code_verifier)
            .bind(r.created_at)
            .bind(r.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_partner_auth_request(
        &self,
        state_hash: &[u8],
        web_session_id: &str,
    ) -> Result<Option<crate::store::trust::PartnerAuthRequest>, StoreError> {
        Ok(sqlx::query_as::<Db, crate::store::trust::PartnerAuthRequest>(
            "DELETE FROM partner_auth_requests WHERE state_hash = $1 AND web_session_id = $2 \
             RETURNING state_hash, account_id, web_session_id, partner, code_verifier, created_at, expires_at",
        )
        .bind(state_hash)
        .bind(web_session_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn insert_partner_auth_code(&self, c: &crate::store::trust::PartnerAuthCode) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM partner_auth_codes WHERE expires_at <= $1 AND created_at < $1")
            .bind(c.created_at - 86_400)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO partner_auth_codes (code_hash, partner, login, client_id, redirect_uri, code_challenge, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)")
            .bind(&c.code_hash)
            .bind(&c.partner)
            .bind(&c.login)
            .bind(&c.client_id)
            .bind(&c.redirect_uri)
            .bind(&c.code_challenge)
            .bind(c.created_at)
            .bind(c.expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn use_partner_auth_code(
        &self,
        code_hash: &[u8],
        now: i64,
    ) -> Result<crate::store::trust::CodeUse, StoreError> {
        let first = sqlx::query_as::<Db, crate::store::trust::PartnerAuthCode>(
            "UPDATE partner_auth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL \
             RETURNING code_hash, partner, login, client_id, redirect_uri, code_challenge, created_at, expires_at, used_at",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(code) = first {
            return Ok(crate::store::trust::CodeUse::First(code));
        }
        let seen: Option<(i64,)> = sqlx::query_as("SELECT created_at FROM partner_auth_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(if seen.is_some() { crate::store::trust::CodeUse::Reused } else { crate::store::trust::CodeUse::Unknown })
    }

    async fn insert_email_confirmation(
        &self,
        token_hash: &[u8],
        account_id: &str,
        created_at: i64,
        expires_at: i64,
        window: crate::store::trust::SendWindow,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Writes first: the account row is locked (PostgreSQL) / the database write
        // lock is taken (SQLite), so two concurrent sends cannot both pass the checks.
        sqlx::query("UPDATE accounts SET created_at = created_at WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let (recent, in_window): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN created_at > $2 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN created_at > $3 THEN 1 ELSE 0 END), 0) \
             FROM email_confirmations WHERE account_id = $1",
        )
        .bind(account_id)
        .bind(window.none_after)
        .bind(window.count_after)
        .fetch_one(&mut *tx)
        .await?;
        if recent > 0 || in_window >= window.max {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO email_confirmations (token_hash, account_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(token_hash)
            .bind(account_id)
            .bind(created_at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await?;
        Ok(true)
    }

    async fn last_email_confirmation(&self, account_id: &str) -> Result<Option<i64>, StoreError> {
        let (at,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(created_at) FROM email_confirmations WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(at)
    }

    async fn confirm_email(
        &self,
        token_hash: &[u8],
        account_id: &str,
        now: i64,
    ) -> Result<crate::store::trust::ConfirmOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE email_confirmations SET used_at = $3 WHERE token_hash = $1 AND account_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            let expired: Option<(i64,)> = sqlx::query_as(
                "SELECT expires_at FROM email_confirmations WHERE token_hash = $1 AND account_id = $2 AND used_at IS NULL AND expires_at <= $3",
            )
            .bind(token_hash)
            .bind(account_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Ok(if expired.is_some() {
                crate::store::trust::ConfirmOutcome::Expired
            } else {
                crate::store::trust::ConfirmOutcome::Invalid
            });
        }
        sqlx::query("INSERT INTO email_confirmed (account_id, confirmed_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(crate::store::trust::ConfirmOutcome::Confirmed)
    }

    async fn email_confirmed_at(&self, account_id: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT confirmed_at FROM email_confirmed WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(t,)| t))
    }

    async fn insert_email_outbox(&self, to_enc: &[u8], body_enc: &[u8], at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO email_outbox (to_enc, body_enc, created_at) VALUES ($1, $2, $3)")
            .bind(to_enc)
            .bind(body_enc)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_email_outbox(&self, limit: i64) -> Result<Vec<crate::store::trust::EmailOutboxMessage>, StoreError> {
        Ok(sqlx::query_as::<Db, crate::store::trust::EmailOutboxMessage>(
            "SELECT id, to_enc, body_enc, created_at FROM email_outbox ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
