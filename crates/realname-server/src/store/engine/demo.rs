// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements DemoStore (demo identities) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::demo::DemoStore for Engine {
    async fn insert_demo_identity(&self, r: &AuthorityRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO authority_records (id_hash, id_enc, name_enc, descriptor, photo_sha256, imported_at, demo) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id_hash) DO NOTHING",
        )
        .bind(&r.id_hash)
        .bind(&r.id_enc)
        .bind(&r.name_enc)
        .bind(&r.descriptor)
        .bind(&r.photo_sha256)
        .bind(r.imported_at)
        .bind(true)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn verification_is_demo(&self, account_id: &str) -> Result<Option<bool>, StoreError> {
        let row: Option<(bool,)> = sqlx::query_as("SELECT demo FROM verified_identities WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }
}
