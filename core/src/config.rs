//! Provider configuration. Adapters fill it from env vars (server) or keyword arguments (bindings).

use crate::error::{Error, Result};
use crate::keys::SigningAlg;
use crate::scopes::ScopeDef;

/// Everything a [`Provider`](crate::Provider) needs to open.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer URL: the base of every endpoint and the `iss` of every token. Never derived from
    /// request headers.
    pub issuer: String,
    /// The host's login endpoint; the browser is sent there with `?token=<session id>`.
    pub login_url: String,
    /// `sqlite://path.db` (the default, `sqlite://connectivly.db`), `postgres://…` or `memory:`.
    pub database_url: String,
    /// PostgreSQL: connections this instance may hold open (default 10). Instances × this must stay
    /// below the server's `max_connections`.
    pub database_max_connections: Option<u32>,
    /// PostgreSQL: seconds a request waits for a connection before failing with a storage error
    /// (HTTP 503; default 10).
    pub database_acquire_timeout: Option<u64>,
    /// An explicit host-API key. When unset the key lives (hashed) in the store.
    pub api_key: Option<String>,
    /// The name shown on the consent page.
    pub provider_name: String,
    /// Host-defined scopes, in addition to the built-in `openid`, `profile`, `email`, `offline_access`.
    pub scopes: Vec<ScopeDef>,
    /// The algorithm that signs ID and access tokens.
    pub signing_alg: SigningAlg,
    /// `aud` of access tokens; defaults to the issuer.
    pub audience: Option<String>,
    /// How long a browser has from `/authorize` to approval and consent (seconds).
    pub session_ttl: i64,
    /// Authorization code lifetime (seconds).
    pub code_ttl: i64,
    /// Access token lifetime (seconds).
    pub access_token_ttl: i64,
    /// ID token lifetime (seconds).
    pub id_token_ttl: i64,
    /// Refresh token lifetime (seconds); each rotation starts a new one.
    pub refresh_token_ttl: i64,
    /// Seconds during which presenting an already-rotated refresh token is refused *without*
    /// revoking its family (tolerates a client's network retry). 0 = every replay revokes.
    pub refresh_reuse_grace: i64,
    /// Rotate signing keys when the active one is this old (seconds); `None` = only on demand.
    pub key_rotation_interval: Option<i64>,
    /// Encrypts signing keys at rest (AES-256-GCM under a key derived from this secret).
    pub secret: Option<String>,
    /// Enables Dynamic Client Registration (RFC 7591/7592) at `/oauth2/register` for callers
    /// presenting this initial access token. `None` (the default): registration is off.
    pub registration_token: Option<String>,
    /// Failed client authentications per client id per minute before it is refused (429); 0 = no limit.
    pub failed_auth_limit_per_client: u32,
    /// Failed client authentications, wrong host-API keys and unknown consent sessions per source
    /// address per minute before it is refused (429); 0 = no limit. Behind a proxy every client shares
    /// its address: raise this or set 0 there.
    pub failed_limit_per_address: u32,
}

impl Config {
    pub fn new(issuer: impl Into<String>, login_url: impl Into<String>) -> Config {
        Config {
            issuer: issuer.into(),
            login_url: login_url.into(),
            database_url: "sqlite://connectivly.db".into(),
            database_max_connections: None,
            database_acquire_timeout: None,
            api_key: None,
            provider_name: "Connectivly".into(),
            scopes: Vec::new(),
            signing_alg: SigningAlg::RS256,
            audience: None,
            session_ttl: 15 * 60,
            code_ttl: 60,
            access_token_ttl: 3600,
            id_token_ttl: 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            refresh_reuse_grace: 0,
            key_rotation_interval: Some(90 * 24 * 3600),
            secret: None,
            registration_token: None,
            failed_auth_limit_per_client: 20,
            failed_limit_per_address: 60,
        }
    }

    /// Checks the configuration and normalises the issuer (no trailing slash).
    pub fn validate(mut self) -> Result<Config> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|_| Error::config(format!("issuer {:?} is not an absolute URL", self.issuer)))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(Error::config("issuer must be an http(s) URL"));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::config("issuer must not have a query or fragment (OIDC Discovery §3)"));
        }
        if issuer.scheme() == "http" && !is_loopback(&issuer) {
            tracing::warn!(issuer = %self.issuer, "issuer is plain http on a non-loopback host: use https in production");
        }
        while self.issuer.ends_with('/') {
            self.issuer.pop();
        }
        if self.login_url.trim().is_empty() {
            return Err(Error::config("login_url (CONNECTIVLY_REDIRECT_URL) is required"));
        }
        if self.login_url.contains('#') {
            return Err(Error::config("login_url must not have a fragment"));
        }
        for ttl in [self.session_ttl, self.code_ttl, self.access_token_ttl, self.id_token_ttl, self.refresh_token_ttl] {
            if ttl <= 0 {
                return Err(Error::config("lifetimes must be positive numbers of seconds"));
            }
        }
        if self.refresh_reuse_grace < 0 || self.refresh_reuse_grace > 300 {
            return Err(Error::config("refresh_reuse_grace must be 0 to 300 seconds"));
        }
        if self.key_rotation_interval.is_some_and(|i| i < 3600) {
            return Err(Error::config("key_rotation_interval must be at least 3600 seconds"));
        }
        if self.database_max_connections == Some(0) {
            return Err(Error::config("database_max_connections must be at least 1"));
        }
        if self.database_acquire_timeout == Some(0) {
            return Err(Error::config("database_acquire_timeout must be at least 1 second"));
        }
        if self.registration_token.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(Error::config("registration_token must be at least 16 characters"));
        }
        if self.secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(Error::config("secret must be at least 16 characters"));
        }
        for s in &self.scopes {
            if !crate::scopes::valid_token(&s.name) {
                return Err(Error::config(format!("scope name {:?} is not a valid scope token", s.name)));
            }
            if crate::scopes::builtin().iter().any(|b| b.name == s.name) {
                return Err(Error::config(format!("scope {:?} is built in", s.name)));
            }
        }
        if let Some(k) = &self.api_key
            && k.len() < 16
        {
            return Err(Error::config("api_key must be at least 16 characters"));
        }
        Ok(self)
    }

    /// The longest any token signed now can live: how long a retired key must stay published.
    pub fn max_signed_token_ttl(&self) -> i64 {
        self.access_token_ttl.max(self.id_token_ttl)
    }

    pub fn audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.issuer)
    }

    /// Whether cookies must carry `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The path part of the issuer, where the browser-binding cookie is scoped ("/" at least).
    pub fn cookie_path(&self) -> String {
        let path = url::Url::parse(&self.issuer).map(|u| u.path().to_string()).unwrap_or_default();
        if path.is_empty() { "/".into() } else { path }
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
