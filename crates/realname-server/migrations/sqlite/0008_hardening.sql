-- Security review hardening (SQLite). Times are Unix seconds.

-- What a failed attempt was: 'face' (a face decision failed: counts against the account and,
-- across accounts, against the ID number) or 'identity' (the name or the phone did not match
-- the ID number: counts against the account only, so strangers cannot lock a person out).
-- Rows written before this migration were counted both ways; they stay 'face'.
ALTER TABLE failed_attempts ADD COLUMN kind TEXT NOT NULL DEFAULT 'face';
CREATE INDEX failed_attempts_id_kind ON failed_attempts(id_hash, kind, at);

-- The next time a code may be sent to a phone (the resend wait), reserved by one conditional
-- upsert so concurrent form submissions cannot each send one.
CREATE TABLE sms_phone_slots (
    phone_hash  BLOB PRIMARY KEY,
    next_at     INTEGER NOT NULL
);

-- One row per lock key (an account, an ID number's hash): a capture's face attempt takes the
-- rows of its account and ID number first in its transaction, so attempts on one account or
-- one ID number reserve their place under the daily lockout one at a time, on every instance.
-- A reserved attempt is a failed_attempts row of kind 'pending' until its decision is stored.
CREATE TABLE attempt_locks (
    lock_key  TEXT PRIMARY KEY,
    n         BIGINT NOT NULL
);
