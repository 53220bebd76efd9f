//! Persistence: one async trait, several back ends.
//!
//! The trait speaks in whole records and in the few atomic transitions the protocol needs (a
//! session leaving a status, a code being redeemed): single-use guarantees live in the store's
//! conditional updates, never in process memory, so they hold across processes sharing a database.

mod memory;
mod migrations;
mod postgres;
mod sqlite;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
#[cfg(feature = "count-statements")]
pub use sqlite::statement_log;

use async_trait::async_trait;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::keys::{KeyRecord, SigningAlg};

/// What an access token was issued from, for [`Store::access_token_revoked`].
#[derive(Debug, Clone, Copy)]
pub enum TokenOrigin<'a> {
    /// A user's authorization (`gid`): revoked with it, or when it is gone (its client deleted).
    Grant(&'a str),
    /// A client's own token (`client_credentials`), issued at `issued_at`: revoked when the client
    /// is deleted or its tokens were revoked at or after that second.
    Client { client_id: &'a str, issued_at: i64 },
}

/// A registered client application.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    pub client_id: String,
    /// Hash of the client secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub name: String,
    /// The host's id of the user who owns this app (apps created by a host's users).
    pub owner: Option<String>,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub created_at: i64,
    /// Scopes this client may be granted; `None` = any scope (client_credentials: none without a list).
    pub allowed_scopes: Option<Vec<String>>,
    /// Issue refresh tokens even when `offline_access` was not granted.
    pub issue_refresh_tokens: bool,
    /// Tokens issued to this client at or before this time are revoked (`revoke_client`).
    pub tokens_revoked_before: Option<i64>,
    /// Hash of the RFC 7592 registration access token (clients registered dynamically).
    pub registration_token_hash: Option<String>,
    /// A resource server: `/oauth2/introspect` describes access tokens issued to other clients to it.
    pub introspection_allowed: bool,
}

/// Where an auth session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Waiting for the host to approve or deny.
    Pending,
    /// Approved by the host, waiting for the user's consent.
    Approved,
    /// A code was issued; nothing more can happen.
    Completed,
    /// Denied by the host or the user.
    Denied,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Approved => "approved",
            SessionStatus::Completed => "completed",
            SessionStatus::Denied => "denied",
        }
    }
    pub fn parse(s: &str) -> Result<SessionStatus> {
        Ok(match s {
            "pending" => SessionStatus::Pending,
            "approved" => SessionStatus::Approved,
            "completed" => SessionStatus::Completed,
            "denied" => SessionStatus::Denied,
            _ => return Err(Error::storage("corrupt session status")),
        })
    }
}

/// An authorization request between `/authorize` and the code.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// Hash of the browser-binding cookie set at `/authorize`.
    pub binding_hash: String,
    pub status: SessionStatus,
    pub subject: Option<String>,
    pub claims: Map<String, Value>,
    pub granted_scopes: Vec<String>,
    pub auth_time: Option<i64>,
    /// The host or the user asked to remember this consent.
    pub remember: bool,
    /// Hash of the consent ticket: the one-time secret in the consent URL that `approve` returns.
    /// Set on approval when consent is needed; the consent page requires it and the binding cookie.
    pub consent_hash: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// One completed authorization: the code and everything issued from it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRecord {
    /// Public id carried by the tokens issued from this authorization (claim `gid`).
    pub id: String,
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub claims: Map<String, Value>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub code_expires_at: i64,
    pub code_used: bool,
    pub revoked: bool,
    pub created_at: i64,
    /// When the row may be collected: after the last token issued from it has expired.
    pub expires_at: i64,
}

/// A refresh token (stored by hash). Rotation links tokens into a family: the authorization.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub authorization_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when this token was exchanged for its successor; presenting it again is a replay.
    pub rotated_at: Option<i64>,
}

/// A remembered consent: `subject` let `client_id` have `scopes`.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRecord {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The persistence contract.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    /// Inserts unless the key exists; returns whether this call inserted it.
    async fn insert_setting_if_absent(&self, key: &str, value: &str) -> Result<bool>;
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;

    async fn list_keys(&self) -> Result<Vec<KeyRecord>>;
    /// Inserts `key` unless an unretired key of the same algorithm exists (first-start races).
    async fn insert_key_if_none(&self, key: &KeyRecord) -> Result<bool>;

    async fn insert_client(&self, client: &ClientRecord) -> Result<()>;
    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>>;
    async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<ClientRecord>>;
    /// Replaces a client's mutable fields; returns false when it does not exist.
    async fn update_client(&self, client: &ClientRecord) -> Result<bool>;
    async fn delete_client(&self, client_id: &str) -> Result<bool>;

    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>>;
    /// Writes `session` only if the stored one still has status `from`, and in the same transaction
    /// inserts `authorization` when given. Returns whether this call won.
    async fn transition_session(
        &self,
        session: &SessionRecord,
        from: SessionStatus,
        authorization: Option<&AuthorizationRecord>,
    ) -> Result<bool>;

    async fn get_authorization_by_code(&self, code_hash: &str) -> Result<Option<AuthorizationRecord>>;
    async fn get_authorization(&self, id: &str) -> Result<Option<AuthorizationRecord>>;
    /// Marks the code used if it was not and, in the same transaction, stores the first refresh token
    /// of the family. Returns whether this call redeemed it.
    async fn redeem_code(&self, id: &str, refresh: Option<&RefreshTokenRecord>) -> Result<bool>;
    async fn revoke_authorization(&self, id: &str) -> Result<()>;
    /// Revokes every authorization of a client (on deletion).
    async fn revoke_client_authorizations(&self, client_id: &str) -> Result<u64>;
    /// Revokes every authorization of a subject, or of a subject with one client.
    async fn revoke_subject_authorizations(&self, subject: &str, client_id: Option<&str>) -> Result<u64>;

    async fn get_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>>;
    /// Marks `old_hash` rotated if it was not, stores `new` and extends the authorization's retention
    /// to `authorization_expires_at`, atomically. Returns whether this call rotated it.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        authorization_expires_at: i64,
    ) -> Result<bool>;

    /// Adds an access token's `jti` to the deny-list until it would have expired anyway.
    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()>;
    async fn is_jti_revoked(&self, jti: &str) -> Result<bool>;
    /// Whether an access token is revoked: its `jti` is on the deny-list, or what it came from was
    /// withdrawn. Verifying a token not seen before asks this, so the SQL stores answer it in one
    /// statement (no row to decode); the default is the same check through the record methods.
    async fn access_token_revoked(&self, jti: &str, origin: TokenOrigin<'_>) -> Result<bool> {
        if self.is_jti_revoked(jti).await? {
            return Ok(true);
        }
        Ok(match origin {
            TokenOrigin::Grant(gid) => !matches!(self.get_authorization(gid).await?, Some(a) if !a.revoked),
            TokenOrigin::Client { client_id, issued_at } => !matches!(
                self.get_client(client_id).await?,
                Some(c) if c.tokens_revoked_before.is_none_or(|t| issued_at > t)
            ),
        })
    }

    async fn upsert_grant(&self, grant: &GrantRecord) -> Result<()>;
    async fn get_grant(&self, subject: &str, client_id: &str) -> Result<Option<GrantRecord>>;
    async fn list_grants(&self, subject: &str) -> Result<Vec<GrantRecord>>;
    async fn delete_grant(&self, subject: &str, client_id: &str) -> Result<bool>;

    /// Retires `old_kid` (if it is still active) and inserts `new`, atomically; returns false when
    /// another instance rotated first.
    async fn rotate_key(&self, old_kid: &str, new: &KeyRecord, now: i64) -> Result<bool>;
    /// Replaces the stored form of key `kid` (sealing a key stored in plain PKCS#8). Returns whether
    /// the key exists.
    async fn replace_key_der(&self, kid: &str, private_der: &[u8]) -> Result<bool>;
    /// Deletes keys retired before `before` (every token they signed has expired).
    async fn delete_retired_keys(&self, before: i64) -> Result<u64>;

    /// Deletes sessions, authorizations, refresh tokens and deny-list entries whose `expires_at` is
    /// before `now`; returns rows removed.
    async fn purge_expired(&self, now: i64) -> Result<u64>;

    /// Releases connections; later calls fail.
    async fn close(&self) {}
}

/// Connection-pool settings of a client/server database (PostgreSQL). SQLite and memory ignore them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections this instance may hold open at once.
    pub max_connections: u32,
    /// How long a request waits for a connection (also: for the database to come back) before it
    /// fails with [`ErrorKind::Storage`](crate::ErrorKind::Storage), HTTP 503.
    pub acquire_timeout: Duration,
}

impl PoolSettings {
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
    pub const DEFAULT_ACQUIRE_TIMEOUT_SECS: u64 = 10;

    /// The settings named in `config`, defaults for what it leaves unset.
    pub fn from_config(config: &crate::Config) -> PoolSettings {
        let d = PoolSettings::default();
        PoolSettings {
            max_connections: config.database_max_connections.unwrap_or(d.max_connections),
            acquire_timeout: config.database_acquire_timeout.map(Duration::from_secs).unwrap_or(d.acquire_timeout),
        }
    }
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(Self::DEFAULT_ACQUIRE_TIMEOUT_SECS),
        }
    }
}

/// Opens the store named by `database_url`: `sqlite://path`, `sqlite::memory:`, `memory:`, or
/// `postgres://…` / `postgresql://…`, with default pool settings.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>> {
    open_with(database_url, &PoolSettings::default()).await
}

/// Like [`open`] with explicit pool settings (used by PostgreSQL).
pub async fn open_with(database_url: &str, pool: &PoolSettings) -> Result<Arc<dyn Store>> {
    if database_url == "memory:" || database_url == "memory://" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if database_url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::open(database_url).await?));
    }
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Ok(Arc::new(PostgresStore::open_with(database_url, pool).await?));
    }
    // A bare file path is a SQLite file.
    if !database_url.contains("://") && !database_url.is_empty() && !database_url.contains(':') {
        return Ok(Arc::new(SqliteStore::open(&format!("sqlite://{database_url}")).await?));
    }
    Err(Error::config(format!(
        "unsupported database URL scheme in {:?}: use sqlite://path, a file path, postgres://…, or memory:",
        database_url.split(':').next().unwrap_or("")
    )))
}

/// The file behind a SQLite `database_url` (`sqlite://path`, a bare path), or `None` for an
/// in-memory or client/server database.
pub fn sqlite_file_path(database_url: &str) -> Option<std::path::PathBuf> {
    if database_url.starts_with("sqlite:") {
        return sqlite::file_path(database_url).map(std::path::PathBuf::from);
    }
    let bare = !database_url.contains("://") && !database_url.is_empty() && !database_url.contains(':');
    bare.then(|| std::path::PathBuf::from(database_url))
}

/// `database_url` fit for a log line or a banner: a password (in the authority or as a
/// `password=` parameter) is replaced by `***`.
pub fn redacted_url(database_url: &str) -> String {
    let Ok(mut u) = url::Url::parse(database_url) else {
        // Unparseable: keep the scheme and what follows the last '@', never what precedes it.
        return match (database_url.find("://"), database_url.rfind('@')) {
            (Some(s), Some(a)) if a > s => format!("{}://***@{}", &database_url[..s], &database_url[a + 1..]),
            _ => database_url.to_string(),
        };
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".to_string() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

pub(crate) fn alg_from_str(s: &str) -> Result<SigningAlg> {
    SigningAlg::parse(s).map_err(|_| Error::storage("corrupt key algorithm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_hide_passwords() {
        assert_eq!(redacted_url("postgres://cly:s3cret@db:5432/c"), "postgres://cly:***@db:5432/c");
        assert_eq!(redacted_url("postgres://db/c?user=u&password=s3cret"), "postgres://db/c?user=u&password=***");
        assert_eq!(redacted_url("postgres://u:s3cret@[bad/c"), "postgres://***@[bad/c");
        assert_eq!(redacted_url("sqlite://connectivly.db"), "sqlite://connectivly.db");
        assert_eq!(redacted_url("memory:"), "memory:");
    }

    #[test]
    fn migrations_have_the_same_versions_on_every_back_end() {
        let v = |m: &[(i64, &str)]| m.iter().map(|(v, _)| *v).collect::<Vec<_>>();
        assert_eq!(v(migrations::SQLITE), v(migrations::POSTGRES));
        assert!(v(migrations::SQLITE).windows(2).all(|w| w[1] == w[0] + 1), "versions are consecutive");
    }

    #[tokio::test]
    async fn urls_pick_their_store() {
        assert!(open("memory:").await.is_ok());
        assert_eq!(open("mysql://x/y").await.unwrap_err().kind(), crate::ErrorKind::Config);
        let unreachable = PoolSettings { max_connections: 1, acquire_timeout: Duration::from_secs(1) };
        for url in ["postgres://u@127.0.0.1:1/db", "postgresql://u@127.0.0.1:1/db"] {
            assert_eq!(open_with(url, &unreachable).await.unwrap_err().kind(), crate::ErrorKind::Storage, "{url}");
        }
    }
}
