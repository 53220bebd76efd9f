//! Claims of docs/security.md, each tested so that it fails for the reason it names: the `typ` of an
//! access token on its own, scheduled key rotation and the dropping of retired keys, and revocations
//! that must reach a verification already in the verified-token cache.

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use connectivly::keys::{self, KeyRecord, LoadedKey};
use connectivly::store::{PoolSettings, Store};
use connectivly::{Config, CreatedClient, ErrorKind, NewClient, Provider, Request, SigningAlg};
use serde_json::{Value, json};

/// A user's tokens from a full code flow (PKCE, consent skipped by the host).
async fn user_tokens(env: &Env, client: &CreatedClient, scope: &str) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorize_request(&client.client.client_id, scope, Some(&challenge), &[]);
    let mut a = approval("u1");
    a["skip_consent"] = json!(true);
    let sid = Browser::default().start(env, &url).await;
    let r = env.api("POST", &format!("/api/auth_session/{sid}/approve"), Some(a)).await;
    assert_eq!(r.status, 200, "[{}] {:?}", env.kind, r.body_json());
    let loc = r.body_json().unwrap()["redirect_uri"].as_str().unwrap().to_string();
    let code = q(&loc, "code").unwrap_or_else(|| panic!("[{}] no code in {loc}", env.kind));
    let r = env
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "[{}] {:?}", env.kind, r.body_json());
    r.body_json().unwrap()
}

async fn cc_token(env: &Env, svc: &CreatedClient) -> String {
    let r = env.token(svc, &[("grant_type", "client_credentials"), ("scope", "photos:read")]).await;
    assert_eq!(r.status, 200, "[{}] {:?}", env.kind, r.body_json());
    r.body_json().unwrap()["access_token"].as_str().unwrap().to_string()
}

/// The provider's own signing key `kid`, read from its store.
async fn own_key(provider: &Provider, kid: &str) -> LoadedKey {
    let rec = provider.store().list_keys().await.unwrap().into_iter().find(|k| k.kid == kid).expect("kid in the store");
    LoadedKey::load_with(&rec, provider.config().secret.as_deref()).unwrap()
}

/// A compact JWS of `claims` signed by `key`, with `typ` in the header (or no `typ` at all).
fn sign(key: &LoadedKey, typ: Option<&str>, claims: &Value) -> String {
    let mut header = json!({"alg": key.alg.as_str(), "kid": key.kid});
    if let Some(t) = typ {
        header["typ"] = json!(t);
    }
    let mut t = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    t.push('.');
    t.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()));
    let sig = key.sign(t.as_bytes()).unwrap();
    t.push('.');
    t.push_str(&URL_SAFE_NO_PAD.encode(sig));
    t
}

fn fresh_jti(claims: &Value) -> Value {
    let mut c = claims.clone();
    c["jti"] = json!(URL_SAFE_NO_PAD.encode(connectivly::secrets::random_bytes::<16>()));
    c
}

async fn userinfo(env: &Env, token: &str) -> connectivly::Response {
    env.call(Request::new("GET", "/oauth2/userinfo").header("Authorization", &format!("Bearer {token}"))).await
}

async fn introspect_as(env: &Env, client: &CreatedClient, token: &str) -> Value {
    let r = env
        .call(
            Request::new("POST", "/oauth2/introspect")
                .form(&[("token", token)])
                .header("Authorization", &basic(&client.client.client_id, client.client_secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(r.status, 200, "[{}] {:?}", env.kind, r.body_json());
    r.body_json().unwrap()
}

/// `typ: at+jwt` on its own: a token signed by the provider's own current key, for the right issuer
/// and audience, unexpired, naming a live authorization — everything an access token has but the
/// type — is refused. The same claims re-signed with `typ: at+jwt` are accepted, so nothing but the
/// type decides.
#[tokio::test]
async fn a_token_with_every_claim_right_but_typ_is_not_an_access_token() {
    for env in envs().await {
        let client = env.client(false).await;
        let t = user_tokens(&env, &client, "openid email").await;
        let at = t["access_token"].as_str().unwrap();
        let claims = jwt_claims(at);
        let key = own_key(&env.provider, jwt_header(at)["kid"].as_str().unwrap()).await;
        assert!(env.provider.signing_keys().iter().any(|k| k.kid == key.kid && k.retired_at.is_none()));
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], env.provider.config().audience());
        assert!(claims["exp"].as_i64().unwrap() > connectivly::time::now() + 60);

        // Control: our signature over these claims with the access-token type works everywhere.
        let control = sign(&key, Some("at+jwt"), &fresh_jti(&claims));
        assert_eq!(env.provider.verify_access_token(&control, &["openid"]).await.unwrap().sub, "u1", "[{}]", env.kind);
        assert_eq!(userinfo(&env, &control).await.status, 200, "[{}]", env.kind);
        assert_eq!(introspect_as(&env, &client, &control).await["active"], true, "[{}]", env.kind);

        for typ in [Some("JWT"), Some("jwt"), None, Some(""), Some("at+jwt2"), Some("id_token"), Some("refresh+jwt")] {
            let token = sign(&key, typ, &fresh_jti(&claims));
            let what = format!("[{}] typ {typ:?}", env.kind);
            let e = env.provider.verify_access_token(&token, &[]).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidToken, "{what}");
            assert!(env.provider.verify_access_token_cached(&token, &[]).is_none(), "{what}");
            let r = userinfo(&env, &token).await;
            assert_eq!(r.status, 401, "{what}");
            assert_eq!(r.body_json().unwrap()["error"], "invalid_token", "{what}");
            assert!(r.get_header("www-authenticate").unwrap().contains("error=\"invalid_token\""), "{what}");
            assert!(!env.provider.introspect(&token).await.unwrap().active, "{what}");
            assert_eq!(introspect_as(&env, &client, &token).await, json!({"active": false}), "{what}");
        }
        // The genuine token is unaffected.
        assert_eq!(userinfo(&env, at).await.status, 200, "[{}]", env.kind);
    }
}

/// Warms the verified-token cache with `token` and proves the entry is there (answered without the store).
async fn cached(env: &Env, token: &str) {
    for _ in 0..50 {
        env.provider.verify_access_token(token, &[]).await.unwrap();
        if matches!(env.provider.verify_access_token_cached(token, &[]), Some(Ok(_))) {
            return;
        }
    }
    panic!("[{}] the token never entered the verified-token cache", env.kind);
}

async fn refused(env: &Env, token: &str, what: &str) {
    assert!(
        !matches!(env.provider.verify_access_token_cached(token, &[]), Some(Ok(_))),
        "[{}] {what}: the cache still answers for a revoked token",
        env.kind
    );
    let e = env.provider.verify_access_token(token, &[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidToken, "[{}] {what}", env.kind);
}

/// `revoke_grant` and client deletion, natively and through the host API, each with the token's
/// verification already cached: the next verification refuses it.
#[tokio::test]
async fn revoke_grant_and_client_deletion_reach_a_cached_verification() {
    for env in envs().await {
        // revoke_grant, natively.
        let client = env.client(false).await;
        let at = user_tokens(&env, &client, "openid email").await["access_token"].as_str().unwrap().to_string();
        cached(&env, &at).await;
        env.provider.revoke_grant("u1", &client.client.client_id).await.unwrap();
        refused(&env, &at, "revoke_grant").await;

        // revoke_grant through DELETE /api/users/{user}/grants/{client}.
        let other = env.client(false).await;
        let at = user_tokens(&env, &other, "openid").await["access_token"].as_str().unwrap().to_string();
        cached(&env, &at).await;
        let r = env.api("DELETE", &format!("/api/users/u1/grants/{}", other.client.client_id), None).await;
        assert_eq!(r.status, 200, "[{}] {:?}", env.kind, r.body_json());
        refused(&env, &at, "DELETE /api/users/u1/grants/{client}").await;

        // Client deletion: its users' tokens and its own client_credentials tokens.
        for via_api in [false, true] {
            let doomed = env
                .provider
                .create_client(NewClient {
                    name: "Doomed".into(),
                    redirect_uris: vec![REDIRECT.into()],
                    allowed_scopes: Some(vec!["openid".into(), "photos:read".into()]),
                    ..Default::default()
                })
                .await
                .unwrap();
            let user_at = user_tokens(&env, &doomed, "openid").await["access_token"].as_str().unwrap().to_string();
            let own_at = cc_token(&env, &doomed).await;
            cached(&env, &user_at).await;
            cached(&env, &own_at).await;
            if via_api {
                let r = env.api("DELETE", &format!("/api/clients/{}", doomed.client.client_id), None).await;
                assert_eq!(r.status, 200, "[{}] {:?}", env.kind, r.body_json());
            } else {
                env.provider.delete_client(&doomed.client.client_id).await.unwrap();
            }
            refused(&env, &user_at, &format!("a deleted client's user token (api: {via_api})")).await;
            refused(&env, &own_at, &format!("a deleted client's own token (api: {via_api})")).await;
        }
    }
}

/// An empty store of `kind`, opened directly so keys can be planted before a provider loads them.
async fn open_store(kind: &str) -> (Arc<dyn Store>, Option<tempfile::TempDir>) {
    let (url, dir) = match kind {
        "memory" => ("memory:".to_string(), None),
        "postgres" => (fresh_postgres_database().await.0, None),
        _ => {
            let dir = tempfile::tempdir().unwrap();
            (format!("sqlite://{}/k.db", dir.path().display()), Some(dir))
        }
    };
    (connectivly::store::open_with(&url, &PoolSettings::default()).await.unwrap(), dir)
}

fn kinds() -> Vec<&'static str> {
    let mut k = vec!["memory", "sqlite"];
    if postgres_admin_url().is_some() {
        k.push("postgres");
    }
    k
}

fn config(interval: Option<i64>) -> Config {
    let mut cfg = Config::new(ISSUER, LOGIN);
    cfg.api_key = Some(API_KEY.into());
    cfg.scopes = vec![connectivly::ScopeDef::new("photos:read", "Read your photos")];
    cfg.key_rotation_interval = interval;
    cfg
}

async fn provider_on(
    kind: &'static str,
    store: Arc<dyn Store>,
    dir: Option<tempfile::TempDir>,
    interval: Option<i64>,
) -> Env {
    let provider = Provider::with_store(config(interval), store).await.unwrap();
    Env { provider, kind, api_key: API_KEY.into(), _dir: dir }
}

fn kid_of(token: &str) -> String {
    jwt_header(token)["kid"].as_str().unwrap().to_string()
}

fn jwks_kids(env_jwks: &Value) -> Vec<String> {
    env_jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

async fn jwks(env: &Env) -> Vec<String> {
    jwks_kids(&env.call(Request::new("GET", "/.well-known/jwks.json")).await.body_json().unwrap())
}

/// `key_rotation_interval`: at upkeep (`collect_garbage`, which request handling also starts every
/// ten minutes) an active key older than the interval is retired and replaced; a younger one, or any
/// key when no interval is set, is left alone. Tokens of the retired key keep verifying.
#[tokio::test]
async fn keys_rotate_on_schedule_at_upkeep() {
    const INTERVAL: i64 = 3600; // the smallest interval the configuration accepts
    assert_eq!(Config::validate(config(Some(INTERVAL - 1))).unwrap_err().kind(), ErrorKind::Config);
    for kind in kinds() {
        let now = connectivly::time::now();
        // Due: created longer ago than the interval (with two minutes to spare for a slow run).
        let (store, dir) = open_store(kind).await;
        let due = keys::generate(SigningAlg::RS256, now - INTERVAL - 120).unwrap();
        assert!(store.insert_key_if_none(&due).await.unwrap());
        let env = provider_on(kind, store.clone(), dir, Some(INTERVAL)).await;
        let svc = service_client(&env).await;
        let before = cc_token(&env, &svc).await;
        assert_eq!(kid_of(&before), due.kid, "[{kind}] opening the provider does not rotate");

        env.provider.collect_garbage().await.unwrap();
        let keys = env.provider.signing_keys();
        let old = keys.iter().find(|k| k.kid == due.kid).expect("the old key stays published");
        assert!(old.retired_at.is_some_and(|t| t >= now), "[{kind}] the due key is retired now: {keys:?}");
        let active: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none() && k.alg == "RS256").collect();
        assert_eq!(active.len(), 1, "[{kind}] {keys:?}");
        let new_kid = active[0].kid.clone();
        assert!(new_kid != due.kid && active[0].created_at >= now, "[{kind}] {keys:?}");
        let after = cc_token(&env, &svc).await;
        assert_eq!(kid_of(&after), new_kid, "[{kind}] new tokens are signed with the new key");
        assert!(env.provider.verify_access_token(&before, &[]).await.is_ok(), "[{kind}] old tokens still verify");
        let published = jwks(&env).await;
        assert!(published.contains(&due.kid) && published.contains(&new_kid), "[{kind}] {published:?}");
        // The store agrees (another instance would load the same).
        let stored = store.list_keys().await.unwrap();
        assert!(stored.iter().any(|k| k.kid == due.kid && k.retired_at.is_some()), "[{kind}]");
        assert!(stored.iter().any(|k| k.kid == new_kid && k.retired_at.is_none()), "[{kind}]");

        // Upkeep again at once: the new key is not due, nothing rotates.
        env.provider.collect_garbage().await.unwrap();
        assert_eq!(env.provider.signing_keys(), keys, "[{kind}] a fresh key is not rotated");

        // Not yet due (five minutes before the interval is up), or no interval at all: left alone.
        for (interval, age) in [(Some(INTERVAL), INTERVAL - 300), (None, 10 * 365 * 24 * 3600)] {
            let (store, dir) = open_store(kind).await;
            let young = keys::generate(SigningAlg::RS256, now - age).unwrap();
            assert!(store.insert_key_if_none(&young).await.unwrap());
            let env = provider_on(kind, store, dir, interval).await;
            env.provider.collect_garbage().await.unwrap();
            let keys = env.provider.signing_keys();
            assert_eq!(keys.len(), 1, "[{kind}] interval {interval:?}, age {age}: {keys:?}");
            assert!(keys[0].kid == young.kid && keys[0].retired_at.is_none(), "[{kind}] {keys:?}");
        }
    }
}

/// Retired keys stay published while tokens they signed may still be valid, and are dropped (from
/// the key set, the JWKS and the store) at upkeep once every such token has expired; a token signed
/// by a dropped key no longer verifies.
#[tokio::test]
async fn retired_keys_are_dropped_once_their_tokens_have_expired() {
    for kind in kinds() {
        let now = connectivly::time::now();
        let ttl = config(None).max_signed_token_ttl();
        let day = 24 * 3600;
        let (store, dir) = open_store(kind).await;
        // a: retired ten days ago, long after its last token expired.
        let a = keys::generate(SigningAlg::RS256, now - 30 * day).unwrap();
        assert!(store.insert_key_if_none(&a).await.unwrap());
        // b: retired so recently that a token it signed just before is valid for another minute.
        let b = keys::generate(SigningAlg::RS256, now - 20 * day).unwrap();
        assert!(store.rotate_key(&a.kid, &b, now - 10 * day).await.unwrap());
        // c: the active key.
        let c = keys::generate(SigningAlg::RS256, now - 5 * day).unwrap();
        assert!(store.rotate_key(&b.kid, &c, now - ttl + 60).await.unwrap());
        let records: Vec<KeyRecord> = store.list_keys().await.unwrap();
        assert_eq!(records.len(), 3);

        let env = provider_on(kind, store.clone(), dir, None).await;
        let mut all = vec![a.kid.clone(), b.kid.clone(), c.kid.clone()];
        all.sort();
        let mut published = jwks(&env).await;
        published.sort();
        assert_eq!(published, all, "[{kind}] before upkeep every key is published");

        // Tokens as each retired key could have signed them (a client's own token: no authorization).
        let svc = service_client(&env).await;
        let claims = |exp: i64| {
            json!({"iss": ISSUER, "sub": svc.client.client_id, "aud": env.provider.config().audience(),
                   "client_id": svc.client.client_id, "scope": "photos:read",
                   "jti": URL_SAFE_NO_PAD.encode(connectivly::secrets::random_bytes::<16>()),
                   "iat": now - 5, "exp": exp})
        };
        let by_a = sign(&LoadedKey::load(&a).unwrap(), Some("at+jwt"), &claims(now + 3600));
        let by_b = sign(&LoadedKey::load(&b).unwrap(), Some("at+jwt"), &claims(now + 50));

        env.provider.collect_garbage().await.unwrap();
        let kids: Vec<String> = env.provider.signing_keys().into_iter().map(|k| k.kid).collect();
        assert!(!kids.contains(&a.kid), "[{kind}] the long-retired key is dropped: {kids:?}");
        assert!(kids.contains(&b.kid) && kids.contains(&c.kid), "[{kind}] {kids:?}");
        let published = jwks(&env).await;
        assert!(!published.contains(&a.kid) && published.contains(&b.kid), "[{kind}] {published:?}");
        let stored: Vec<String> = store.list_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
        assert!(!stored.contains(&a.kid) && stored.len() == 2, "[{kind}] {stored:?}");

        let e = env.provider.verify_access_token(&by_a, &[]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidToken, "[{kind}] a dropped key verifies nothing");
        assert_eq!(env.provider.verify_access_token(&by_b, &[]).await.unwrap().sub, svc.client.client_id, "[{kind}]");
        assert!(env.provider.ready().await.is_ok(), "[{kind}]");
    }
}
