//! Dynamic Client Registration (RFC 7591) and management (RFC 7592).

mod common;

use common::*;
use connectivly::{Config, Provider, Request};
use serde_json::json;

const INITIAL: &str = "initial-access-token-123";

async fn dcr_env(enabled: bool) -> Env {
    let mut cfg = Config::new(ISSUER, LOGIN);
    cfg.require_pkce = false;
    cfg.database_url = "memory:".into();
    cfg.api_key = Some(API_KEY.into());
    cfg.registration_token = enabled.then(|| INITIAL.to_string());
    Env { provider: Provider::open(cfg).await.unwrap(), kind: "memory", api_key: API_KEY.into(), _dir: None }
}

fn register(token: Option<&str>, body: serde_json::Value) -> Request {
    let r = Request::new("POST", "/oauth2/register").json(&body);
    match token {
        Some(t) => r.header("Authorization", &format!("Bearer {t}")),
        None => r,
    }
}

#[tokio::test]
async fn registration_is_off_by_default() {
    let env = dcr_env(false).await;
    assert!(env.provider.discovery().get("registration_endpoint").is_none());
    let r = env.call(register(Some(INITIAL), json!({"redirect_uris": [REDIRECT]}))).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn register_use_read_update_delete() {
    let env = dcr_env(true).await;
    assert_eq!(env.provider.discovery()["registration_endpoint"], format!("{ISSUER}/oauth2/register"));
    // Without or with a wrong initial access token.
    assert_eq!(env.call(register(None, json!({"redirect_uris": [REDIRECT]}))).await.status, 401);
    assert_eq!(
        env.call(register(Some("wrong-token-wrong-token"), json!({"redirect_uris": [REDIRECT]}))).await.status,
        401
    );
    // Bad metadata: RFC 7591 error codes.
    let r = env.call(register(Some(INITIAL), json!({"redirect_uris": ["http://evil.example/cb"]}))).await;
    assert_eq!((r.status, r.body_json().unwrap()["error"].clone()), (400, json!("invalid_redirect_uri")));
    let r = env.call(register(Some(INITIAL), json!({"redirect_uris": [REDIRECT], "grant_types": ["password"]}))).await;
    assert_eq!(r.body_json().unwrap()["error"], "invalid_client_metadata");
    let r = env.call(register(Some(INITIAL), json!({"redirect_uris": [REDIRECT], "scope": "openid admin"}))).await;
    assert_eq!(r.body_json().unwrap()["error"], "invalid_client_metadata");

    let r = env
        .call(register(Some(INITIAL), json!({"redirect_uris": [REDIRECT], "client_name": "Dyn App", "scope": "openid email", "software_id": "ignored"})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body_json());
    assert_eq!(r.get_header("cache-control"), Some("no-store"));
    let reg = r.body_json().unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    let rat = reg["registration_access_token"].as_str().unwrap().to_string();
    let uri = reg["registration_client_uri"].as_str().unwrap().to_string();
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert_eq!(reg["scope"], "openid email");

    // The registered client works in a flow.
    let created = connectivly::CreatedClient {
        client: env.provider.get_client(&client_id).await.unwrap(),
        client_secret: Some(secret),
    };
    let r = Browser::default().authorize(&env, &authorize_url(&client_id, &[])).await;
    let loc = r.get_header("location").unwrap();
    assert_eq!(q(loc, "error").as_deref(), Some("invalid_scope"), "profile is not among its scopes");
    let mut b = Browser::default();
    let id = b
        .start(&env, &authorize_url(&client_id, &[]).replace("scope=openid+profile+email", "scope=openid+email"))
        .await;
    let mut a = approval("u");
    a["skip_consent"] = json!(true);
    let loc =
        env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(a)).await.body_json().unwrap()["redirect_uri"]
            .as_str()
            .unwrap()
            .to_string();
    let r = env
        .token(
            &created,
            &[("grant_type", "authorization_code"), ("code", &q(&loc, "code").unwrap()), ("redirect_uri", REDIRECT)],
        )
        .await;
    assert_eq!(r.status, 200);

    // Read, update, delete with the registration access token only.
    let path = uri.strip_prefix(ISSUER).unwrap().to_string();
    let with = |m: &str, t: &str| Request::new(m, &path).header("Authorization", &format!("Bearer {t}"));
    let r = env.call(with("GET", &rat)).await;
    assert_eq!(r.body_json().unwrap()["client_name"], "Dyn App");
    assert!(r.body_json().unwrap().get("client_secret").is_none());
    assert_eq!(env.call(with("GET", INITIAL)).await.status, 401);
    let r = env
        .call(
            with("PUT", &rat).json(
                &json!({"redirect_uris": [REDIRECT, "https://client.example.com/cb2"], "client_name": "Renamed"}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body_json());
    assert_eq!(env.provider.get_client(&client_id).await.unwrap().name, "Renamed");
    let r = env
        .call(with("PUT", &rat).json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(env.call(with("DELETE", &rat)).await.status, 204);
    assert!(env.provider.get_client(&client_id).await.is_err());
    assert_eq!(env.call(with("GET", &rat)).await.status, 401);

    // A public client registers with "none" and gets no secret.
    let r = env
        .call(register(Some(INITIAL), json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})))
        .await;
    let reg = r.body_json().unwrap();
    assert!(reg.get("client_secret").is_none());
    assert_eq!(reg["token_endpoint_auth_method"], "none");
}
