//! PostgreSQL-specific store behaviour: migrations and first start under a race, single-use
//! transitions across separate pools (= instances), and what a lost or unreachable database looks
//! like (ErrorKind::Storage, never Internal, never a panic). The flow-level suite runs on
//! PostgreSQL through `common::envs()`.
//!
//! Tests that need a server are skipped (with a note) unless `CONNECTIVLY_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use connectivly::store::{
    AuthorizationRecord, PoolSettings, PostgresStore, RefreshTokenRecord, SessionRecord, SessionStatus, Store,
};
use connectivly::{Config, ErrorKind, Provider, SigningAlg};
use sqlx::{Connection, Row};

/// Bounds every test: nothing here may hang the suite.
const LIMIT: Duration = Duration::from_secs(120);

fn skip(name: &str) -> bool {
    if postgres_admin_url().is_none() {
        eprintln!("{name}: skipped, CONNECTIVLY_TEST_POSTGRES_URL is not set (tests/pg-cluster start runs a server)");
        return true;
    }
    false
}

async fn admin_exec(sql: &str) {
    let mut conn = sqlx::PgConnection::connect(&postgres_admin_url().unwrap()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Ends every session on `db` (the server-side view of "the connection died").
async fn kill_connections(db: &str) {
    admin_exec(&format!(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    ))
    .await;
}

fn pool(max: u32, timeout_secs: u64) -> PoolSettings {
    PoolSettings { max_connections: max, acquire_timeout: Duration::from_secs(timeout_secs) }
}

fn config(url: &str) -> Config {
    let mut c = Config::new(ISSUER, LOGIN);
    c.require_pkce = false; // as in common::env_with
    c.database_url = url.to_string();
    c.signing_alg = SigningAlg::ES256;
    c
}

#[tokio::test]
async fn first_start_of_many_instances_creates_one_schema_one_key_set_one_api_key() {
    if skip("first_start_of_many_instances_creates_one_schema_one_key_set_one_api_key") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (url, _) = fresh_postgres_database().await;
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let cfg = config(&url);
            set.spawn(async move {
                let p = Provider::open(cfg).await.unwrap();
                let key = p.ensure_api_key().await.unwrap();
                let first = p.store().insert_setting_if_absent("bootstrapped_at", "1").await.unwrap();
                (p, key, first)
            });
        }
        let mut providers = Vec::new();
        let (mut keys, mut firsts) = (0, 0);
        while let Some(r) = set.join_next().await {
            let (p, key, first) = r.unwrap();
            keys += key.is_some() as usize;
            firsts += first as usize;
            providers.push(p);
        }
        assert_eq!(keys, 1, "exactly one instance creates the API key");
        assert_eq!(firsts, 1, "exactly one instance runs the first-start bootstrap");

        let stored = providers[0].store().list_keys().await.unwrap();
        let mut algs: Vec<&str> = stored.iter().map(|k| k.alg.as_str()).collect();
        algs.sort();
        assert_eq!(algs, ["ES256", "RS256"], "one key per algorithm, not one per instance");
        let mut published = Vec::new();
        for p in &providers {
            p.reload_keys().await.unwrap();
            let mut kids: Vec<String> = p.signing_keys().into_iter().map(|k| k.kid).collect();
            kids.sort();
            published.push(kids);
        }
        assert!(published.windows(2).all(|w| w[0] == w[1]), "every instance publishes the same keys");

        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let versions: Vec<i64> = sqlx::query("SELECT version FROM connectivly_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, [1, 2, 3], "each migration applied once");
        conn.close().await.unwrap();

        // A restart applies nothing and creates nothing.
        let again = Provider::open(config(&url)).await.unwrap();
        assert_eq!(again.ensure_api_key().await.unwrap(), None);
        assert_eq!(again.store().list_keys().await.unwrap().len(), 2);
        for p in providers.into_iter().chain([again]) {
            p.close().await;
        }
    })
    .await
    .expect("test timed out");
}

fn session(id: &str, status: SessionStatus) -> SessionRecord {
    SessionRecord {
        id_hash: id.into(),
        client_id: "c".into(),
        redirect_uri: REDIRECT.into(),
        scopes: vec!["openid".into()],
        state: None,
        nonce: None,
        code_challenge: None,
        prompt: None,
        max_age: Some(60),
        login_hint: None,
        binding_hash: "b".into(),
        status,
        subject: None,
        claims: Default::default(),
        granted_scopes: vec![],
        auth_time: None,
        remember: false,
        consent_hash: None,
        created_at: 1,
        expires_at: i64::MAX / 2,
    }
}

fn authorization(id: &str) -> AuthorizationRecord {
    AuthorizationRecord {
        id: id.into(),
        code_hash: format!("code-{id}"),
        client_id: "c".into(),
        redirect_uri: REDIRECT.into(),
        subject: "ann".into(),
        scopes: vec!["openid".into()],
        claims: serde_json::json!({"name": "Ann"}).as_object().unwrap().clone(),
        nonce: Some("n".into()),
        code_challenge: None,
        auth_time: 1,
        code_expires_at: i64::MAX / 2,
        code_used: false,
        revoked: false,
        created_at: 1,
        expires_at: i64::MAX / 2,
    }
}

fn refresh(hash: &str, authorization_id: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash.into(),
        authorization_id: authorization_id.into(),
        client_id: "c".into(),
        scopes: vec!["openid".into()],
        created_at: 1,
        expires_at: i64::MAX / 2,
        rotated_at: None,
    }
}

/// Runs `n` copies of `f` at once, alternating between the two stores; returns how many won.
async fn race<F, Fut>(stores: &[Arc<PostgresStore>; 2], n: usize, f: F) -> usize
where
    F: Fn(Arc<PostgresStore>, usize) -> Fut,
    Fut: std::future::Future<Output = connectivly::Result<bool>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(f(stores[i % 2].clone(), i));
    }
    let mut won = 0;
    while let Some(r) = set.join_next().await {
        won += r.unwrap().unwrap() as usize;
    }
    won
}

#[tokio::test]
async fn single_use_transitions_hold_across_instances() {
    if skip("single_use_transitions_hold_across_instances") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (url, _) = fresh_postgres_database().await;
        let stores = [
            Arc::new(PostgresStore::open_with(&url, &pool(8, 10)).await.unwrap()),
            Arc::new(PostgresStore::open_with(&url, &pool(8, 10)).await.unwrap()),
        ];
        stores[0].insert_session(&session("s1", SessionStatus::Pending)).await.unwrap();

        // Approve/deny: one session leaves `pending` once, whichever instance asks.
        let won = race(&stores, 40, |s, i| async move {
            let to = if i % 3 == 0 { SessionStatus::Denied } else { SessionStatus::Approved };
            s.transition_session(&session("s1", to), SessionStatus::Pending, None).await
        })
        .await;
        assert_eq!(won, 1, "one session transition wins");

        // Consent: approved → completed issues exactly one code.
        stores[1].insert_session(&session("s2", SessionStatus::Approved)).await.unwrap();
        let won = race(&stores, 40, |s, i| async move {
            let a = authorization(&format!("a{i}"));
            s.transition_session(&session("s2", SessionStatus::Completed), SessionStatus::Approved, Some(&a)).await
        })
        .await;
        assert_eq!(won, 1, "one code is issued");

        // Code redemption.
        stores[0].insert_session(&session("s3", SessionStatus::Pending)).await.unwrap();
        let done = session("s3", SessionStatus::Completed);
        assert!(
            stores[1].transition_session(&done, SessionStatus::Pending, Some(&authorization("code"))).await.unwrap()
        );
        let won =
            race(
                &stores,
                40,
                |s, i| async move { s.redeem_code("code", Some(&refresh(&format!("rt{i}"), "code"))).await },
            )
            .await;
        assert_eq!(won, 1, "one redemption");
        let a = stores[1].get_authorization("code").await.unwrap().unwrap();
        assert!(a.code_used && !a.revoked);
        let winner_rt = {
            let mut found = None;
            for i in 0..40 {
                if stores[0].get_refresh_token(&format!("rt{i}")).await.unwrap().is_some() {
                    assert!(found.is_none(), "only the winner's refresh token is stored");
                    found = Some(format!("rt{i}"));
                }
            }
            found.expect("the winner's refresh token is stored")
        };

        // Refresh rotation: one successor per token, and the authorization's retention grows.
        let won = race(&stores, 40, |s, i| {
            let old = winner_rt.clone();
            async move { s.rotate_refresh_token(&old, &refresh(&format!("next{i}"), "code"), 5, 1 << 60).await }
        })
        .await;
        assert_eq!(won, 1, "one rotation");
        assert_eq!(stores[0].get_refresh_token(&winner_rt).await.unwrap().unwrap().rotated_at, Some(5));
        assert_eq!(stores[0].get_authorization("code").await.unwrap().unwrap().expires_at, i64::MAX / 2);

        // First signing key and key rotation.
        let won = race(&stores, 10, |s, _| async move {
            let k = connectivly::keys::generate(SigningAlg::EdDSA, 7).unwrap();
            s.insert_key_if_none(&k).await
        })
        .await;
        assert_eq!(won, 1, "one first key per algorithm");
        let old = stores[0].list_keys().await.unwrap().remove(0);
        let won = race(&stores, 10, |s, _| {
            let kid = old.kid.clone();
            async move {
                let k = connectivly::keys::generate(SigningAlg::EdDSA, 8).unwrap();
                s.rotate_key(&kid, &k, 8).await
            }
        })
        .await;
        assert_eq!(won, 1, "one rotation of a key");
        let keys = stores[1].list_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.iter().filter(|k| k.retired_at.is_none()).count(), 1);

        // Settings written once.
        let won = race(&stores, 20, |s, i| async move { s.insert_setting_if_absent("k", &i.to_string()).await }).await;
        assert_eq!(won, 1);

        for s in &stores {
            s.close().await;
        }
        assert_eq!(stores[0].get_setting("k").await.unwrap_err().kind(), ErrorKind::Closed);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn lost_connections_are_storage_errors_and_recover() {
    if skip("lost_connections_are_storage_errors_and_recover") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (url, db) = fresh_postgres_database().await;
        let mut cfg = config(&url);
        cfg.api_key = Some(API_KEY.into());
        cfg.database_acquire_timeout = Some(2);
        let provider = Provider::open(cfg).await.unwrap();
        let env = Env { provider: provider.clone(), kind: "postgres", api_key: API_KEY.into(), _dir: None };
        let client = env.client(false).await;
        let list = || connectivly::Request::new("GET", "/api/clients").header("X-API-KEY", API_KEY);

        // Every pooled connection killed by the server: the pool notices and reconnects.
        kill_connections(&db).await;
        assert_eq!(provider.handle(list()).await.status, 200);
        assert!(provider.get_client(&client.client.client_id).await.is_ok());

        // The database refuses connections: a clean 503, never a 500.
        admin_exec(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).await;
        kill_connections(&db).await;
        let e = provider.get_client(&client.client.client_id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
        let r = provider.handle(list()).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body_json().unwrap()["error"], "temporarily_unavailable");
        let r = provider.handle(connectivly::Request::new("GET", &authorize_url(&client.client.client_id, &[]))).await;
        assert_eq!(r.status, 503, "authorize answers 503 while the store is away");

        // Back: the same provider works again without a restart.
        admin_exec(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;
        assert_eq!(provider.handle(list()).await.status, 200);
        let loc = flow_to_code(&env, &client, &[], approval("u")).await;
        assert!(q(&loc, "code").is_some());
        provider.close().await;
    })
    .await
    .expect("test timed out");
}

/// No server at all: opening fails with Storage (after the acquire timeout), never a panic.
#[tokio::test]
async fn unreachable_servers_are_storage_errors() {
    tokio::time::timeout(LIMIT, async {
        // Nothing listens on this port (connection refused): sqlx retries until the timeout.
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e =
            PostgresStore::open_with(&format!("postgres://u@127.0.0.1:{refused}/db"), &pool(2, 1)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");

        // Something accepts but never answers: the acquire timeout ends the wait.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let mut cfg = config(&format!("postgres://u@127.0.0.1:{port}/db"));
        cfg.database_acquire_timeout = Some(1);
        let e = Provider::open(cfg).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");

        // Something answers and hangs up at once.
        let rude = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = rude.local_addr().unwrap().port();
        let hangup = tokio::spawn(async move {
            loop {
                match rude.accept().await {
                    Ok((s, _)) => drop(s),
                    Err(_) => return,
                }
            }
        });
        let e = PostgresStore::open_with(&format!("postgres://u@127.0.0.1:{port}/db"), &pool(2, 2)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
        hangup.abort();
        drop(silent);

        // A malformed URL is a configuration error that does not echo the password.
        let e = PostgresStore::open("postgres://u:hunter2@[bad/db").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.message().contains("hunter2"));
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn a_restart_keeps_keys_clients_api_key_and_tokens_and_stores_only_hashes() {
    if skip("a_restart_keeps_keys_clients_api_key_and_tokens_and_stores_only_hashes") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (url, _) = fresh_postgres_database().await;
        let cfg = || {
            let mut c = Config::new(ISSUER, LOGIN);
            c.require_pkce = false; // as in common::env_with
            c.database_url = url.clone();
            c
        };
        let p = Provider::open(cfg()).await.unwrap();
        let api_key = p.ensure_api_key().await.unwrap().expect("first run creates the key");
        let client = p
            .create_client(connectivly::NewClient {
                name: "A".into(),
                redirect_uris: vec![REDIRECT.into()],
                issue_refresh_tokens: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let env = Env { provider: p.clone(), kind: "postgres", api_key: api_key.clone(), _dir: None };
        let mut b = Browser::default();
        let session = b.start(&env, &authorize_url(&client.client.client_id, &[])).await;
        let mut a = approval("u");
        a["skip_consent"] = serde_json::json!(true);
        let r = env.api("POST", &format!("/api/auth_session/{session}/approve"), Some(a)).await;
        let code = q(r.body_json().unwrap()["redirect_uri"].as_str().unwrap(), "code").unwrap();
        let t = env
            .token(&client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)])
            .await
            .body_json()
            .unwrap();
        let token = t["access_token"].as_str().unwrap().to_string();
        let refresh = t["refresh_token"].as_str().expect("a refresh token").to_string();
        p.close().await;
        drop(env);
        drop(p);

        // "Restart": a new provider on the same database.
        let p = Provider::open(cfg()).await.unwrap();
        assert_eq!(p.ensure_api_key().await.unwrap(), None, "the stored key is reused, not replaced");
        assert!(p.check_api_key(&api_key).await.unwrap());
        assert_eq!(p.get_client(&client.client.client_id).await.unwrap(), client.client);
        assert_eq!(p.verify_access_token(&token, &[]).await.unwrap().sub, "u");

        // Every row as text: no secret appears in clear.
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut raw = String::new();
        for table in ["settings", "clients", "auth_sessions", "authorizations", "refresh_tokens", "grants"] {
            for row in sqlx::query(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {table} t")))
                .fetch_all(&mut conn)
                .await
                .unwrap()
            {
                raw.push_str(&row.get::<String, _>(0));
            }
        }
        conn.close().await.unwrap();
        let binding = b.cookie.as_ref().unwrap().split('=').nth(1).unwrap().to_string();
        let mut secrets = vec![api_key.clone(), client.client_secret.clone().unwrap(), session, code, binding];
        secrets.push(refresh);
        for secret in &secrets {
            let body = &secret[secret.find('_').map(|i| i + 4).unwrap_or(0)..];
            assert!(!raw.contains(body), "a secret is stored in clear: {}", &secret[..8]);
        }
        p.close().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn tls_is_used_when_the_url_requires_it() {
    if skip("tls_is_used_when_the_url_requires_it") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let mut admin = sqlx::PgConnection::connect(&postgres_admin_url().unwrap()).await.unwrap();
        let ssl: String = sqlx::query("SHOW ssl").fetch_one(&mut admin).await.unwrap().get(0);
        admin.close().await.unwrap();
        if ssl != "on" {
            eprintln!("tls_is_used_when_the_url_requires_it: skipped, the test server does not offer TLS");
            return;
        }
        let (url, _) = fresh_postgres_database().await;
        let sep = if url.contains('?') { '&' } else { '?' };
        let tls_url = format!("{url}{sep}sslmode=require");
        let p = Provider::open(config(&tls_url)).await.unwrap();
        assert!(p.ensure_api_key().await.unwrap().is_some());
        let mut conn = sqlx::PgConnection::connect(&tls_url).await.unwrap();
        let used: bool = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert!(used, "the connection is encrypted");
        conn.close().await.unwrap();
        p.close().await;
    })
    .await
    .expect("test timed out");
}
