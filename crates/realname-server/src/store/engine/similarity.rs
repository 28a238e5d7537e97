// Included by both engines (`store/sqlite.rs`, `store/postgres.rs`) with `Engine`, `Db` and the
// engine constants in scope: one text for both, formatted and checked by rustfmt (scripts/test.sh).
// Implements SimilarityStore (similarity prints) for `Engine` (a struct with a `pool` field).

#[async_trait::async_trait]
impl crate::store::similarity::SimilarityStore for Engine {
    async fn claim_similarity_prints(
        &self,
        id_hash: &[u8],
        session_id: &str,
        upload_id: &str,
        prints: &[realname_liveness::SimilarityPrint],
        at: i64,
    ) -> Result<Vec<Vec<realname_liveness::SimilarityPrint>>, StoreError> {
        use crate::store::similarity::{SIMILARITY_SCAN_LIMIT, from_column, to_column};
        let mut tx = self.pool.begin().await?;
        // Writes first: SQLite then takes the write lock at the first statement and waits
        // its busy timeout for another writer; a transaction that read first cannot take
        // it once someone else committed ("database is locked" at once). The rows written
        // here are this session's, which the read leaves out.
        for (i, p) in prints.iter().enumerate() {
            sqlx::query("INSERT INTO liveness_similarity_prints (id_hash, session_id, upload_id, frame_no, face, frame, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(id_hash)
                .bind(session_id)
                .bind(upload_id)
                .bind(i as i64)
                .bind(to_column(p.face))
                .bind(to_column(p.frame))
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT upload_id, frame_no, face, frame FROM liveness_similarity_prints WHERE id_hash = $1 AND session_id <> $2 \
             ORDER BY seen_at DESC LIMIT $3",
        )
        .bind(id_hash)
        .bind(session_id)
        .bind(SIMILARITY_SCAN_LIMIT)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut uploads: std::collections::BTreeMap<String, Vec<(i64, realname_liveness::SimilarityPrint)>> =
            std::collections::BTreeMap::new();
        for (upload, frame_no, face, frame) in rows {
            let print = realname_liveness::SimilarityPrint { face: from_column(face), frame: from_column(frame) };
            uploads.entry(upload).or_default().push((frame_no, print));
        }
        Ok(uploads
            .into_values()
            .map(|mut frames| {
                frames.sort_by_key(|(n, _)| *n);
                frames.into_iter().map(|(_, p)| p).collect()
            })
            .collect())
    }
}
