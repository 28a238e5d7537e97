-- Realname schema, SQLite engine. Times are Unix seconds (INTEGER). Never edit a migration
-- once merged: add a new one.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    verified_at   INTEGER
);

CREATE TABLE web_sessions (
    id          TEXT PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('personal', 'station')),
    name            TEXT NOT NULL,
    platform        TEXT NOT NULL DEFAULT '',
    account_id      TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    credential_hash BLOB UNIQUE,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);

CREATE TABLE device_tokens (
    token_hash  BLOB PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE authority_records (
    id_hash      BLOB PRIMARY KEY,
    id_enc       BLOB NOT NULL,
    name_enc     BLOB NOT NULL,
    descriptor   BLOB,
    photo_sha256 TEXT NOT NULL,
    imported_at  INTEGER NOT NULL
);

CREATE TABLE face_sessions (
    id                 TEXT PRIMARY KEY,
    version            INTEGER NOT NULL,
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    web_session_id     TEXT NOT NULL,
    id_hash            BLOB NOT NULL,
    id_enc             BLOB NOT NULL,
    name_enc           BLOB NOT NULL,
    method             TEXT NOT NULL,
    state              TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    handle_hash        BLOB UNIQUE,
    handle_expires_at  INTEGER NOT NULL,
    attempts_left      INTEGER NOT NULL,
    device_id          TEXT,
    device_name        TEXT,
    station_code       TEXT,
    claimed_at         INTEGER,
    challenge          TEXT,
    confirmed_at       INTEGER,
    decided_at         INTEGER,
    last_decision      TEXT,
    failure_code       TEXT
);
CREATE INDEX face_sessions_account ON face_sessions(account_id, created_at);

-- One ID number verifies at most one account: the keyed hash is the primary key, and an
-- account holds at most one verified identity.
CREATE TABLE verified_identities (
    id_hash      BLOB PRIMARY KEY,
    account_id   TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL,
    id_enc       BLOB NOT NULL,
    name_enc     BLOB NOT NULL,
    method       TEXT NOT NULL,
    verified_at  INTEGER NOT NULL
);

CREATE TABLE failed_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    id_hash     BLOB NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX failed_attempts_account ON failed_attempts(account_id, at);
CREATE INDEX failed_attempts_id ON failed_attempts(id_hash, at);
