ALTER TABLE clients ADD COLUMN allowed_scopes TEXT;
ALTER TABLE clients ADD COLUMN issue_refresh_tokens BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN tokens_revoked_before BIGINT;
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;

ALTER TABLE auth_sessions ADD COLUMN remember BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX authorizations_subject ON authorizations (subject);
CREATE INDEX authorizations_client ON authorizations (client_id);

CREATE TABLE refresh_tokens (
    token_hash       TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    rotated_at       BIGINT
);
CREATE INDEX refresh_tokens_authorization ON refresh_tokens (authorization_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE grants (
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id)
);
