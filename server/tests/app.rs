//! The axum adapter, exercised in-process with `tower::ServiceExt::oneshot`.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use connectivly::{Config, NewClient, Provider};
use tower::ServiceExt;

async fn provider() -> Provider {
    let mut cfg = Config::new("http://localhost:3000", "https://app.example.com/connectivly");
    cfg.database_url = "memory:".into();
    cfg.api_key = Some("server-test-api-key-123".into());
    Provider::open(cfg).await.unwrap()
}

#[tokio::test]
async fn discovery_through_axum() {
    let app = connectivly_server::app(provider().await);
    let resp =
        app.oneshot(Request::get("/.well-known/openid-configuration").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert_eq!(body["issuer"], "http://localhost:3000");
}

#[tokio::test]
async fn authorize_redirects_and_sets_the_binding_cookie() {
    let p = provider().await;
    let c = p
        .create_client(NewClient {
            name: "A".into(),
            redirect_uris: vec!["http://localhost:5000/auth".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let uri = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Fauth&scope=openid&state=s\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        c.client.client_id
    );
    let resp = connectivly_server::app(p).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = resp.headers()[header::LOCATION].to_str().unwrap();
    assert!(loc.starts_with("https://app.example.com/connectivly?token=cly_ses_"), "{loc}");
    let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("connectivly_binding=cly_bn_") && cookie.contains("HttpOnly"));
    assert!(!cookie.contains("Secure"), "plain-http loopback issuer: no Secure flag");
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_a_5xx() {
    let app = connectivly_server::app(provider().await);
    let resp = app
        .oneshot(
            Request::post("/oauth2/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(vec![b'a'; 2 * 1024 * 1024]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn head_has_no_body_and_non_utf8_headers_are_safe() {
    let app = connectivly_server::app(provider().await);
    let resp = app.clone().oneshot(Request::head("/.well-known/jwks.json").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(to_bytes(resp.into_body(), 1024).await.unwrap().is_empty());
    let resp = app
        .oneshot(
            Request::post("/oauth2/token")
                .header(header::AUTHORIZATION, axum::http::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("grant_type=authorization_code"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn host_api_requires_the_key() {
    let app = connectivly_server::app(provider().await);
    let resp = app.clone().oneshot(Request::get("/api/clients").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = app
        .oneshot(
            Request::get("/api/clients").header("x-api-key", "server-test-api-key-123").body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
