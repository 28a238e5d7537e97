-- Partner sync and mobile phone verification (PostgreSQL). Times are Unix seconds.

-- Local partner directory: completed verifications held by sister services, keyed by the
-- shared account's e-mail (lower-cased). Filled by `partners import`.
CREATE TABLE partner_records (
    partner      TEXT NOT NULL,
    account_key  TEXT NOT NULL,
    name_enc     BYTEA NOT NULL,
    id_enc       BYTEA NOT NULL,
    verified_at  BIGINT NOT NULL,
    imported_at  BIGINT NOT NULL,
    PRIMARY KEY (partner, account_key)
);

-- Consents given (or refused) on the partner popup: who, which partner, what, when.
CREATE TABLE partner_consents (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    partner     TEXT NOT NULL,
    shared      TEXT NOT NULL,
    decision    TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX partner_consents_account ON partner_consents(account_id, at);

-- Local carrier directory: who a mobile number is registered to. Filled by `carrier import`.
CREATE TABLE carrier_records (
    phone_hash   BYTEA PRIMARY KEY,
    id_hash      BYTEA NOT NULL,
    name_enc     BYTEA NOT NULL,
    imported_at  BIGINT NOT NULL
);

-- SMS one-time codes of the mobile method (the code only as a keyed hash).
CREATE TABLE sms_challenges (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    web_session_id  TEXT NOT NULL,
    phone_hash      BYTEA NOT NULL,
    phone_enc       BYTEA NOT NULL,
    id_hash         BYTEA NOT NULL,
    id_enc          BYTEA NOT NULL,
    name_enc        BYTEA NOT NULL,
    code_hash       BYTEA NOT NULL,
    sent_at         BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    wrong_left      BIGINT NOT NULL,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX sms_challenges_account ON sms_challenges(account_id, created_at);

-- Every code sent, for the per-phone, per-account and per-IP rate limits.
CREATE TABLE sms_sends (
    id          BIGSERIAL PRIMARY KEY,
    phone_hash  BYTEA NOT NULL,
    account_id  TEXT NOT NULL,
    ip_hash     BYTEA NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX sms_sends_phone ON sms_sends(phone_hash, at);
CREATE INDEX sms_sends_account ON sms_sends(account_id, at);
CREATE INDEX sms_sends_ip ON sms_sends(ip_hash, at);

-- The local SMS gateway's outbox (what testers read). Phone and text encrypted at rest.
CREATE TABLE sms_outbox (
    id          BIGSERIAL PRIMARY KEY,
    phone_enc   BYTEA NOT NULL,
    body_enc    BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
