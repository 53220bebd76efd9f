//! Refresh rotation and replay, client_credentials, revocation, introspection, remembered grants,
//! key rotation and keys at rest.

mod common;

use common::*;
use connectivly::{Config, ErrorKind, NewClient, Provider, Request};
use serde_json::{Value, json};

fn offline() -> [(&'static str, &'static str); 1] {
    [("scope", "openid email offline_access")]
}

async fn tokens_for(env: &Env, client: &connectivly::CreatedClient, extra: &[(&str, &str)]) -> Value {
    let mut a = approval("u1");
    a["skip_consent"] = json!(true);
    let url = authorize_url(&client.client.client_id, &[]);
    let url = extra.iter().fold(url, |u, (k, v)| {
        if *k == "scope" {
            u.replace("scope=openid+profile+email", &format!("scope={}", v.replace(' ', "+")))
        } else {
            format!("{u}&{k}={v}")
        }
    });
    let mut b = Browser::default();
    let id = b.start(env, &url).await;
    let loc =
        env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(a)).await.body_json().unwrap()["redirect_uri"]
            .as_str()
            .unwrap()
            .to_string();
    let r = env
        .token(
            client,
            &[("grant_type", "authorization_code"), ("code", &q(&loc, "code").unwrap()), ("redirect_uri", REDIRECT)],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body_json());
    r.body_json().unwrap()
}

async fn refresh(env: &Env, client: &connectivly::CreatedClient, rt: &str) -> connectivly::Response {
    env.token(client, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await
}

async fn active(env: &Env, token: &str) -> bool {
    env.provider.verify_access_token(token, &[]).await.is_ok()
}

#[tokio::test]
async fn refresh_rotates_and_replay_kills_the_family() {
    for env in envs().await {
        let client = env.client(false).await;
        let t = tokens_for(&env, &client, &offline()).await;
        let rt1 = t["refresh_token"].as_str().expect("offline_access yields a refresh token").to_string();
        assert!(rt1.starts_with("cly_rt_"));
        let r = refresh(&env, &client, &rt1).await;
        assert_eq!(r.status, 200, "{:?}", r.body_json());
        assert_eq!(r.get_header("cache-control"), Some("no-store"));
        let t2 = r.body_json().unwrap();
        let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(rt1, rt2);
        assert_eq!(t2["scope"], "openid email offline_access");
        let idc = jwt_claims(t2["id_token"].as_str().unwrap());
        assert_eq!(idc["sub"], "u1");
        assert!(idc.get("nonce").is_none());
        let at2 = t2["access_token"].as_str().unwrap().to_string();
        assert!(active(&env, &at2).await);

        // Replaying the rotated token: refused, and the whole family dies.
        let r = refresh(&env, &client, &rt1).await;
        assert_eq!((r.status, r.body_json().unwrap()["error"].clone()), (400, json!("invalid_grant")));
        assert_eq!(refresh(&env, &client, &rt2).await.status, 400, "[{}] the successor is revoked too", env.kind);
        assert!(!active(&env, &at2).await);
        assert!(!active(&env, t["access_token"].as_str().unwrap()).await);
    }
}

#[tokio::test]
async fn refresh_is_bound_to_its_client_and_scopes() {
    for env in envs().await {
        let client = env.client(false).await;
        let other = env.client(false).await;
        let t = tokens_for(&env, &client, &offline()).await;
        let rt = t["refresh_token"].as_str().unwrap();
        let r = refresh(&env, &other, rt).await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_grant");
        // Narrowing works for the access token; widening is refused.
        let r = env
            .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "openid profile")])
            .await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_scope");
        let r = env.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "email")]).await;
        assert_eq!(r.status, 200);
        let narrowed = r.body_json().unwrap();
        assert_eq!(narrowed["scope"], "email");
        assert!(narrowed.get("id_token").is_none());
        // The successor still carries the whole grant.
        let r = refresh(&env, &client, narrowed["refresh_token"].as_str().unwrap()).await;
        assert_eq!(r.body_json().unwrap()["scope"], "openid email offline_access");
        // No offline_access, no refresh token — unless the client always gets one.
        let t = tokens_for(&env, &client, &[]).await;
        assert!(t.get("refresh_token").is_none());
        let always = env
            .provider
            .create_client(NewClient {
                name: "Always".into(),
                redirect_uris: vec![REDIRECT.into()],
                issue_refresh_tokens: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(tokens_for(&env, &always, &[]).await["refresh_token"].is_string());
        for bad in ["", "cly_rt_x", "garbage"] {
            assert_eq!(refresh(&env, &client, bad).await.status, 400);
        }
    }
}

#[tokio::test]
async fn concurrent_refreshes_have_exactly_one_winner() {
    for env in envs().await {
        let client = env.client(false).await;
        let t = tokens_for(&env, &client, &offline()).await;
        let rt = t["refresh_token"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let p = env.provider.clone();
            let (id, secret, rt) = (client.client.client_id.clone(), client.client_secret.clone().unwrap(), rt.clone());
            tasks.push(tokio::spawn(async move {
                let req = Request::new("POST", "/oauth2/token")
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
                    .header("Authorization", &basic(&id, &secret));
                let r = p.handle(req).await;
                (r.status, r.body_json().unwrap())
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                200 => ok += 1,
                400 => assert_eq!(body["error"], "invalid_grant"),
                s => panic!("[{}] unexpected {s}: {body}", env.kind),
            }
        }
        assert_eq!(ok, 1, "[{}]", env.kind);
    }
}

#[tokio::test]
async fn reuse_grace_window_refuses_without_killing_the_family() {
    let mut cfg = Config::new(ISSUER, LOGIN);
    cfg.database_url = "memory:".into();
    cfg.api_key = Some(API_KEY.into());
    cfg.require_pkce = false; // as in common::env_with
    cfg.refresh_reuse_grace = 30;
    let env = Env { provider: Provider::open(cfg).await.unwrap(), kind: "memory", api_key: API_KEY.into(), _dir: None };
    let client = env.client(false).await;
    let t = tokens_for(&env, &client, &offline()).await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let rt2 = refresh(&env, &client, rt1).await.body_json().unwrap()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(&env, &client, rt1).await.status, 400);
    assert_eq!(refresh(&env, &client, &rt2).await.status, 200, "within the grace window the family survives");
}

#[tokio::test]
async fn client_credentials_introspect_revoke() {
    for env in envs().await {
        let svc = service_client(&env).await;
        let r = env.token(&svc, &[("grant_type", "client_credentials"), ("scope", "photos:read")]).await;
        assert_eq!(r.status, 200, "{:?}", r.body_json());
        let t = r.body_json().unwrap();
        assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
        let at = t["access_token"].as_str().unwrap().to_string();
        let c = jwt_claims(&at);
        assert_eq!(c["sub"], svc.client.client_id.as_str());
        assert_eq!(c["scope"], "photos:read");

        for (scope, err) in [("openid", "invalid_scope"), ("email", "invalid_scope"), ("nope", "invalid_scope")] {
            let r = env.token(&svc, &[("grant_type", "client_credentials"), ("scope", scope)]).await;
            assert_eq!(r.body_json().unwrap()["error"], err, "{scope}");
        }
        let public = env.client(true).await;
        let r = env
            .call(
                Request::new("POST", "/oauth2/token")
                    .form(&[("grant_type", "client_credentials"), ("client_id", &public.client.client_id)]),
            )
            .await;
        assert_eq!(r.body_json().unwrap()["error"], "unauthorized_client");

        // Introspection by a confidential client.
        let intro = |token: String| {
            Request::new("POST", "/oauth2/introspect")
                .form(&[("token", &token)])
                .header("Authorization", &basic(&svc.client.client_id, svc.client_secret.as_deref().unwrap()))
        };
        let i = env.call(intro(at.clone())).await.body_json().unwrap();
        assert_eq!(i["active"], true);
        assert_eq!(i["scope"], "photos:read");
        assert_eq!(i["client_id"], svc.client.client_id.as_str());
        assert_eq!(i["token_type"], "Bearer");
        assert_eq!(i["iss"], ISSUER);

        // Revoke at the RFC 7009 endpoint; the token is dead everywhere.
        let r = env
            .call(
                Request::new("POST", "/oauth2/revoke")
                    .form(&[("token", &at), ("token_type_hint", "access_token")])
                    .header("Authorization", &basic(&svc.client.client_id, svc.client_secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(env.call(intro(at.clone())).await.body_json().unwrap(), json!({"active": false}));
        assert_eq!(env.provider.verify_access_token(&at, &[]).await.unwrap_err().kind(), ErrorKind::InvalidToken);
        assert_eq!(
            env.api("POST", "/api/introspect", Some(json!({"token": at}))).await.body_json().unwrap(),
            json!({"active": false})
        );

        // revoke_client kills the client's other tokens as well.
        let at2 = env.token(&svc, &[("grant_type", "client_credentials")]).await.body_json().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(active(&env, &at2).await);
        // Revoked in a later second than at2 was issued in, so "issued before" is what is tested.
        until_after(jwt_claims(&at2)["iat"].as_i64().unwrap()).await;
        assert_eq!(env.api("POST", &format!("/api/clients/{}/revoke", svc.client.client_id), None).await.status, 200);
        assert!(!active(&env, &at2).await);
        until_after(revoked_before(&env.provider, &svc.client.client_id).await).await;
        let at3 = env.token(&svc, &[("grant_type", "client_credentials")]).await.body_json().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(active(&env, &at3).await, "new tokens work after revoke_client");
    }
}

#[tokio::test]
async fn revocation_of_refresh_tokens_and_users() {
    for env in envs().await {
        let client = env.client(false).await;
        let other = env.client(false).await;
        let t = tokens_for(&env, &client, &offline()).await;
        let (at, rt) =
            (t["access_token"].as_str().unwrap().to_string(), t["refresh_token"].as_str().unwrap().to_string());
        // Another client's revocation: 200, no effect.
        let r = env
            .call(
                Request::new("POST", "/oauth2/revoke")
                    .form(&[("token", &rt)])
                    .header("Authorization", &basic(&other.client.client_id, other.client_secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(active(&env, &at).await);
        // Unknown tokens: 200 as well.
        let r = env
            .call(
                Request::new("POST", "/oauth2/revoke").form(&[("token", "whatever")]).header(
                    "Authorization",
                    &basic(&client.client.client_id, client.client_secret.as_deref().unwrap()),
                ),
            )
            .await;
        assert_eq!(r.status, 200);
        // Introspecting the refresh token: only its own client sees it.
        let ri = |c: &connectivly::CreatedClient| {
            Request::new("POST", "/oauth2/introspect")
                .form(&[("token", &rt)])
                .header("Authorization", &basic(&c.client.client_id, c.client_secret.as_deref().unwrap()))
        };
        let i = env.call(ri(&client)).await.body_json().unwrap();
        assert_eq!(
            (i["active"].clone(), i["token_type"].clone(), i["sub"].clone()),
            (json!(true), json!("refresh_token"), json!("u1"))
        );
        assert_eq!(env.call(ri(&other)).await.body_json().unwrap(), json!({"active": false}));
        // The owner revokes the refresh token: the family (and its access token) dies.
        let r = env
            .call(
                Request::new("POST", "/oauth2/revoke")
                    .form(&[("token", &rt), ("token_type_hint", "refresh_token")])
                    .header(
                        "Authorization",
                        &basic(&client.client.client_id, client.client_secret.as_deref().unwrap()),
                    ),
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(!active(&env, &at).await);
        assert_eq!(refresh(&env, &client, &rt).await.status, 400);

        // revoke_user: every token of the user, every client.
        let t1 = tokens_for(&env, &client, &offline()).await;
        let t2 = tokens_for(&env, &other, &[]).await;
        let r = env.api("POST", "/api/users/u1/revoke", None).await;
        assert_eq!(r.status, 200);
        assert!(r.body_json().unwrap()["revoked"].as_u64().unwrap() >= 2);
        assert!(!active(&env, t1["access_token"].as_str().unwrap()).await);
        assert!(!active(&env, t2["access_token"].as_str().unwrap()).await);
        assert_eq!(refresh(&env, &client, t1["refresh_token"].as_str().unwrap()).await.status, 400);

        // Natively: revoke an access token.
        let t3 = tokens_for(&env, &client, &[]).await;
        env.provider.revoke(t3["access_token"].as_str().unwrap()).await.unwrap();
        assert!(!active(&env, t3["access_token"].as_str().unwrap()).await);
    }
}

#[tokio::test]
async fn remembered_grants_skip_consent_until_revoked() {
    for env in envs().await {
        let client = env.client(false).await;
        let cid = client.client.client_id.clone();
        let approve = |id: String, body: Value| {
            let env = &env;
            async move {
                env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(body)).await.body_json().unwrap()["redirect_uri"].as_str().unwrap().to_string()
            }
        };
        // First time: consent page; the user ticks "remember".
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&cid, &[])).await;
        let next = approve(id, approval("u1")).await;
        let (page, csrf) = b.consent_form(&env, &next).await;
        assert!(String::from_utf8_lossy(&page.body).contains("name=\"remember\""));
        let r = env
            .call(b.request("POST", &next).form(&[
                ("csrf", &csrf.unwrap()),
                ("decision", "allow"),
                ("remember", "yes"),
            ]))
            .await;
        assert!(q(r.get_header("location").unwrap(), "code").is_some());
        let grants = env.api("GET", "/api/users/u1/grants", None).await.body_json().unwrap();
        assert_eq!(grants[0]["client_id"], cid.as_str());
        assert_eq!(grants[0]["client_name"], "Photo Printer");
        assert_eq!(grants[0]["scopes"], json!(["openid", "profile", "email"]));

        // Next time: straight back to the client.
        let id = Browser::default().start(&env, &authorize_url(&cid, &[])).await;
        assert!(approve(id, approval("u1")).await.starts_with(&format!("{REDIRECT}?code=")));
        // A subset is covered too; a different user is not.
        let id = Browser::default()
            .start(&env, &authorize_url(&cid, &[]).replace("scope=openid+profile+email", "scope=openid"))
            .await;
        assert!(approve(id, approval("u1")).await.starts_with(REDIRECT));
        let id = Browser::default().start(&env, &authorize_url(&cid, &[])).await;
        assert!(approve(id, approval("u2")).await.contains("/consent/"));
        // prompt=consent shows it anyway.
        let id = Browser::default().start(&env, &authorize_url(&cid, &[("prompt", "consent")])).await;
        assert!(approve(id, approval("u1")).await.contains("/consent/"));
        // prompt=none with a remembered grant: no UI needed, a code.
        let id = Browser::default().start(&env, &authorize_url(&cid, &[("prompt", "none")])).await;
        assert!(q(&approve(id, approval("u1")).await, "code").is_some());

        // Revoking the grant: consent again, and its tokens die.
        let t = tokens_for(&env, &client, &[]).await;
        assert_eq!(env.api("DELETE", &format!("/api/users/u1/grants/{cid}"), None).await.status, 200);
        assert!(!active(&env, t["access_token"].as_str().unwrap()).await);
        assert_eq!(env.api("GET", "/api/users/u1/grants", None).await.body_json().unwrap(), json!([]));
        let id = Browser::default().start(&env, &authorize_url(&cid, &[])).await;
        assert!(approve(id, approval("u1")).await.contains("/consent/"));
        assert_eq!(
            env.api("DELETE", &format!("/api/users/u1/grants/{cid}"), None).await.status,
            404,
            "nothing left to revoke"
        );
        assert_eq!(env.api("DELETE", "/api/users/nobody/grants/x", None).await.status, 404);

        // remember=true from the host stores the grant without a page.
        let mut a = approval("u3");
        a["remember"] = json!(true);
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&cid, &[])).await;
        let next = approve(id, a).await;
        let (_, csrf) = b.consent_form(&env, &next).await;
        b.decide(&env, &next, &csrf.unwrap(), "allow").await;
        assert_eq!(env.provider.list_grants("u3").await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid() {
    for env in envs().await {
        let client = env.client(false).await;
        let before = tokens_for(&env, &client, &[]).await;
        let old_kid = jwt_header(before["access_token"].as_str().unwrap())["kid"].as_str().unwrap().to_string();
        let r = env.api("POST", "/api/keys/rotate", None).await;
        assert_eq!(r.status, 200);
        let new_keys = r.body_json().unwrap();
        let new_kid = new_keys[0]["kid"].as_str().unwrap().to_string();
        assert_ne!(new_kid, old_kid);
        let after = tokens_for(&env, &client, &[]).await;
        assert_eq!(jwt_header(after["access_token"].as_str().unwrap())["kid"], new_kid.as_str());
        assert_eq!(jwt_header(after["id_token"].as_str().unwrap())["kid"], new_kid.as_str());
        assert!(
            active(&env, before["access_token"].as_str().unwrap()).await,
            "tokens signed before rotation still verify"
        );
        let jwks = env.call(Request::new("GET", "/.well-known/jwks.json")).await.body_json().unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
        let keys = env.api("GET", "/api/keys", None).await.body_json().unwrap();
        assert!(keys.as_array().unwrap().iter().any(|k| k["kid"] == old_kid.as_str() && k["retired_at"].is_i64()));
    }
}

#[tokio::test]
async fn another_instance_picks_up_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || {
        let mut c = Config::new(ISSUER, LOGIN);
        c.database_url = format!("sqlite://{}/k.db", dir.path().display());
        c.api_key = Some(API_KEY.into());
        c.require_pkce = false; // as in common::env_with
        c
    };
    let a = Provider::open(cfg()).await.unwrap();
    let b = Provider::open(cfg()).await.unwrap();
    a.rotate_keys().await.unwrap();
    let env = Env { provider: a.clone(), kind: "a", api_key: API_KEY.into(), _dir: None };
    let client = env.client(false).await;
    let t = tokens_for(&env, &client, &[]).await;
    // b has not loaded the new key yet; the unknown kid makes it look (at most every five seconds,
    // counted on the wall clock: asked until it has looked, rather than after a guessed sleep).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let sub = loop {
        match b.verify_access_token(t["access_token"].as_str().unwrap(), &[]).await {
            Ok(info) => break info.sub,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidToken);
                assert!(std::time::Instant::now() < deadline, "b never loaded the rotated key");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(sub, "u1");
}

#[tokio::test]
async fn keys_at_rest_are_sealed_with_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |secret: Option<&str>| {
        let mut c = Config::new(ISSUER, LOGIN);
        c.database_url = format!("sqlite://{}/s.db", dir.path().display());
        c.secret = secret.map(str::to_string);
        c
    };
    let p = Provider::open(cfg(Some("correct horse battery staple"))).await.unwrap();
    let kid = p.signing_keys()[0].kid.clone();
    p.close().await;
    drop(p);
    assert_eq!(Provider::open(cfg(None)).await.unwrap_err().kind(), ErrorKind::Config);
    assert_eq!(Provider::open(cfg(Some("the wrong secret!!"))).await.unwrap_err().kind(), ErrorKind::Config);
    let p = Provider::open(cfg(Some("correct horse battery staple"))).await.unwrap();
    assert_eq!(p.signing_keys()[0].kid, kid);
}

#[tokio::test]
async fn expired_rows_are_collected() {
    for env in envs().await {
        let client = env.client(false).await;
        let t = tokens_for(&env, &client, &offline()).await;
        let pending = Browser::default().start(&env, &authorize_url(&client.client.client_id, &[])).await;
        env.provider.revoke(t["access_token"].as_str().unwrap()).await.unwrap();
        // Nothing has expired yet: upkeep removes nothing that is still in use.
        env.provider.collect_garbage().await.unwrap();
        assert_eq!(env.api("GET", &format!("/api/auth_session/{pending}"), None).await.status, 200);
        assert_eq!(refresh(&env, &client, t["refresh_token"].as_str().unwrap()).await.status, 200);
        // Far in the future everything has expired: sessions, authorizations, refresh tokens, deny-list.
        let removed = env.provider.store().purge_expired(connectivly::time::now() + 400 * 24 * 3600).await.unwrap();
        assert!(removed >= 4, "[{}] removed {removed}", env.kind);
        assert_eq!(env.api("GET", &format!("/api/auth_session/{pending}"), None).await.status, 404, "[{}]", env.kind);
    }
}

#[tokio::test]
async fn a_cached_verification_never_outlives_a_revocation_here() {
    for env in envs().await {
        let client = env.client(false).await;
        let t = tokens_for(&env, &client, &offline()).await;
        let at = t["access_token"].as_str().unwrap();
        // Verified twice: the second answer comes from the cache.
        assert!(active(&env, at).await && active(&env, at).await, "{}", env.kind);
        env.provider.revoke_user("u1").await.unwrap();
        assert!(!active(&env, at).await, "{}: a revoked token was served from the cache", env.kind);

        let t = tokens_for(&env, &client, &offline()).await;
        let at = t["access_token"].as_str().unwrap();
        assert!(active(&env, at).await);
        let r = env
            .call(
                Request::new("POST", "/oauth2/revoke")
                    .header("authorization", &basic(&client.client.client_id, client.client_secret.as_deref().unwrap()))
                    .form(&[("token", at)]),
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(!active(&env, at).await, "{}: RFC 7009 revocation did not reach the cache", env.kind);
    }
}

#[tokio::test]
async fn a_revocation_by_another_instance_is_seen_within_the_recheck_interval() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || {
        let mut c = Config::new(ISSUER, LOGIN);
        c.database_url = format!("sqlite://{}/r.db", dir.path().display());
        c.api_key = Some(API_KEY.into());
        c.require_pkce = false; // as in common::env_with
        c
    };
    let a = Provider::open(cfg()).await.unwrap();
    let b = Provider::open(cfg()).await.unwrap();
    let env = Env { provider: a.clone(), kind: "a", api_key: API_KEY.into(), _dir: None };
    let client = env.client(false).await;
    let t = tokens_for(&env, &client, &[]).await;
    let at = t["access_token"].as_str().unwrap();
    assert!(a.verify_access_token(at, &[]).await.is_ok());
    b.revoke_user("u1").await.unwrap();
    // The recheck interval (1 s) runs on the monotonic clock: half a second beyond it is a margin
    // no scheduling delay can eat (a late wake-up only lengthens the wait).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let e = a.verify_access_token(at, &[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidToken);
}

#[tokio::test]
async fn access_tokens_can_have_their_own_signing_algorithm() {
    for kind in ["memory", "sqlite"] {
        let env = env_with(kind, |c| c.access_token_signing_alg = Some(connectivly::SigningAlg::ES256)).await;
        let client = env.client(false).await;
        let t = tokens_for(&env, &client, &offline()).await;
        let (at, idt) = (t["access_token"].as_str().unwrap(), t["id_token"].as_str().unwrap());
        assert_eq!(jwt_header(at)["alg"], "ES256", "{kind}");
        assert_eq!(jwt_header(idt)["alg"], "RS256", "{kind}: ID tokens keep the provider's signing_alg");
        // at_hash follows the ID token's algorithm (SHA-256 for RS256), whatever signed the access token.
        use base64::Engine;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, at.as_bytes());
        let digest = digest.as_ref();
        let want = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        assert_eq!(jwt_claims(idt)["at_hash"], want.as_str(), "{kind}");
        assert_eq!(env.provider.verify_access_token(at, &[]).await.unwrap().sub, "u1");

        // The refresh and client_credentials grants sign with it too.
        let refreshed = env
            .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())])
            .await
            .body_json()
            .unwrap();
        let rat = refreshed["access_token"].as_str().unwrap();
        assert_eq!(jwt_header(rat)["alg"], "ES256");
        assert!(env.provider.verify_access_token(rat, &[]).await.is_ok());
        let svc = service_client(&env).await;
        assert_eq!(jwt_header(&cc_token(&env, &svc).await)["alg"], "ES256");

        // Both keys are published; a rotation replaces both, and tokens of the old keys still verify.
        let jwks = env.call(connectivly::Request::new("GET", "/.well-known/jwks.json")).await.body_json().unwrap();
        let before: Vec<String> =
            jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().into()).collect();
        assert!(before.iter().any(|k| k.starts_with("es256-")) && before.iter().any(|k| k.starts_with("rs256-")));
        let new = env.provider.rotate_keys().await.unwrap();
        let mut algs: Vec<String> = new.iter().map(|k| k.alg.clone()).collect();
        algs.sort();
        assert_eq!(algs, ["ES256", "RS256"]);
        assert!(env.provider.verify_access_token(rat, &[]).await.is_ok());
        let after = cc_token(&env, &svc).await;
        let kid = jwt_header(&after)["kid"].as_str().unwrap().to_string();
        assert!(!before.contains(&kid) && kid.starts_with("es256-"), "{kid}");
    }
}

/// Every way an access token dies, seen by an instance that never verified it before (no cache
/// entry: the store's revocation check alone decides), on each shared store.
#[tokio::test]
async fn an_instance_that_never_saw_a_token_sees_every_kind_of_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite://{}/fresh.db", dir.path().display())];
    if postgres_admin_url().is_some() {
        urls.push(fresh_postgres_database().await.0);
    }
    for url in urls {
        let env = Env { provider: open_on(&url).await, kind: "a", api_key: API_KEY.into(), _dir: None };
        // A fresh instance per check, so nothing is answered from a verified-token cache.
        let fresh_verdict = |token: String| {
            let url = url.clone();
            async move { open_on(&url).await.verify_access_token(&token, &[]).await.map(|i| i.sub) }
        };
        let user_token = |client: connectivly::CreatedClient| {
            let env = &env;
            async move { tokens_for(env, &client, &[]).await["access_token"].as_str().unwrap().to_string() }
        };
        let service = || service_client(&env);

        // Alive first: a user's token and a client's own token.
        let app = env.client(false).await;
        let jti_revoked = user_token(app.clone()).await;
        assert_eq!(fresh_verdict(jti_revoked.clone()).await.unwrap(), "u1", "{url}");
        let svc = service().await;
        let svc_token = cc_token(&env, &svc).await;
        assert_eq!(fresh_verdict(svc_token.clone()).await.unwrap(), svc.client.client_id, "{url}");

        // 1. The token itself (RFC 7009).
        let r = env
            .call(
                Request::new("POST", "/oauth2/revoke")
                    .header("authorization", &basic(&app.client.client_id, app.client_secret.as_deref().unwrap()))
                    .form(&[("token", &jti_revoked)]),
            )
            .await;
        assert_eq!(r.status, 200);
        // 2. The user's authorizations.
        let user_revoked = user_token(app.clone()).await;
        // 3. A client's own tokens, issued before its revocation (revocation works to the second).
        let svc_revoked = cc_token(&env, &svc).await;
        until_after(jwt_claims(&svc_revoked)["iat"].as_i64().unwrap()).await;
        env.provider.revoke_user("u1").await.unwrap();
        env.provider.revoke_client(&svc.client.client_id).await.unwrap();
        // 4. A deleted client: its users' tokens and its own.
        let doomed = env.client(false).await;
        let doomed_user = user_token(doomed.clone()).await;
        let doomed_svc = service().await;
        let doomed_own = cc_token(&env, &doomed_svc).await;
        for c in [&doomed, &doomed_svc] {
            env.provider.delete_client(&c.client.client_id).await.unwrap();
        }

        for (what, token) in [
            ("revoked token", jti_revoked),
            ("token of a revoked user", user_revoked),
            ("client token issued before revoke_client", svc_revoked),
            ("token of a deleted client's user", doomed_user),
            ("deleted client's own token", doomed_own),
        ] {
            let e = fresh_verdict(token).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidToken, "{url}: {what}");
        }
        until_after(revoked_before(&env.provider, &svc.client.client_id).await).await;
        let after = cc_token(&env, &svc).await;
        assert_eq!(fresh_verdict(after).await.unwrap(), svc.client.client_id, "{url}: issued after revoke_client");
    }
}

/// Waits until the provider's clock (`connectivly::time::now`, whole seconds) has passed `t`: exact,
/// where a fixed sleep only guesses how far the wall clock moved.
async fn until_after(t: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while connectivly::time::now() <= t {
        assert!(std::time::Instant::now() < deadline, "the clock did not pass {t}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The second at or before which a client's own tokens are revoked (`revoke_client`).
async fn revoked_before(provider: &Provider, client_id: &str) -> i64 {
    provider.store().get_client(client_id).await.unwrap().unwrap().tokens_revoked_before.expect("revoke_client ran")
}

async fn open_on(url: &str) -> Provider {
    let mut c = Config::new(ISSUER, LOGIN);
    c.database_url = url.to_string();
    c.api_key = Some(API_KEY.into());
    c.require_pkce = false; // as in common::env_with
    c.scopes = vec![connectivly::ScopeDef::new("photos:read", "Read your photos")];
    Provider::open(c).await.unwrap()
}

#[tokio::test]
async fn client_credentials_tokens_carry_no_user_claims() {
    for env in envs().await {
        let svc = service_client(&env).await;
        let claims = jwt_claims(&cc_token(&env, &svc).await);
        let mut names: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sub"], "{}", env.kind);
        assert_eq!(claims["sub"], svc.client.client_id.as_str(), "a client's own token is about the client");
        assert_eq!(claims["scope"], "photos:read");
    }
}

/// A `client_credentials` access token of `svc`.
async fn cc_token(env: &Env, svc: &connectivly::CreatedClient) -> String {
    let r = env.token(svc, &[("grant_type", "client_credentials"), ("scope", "photos:read")]).await;
    r.body_json().unwrap()["access_token"].as_str().unwrap().to_string()
}
