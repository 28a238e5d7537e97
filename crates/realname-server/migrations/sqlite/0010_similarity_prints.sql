-- Replay check by similarity (issue 15): the perceptual hashes of every analysed frame with one
-- face (realname-liveness similarity_print: a 64-bit hash of the landmark-aligned face and one
-- of its surroundings; not an image, not reversible), kept per ID number (the HMAC id_hash)
-- with their upload and place in it (realname-liveness is_copy_of compares whole uploads),
-- so that a re-encoded, resized or cropped copy of an earlier upload for the same ID number
-- is refused as a replay. Looked up by id_hash (a replay must match that ID's reference photo,
-- so it copies one of that ID's earlier uploads), leaving out the same session's own earlier
-- attempts (a retry moments later looks like a copy); purged with the exact prints.
CREATE TABLE liveness_similarity_prints (
    id_hash     BLOB NOT NULL,
    session_id  TEXT NOT NULL,
    upload_id   TEXT NOT NULL,
    frame_no    BIGINT NOT NULL,
    face        BIGINT NOT NULL,
    frame       BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);
CREATE INDEX liveness_similarity_prints_id ON liveness_similarity_prints(id_hash, seen_at);
CREATE INDEX liveness_similarity_prints_seen ON liveness_similarity_prints(seen_at);
