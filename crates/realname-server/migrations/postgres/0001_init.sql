-- Realname schema, PostgreSQL engine. Times are Unix seconds (BIGINT). Never edit a migration
-- once merged: add a new one.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    verified_at   BIGINT
);

CREATE TABLE web_sessions (
    id          TEXT PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('personal', 'station')),
    name            TEXT NOT NULL,
    platform        TEXT NOT NULL DEFAULT '',
    account_id      TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    credential_hash BYTEA UNIQUE,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);

CREATE TABLE device_tokens (
    token_hash  BYTEA PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE authority_records (
    id_hash      BYTEA PRIMARY KEY,
    id_enc       BYTEA NOT NULL,
    name_enc     BYTEA NOT NULL,
    descriptor   BYTEA,
    photo_sha256 TEXT NOT NULL,
    imported_at  BIGINT NOT NULL
);

CREATE TABLE face_sessions (
    id                 TEXT PRIMARY KEY,
    version            BIGINT NOT NULL,
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    web_session_id     TEXT NOT NULL,
    id_hash            BYTEA NOT NULL,
    id_enc             BYTEA NOT NULL,
    name_enc           BYTEA NOT NULL,
    method             TEXT NOT NULL,
    state              TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    handle_hash        BYTEA UNIQUE,
    handle_expires_at  BIGINT NOT NULL,
    attempts_left      BIGINT NOT NULL,
    device_id          TEXT,
    device_name        TEXT,
    station_code       TEXT,
    claimed_at         BIGINT,
    challenge          TEXT,
    confirmed_at       BIGINT,
    decided_at         BIGINT,
    last_decision      TEXT,
    failure_code       TEXT
);
CREATE INDEX face_sessions_account ON face_sessions(account_id, created_at);

-- One ID number verifies at most one account: the keyed hash is the primary key, and an
-- account holds at most one verified identity.
CREATE TABLE verified_identities (
    id_hash      BYTEA PRIMARY KEY,
    account_id   TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL,
    id_enc       BYTEA NOT NULL,
    name_enc     BYTEA NOT NULL,
    method       TEXT NOT NULL,
    verified_at  BIGINT NOT NULL
);

CREATE TABLE failed_attempts (
    id          BIGSERIAL PRIMARY KEY,
    account_id  TEXT NOT NULL,
    id_hash     BYTEA NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX failed_attempts_account ON failed_attempts(account_id, at);
CREATE INDEX failed_attempts_id ON failed_attempts(id_hash, at);
