//! Storage of the similarity prints of analysed frames (migration 0010), the replay check that
//! survives re-encoding, resizing and small crops (`crate::flows::face::capture` applies it).
//!
//! Prints are kept per ID number (`id_hash`) and looked up by it: a replayed capture must still
//! match that ID's reference photo, so the earlier upload it copies was made for the same ID
//! number. The same session's earlier attempts are left out: a retry is the same person in the
//! same place seconds later, and a still face's frames a second apart are as close as a
//! re-encoded copy (measured on lp_d5: 0–2 differing bits, copies 0–8). The lookup reads at most [`SIMILARITY_SCAN_LIMIT`] of that ID's newest prints
//! through the `(id_hash, seen_at)` index — bounded whatever the table's size — grouped by
//! upload, and the comparison (`realname_liveness::similarity::is_copy_of`) runs in the caller.

use async_trait::async_trait;
use realname_liveness::SimilarityPrint;

use super::StoreError;

/// Most earlier prints of one ID number compared with an upload (newest first): 128 captures
/// of the default 16 frames. An ID number gets that many uploads only past several lockouts
/// within the prints' retention time.
pub const SIMILARITY_SCAN_LIMIT: i64 = 2048;

/// Storage of similarity prints.
#[async_trait]
pub trait SimilarityStore: Send + Sync {
    /// In one transaction: returns the newest (at most [`SIMILARITY_SCAN_LIMIT`]) prints recorded
    /// for `id_hash` before this call by sessions other than `session_id`, as uploads (each in
    /// frame order), then records `prints` (in upload order) as upload `upload_id` at `at`.
    async fn claim_similarity_prints(
        &self,
        id_hash: &[u8],
        session_id: &str,
        upload_id: &str,
        prints: &[SimilarityPrint],
        at: i64,
    ) -> Result<Vec<Vec<SimilarityPrint>>, StoreError>;
}

/// The 64 bits as the signed column value, and back.
pub(crate) fn to_column(bits: u64) -> i64 {
    i64::from_ne_bytes(bits.to_ne_bytes())
}

/// See [`to_column`].
pub(crate) fn from_column(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bit_pattern_survives_the_column() {
        for bits in [0u64, 1, u64::MAX, 1 << 63, 0x8000_0000_0000_0001, 0x0123_4567_89ab_cdef] {
            assert_eq!(from_column(to_column(bits)), bits);
        }
    }
}
