//! In-memory store: tests and throwaway embedded providers. Nothing survives the process.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

use super::{AuthorizationRecord, ClientRecord, SessionRecord, SessionStatus, Store};
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
    async fn redeem_code(&self, id: &str) -> Result<bool> {
        let mut g = self.lock();
        match g.authorizations.get_mut(id) {
            Some(a) if !a.code_used => {
                a.code_used = true;
                Ok(true)
            }
            _ => Ok(false),
        }
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

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut g = self.lock();
        let before = g.sessions.len() + g.authorizations.len();
        g.sessions.retain(|_, s| s.expires_at >= now);
        g.authorizations.retain(|_, a| a.expires_at >= now);
        Ok((before - g.sessions.len() - g.authorizations.len()) as u64)
    }
}
