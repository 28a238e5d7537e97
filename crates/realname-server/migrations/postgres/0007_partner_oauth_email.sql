-- Partner sync over OAuth 2.0 (authorization code + PKCE) and e-mail confirmation (PostgreSQL).
-- Times are Unix seconds.

-- The local partner stand-in signs its own users in: `account_key` is now the partner login,
-- and this is its argon2id password hash (NULL: the record cannot sign in).
ALTER TABLE partner_records ADD COLUMN password_hash TEXT;

-- Our side (OAuth client): one pending *Authorize Now* per browser session. The `state`
-- only as a hash; it is bound to the account and the browser session that started it.
CREATE TABLE partner_auth_requests (
    state_hash      BYTEA PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    web_session_id  TEXT NOT NULL,
    partner         TEXT NOT NULL,
    code_verifier   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX partner_auth_requests_web ON partner_auth_requests(web_session_id);

-- The local partner's side (authorization server): single-use, short-lived codes, only as
-- hashes, bound to the client, the redirect URI and the PKCE challenge.
CREATE TABLE partner_auth_codes (
    code_hash       BYTEA PRIMARY KEY,
    partner         TEXT NOT NULL,
    login           TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

-- E-mail confirmation links sent at sign-up (the token only as a hash), bound to the account.
CREATE TABLE email_confirmations (
    token_hash  BYTEA PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX email_confirmations_account ON email_confirmations(account_id, created_at);

-- Accounts whose e-mail address is confirmed.
CREATE TABLE email_confirmed (
    account_id    TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    confirmed_at  BIGINT NOT NULL
);

-- The local e-mail outbox (what testers read). Address and text encrypted at rest.
CREATE TABLE email_outbox (
    id          BIGSERIAL PRIMARY KEY,
    to_enc      BYTEA NOT NULL,
    body_enc    BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
