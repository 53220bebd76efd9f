//! In-memory store: tests and throwaway embedded providers. Nothing survives the process.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

use super::{AuthorizationRecord, ClientRecord, GrantRecord, RefreshTokenRecord, SessionRecord, SessionStatus, Store};
use crate::error::Result;
use crate::keys::KeyRecord;

#[derive(Debug, Default)]
struct Inner {
    settings: HashMap<String, String>,
    keys: Vec<KeyRecord>,
    clients: HashMap<String, ClientRecord>,
    /// Insertion order of clients, so listings are stable like the SQL stores' (created_at, rowid).
    client_order: Vec<String>,
    sessions: HashMap<String, SessionRecord>,
    authorizations: HashMap<String, AuthorizationRecord>,
    refresh_tokens: HashMap<String, RefreshTokenRecord>,
    revoked_jtis: HashMap<String, i64>,
    grants: HashMap<(String, String), GrantRecord>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written record (every write is one
        // insert), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.lock().settings.get(key).cloned())
    }
    async fn insert_setting_if_absent(&self, key: &str, value: &str) -> Result<bool> {
        let mut g = self.lock();
        if g.settings.contains_key(key) {
            return Ok(false);
        }
        g.settings.insert(key.into(), value.into());
        Ok(true)
    }
    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.lock().settings.insert(key.into(), value.into());
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        Ok(self.lock().keys.clone())
    }
    async fn insert_key_if_none(&self, key: &KeyRecord) -> Result<bool> {
        let mut g = self.lock();
        if g.keys.iter().any(|k| k.alg == key.alg && k.retired_at.is_none()) {
            return Ok(false);
        }
        g.keys.push(key.clone());
        Ok(true)
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<()> {
        let mut g = self.lock();
        if g.clients.contains_key(&client.client_id) {
            return Err(crate::Error::new(crate::ErrorKind::AlreadyUsed, "a client with this id exists"));
        }
        g.clients.insert(client.client_id.clone(), client.clone());
        g.client_order.push(client.client_id.clone());
        Ok(())
    }
    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        Ok(self.lock().clients.get(client_id).cloned())
    }
    async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<ClientRecord>> {
        let mut v: Vec<ClientRecord> =
            self.lock().clients.values().filter(|c| owner.is_none() || c.owner.as_deref() == owner).cloned().collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.client_id.cmp(&b.client_id)));
        Ok(v)
    }
    async fn update_client(&self, client: &ClientRecord) -> Result<bool> {
        let mut g = self.lock();
        match g.clients.get_mut(&client.client_id) {
            Some(c) => {
                *c = client.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let mut g = self.lock();
        g.client_order.retain(|id| id != client_id);
        Ok(g.clients.remove(client_id).is_some())
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
        self.lock().sessions.insert(session.id_hash.clone(), session.clone());
        Ok(())
    }
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>> {
        Ok(self.lock().sessions.get(id_hash).cloned())
    }
    async fn transition_session(
        &self,
        session: &SessionRecord,
        from: SessionStatus,
        authorization: Option<&AuthorizationRecord>,
    ) -> Result<bool> {
        let mut g = self.lock();
        match g.sessions.get_mut(&session.id_hash) {
            Some(s) if s.status == from => *s = session.clone(),
            _ => return Ok(false),
        }
        if let Some(a) = authorization {
            g.authorizations.insert(a.id.clone(), a.clone());
        }
        Ok(true)
    }

    async fn get_authorization_by_code(&self, code_hash: &str) -> Result<Option<AuthorizationRecord>> {
        Ok(self.lock().authorizations.values().find(|a| a.code_hash == code_hash).cloned())
    }
    async fn get_authorization(&self, id: &str) -> Result<Option<AuthorizationRecord>> {
        Ok(self.lock().authorizations.get(id).cloned())
    }
    async fn redeem_code(&self, id: &str, refresh: Option<&RefreshTokenRecord>) -> Result<bool> {
        let mut g = self.lock();
        match g.authorizations.get_mut(id) {
            Some(a) if !a.code_used => a.code_used = true,
            _ => return Ok(false),
        }
        if let Some(r) = refresh {
            g.refresh_tokens.insert(r.token_hash.clone(), r.clone());
        }
        Ok(true)
    }
    async fn revoke_authorization(&self, id: &str) -> Result<()> {
        if let Some(a) = self.lock().authorizations.get_mut(id) {
            a.revoked = true;
        }
        Ok(())
    }

    async fn revoke_client_authorizations(&self, client_id: &str) -> Result<u64> {
        let mut n = 0;
        for a in self.lock().authorizations.values_mut().filter(|a| a.client_id == client_id && !a.revoked) {
            a.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn revoke_subject_authorizations(&self, subject: &str, client_id: Option<&str>) -> Result<u64> {
        let mut n = 0;
        for a in self.lock().authorizations.values_mut() {
            if a.subject == subject && client_id.is_none_or(|c| c == a.client_id) && !a.revoked {
                a.revoked = true;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn get_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        Ok(self.lock().refresh_tokens.get(token_hash).cloned())
    }
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        authorization_expires_at: i64,
    ) -> Result<bool> {
        let mut g = self.lock();
        match g.refresh_tokens.get_mut(old_hash) {
            Some(r) if r.rotated_at.is_none() => r.rotated_at = Some(now),
            _ => return Ok(false),
        }
        g.refresh_tokens.insert(new.token_hash.clone(), new.clone());
        if let Some(a) = g.authorizations.get_mut(&new.authorization_id) {
            a.expires_at = a.expires_at.max(authorization_expires_at);
        }
        Ok(true)
    }

    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        self.lock().revoked_jtis.insert(jti.into(), expires_at);
        Ok(())
    }
    async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        Ok(self.lock().revoked_jtis.contains_key(jti))
    }

    async fn upsert_grant(&self, grant: &GrantRecord) -> Result<()> {
        let mut g = self.lock();
        let key = (grant.subject.clone(), grant.client_id.clone());
        let created_at = g.grants.get(&key).map(|old| old.created_at).unwrap_or(grant.created_at);
        g.grants.insert(key, GrantRecord { created_at, ..grant.clone() });
        Ok(())
    }
    async fn get_grant(&self, subject: &str, client_id: &str) -> Result<Option<GrantRecord>> {
        Ok(self.lock().grants.get(&(subject.to_string(), client_id.to_string())).cloned())
    }
    async fn list_grants(&self, subject: &str) -> Result<Vec<GrantRecord>> {
        let mut v: Vec<GrantRecord> = self.lock().grants.values().filter(|g| g.subject == subject).cloned().collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.client_id.cmp(&b.client_id)));
        Ok(v)
    }
    async fn delete_grant(&self, subject: &str, client_id: &str) -> Result<bool> {
        Ok(self.lock().grants.remove(&(subject.to_string(), client_id.to_string())).is_some())
    }

    async fn rotate_key(&self, old_kid: &str, new: &KeyRecord, now: i64) -> Result<bool> {
        let mut g = self.lock();
        match g.keys.iter_mut().find(|k| k.kid == old_kid) {
            Some(k) if k.retired_at.is_none() => k.retired_at = Some(now),
            _ => return Ok(false),
        }
        g.keys.push(new.clone());
        Ok(true)
    }
    async fn replace_key_der(&self, kid: &str, private_der: &[u8]) -> Result<bool> {
        Ok(match self.lock().keys.iter_mut().find(|k| k.kid == kid) {
            Some(k) => {
                k.private_der = private_der.to_vec();
                true
            }
            None => false,
        })
    }
    async fn delete_retired_keys(&self, before: i64) -> Result<u64> {
        let mut g = self.lock();
        let n = g.keys.len();
        g.keys.retain(|k| k.retired_at.is_none_or(|r| r >= before));
        Ok((n - g.keys.len()) as u64)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut g = self.lock();
        let before = g.sessions.len() + g.authorizations.len() + g.refresh_tokens.len() + g.revoked_jtis.len();
        g.sessions.retain(|_, s| s.expires_at >= now);
        g.authorizations.retain(|_, a| a.expires_at >= now);
        g.refresh_tokens.retain(|_, r| r.expires_at >= now);
        g.revoked_jtis.retain(|_, e| *e >= now);
        let after = g.sessions.len() + g.authorizations.len() + g.refresh_tokens.len() + g.revoked_jtis.len();
        Ok((before - after) as u64)
    }
}
