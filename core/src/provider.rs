//! The provider: configuration, store and keys, opened once and shared by every request.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::keys::{self, KeySet, SigningAlg};
use crate::metrics::Metrics;
use crate::scopes::{self, ScopeDef};
use crate::secrets::{self, prefix};
use crate::store::{self, Store};

const SETTING_API_KEY_HASH: &str = "api_key_hash";
/// How often expired rows are collected, at most.
const GC_INTERVAL_SECS: i64 = 600;
/// Expired sessions are kept this long so a late host call learns "expired", not "unknown".
const GC_GRACE_SECS: i64 = 3600;

/// An OAuth 2.1 / OpenID Connect provider. Cheap to clone; clones share everything.
#[derive(Clone, Debug)]
pub struct Provider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    keys: RwLock<Arc<KeySet>>,
    scopes: Vec<ScopeDef>,
    /// Hash of the host-API key (explicit from config, or stored).
    api_key_hash: RwLock<Option<String>>,
    last_gc: AtomicI64,
    last_key_reload: AtomicI64,
    metrics: Metrics,
    /// Failure counters against brute force: per client id, per source address.
    limit_client: crate::ratelimit::Limiter,
    limit_address: crate::ratelimit::Limiter,
    /// Origins of every registered redirect URI (for CORS), with when they were read.
    redirect_origins: tokio::sync::Mutex<(i64, Arc<Vec<String>>)>,
    /// Access tokens verified recently (see `token_cache`).
    token_cache: crate::token_cache::TokenCache,
}

/// A signing key as the host sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
    /// Set once a newer key signs; the key stays published until its tokens expire.
    pub retired_at: Option<i64>,
}

impl Provider {
    /// Opens the store named by `config.database_url` (running migrations) and loads or creates the
    /// signing keys.
    pub async fn open(config: Config) -> Result<Provider> {
        let mut config = config.validate()?;
        let db_file = store::sqlite_file_path(&config.database_url);
        if let Some(db) = &db_file {
            crate::at_rest::prepare_database_file(db, config.allow_readable_database)?;
        }
        let store = store::open_with(&config.database_url, &store::PoolSettings::from_config(&config)).await?;
        if config.secret.is_none() {
            match &db_file {
                Some(db) => {
                    let sealed = store.list_keys().await?.iter().any(|k| keys::is_sealed(&k.private_der));
                    let key = crate::at_rest::load_or_create_key(db, config.allow_readable_database, sealed);
                    config.secret = Some(key?);
                }
                None if config.database_url.starts_with("postgres") => tracing::warn!(
                    "signing keys are stored unsealed in PostgreSQL: set CONNECTIVLY_SECRET (the same on every \
                     instance) so that a copy of the database yields no usable key"
                ),
                None => {}
            }
        }
        Provider::with_store(config, store).await
    }

    /// Like [`open`](Self::open) with a store built by the caller.
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> Result<Provider> {
        let config = config.validate()?;
        let keys = load_or_create_keys(&*store, &config).await?;
        let api_key_hash = match &config.api_key {
            Some(k) => Some(secrets::hash_secret(k)),
            None => store.get_setting(SETTING_API_KEY_HASH).await?,
        };
        let limit_client = crate::ratelimit::Limiter::new(config.failed_auth_limit_per_client, 60);
        let limit_address = crate::ratelimit::Limiter::new(config.failed_limit_per_address, 60);
        let mut all_scopes = scopes::builtin();
        all_scopes.extend(config.scopes.iter().cloned());
        Ok(Provider {
            inner: Arc::new(Inner {
                config,
                store,
                keys: RwLock::new(Arc::new(keys)),
                scopes: all_scopes,
                api_key_hash: RwLock::new(api_key_hash),
                last_gc: AtomicI64::new(crate::time::now()),
                last_key_reload: AtomicI64::new(crate::time::now()),
                metrics: Metrics::default(),
                redirect_origins: tokio::sync::Mutex::new((i64::MIN, Arc::new(Vec::new()))),
                limit_client,
                limit_address,
                token_cache: Default::default(),
            }),
        })
    }

    /// Operational counters (render with [`Metrics::render`] for Prometheus).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Readiness: the store answers and signing keys are loaded.
    pub async fn ready(&self) -> Result<()> {
        self.inner.store.get_setting(SETTING_API_KEY_HASH).await?;
        let cfg = &self.inner.config;
        if self.keys().signing_key(cfg.signing_alg).is_none()
            || self.keys().signing_key(cfg.access_token_alg()).is_none()
        {
            return Err(Error::internal("no signing key is loaded"));
        }
        Ok(())
    }

    /// Origins (`scheme://host[:port]`) of every registered http(s) redirect URI, re-read at most
    /// every 30 seconds: the browser origins allowed to call the token endpoint directly.
    pub(crate) async fn redirect_origins(&self) -> Result<Arc<Vec<String>>> {
        let mut cached = self.inner.redirect_origins.lock().await;
        let now = crate::time::now();
        if now.saturating_sub(cached.0) < 30 {
            return Ok(cached.1.clone());
        }
        let mut origins: Vec<String> = Vec::new();
        for c in self.inner.store.list_clients(None).await? {
            for uri in &c.redirect_uris {
                if let Ok(u) = url::Url::parse(uri)
                    && matches!(u.scheme(), "http" | "https")
                {
                    let o = u.origin().ascii_serialization();
                    if !origins.contains(&o) {
                        origins.push(o);
                    }
                }
            }
        }
        *cached = (now, Arc::new(origins));
        Ok(cached.1.clone())
    }

    /// Refuses a caller that failed too often recently: by the pair (client id, source address),
    /// and by source address. Never by client id alone: then anyone could lock a client out by
    /// failing on its behalf, and its right secret would be refused.
    pub(crate) fn check_rate(&self, client_id: Option<&str>, addr: Option<&str>) -> Result<()> {
        let now = crate::time::now();
        let blocked = client_id
            .and_then(|c| self.inner.limit_client.blocked(&client_key(c, addr), now))
            .or_else(|| addr.and_then(|a| self.inner.limit_address.blocked(&address_key(a), now)));
        match blocked {
            Some(_) => {
                Err(Error::new(crate::ErrorKind::RateLimited, "too many failed attempts; try again in a minute"))
            }
            None => Ok(()),
        }
    }

    /// Counts a failure against the pair (client id, source address) and the source address.
    pub(crate) fn record_failure(&self, client_id: Option<&str>, addr: Option<&str>) {
        let now = crate::time::now();
        if let Some(c) = client_id {
            self.inner.limit_client.failed(&client_key(c, addr), now);
        }
        if let Some(a) = addr {
            self.inner.limit_address.failed(&address_key(a), now);
        }
    }

    /// Forgets the cached redirect origins after the registry changed.
    pub(crate) async fn invalidate_redirect_origins(&self) {
        self.inner.redirect_origins.lock().await.0 = i64::MIN;
    }

    pub(crate) fn token_cache(&self) -> &crate::token_cache::TokenCache {
        &self.inner.token_cache
    }

    /// Call after any write that revokes access tokens: cached verifications must not outlive it.
    pub(crate) fn tokens_revoked(&self) {
        self.inner.token_cache.invalidate();
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    /// Every scope the provider knows: built-in and host-defined.
    pub fn scopes(&self) -> &[ScopeDef] {
        &self.inner.scopes
    }
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.inner.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads signing keys from the store (after another instance rotated them).
    pub async fn reload_keys(&self) -> Result<()> {
        let keys = load_or_create_keys(&*self.inner.store, &self.inner.config).await?;
        *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        self.inner.last_key_reload.store(crate::time::now(), Ordering::Relaxed);
        Ok(())
    }

    /// Reloads the keys when a token names a `kid` this instance has not loaded, or the JWKS is asked
    /// for (another instance may have rotated); at most every few seconds, so junk cannot hammer the store.
    pub(crate) async fn refresh_keys_throttled(&self) -> Result<bool> {
        let now = crate::time::now();
        let last = self.inner.last_key_reload.load(Ordering::Relaxed);
        if now - last < 5
            || self.inner.last_key_reload.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return Ok(false);
        }
        self.reload_keys().await?;
        Ok(true)
    }

    /// The published signing keys (public facts only).
    pub fn signing_keys(&self) -> Vec<KeyInfo> {
        self.keys()
            .all()
            .iter()
            .map(|k| KeyInfo {
                kid: k.kid.clone(),
                alg: k.alg.as_str().into(),
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect()
    }

    /// Replaces every active signing key with a new one. Retired keys stay published until every
    /// token they signed has expired. Returns the new keys.
    pub async fn rotate_keys(&self) -> Result<Vec<KeyInfo>> {
        let now = crate::time::now();
        let mut created = Vec::new();
        for old in self.keys().all().iter().filter(|k| k.retired_at.is_none()) {
            let new = self.new_key_record(old.alg, now)?;
            if self.inner.store.rotate_key(&old.kid, &new, now).await? {
                tracing::info!(old = %old.kid, new = %new.kid, "signing key rotated");
                created.push(new.kid);
            }
        }
        self.reload_keys().await?;
        Ok(self.signing_keys().into_iter().filter(|k| created.contains(&k.kid)).collect())
    }

    fn new_key_record(&self, alg: SigningAlg, now: i64) -> Result<keys::KeyRecord> {
        let mut rec = keys::generate(alg, now)?;
        if let Some(secret) = &self.inner.config.secret {
            rec.private_der = keys::seal(&rec.private_der, secret)?;
        }
        Ok(rec)
    }

    /// Scheduled key upkeep: pick up other instances' rotations, rotate when due, drop keys whose
    /// tokens have all expired.
    async fn maintain_keys(&self) -> Result<()> {
        self.reload_keys().await?;
        let now = crate::time::now();
        if let Some(interval) = self.inner.config.key_rotation_interval {
            let due = self.keys().all().iter().any(|k| k.retired_at.is_none() && now - k.created_at >= interval);
            if due {
                self.rotate_keys().await?;
            }
        }
        // Another instance may sign with a retired key until its next upkeep (GC_INTERVAL_SECS later).
        let horizon = self.inner.config.max_signed_token_ttl() + GC_INTERVAL_SECS + 60;
        let n = self.inner.store.delete_retired_keys(now - horizon).await?;
        if n > 0 {
            self.reload_keys().await?;
        }
        Ok(())
    }

    /// Whether a host-API key is set (explicitly or in the store).
    pub fn has_api_key(&self) -> bool {
        self.inner.api_key_hash.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Checks a presented host-API key in constant time. A stored key is read afresh, so a rotation
    /// by another process (`connectivly rotate-api-key`) takes effect at once.
    pub async fn check_api_key(&self, presented: &str) -> Result<bool> {
        if self.inner.config.api_key.is_none() {
            let stored = self.inner.store.get_setting(SETTING_API_KEY_HASH).await?;
            *self.inner.api_key_hash.write().unwrap_or_else(|p| p.into_inner()) = stored;
        }
        Ok(match &*self.inner.api_key_hash.read().unwrap_or_else(|p| p.into_inner()) {
            Some(hash) => secrets::verify_secret(presented, hash),
            None => false,
        })
    }

    /// Creates the stored API key if none exists yet. Returns the new key — shown once — or `None`
    /// when one already existed (also when another process created it at the same moment).
    pub async fn ensure_api_key(&self) -> Result<Option<String>> {
        if self.inner.config.api_key.is_some() {
            return Ok(None);
        }
        let key = secrets::new_secret(prefix::API_KEY);
        let hash = secrets::hash_secret(&key);
        let created = self.inner.store.insert_setting_if_absent(SETTING_API_KEY_HASH, &hash).await?;
        let stored = self.inner.store.get_setting(SETTING_API_KEY_HASH).await?;
        *self.inner.api_key_hash.write().unwrap_or_else(|p| p.into_inner()) = stored;
        Ok(created.then_some(key))
    }

    /// Replaces the stored API key; the old one stops working in this process at once (and in
    /// others on restart). Returns the new key, shown once.
    pub async fn rotate_api_key(&self) -> Result<String> {
        if self.inner.config.api_key.is_some() {
            return Err(Error::config("the API key is set explicitly (CONNECTIVLY_API_KEY); change it there"));
        }
        let key = secrets::new_secret(prefix::API_KEY);
        let hash = secrets::hash_secret(&key);
        self.inner.store.put_setting(SETTING_API_KEY_HASH, &hash).await?;
        *self.inner.api_key_hash.write().unwrap_or_else(|p| p.into_inner()) = Some(hash);
        Ok(key)
    }

    /// Closes the store's connections. Later calls fail with [`ErrorKind::Closed`](crate::ErrorKind::Closed)
    /// (or a store error).
    pub async fn close(&self) {
        self.inner.store.close().await;
    }

    /// Deletes expired rows and does key upkeep now. Also runs by itself at most every ten minutes
    /// from request handling.
    pub async fn collect_garbage(&self) -> Result<u64> {
        self.maintain_keys().await?;
        let n = self.inner.store.purge_expired(crate::time::now() - GC_GRACE_SECS).await?;
        if n > 0 {
            tracing::debug!(rows = n, "expired rows collected");
        }
        Ok(n)
    }

    /// Starts a background collection when the last one is old enough; never blocks the request.
    pub(crate) fn maybe_collect_garbage(&self) {
        let now = crate::time::now();
        let last = self.inner.last_gc.load(Ordering::Relaxed);
        if now - last < GC_INTERVAL_SECS
            || self.inner.last_gc.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let this = self.clone();
            handle.spawn(async move {
                if let Err(e) = this.collect_garbage().await {
                    tracing::warn!(error = %e, "garbage collection failed");
                }
            });
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.config.issuer, path)
    }
}

/// The rate-limit key of a source address. An IPv6 host usually holds a whole /64, so its addresses
/// count as one; anything else (IPv4, an adapter's own label) as given.
fn address_key(addr: &str) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => addr.to_string(),
    }
}

/// The rate-limit key of a client's failures from one source (no address: the client alone, as for
/// an embedded caller that passes none).
fn client_key(client_id: &str, addr: Option<&str>) -> String {
    match addr {
        Some(a) => format!("{client_id} {}", address_key(a)),
        None => client_id.to_string(),
    }
}

/// Loads the keys, creating what is missing: one for each configured algorithm (ID tokens, access
/// tokens), and always one for RS256, which OpenID Connect requires every provider to support.
async fn load_or_create_keys(store: &dyn Store, config: &Config) -> Result<KeySet> {
    let mut records = store.list_keys().await?;
    let mut needed = vec![config.signing_alg];
    for alg in [config.access_token_alg(), SigningAlg::RS256] {
        if !needed.contains(&alg) {
            needed.push(alg);
        }
    }
    if let Some(secret) = &config.secret {
        // Keys stored before a seal existed (older releases, or no secret then) are sealed now, so
        // the database stops holding them in plain PKCS#8.
        for rec in records.iter_mut().filter(|r| !keys::is_sealed(&r.private_der)) {
            let sealed = keys::seal(&rec.private_der, secret)?;
            if store.replace_key_der(&rec.kid, &sealed).await? {
                tracing::info!(kid = %rec.kid, "signing key sealed at rest");
            }
            rec.private_der = sealed;
        }
    }
    let mut created = false;
    for alg in needed {
        if !records.iter().any(|k| k.alg == alg && k.retired_at.is_none()) {
            let mut rec = keys::generate(alg, crate::time::now())?;
            if let Some(secret) = &config.secret {
                rec.private_der = keys::seal(&rec.private_der, secret)?;
            }
            if store.insert_key_if_none(&rec).await? {
                tracing::info!(kid = %rec.kid, alg = rec.alg.as_str(), "signing key created");
            }
            created = true;
        }
    }
    if created {
        // Another process may have won the race: read back what the store holds.
        records = store.list_keys().await?;
    }
    KeySet::load_with(&records, config.secret.as_deref())
}
