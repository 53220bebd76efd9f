//! Access tokens this process has verified recently, so verifying one again costs a hash lookup
//! instead of a signature check and two store reads.
//!
//! Revocation stays authoritative: any revocation made through this process invalidates every
//! entry at once (an epoch bump), and an entry's revocation status is re-read from the store once
//! it is older than [`RECHECK`] — the bound on how long a revocation made by *another* process
//! (a second instance on the same database) can take to reach this one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::tokens::TokenInfo;

/// How long a cached verification is trusted before its revocation status is read again.
pub const RECHECK: Duration = Duration::from_secs(1);
/// Entries kept at most; the cache starts over when full (entries are cheap to rebuild).
const CAPACITY: usize = 4096;

pub(crate) type Key = [u8; 32];

pub(crate) fn key(token: &str) -> Key {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

struct Entry {
    info: TokenInfo,
    epoch: u64,
    checked_at: Instant,
}

/// What the cache knows about a token.
pub(crate) enum Cached {
    /// Signature and revocation status both current: the answer.
    Fresh(TokenInfo),
    /// The signature was verified; revocation must be read again.
    Stale(TokenInfo),
    Miss,
}

#[derive(Default)]
pub(crate) struct TokenCache {
    epoch: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("epoch", &self.epoch.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl TokenCache {
    /// Read before checking the store, and handed back to [`put`](Self::put): an entry verified
    /// across a concurrent revocation carries the old epoch and is never served.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &Key, now_unix: i64) -> Cached {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = entries.get(key) else { return Cached::Miss };
        if e.info.exp <= now_unix {
            return Cached::Miss;
        }
        if e.epoch != self.epoch() {
            return Cached::Stale(e.info.clone());
        }
        if e.checked_at.elapsed() < RECHECK { Cached::Fresh(e.info.clone()) } else { Cached::Stale(e.info.clone()) }
    }

    pub fn put(&self, key: Key, info: &TokenInfo, epoch: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let full = entries.len() >= CAPACITY && !entries.contains_key(&key);
        let old = full.then(|| std::mem::replace(&mut *entries, HashMap::with_capacity(CAPACITY)));
        entries.insert(key, Entry { info: info.clone(), epoch, checked_at: Instant::now() });
        drop(entries);
        if let Some(old) = old {
            drop_elsewhere(old);
        }
    }

    /// Something was revoked: nothing cached may be served without reading the store again.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// Frees a full generation of entries on a short-lived thread of its own: thousands of claim maps
/// take milliseconds to free, which would otherwise land on the one verification that filled the
/// cache (a Node or Python caller's thread included). Inline when no thread can be started.
fn drop_elsewhere(old: HashMap<Key, Entry>) {
    let spawned = std::thread::Builder::new().name("connectivly-cache-drop".into()).spawn(move || drop(old));
    if let Err(e) = spawned {
        // A failed spawn drops its closure, and the entries in it, right here.
        tracing::debug!("freed the token cache inline: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(n: usize, exp: i64) -> TokenInfo {
        TokenInfo {
            sub: format!("user{n}"),
            client_id: "c".into(),
            scopes: vec!["openid".into()],
            jti: format!("j{n}"),
            iat: 0,
            exp,
            claims: Default::default(),
        }
    }

    fn sub(c: Cached) -> Option<String> {
        match c {
            Cached::Fresh(i) => Some(i.sub),
            Cached::Stale(_) | Cached::Miss => None,
        }
    }

    #[test]
    fn a_full_cache_starts_over_and_keeps_answering() {
        let cache = TokenCache::default();
        let k = |n: usize| key(&format!("token-{n}"));
        for n in 0..CAPACITY {
            cache.put(k(n), &info(n, i64::MAX), cache.epoch());
        }
        assert_eq!(sub(cache.get(&k(0), 0)).as_deref(), Some("user0"));
        // Putting a token already there never empties the cache.
        cache.put(k(7), &info(7, i64::MAX), cache.epoch());
        assert_eq!(sub(cache.get(&k(0), 0)).as_deref(), Some("user0"));
        cache.put(k(CAPACITY), &info(CAPACITY, i64::MAX), cache.epoch());
        assert!(matches!(cache.get(&k(0), 0), Cached::Miss));
        assert_eq!(sub(cache.get(&k(CAPACITY), 0)), Some(format!("user{CAPACITY}")));
    }

    #[test]
    fn revocation_and_expiry_stop_the_cache_from_answering() {
        let cache = TokenCache::default();
        let (a, b) = (key("a"), key("b"));
        cache.put(a, &info(1, 100), cache.epoch());
        assert!(matches!(cache.get(&a, 99), Cached::Fresh(_)));
        assert!(matches!(cache.get(&a, 100), Cached::Miss));
        // Verified before a revocation, stored after it: never served as fresh.
        let before = cache.epoch();
        cache.invalidate();
        cache.put(b, &info(2, 100), before);
        assert!(matches!(cache.get(&a, 0), Cached::Stale(_)));
        assert!(matches!(cache.get(&b, 0), Cached::Stale(_)));
    }
}
