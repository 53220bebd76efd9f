//! Test harness: a provider on each store, and a scripted browser that carries cookies.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use connectivly::http::Params;
use connectivly::{Config, CreatedClient, NewClient, Provider, Request, Response};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://id.example.com";
pub const LOGIN: &str = "https://app.example.com/connectivly";
pub const REDIRECT: &str = "https://client.example.com/cb";
pub const API_KEY: &str = "test-api-key-0123456789";

/// One provider per store kind, so each test runs against every back end.
pub struct Env {
    pub provider: Provider,
    pub kind: &'static str,
    pub api_key: String,
    pub _dir: Option<tempfile::TempDir>,
}

/// Memory and SQLite always; PostgreSQL too when `CONNECTIVLY_TEST_POSTGRES_URL` names a server
/// (`tests/pg-cluster start` runs a private one).
pub async fn envs() -> Vec<Env> {
    envs_with(|_| {}).await
}

/// The admin URL of the test PostgreSQL server, when one is configured.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("CONNECTIVLY_TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty())
}

/// Creates an empty database on the test server and returns its URL: every env gets its own, so
/// tests never see each other's rows. They are left in the throwaway cluster (`tests/pg-cluster
/// stop` removes it). Panics when no server is configured.
pub async fn fresh_postgres_database() -> (String, String) {
    use sqlx::Connection;
    let admin = postgres_admin_url().expect("CONNECTIVLY_TEST_POSTGRES_URL is not set");
    let name = format!(
        "connectivly_t_{}",
        connectivly::secrets::random_bytes::<8>().iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("cannot connect to CONNECTIVLY_TEST_POSTGRES_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    (url.to_string(), name)
}

pub async fn env(kind: &'static str) -> Env {
    env_with(kind, |_| {}).await
}

/// Every store kind, each with the config adjusted by `tweak`.
pub async fn envs_with(tweak: impl Fn(&mut Config) + Copy) -> Vec<Env> {
    let mut out = vec![env_with("memory", tweak).await, env_with("sqlite", tweak).await];
    if postgres_admin_url().is_some() {
        out.push(env_with("postgres", tweak).await);
    }
    out
}

pub async fn env_with(kind: &'static str, tweak: impl Fn(&mut Config)) -> Env {
    let (url, dir) = match kind {
        "memory" => ("memory:".to_string(), None),
        "postgres" => (fresh_postgres_database().await.0, None),
        _ => {
            let dir = tempfile::tempdir().unwrap();
            (format!("sqlite://{}/c.db", dir.path().display()), Some(dir))
        }
    };
    let mut cfg = Config::new(ISSUER, LOGIN);
    cfg.database_url = url;
    cfg.api_key = Some(API_KEY.into());
    cfg.scopes = vec![connectivly::ScopeDef::new("photos:read", "Read your photos")];
    // These tests walk confidential clients through flows with and without PKCE; the default
    // (PKCE required from every client) is tested in review.rs.
    cfg.require_pkce = false;
    tweak(&mut cfg);
    Env { provider: Provider::open(cfg).await.unwrap(), kind, api_key: API_KEY.into(), _dir: dir }
}

impl Env {
    pub async fn client(&self, public: bool) -> CreatedClient {
        self.provider
            .create_client(NewClient {
                name: "Photo Printer".into(),
                redirect_uris: vec![REDIRECT.into()],
                public,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    pub async fn call(&self, req: Request) -> Response {
        let r = self.provider.handle(req).await;
        assert!(r.status < 500, "[{}] 5xx: {} {:?}", self.kind, r.status, String::from_utf8_lossy(&r.body));
        r
    }

    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let mut req = Request::new(method, path).header("X-API-KEY", &self.api_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.call(req).await
    }

    pub async fn token(&self, client: &CreatedClient, pairs: &[(&str, &str)]) -> Response {
        let mut req = Request::new("POST", "/oauth2/token").form(pairs);
        if let Some(secret) = &client.client_secret {
            req = req.header("Authorization", &basic(&client.client.client_id, secret));
        }
        self.call(req).await
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(connectivly::secrets::random_bytes::<32>());
    let challenge = connectivly::secrets::sha256_b64(verifier.as_bytes());
    (verifier, challenge)
}

pub fn authorize_url(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456");
    for (k, v) in extra {
        s.append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", s.finish())
}

/// Query parameters of a Location URL.
pub fn query_of(location: &str) -> Params {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    Params::parse(q.as_bytes()).unwrap()
}

pub fn q(location: &str, name: &str) -> Option<String> {
    query_of(location).get(name).unwrap().map(str::to_string)
}

/// A browser: remembers the binding cookie.
#[derive(Default, Clone)]
pub struct Browser {
    pub cookie: Option<String>,
}

impl Browser {
    pub fn request(&self, method: &str, url: &str) -> Request {
        let path = url.strip_prefix(ISSUER).unwrap_or(url);
        let mut r = Request::new(method, path);
        if let Some(c) = &self.cookie {
            r = r.header("Cookie", &format!("other=1; {c}"));
        }
        r
    }

    /// GET /authorize; returns the session id handed to the host.
    pub async fn authorize(&mut self, env: &Env, url: &str) -> Response {
        let r = env.call(self.request("GET", url)).await;
        if let Some(set) = r.get_header("set-cookie") {
            self.cookie = Some(set.split(';').next().unwrap().to_string());
        }
        r
    }

    pub async fn start(&mut self, env: &Env, url: &str) -> String {
        let r = self.authorize(env, url).await;
        assert_eq!(r.status, 302, "{:?}", String::from_utf8_lossy(&r.body));
        let loc = r.get_header("location").unwrap();
        assert!(loc.starts_with(LOGIN), "{loc}");
        q(loc, "token").unwrap()
    }

    pub async fn consent_form(&self, env: &Env, consent_url: &str) -> (Response, Option<String>) {
        let r = env.call(self.request("GET", consent_url)).await;
        let html = String::from_utf8_lossy(&r.body).to_string();
        let csrf = html.split("name=\"csrf\" value=\"").nth(1).map(|s| s.split('"').next().unwrap().to_string());
        (r, csrf)
    }

    pub async fn decide(&self, env: &Env, consent_url: &str, csrf: &str, decision: &str) -> Response {
        env.call(self.request("POST", consent_url).form(&[("csrf", csrf), ("decision", decision)])).await
    }
}

/// Runs authorize → approve → consent (allow) and returns the client redirect.
pub async fn flow_to_code(env: &Env, client: &CreatedClient, extra: &[(&str, &str)], approval: Value) -> String {
    let mut b = Browser::default();
    let id = b.start(env, &authorize_url(&client.client.client_id, extra)).await;
    let r = env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval)).await;
    assert_eq!(r.status, 200, "{:?}", r.body_json());
    let next = r.body_json().unwrap()["redirect_uri"].as_str().unwrap().to_string();
    if next.starts_with(REDIRECT) {
        return next;
    }
    let (page, csrf) = b.consent_form(env, &next).await;
    assert_eq!(page.status, 200);
    let r = b.decide(env, &next, &csrf.unwrap(), "allow").await;
    assert_eq!(r.status, 302);
    r.get_header("location").unwrap().to_string()
}

pub fn approval(user: &str) -> Value {
    json!({"user": user, "claims": {"name": "Ann Example", "email": "ann@example.com", "email_verified": true}})
}

/// Decodes a JWT's payload without verifying (tests verify via the provider or JWKS separately).
pub fn jwt_claims(t: &str) -> Value {
    let p = t.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}
pub fn jwt_header(t: &str) -> Value {
    let p = t.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// An authorization request of our own (not `authorize_url`, whose defaults may change):
/// `scope`, PKCE S256 with `challenge` when given, then `extra`.
pub fn authorize_request(client_id: &str, scope: &str, challenge: Option<&str>, extra: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456");
    if let Some(c) = challenge {
        s.append_pair("code_challenge", c).append_pair("code_challenge_method", "S256");
    }
    for (k, v) in extra {
        s.append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", s.finish())
}

/// A confidential client that may use `client_credentials` for `photos:read`.
pub async fn service_client(env: &Env) -> CreatedClient {
    env.provider
        .create_client(NewClient {
            name: "Backend".into(),
            redirect_uris: vec![REDIRECT.into()],
            allowed_scopes: Some(vec!["photos:read".into()]),
            ..Default::default()
        })
        .await
        .unwrap()
}
