-- Replay protection of the liveness decision (realname-liveness ReplayStore): every challenge
-- nonce is used once, and the fingerprints of analysed faces of every upload are remembered
-- so that the same frames cannot be submitted again under a fresh challenge. A fingerprint is
-- a 64-bit hash of the face engine's landmarks and descriptor (not an image, not reversible).
CREATE TABLE liveness_nonces (
    nonce    TEXT PRIMARY KEY,
    used_at  BIGINT NOT NULL
);

CREATE TABLE liveness_frame_prints (
    fingerprint  BIGINT PRIMARY KEY,
    seen_at      BIGINT NOT NULL
);
CREATE INDEX liveness_frame_prints_seen ON liveness_frame_prints(seen_at);
