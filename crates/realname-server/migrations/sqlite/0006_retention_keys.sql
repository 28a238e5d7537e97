-- Retention and data key rotation (SQLite). Times are Unix seconds.

-- Face frames kept for audit, only when `retention.frames_ttl_secs` is set (by default no
-- frame is ever stored). The uploaded bytes are AES-256-GCM encrypted with the data key; the
-- purge job deletes a row once `expires_at` has passed.
CREATE TABLE audit_frames (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id   TEXT NOT NULL,
    frame_index  INTEGER NOT NULL,
    frame_enc    BLOB NOT NULL,
    stored_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX audit_frames_expires ON audit_frames(expires_at);

-- The id of the data key the encrypted columns are under (derived from the key, not the key):
-- a server started with another key stops with a clear error, and `keys rotate` switches it
-- in the same transaction as the re-encryption.
CREATE TABLE data_key_state (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    key_id      TEXT NOT NULL,
    rotated_at  INTEGER NOT NULL
);

-- The purge job deletes expired browser sessions and companion tokens.
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);
CREATE INDEX device_tokens_expires ON device_tokens(expires_at);
