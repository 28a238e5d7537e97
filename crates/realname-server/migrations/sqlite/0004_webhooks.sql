-- Signed webhooks for integrators (SQLite): the outbox (one row per event and endpoint,
-- written in the transaction that records the verification's final state) and the delivery
-- log (one row per attempt, no personal data). Scheduling columns are Unix milliseconds.

CREATE TABLE webhook_outbox (
    event_id         TEXT NOT NULL,
    endpoint         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    verification_id  TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    locked_until_ms  INTEGER NOT NULL DEFAULT 0,
    lock_owner       TEXT,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    PRIMARY KEY (event_id, endpoint),
    UNIQUE (verification_id, endpoint)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(status, next_attempt_ms);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL,
    worker       TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id, id);
