CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    secret_hash   TEXT,
    name          TEXT NOT NULL,
    owner         TEXT,
    redirect_uris TEXT NOT NULL,
    public        BOOLEAN NOT NULL,
    first_party   BOOLEAN NOT NULL,
    logo_uri      TEXT,
    client_uri    TEXT,
    created_at    BIGINT NOT NULL,
    -- Insertion order, for stable listings (SQLite's rowid).
    seq           BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX clients_owner ON clients (owner);

CREATE TABLE auth_sessions (
    id_hash        TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    state          TEXT,
    nonce          TEXT,
    code_challenge TEXT,
    prompt         TEXT,
    max_age        BIGINT,
    login_hint     TEXT,
    binding_hash   TEXT NOT NULL,
    status         TEXT NOT NULL,
    subject        TEXT,
    claims         TEXT NOT NULL,
    granted_scopes TEXT NOT NULL,
    auth_time      BIGINT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);

CREATE TABLE authorizations (
    id              TEXT PRIMARY KEY,
    code_hash       TEXT NOT NULL UNIQUE,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    subject         TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    claims          TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       BIGINT NOT NULL,
    code_expires_at BIGINT NOT NULL,
    code_used       BOOLEAN NOT NULL,
    revoked         BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX authorizations_expires ON authorizations (expires_at);
