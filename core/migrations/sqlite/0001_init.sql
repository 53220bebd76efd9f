CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    secret_hash   TEXT,
    name          TEXT NOT NULL,
    owner         TEXT,
    redirect_uris TEXT NOT NULL,
    public        INTEGER NOT NULL,
    first_party   INTEGER NOT NULL,
    logo_uri      TEXT,
    client_uri    TEXT,
    created_at    INTEGER NOT NULL
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
    max_age        INTEGER,
    login_hint     TEXT,
    binding_hash   TEXT NOT NULL,
    status         TEXT NOT NULL,
    subject        TEXT,
    claims         TEXT NOT NULL,
    granted_scopes TEXT NOT NULL,
    auth_time      INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
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
    auth_time       INTEGER NOT NULL,
    code_expires_at INTEGER NOT NULL,
    code_used       INTEGER NOT NULL,
    revoked         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX authorizations_expires ON authorizations (expires_at);
