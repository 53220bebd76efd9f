//! Remembered consent: a user's standing permission for a client, so later sign-ins asking for no
//! more skip the consent page. Revoking a grant also revokes what was issued under it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::provider::Provider;
use crate::store::GrantRecord;

/// A remembered consent, as the host lists it for a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub user: String,
    pub client_id: String,
    /// The client's name, when it still exists.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Provider {
    pub(crate) async fn remember_grant(&self, subject: &str, client_id: &str, scopes: &[String]) -> Result<()> {
        let now = crate::time::now();
        let mut all: Vec<String> = match self.store().get_grant(subject, client_id).await? {
            Some(g) => g.scopes,
            None => Vec::new(),
        };
        for s in scopes {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        self.store()
            .upsert_grant(&GrantRecord {
                subject: subject.into(),
                client_id: client_id.into(),
                scopes: all,
                created_at: now,
                updated_at: now,
            })
            .await
    }

    /// The clients a user has remembered consent for.
    pub async fn list_grants(&self, user: &str) -> Result<Vec<Grant>> {
        let mut out = Vec::new();
        for g in self.store().list_grants(user).await? {
            let client_name = self.store().get_client(&g.client_id).await?.map(|c| c.name);
            out.push(Grant {
                user: g.subject,
                client_id: g.client_id,
                client_name,
                scopes: g.scopes,
                created_at: g.created_at,
                updated_at: g.updated_at,
            });
        }
        Ok(out)
    }

    /// Forgets a user's consent for a client and revokes the tokens issued to it for that user.
    pub async fn revoke_grant(&self, user: &str, client_id: &str) -> Result<()> {
        let existed = self.store().delete_grant(user, client_id).await?;
        let revoked = self.store().revoke_subject_authorizations(user, Some(client_id)).await;
        self.tokens_revoked();
        let revoked = revoked?;
        if !existed && revoked == 0 {
            return Err(Error::not_found("no grant or tokens of this user for this client"));
        }
        tracing::info!(client_id, "grant revoked");
        Ok(())
    }

    /// Revokes every token of a user, with every client. Remembered grants stay.
    pub async fn revoke_user(&self, user: &str) -> Result<u64> {
        let n = self.store().revoke_subject_authorizations(user, None).await;
        self.tokens_revoked();
        let n = n?;
        tracing::info!(authorizations = n, "all tokens of a user revoked");
        Ok(n)
    }
}
