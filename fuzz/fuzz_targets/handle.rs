//! Whole requests through `Provider::handle`: the authorize query, the token form, Basic headers, JSON
//! bodies of the host API. Never a panic, never a 5xx.
#![no_main]

use std::sync::OnceLock;

use connectivly::{Config, Provider, Request};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn provider() -> &'static Provider {
    static P: OnceLock<Provider> = OnceLock::new();
    P.get_or_init(|| {
        let mut cfg = Config::new("https://id.example.com", "https://app.example.com/login");
        cfg.database_url = "memory:".into();
        cfg.api_key = Some("fuzz-api-key-0123456789".into());
        cfg.failed_auth_limit_per_client = 0;
        cfg.failed_limit_per_address = 0;
        runtime().block_on(Provider::open(cfg)).unwrap()
    })
}

const PATHS: &[&str] = &[
    "/oauth2/authorize",
    "/oauth2/token",
    "/oauth2/userinfo",
    "/oauth2/revoke",
    "/oauth2/introspect",
    "/oauth2/register",
    "/consent/x",
    "/api/auth_session/x/approve",
    "/api/clients",
    "/api/introspect",
    "/.well-known/jwks.json",
];
const METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "OPTIONS"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // First bytes pick the route; the rest is split into query, one header value and the body.
    let path = PATHS[data[0] as usize % PATHS.len()];
    let method = METHODS[data[1] as usize % METHODS.len()];
    let rest = &data[2..];
    let mut parts = rest.splitn(3, |b| *b == 0xff);
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default().to_vec();
    let content_type =
        if body.first() == Some(&b'{') { "application/json" } else { "application/x-www-form-urlencoded" };
    let req = Request {
        method: method.into(),
        path: path.into(),
        query,
        headers: vec![
            ("authorization".into(), header.clone()),
            ("x-api-key".into(), "fuzz-api-key-0123456789".into()),
            ("content-type".into(), content_type.into()),
            ("cookie".into(), header),
        ],
        body,
        remote_addr: None,
    };
    let resp = runtime().block_on(provider().handle(req));
    assert!(resp.status < 500, "{method} {path} answered {}", resp.status);
});
