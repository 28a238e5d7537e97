-- Partner sync and mobile phone verification (SQLite). Times are Unix seconds.

-- Local partner directory: completed verifications held by sister services, keyed by the
-- shared account's e-mail (lower-cased). Filled by `partners import`.
CREATE TABLE partner_records (
    partner      TEXT NOT NULL,
    account_key  TEXT NOT NULL,
    name_enc     BLOB NOT NULL,
    id_enc       BLOB NOT NULL,
    verified_at  INTEGER NOT NULL,
    imported_at  INTEGER NOT NULL,
    PRIMARY KEY (partner, account_key)
);

-- Consents given (or refused) on the partner popup: who, which partner, what, when.
CREATE TABLE partner_consents (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    partner     TEXT NOT NULL,
    shared      TEXT NOT NULL,
    decision    TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX partner_consents_account ON partner_consents(account_id, at);

-- Local carrier directory: who a mobile number is registered to. Filled by `carrier import`.
CREATE TABLE carrier_records (
    phone_hash   BLOB PRIMARY KEY,
    id_hash      BLOB NOT NULL,
    name_enc     BLOB NOT NULL,
    imported_at  INTEGER NOT NULL
);

-- SMS one-time codes of the mobile method (the code only as a keyed hash).
CREATE TABLE sms_challenges (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    web_session_id  TEXT NOT NULL,
    phone_hash      BLOB NOT NULL,
    phone_enc       BLOB NOT NULL,
    id_hash         BLOB NOT NULL,
    id_enc          BLOB NOT NULL,
    name_enc        BLOB NOT NULL,
    code_hash       BLOB NOT NULL,
    sent_at         INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    wrong_left      INTEGER NOT NULL,
    state           TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX sms_challenges_account ON sms_challenges(account_id, created_at);

-- Every code sent, for the per-phone, per-account and per-IP rate limits.
CREATE TABLE sms_sends (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_hash  BLOB NOT NULL,
    account_id  TEXT NOT NULL,
    ip_hash     BLOB NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX sms_sends_phone ON sms_sends(phone_hash, at);
CREATE INDEX sms_sends_account ON sms_sends(account_id, at);
CREATE INDEX sms_sends_ip ON sms_sends(ip_hash, at);

-- The local SMS gateway's outbox (what testers read). Phone and text encrypted at rest.
CREATE TABLE sms_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_enc   BLOB NOT NULL,
    body_enc    BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
