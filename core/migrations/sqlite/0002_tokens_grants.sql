ALTER TABLE clients ADD COLUMN allowed_scopes TEXT;
ALTER TABLE clients ADD COLUMN issue_refresh_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN tokens_revoked_before INTEGER;
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;

ALTER TABLE auth_sessions ADD COLUMN remember INTEGER NOT NULL DEFAULT 0;

CREATE INDEX authorizations_subject ON authorizations (subject);
CREATE INDEX authorizations_client ON authorizations (client_id);

CREATE TABLE refresh_tokens (
    token_hash       TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    rotated_at       INTEGER
);
CREATE INDEX refresh_tokens_authorization ON refresh_tokens (authorization_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE grants (
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
);
