-- Rate-limit counters shared by every instance (SQLite). One row per key and fixed window:
-- `key_hash` is HMAC-SHA256 of the limit's scope and the keyed value (client IP, account,
-- e-mail, ID number, device), never the value itself. Times are Unix seconds.
CREATE TABLE rate_limit_hits (
    key_hash      BLOB NOT NULL,
    window_start  INTEGER NOT NULL,
    hits          INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (key_hash, window_start)
);
CREATE INDEX rate_limit_hits_expiry ON rate_limit_hits(expires_at);

-- `/metrics` counts the open (non-final) face sessions on every scrape.
CREATE INDEX face_sessions_open ON face_sessions(state, expires_at);
