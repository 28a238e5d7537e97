// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements PathsStore (the partner and mobile paths' tables) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::methods::PathsStore for Engine {
    async fn upsert_partner_record(&self, r: &crate::store::methods::PartnerRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO partner_records (partner, account_key, name_enc, id_enc, verified_at, imported_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (partner, account_key) DO UPDATE SET name_enc = excluded.name_enc, id_enc = excluded.id_enc, \
                     verified_at = excluded.verified_at, imported_at = excluded.imported_at")
            .bind(&r.partner)
            .bind(&r.account_key)
            .bind(&r.name_enc)
            .bind(&r.id_enc)
            .bind(r.verified_at)
            .bind(r.imported_at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn insert_partner_consent(&self, c: &crate::store::methods::PartnerConsent) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO partner_consents (id, account_id, partner, shared, decision, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&c.id)
            .bind(&c.account_id)
            .bind(&c.partner)
            .bind(&c.shared)
            .bind(&c.decision)
            .bind(c.at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn partner_consents_of(
        &self,
        account_id: &str,
    ) -> Result<Vec<crate::store::methods::PartnerConsent>, StoreError> {
        Ok(sqlx::query_as::<Db, crate::store::methods::PartnerConsent>(
            "SELECT id, account_id, partner, shared, decision, at FROM partner_consents WHERE account_id = $1 ORDER BY at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn upsert_carrier_record(&self, r: &crate::store::methods::CarrierRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO carrier_records (phone_hash, id_hash, name_enc, imported_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (phone_hash) DO UPDATE SET id_hash = excluded.id_hash, name_enc = excluded.name_enc, imported_at = excluded.imported_at")
            .bind(&r.phone_hash)
            .bind(&r.id_hash)
            .bind(&r.name_enc)
            .bind(r.imported_at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn carrier_record(
        &self,
        phone_hash: &[u8],
    ) -> Result<Option<crate::store::methods::CarrierRecord>, StoreError> {
        Ok(sqlx::query_as::<Db, crate::store::methods::CarrierRecord>(
            "SELECT phone_hash, id_hash, name_enc, imported_at FROM carrier_records WHERE phone_hash = $1",
        )
        .bind(phone_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn insert_sms_challenge(
        &self,
        c: &crate::store::methods::SmsChallenge,
        ip_hash: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO sms_challenges (id, account_id, web_session_id, phone_hash, phone_enc, id_hash, id_enc, name_enc, code_hash, sent_at, expires_at, wrong_left, state, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
            .bind(&c.id)
            .bind(&c.account_id)
            .bind(&c.web_session_id)
            .bind(&c.phone_hash)
            .bind(&c.phone_enc)
            .bind(&c.id_hash)
            .bind(&c.id_enc)
            .bind(&c.name_enc)
            .bind(&c.code_hash)
            .bind(c.sent_at)
            .bind(c.expires_at)
            .bind(c.wrong_left)
            .bind(&c.state)
            .bind(c.created_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query("INSERT INTO sms_sends (phone_hash, account_id, ip_hash, at) VALUES ($1, $2, $3, $4)")
            .bind(&c.phone_hash)
            .bind(&c.account_id)
            .bind(ip_hash)
            .bind(c.sent_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sms_challenge(&self, id: &str) -> Result<Option<crate::store::methods::SmsChallenge>, StoreError> {
        Ok(sqlx::query_as::<Db, crate::store::methods::SmsChallenge>(
            "SELECT id, account_id, web_session_id, phone_hash, phone_enc, id_hash, id_enc, name_enc, code_hash, sent_at, expires_at, wrong_left, state, created_at \
             FROM sms_challenges WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn resend_sms_code(
        &self,
        c: &crate::store::methods::SmsChallenge,
        sent_before: i64,
        ip_hash: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sms_challenges SET code_hash = $2, sent_at = $3, expires_at = $4, wrong_left = $5 \
                                WHERE id = $1 AND state = 'pending' AND sent_at <= $6",
        )
        .bind(&c.id)
        .bind(&c.code_hash)
        .bind(c.sent_at)
        .bind(c.expires_at)
        .bind(c.wrong_left)
        .bind(sent_before)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO sms_sends (phone_hash, account_id, ip_hash, at) VALUES ($1, $2, $3, $4)")
            .bind(&c.phone_hash)
            .bind(&c.account_id)
            .bind(ip_hash)
            .bind(c.sent_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn spend_sms_wrong_entry(&self, id: &str) -> Result<Option<i64>, StoreError> {
        let left: Option<(i64,)> = sqlx::query_as(
            "UPDATE sms_challenges SET wrong_left = wrong_left - 1 WHERE id = $1 AND state = 'pending' AND wrong_left > 0 RETURNING wrong_left",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(left.map(|(n,)| n))
    }

    async fn sms_send_counts(
        &self,
        phone_hash: &[u8],
        account_id: &str,
        ip_hash: &[u8],
        since: i64,
    ) -> Result<crate::store::methods::SendCounts, StoreError> {
        let (phone,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sms_sends WHERE phone_hash = $1 AND at > $2")
            .bind(phone_hash)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        let (account,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sms_sends WHERE account_id = $1 AND at > $2")
            .bind(account_id)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        let (ip,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sms_sends WHERE ip_hash = $1 AND at > $2")
            .bind(ip_hash)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(crate::store::methods::SendCounts { phone, account, ip })
    }

    async fn complete_direct_verification(
        &self,
        challenge_id: Option<&str>,
        v: &VerifiedIdentity,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The first statement writes, so SQLite takes the write lock at once.
        if let Some(id) = challenge_id {
            let done = sqlx::query("UPDATE sms_challenges SET state = 'verified' WHERE id = $1 AND state = 'pending'")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        self.commit_verified_identity(tx, v).await
    }

    async fn insert_outbox_message(&self, phone_enc: &[u8], body_enc: &[u8], at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sms_outbox (phone_enc, body_enc, created_at) VALUES ($1, $2, $3)")
            .bind(phone_enc)
            .bind(body_enc)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_outbox(&self, limit: i64) -> Result<Vec<crate::store::methods::OutboxMessage>, StoreError> {
        Ok(sqlx::query_as::<Db, crate::store::methods::OutboxMessage>(
            "SELECT id, phone_enc, body_enc, created_at FROM sms_outbox ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
