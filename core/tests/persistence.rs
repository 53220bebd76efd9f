//! What survives a restart, and two providers (processes) sharing one SQLite file.

mod common;

use common::*;
use connectivly::{Config, NewClient, Provider};

fn sqlite_config(dir: &tempfile::TempDir) -> Config {
    let mut cfg = Config::new(ISSUER, LOGIN);
    cfg.require_pkce = false;
    cfg.database_url = format!("sqlite://{}/c.db", dir.path().display());
    cfg
}

#[tokio::test]
async fn keys_clients_api_key_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (api_key, client, token, kid) = {
        let p = Provider::open(sqlite_config(&dir)).await.unwrap();
        let api_key = p.ensure_api_key().await.unwrap().expect("first run creates the key");
        let client = p
            .create_client(NewClient { name: "A".into(), redirect_uris: vec![REDIRECT.into()], ..Default::default() })
            .await
            .unwrap();
        let env = Env { provider: p.clone(), kind: "sqlite", api_key: api_key.clone(), _dir: None };
        let loc = flow_to_code(&env, &client, &[], approval("u")).await;
        let t = env
            .token(
                &client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &q(&loc, "code").unwrap()),
                    ("redirect_uri", REDIRECT),
                ],
            )
            .await
            .body_json()
            .unwrap();
        let kid = jwt_header(t["access_token"].as_str().unwrap())["kid"].as_str().unwrap().to_string();
        (api_key, client, t["access_token"].as_str().unwrap().to_string(), kid)
    };
    // "Restart": a new provider on the same file.
    let p = Provider::open(sqlite_config(&dir)).await.unwrap();
    assert_eq!(p.ensure_api_key().await.unwrap(), None, "the stored key is reused, not replaced");
    assert!(p.check_api_key(&api_key).await.unwrap());
    assert!(!p.check_api_key("cly_ak_not-the-key").await.unwrap());
    assert_eq!(p.get_client(&client.client.client_id).await.unwrap(), client.client);
    let info = p.verify_access_token(&token, &[]).await.unwrap();
    assert_eq!(info.sub, "u");
    let jwks = p.handle(connectivly::Request::new("GET", "/.well-known/jwks.json")).await.body_json().unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let p = Provider::open(sqlite_config(&dir)).await.unwrap();
    let key = p.ensure_api_key().await.unwrap().unwrap();
    let client = p
        .create_client(NewClient { name: "A".into(), redirect_uris: vec![REDIRECT.into()], ..Default::default() })
        .await
        .unwrap();
    let env = Env { provider: p.clone(), kind: "sqlite", api_key: key.clone(), _dir: None };
    let mut b = Browser::default();
    let session = b.start(&env, &authorize_url(&client.client.client_id, &[])).await;
    let loc = {
        let mut a = approval("u");
        a["skip_consent"] = serde_json::json!(true);
        env.api_key_call_approve(&key, &session, a).await
    };
    let code = q(&loc, "code").unwrap();
    drop(env);
    drop(p);
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        raw.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let raw = String::from_utf8_lossy(&raw);
    let binding = b.cookie.as_ref().unwrap().split('=').nth(1).unwrap().to_string();
    for secret in [&key, client.client_secret.as_ref().unwrap(), &session, &code, &binding] {
        let body = &secret[secret.find('_').map(|i| i + 4).unwrap_or(0)..];
        assert!(!raw.contains(body), "a secret is stored in clear: {}", &secret[..8]);
    }
}

impl Env {
    async fn api_key_call_approve(&self, key: &str, session: &str, approval: serde_json::Value) -> String {
        let r = self
            .call(
                connectivly::Request::new("POST", &format!("/api/auth_session/{session}/approve"))
                    .header("X-API-KEY", key)
                    .json(&approval),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body_json());
        r.body_json().unwrap()["redirect_uri"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn two_providers_share_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    // Two "processes" opening a new file at once: one key, one API key, both work.
    let (a, b) = tokio::join!(Provider::open(sqlite_config(&dir)), Provider::open(sqlite_config(&dir)));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ka, kb) = tokio::join!(a.ensure_api_key(), b.ensure_api_key());
    let created: Vec<String> = [ka.unwrap(), kb.unwrap()].into_iter().flatten().collect();
    assert_eq!(created.len(), 1, "exactly one API key is created");
    // b loaded its keys before or after a's insert; after a reload both publish the same set.
    a.reload_keys().await.unwrap();
    b.reload_keys().await.unwrap();
    let jwks = |p: &Provider| {
        let p = p.clone();
        async move { p.handle(connectivly::Request::new("GET", "/.well-known/jwks.json")).await.body_json().unwrap() }
    };
    assert_eq!(jwks(&a).await, jwks(&b).await);
    assert_eq!(jwks(&a).await["keys"].as_array().unwrap().len(), 1);

    // A client made on one is seen by the other; a flow can hop between them.
    let client = a
        .create_client(NewClient { name: "A".into(), redirect_uris: vec![REDIRECT.into()], ..Default::default() })
        .await
        .unwrap();
    assert_eq!(b.get_client(&client.client.client_id).await.unwrap().name, "A");
    let ea = Env { provider: a.clone(), kind: "sqlite-a", api_key: String::new(), _dir: None };
    let eb = Env { provider: b.clone(), kind: "sqlite-b", api_key: String::new(), _dir: None };
    let mut br = Browser::default();
    let id = br.start(&ea, &authorize_url(&client.client.client_id, &[])).await;
    let next = b
        .approve(
            &id,
            connectivly::Approval {
                claims: approval("u")["claims"].as_object().unwrap().clone(),
                ..connectivly::Approval::new("u")
            },
        )
        .await
        .unwrap();
    let (_, csrf) = br.consent_form(&ea, &next).await;
    let r = br.decide(&eb, &next, &csrf.unwrap(), "allow").await;
    let code = q(r.get_header("location").unwrap(), "code").unwrap();
    // Redeeming on both at once: exactly one wins.
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let (ra, rb) = tokio::join!(ea.token(&client, &form), eb.token(&client, &form));
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
}
