//! PostgreSQL store: several server instances (or several embedding processes) behind a load
//! balancer share one database. Every single-use transition is a conditional `UPDATE … WHERE`
//! checked by its row count; under PostgreSQL's row locks a concurrent second writer waits for the
//! first to commit, re-checks the condition on the new row and updates nothing, so exactly one
//! instance wins. First-start races are settled by `ON CONFLICT DO NOTHING` (settings) and by a
//! transaction-scoped advisory lock (signing keys); migrations run under a session advisory lock.
//!
//! A lost connection surfaces as [`ErrorKind::Storage`](crate::ErrorKind::Storage) (HTTP 503); the
//! pool tests idle connections before handing them out and reconnects by itself.

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

use super::{
    AuthorizationRecord, ClientRecord, GrantRecord, PoolSettings, RefreshTokenRecord, SessionRecord, SessionStatus,
    Store, TokenOrigin, alg_from_str, migrations,
};
use crate::error::{Error, Result};
use crate::keys::KeyRecord;
use crate::scopes;

/// `pg_advisory_lock` key held while migrations run ("cly_migr").
const MIGRATION_LOCK: i64 = 0x636c_795f_6d69_6772;
/// `pg_advisory_xact_lock` key held while a first signing key is inserted ("cly_keys").
const KEY_LOCK: i64 = 0x636c_795f_6b65_7973;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects (`postgres://user:password@host:port/database?…`) with default pool settings and
    /// applies pending migrations.
    pub async fn open(url: &str) -> Result<PostgresStore> {
        PostgresStore::open_with(url, &PoolSettings::default()).await
    }

    pub async fn open_with(url: &str, settings: &PoolSettings) -> Result<PostgresStore> {
        // The parse error may quote the URL, password included: never repeat it.
        let opts = PgConnectOptions::from_str(url)
            .map_err(|_| {
                Error::config("invalid PostgreSQL URL (expected postgres://user:password@host:port/database)")
            })?
            .application_name("connectivly");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            // A connection killed by the server (restart, failover, pg_terminate_backend) is found
            // dead here and replaced, instead of failing the next request.
            .test_before_acquire(true)
            .idle_timeout(Some(Duration::from_secs(300)))
            .max_lifetime(Some(Duration::from_secs(1800)))
            .connect_with(opts)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot open the PostgreSQL database");
                match e {
                    sqlx::Error::PoolTimedOut => {
                        Error::storage("cannot open the PostgreSQL database: no connection within the acquire timeout")
                    }
                    _ => Error::storage("cannot open the PostgreSQL database"),
                }
            })?;
        let store = PostgresStore { pool };
        if let Err(e) = store.migrate().await {
            store.pool.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Applies pending migrations under a session-level advisory lock, so instances starting at
    /// once on an empty database apply each migration exactly once (the others wait, then find
    /// nothing to do). The lock lives on a connection taken out of the pool and closed afterwards:
    /// whatever happens, closing it (or losing it) releases the lock.
    async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?.detach();
        let result: Result<()> = async {
            sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut conn).await?;
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS connectivly_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut conn)
            .await?;
            let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0)::BIGINT FROM connectivly_migrations")
                .fetch_one(&mut conn)
                .await?
                .try_get(0)?;
            for (version, sql) in migrations::POSTGRES.iter().filter(|(v, _)| *v > current) {
                // DDL is transactional in PostgreSQL: a migration and its record commit together.
                let mut tx = conn.begin().await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO connectivly_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(crate::time::now())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::info!(version, "PostgreSQL migration applied");
            }
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut conn).await?;
            Ok(())
        }
        .await;
        // Closing ends the session, which releases the advisory lock even after an error.
        let _ = conn.close().await;
        result
    }
}

fn json_text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

fn parse_map(s: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(s).map_err(|_| Error::storage("corrupt JSON column"))
}

fn opt_json(v: &Option<Vec<String>>) -> Option<String> {
    v.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default())
}

fn client_from_row(r: &PgRow) -> Result<ClientRecord> {
    let uris: String = r.try_get("redirect_uris")?;
    Ok(ClientRecord {
        client_id: r.try_get("client_id")?,
        secret_hash: r.try_get("secret_hash")?,
        name: r.try_get("name")?,
        owner: r.try_get("owner")?,
        redirect_uris: serde_json::from_str(&uris).map_err(|_| Error::storage("corrupt redirect_uris"))?,
        public: r.try_get("public")?,
        first_party: r.try_get("first_party")?,
        logo_uri: r.try_get("logo_uri")?,
        client_uri: r.try_get("client_uri")?,
        created_at: r.try_get("created_at")?,
        allowed_scopes: match r.try_get::<Option<String>, _>("allowed_scopes")? {
            Some(s) => Some(serde_json::from_str(&s).map_err(|_| Error::storage("corrupt allowed_scopes"))?),
            None => None,
        },
        issue_refresh_tokens: r.try_get("issue_refresh_tokens")?,
        tokens_revoked_before: r.try_get("tokens_revoked_before")?,
        registration_token_hash: r.try_get("registration_token_hash")?,
        introspection_allowed: r.try_get("introspection_allowed")?,
    })
}

fn session_from_row(r: &PgRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.try_get("id_hash")?,
        client_id: r.try_get("client_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        scopes: scopes::split(&r.try_get::<String, _>("scopes")?),
        state: r.try_get("state")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        prompt: r.try_get("prompt")?,
        max_age: r.try_get("max_age")?,
        login_hint: r.try_get("login_hint")?,
        binding_hash: r.try_get("binding_hash")?,
        status: SessionStatus::parse(&r.try_get::<String, _>("status")?)?,
        subject: r.try_get("subject")?,
        claims: parse_map(&r.try_get::<String, _>("claims")?)?,
        granted_scopes: scopes::split(&r.try_get::<String, _>("granted_scopes")?),
        auth_time: r.try_get("auth_time")?,
        remember: r.try_get("remember")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        consent_hash: r.try_get("consent_hash")?,
    })
}

fn refresh_from_row(r: &PgRow) -> Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        token_hash: r.try_get("token_hash")?,
        authorization_id: r.try_get("authorization_id")?,
        client_id: r.try_get("client_id")?,
        scopes: scopes::split(&r.try_get::<String, _>("scopes")?),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        rotated_at: r.try_get("rotated_at")?,
    })
}

fn grant_from_row(r: &PgRow) -> Result<GrantRecord> {
    Ok(GrantRecord {
        subject: r.try_get("subject")?,
        client_id: r.try_get("client_id")?,
        scopes: scopes::split(&r.try_get::<String, _>("scopes")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn authorization_from_row(r: &PgRow) -> Result<AuthorizationRecord> {
    Ok(AuthorizationRecord {
        id: r.try_get("id")?,
        code_hash: r.try_get("code_hash")?,
        client_id: r.try_get("client_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        subject: r.try_get("subject")?,
        scopes: scopes::split(&r.try_get::<String, _>("scopes")?),
        claims: parse_map(&r.try_get::<String, _>("claims")?)?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        auth_time: r.try_get("auth_time")?,
        code_expires_at: r.try_get("code_expires_at")?,
        code_used: r.try_get("code_used")?,
        revoked: r.try_get("revoked")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }
    async fn insert_setting_if_absent(&self, key: &str, value: &str) -> Result<bool> {
        // A concurrent insert of the same key waits for the first to commit, then does nothing.
        let r = sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }
    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_der, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyRecord {
                    kid: r.try_get("kid")?,
                    alg: alg_from_str(&r.try_get::<String, _>("alg")?)?,
                    private_der: r.try_get("private_der")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                })
            })
            .collect()
    }
    async fn insert_key_if_none(&self, key: &KeyRecord) -> Result<bool> {
        // Under READ COMMITTED two "insert where not exists" could both see nothing: the advisory
        // lock orders them, and the second statement's snapshot (taken after the lock) sees the
        // first's committed key.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(KEY_LOCK).execute(&mut *tx).await?;
        let r = sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, created_at, retired_at) \
             SELECT $1, $2, $3, $4, NULL WHERE NOT EXISTS \
             (SELECT 1 FROM signing_keys WHERE alg = $2 AND retired_at IS NULL)",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.private_der)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_client(&self, c: &ClientRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, secret_hash, name, owner, redirect_uris, public, first_party, logo_uri, client_uri, \
             created_at, allowed_scopes, issue_refresh_tokens, tokens_revoked_before, registration_token_hash, \
             introspection_allowed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&c.client_id)
        .bind(&c.secret_hash)
        .bind(&c.name)
        .bind(&c.owner)
        .bind(serde_json::to_string(&c.redirect_uris).unwrap_or_default())
        .bind(c.public)
        .bind(c.first_party)
        .bind(&c.logo_uri)
        .bind(&c.client_uri)
        .bind(c.created_at)
        .bind(opt_json(&c.allowed_scopes))
        .bind(c.issue_refresh_tokens)
        .bind(c.tokens_revoked_before)
        .bind(&c.registration_token_hash)
        .bind(c.introspection_allowed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let row = sqlx::query("SELECT * FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from_row).transpose()
    }
    async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<ClientRecord>> {
        let rows = match owner {
            Some(o) => {
                sqlx::query("SELECT * FROM clients WHERE owner = $1 ORDER BY created_at, seq")
                    .bind(o)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query("SELECT * FROM clients ORDER BY created_at, seq").fetch_all(&self.pool).await?,
        };
        rows.iter().map(client_from_row).collect()
    }
    async fn update_client(&self, c: &ClientRecord) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE clients SET secret_hash = $1, name = $2, owner = $3, redirect_uris = $4, public = $5, first_party = $6, \
             logo_uri = $7, client_uri = $8, allowed_scopes = $9, issue_refresh_tokens = $10, tokens_revoked_before = $11, \
             registration_token_hash = $12, introspection_allowed = $13 WHERE client_id = $14",
        )
        .bind(&c.secret_hash)
        .bind(&c.name)
        .bind(&c.owner)
        .bind(serde_json::to_string(&c.redirect_uris).unwrap_or_default())
        .bind(c.public)
        .bind(c.first_party)
        .bind(&c.logo_uri)
        .bind(&c.client_uri)
        .bind(opt_json(&c.allowed_scopes))
        .bind(c.issue_refresh_tokens)
        .bind(c.tokens_revoked_before)
        .bind(&c.registration_token_hash)
        .bind(c.introspection_allowed)
        .bind(&c.client_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM clients WHERE client_id = $1").bind(client_id).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_sessions (id_hash, client_id, redirect_uri, scopes, state, nonce, code_challenge, prompt, \
             max_age, login_hint, binding_hash, status, subject, claims, granted_scopes, auth_time, created_at, expires_at, \
             remember, consent_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(&s.id_hash)
        .bind(&s.client_id)
        .bind(&s.redirect_uri)
        .bind(scopes::join(&s.scopes))
        .bind(&s.state)
        .bind(&s.nonce)
        .bind(&s.code_challenge)
        .bind(&s.prompt)
        .bind(s.max_age)
        .bind(&s.login_hint)
        .bind(&s.binding_hash)
        .bind(s.status.as_str())
        .bind(&s.subject)
        .bind(json_text(&s.claims))
        .bind(scopes::join(&s.granted_scopes))
        .bind(s.auth_time)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.remember)
        .bind(&s.consent_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM auth_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }
    async fn transition_session(
        &self,
        s: &SessionRecord,
        from: SessionStatus,
        authorization: Option<&AuthorizationRecord>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE auth_sessions SET status = $1, subject = $2, claims = $3, granted_scopes = $4, auth_time = $5, \
             remember = $6, consent_hash = $7 WHERE id_hash = $8 AND status = $9",
        )
        .bind(s.status.as_str())
        .bind(&s.subject)
        .bind(json_text(&s.claims))
        .bind(scopes::join(&s.granted_scopes))
        .bind(s.auth_time)
        .bind(s.remember)
        .bind(&s.consent_hash)
        .bind(&s.id_hash)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(a) = authorization {
            sqlx::query(
                "INSERT INTO authorizations (id, code_hash, client_id, redirect_uri, subject, scopes, claims, nonce, \
                 code_challenge, auth_time, code_expires_at, code_used, revoked, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&a.id)
            .bind(&a.code_hash)
            .bind(&a.client_id)
            .bind(&a.redirect_uri)
            .bind(&a.subject)
            .bind(scopes::join(&a.scopes))
            .bind(json_text(&a.claims))
            .bind(&a.nonce)
            .bind(&a.code_challenge)
            .bind(a.auth_time)
            .bind(a.code_expires_at)
            .bind(a.code_used)
            .bind(a.revoked)
            .bind(a.created_at)
            .bind(a.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn get_authorization_by_code(&self, code_hash: &str) -> Result<Option<AuthorizationRecord>> {
        let row = sqlx::query("SELECT * FROM authorizations WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(authorization_from_row).transpose()
    }
    async fn get_authorization(&self, id: &str) -> Result<Option<AuthorizationRecord>> {
        let row = sqlx::query("SELECT * FROM authorizations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(authorization_from_row).transpose()
    }
    async fn redeem_code(&self, id: &str, refresh: Option<&RefreshTokenRecord>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE authorizations SET code_used = TRUE WHERE id = $1 AND code_used = FALSE")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(t) = refresh {
            insert_refresh(&mut tx, t).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
    async fn revoke_authorization(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE authorizations SET revoked = TRUE WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn revoke_client_authorizations(&self, client_id: &str) -> Result<u64> {
        let r = sqlx::query("UPDATE authorizations SET revoked = TRUE WHERE client_id = $1 AND revoked = FALSE")
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn revoke_subject_authorizations(&self, subject: &str, client_id: Option<&str>) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE authorizations SET revoked = TRUE \
             WHERE subject = $1 AND ($2::TEXT IS NULL OR client_id = $2) AND revoked = FALSE",
        )
        .bind(subject)
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn get_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(refresh_from_row).transpose()
    }
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        authorization_expires_at: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE refresh_tokens SET rotated_at = $1 WHERE token_hash = $2 AND rotated_at IS NULL")
            .bind(now)
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_refresh(&mut tx, new).await?;
        sqlx::query("UPDATE authorizations SET expires_at = GREATEST(expires_at, $1) WHERE id = $2")
            .bind(authorization_expires_at)
            .bind(&new.authorization_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
    async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        let row =
            sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1").bind(jti).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }
    async fn access_token_revoked(&self, jti: &str, origin: TokenOrigin<'_>) -> Result<bool> {
        let q = match origin {
            TokenOrigin::Grant(gid) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1) \
                 OR NOT EXISTS (SELECT 1 FROM authorizations WHERE id = $2 AND NOT revoked)",
            )
            .bind(jti)
            .bind(gid),
            TokenOrigin::Client { client_id, issued_at } => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1) \
                 OR NOT EXISTS (SELECT 1 FROM clients WHERE client_id = $2 \
                                AND (tokens_revoked_before IS NULL OR tokens_revoked_before < $3))",
            )
            .bind(jti)
            .bind(client_id)
            .bind(issued_at),
        };
        Ok(q.fetch_one(&self.pool).await?)
    }

    async fn upsert_grant(&self, g: &GrantRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO grants (subject, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (subject, client_id) DO UPDATE SET scopes = EXCLUDED.scopes, updated_at = EXCLUDED.updated_at",
        )
        .bind(&g.subject)
        .bind(&g.client_id)
        .bind(scopes::join(&g.scopes))
        .bind(g.created_at)
        .bind(g.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
    async fn get_grant(&self, subject: &str, client_id: &str) -> Result<Option<GrantRecord>> {
        let row = sqlx::query("SELECT * FROM grants WHERE subject = $1 AND client_id = $2")
            .bind(subject)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(grant_from_row).transpose()
    }
    async fn list_grants(&self, subject: &str) -> Result<Vec<GrantRecord>> {
        let rows = sqlx::query("SELECT * FROM grants WHERE subject = $1 ORDER BY created_at, client_id")
            .bind(subject)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(grant_from_row).collect()
    }
    async fn delete_grant(&self, subject: &str, client_id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM grants WHERE subject = $1 AND client_id = $2")
            .bind(subject)
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn rotate_key(&self, old_kid: &str, new: &KeyRecord, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL")
            .bind(now)
            .bind(old_kid)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(&new.kid)
        .bind(new.alg.as_str())
        .bind(&new.private_der)
        .bind(new.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
    async fn replace_key_der(&self, kid: &str, private_der: &[u8]) -> Result<bool> {
        let r = sqlx::query("UPDATE signing_keys SET private_der = $1 WHERE kid = $2")
            .bind(private_der)
            .bind(kid)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }
    async fn delete_retired_keys(&self, before: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut n = 0;
        for sql in [
            "DELETE FROM auth_sessions WHERE expires_at < $1",
            "DELETE FROM authorizations WHERE expires_at < $1",
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            "DELETE FROM revoked_tokens WHERE expires_at < $1",
        ] {
            n += sqlx::query(sql).bind(now).execute(&self.pool).await?.rows_affected();
        }
        Ok(n)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn insert_refresh(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, t: &RefreshTokenRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, authorization_id, client_id, scopes, created_at, expires_at, rotated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&t.token_hash)
    .bind(&t.authorization_id)
    .bind(&t.client_id)
    .bind(scopes::join(&t.scopes))
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.rotated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
