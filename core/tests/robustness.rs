//! Malformed input everywhere: never a 5xx, never a panic, always a clear 4xx.

mod common;

use common::*;
use connectivly::Request;

#[tokio::test]
async fn no_malformed_request_gets_a_5xx() {
    let env = env("sqlite").await;
    let client = env.client(false).await;
    let cid = client.client.client_id.clone();
    let session = Browser::default().start(&env, &authorize_url(&cid, &[])).await;
    let huge = "a".repeat(100 * 1024);
    let paths = [
        "/.well-known/openid-configuration".to_string(),
        "/.well-known/jwks.json".into(),
        "/oauth2/authorize".into(),
        "/oauth2/token".into(),
        "/oauth2/userinfo".into(),
        format!("/consent/{session}"),
        "/consent/%ff%fe".into(),
        format!("/api/auth_session/{session}"),
        format!("/api/auth_session/{session}/approve"),
        format!("/api/auth_session/{session}/deny"),
        "/api/clients".into(),
        format!("/api/clients/{cid}"),
        format!("/api/clients/{cid}/secret"),
        "/api/clients/%00".into(),
        "/nope".into(),
        "//".into(),
    ];
    let queries = [
        String::new(),
        format!("client_id={cid}&client_id={cid}"),
        format!("response_type=code&client_id={cid}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&state=%ff"),
        format!("response_type=code&client_id={cid}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&state={huge}"),
        "client_id=%".into(),
        "client_id=%zz&&&==&=".into(),
        format!("client_id={cid}&redirect_uri=javascript%3Aalert(1)"),
        format!("client_id={cid}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb%0d%0aSet-Cookie:x"),
        "owner=%00&owner=x".into(),
        huge.clone(),
    ];
    let bodies: Vec<(Option<&str>, Vec<u8>)> = vec![
        (None, vec![]),
        (
            Some("application/x-www-form-urlencoded"),
            b"grant_type=authorization_code&grant_type=authorization_code".to_vec(),
        ),
        (Some("application/x-www-form-urlencoded"), b"grant_type=authorization_code&code=%ff%fe".to_vec()),
        (Some("application/x-www-form-urlencoded"), vec![0xff, 0xfe, b'=', 0x80]),
        (Some("application/x-www-form-urlencoded"), format!("code={huge}").into_bytes()),
        (Some("application/x-www-form-urlencoded"), vec![b'a'; 1024 * 1024]),
        (Some("application/json"), b"{".to_vec()),
        (Some("application/json"), b"[]".to_vec()),
        (Some("application/json"), b"null".to_vec()),
        (Some("application/json"), br#"{"user": 5}"#.to_vec()),
        (Some("application/json"), br#"{"user": "u", "claims": "x"}"#.to_vec()),
        (Some("application/json"), br#"{"name": "x", "redirect_uris": ["javascript:alert(1)"]}"#.to_vec()),
        (Some("application/json"), br#"{"name": "x", "redirect_uris": "https://a.example/cb"}"#.to_vec()),
        (Some("application/json"), format!(r#"{{"user": "{huge}"}}"#).into_bytes()),
        (Some("text/plain"), b"\x00\x01\x02".to_vec()),
    ];
    let headers: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("X-API-KEY", API_KEY.into())],
        vec![("X-API-KEY", API_KEY.into()), ("X-API-KEY", API_KEY.into())],
        vec![("Authorization", "Basic !!!".into())],
        vec![("Authorization", basic(&cid, client.client_secret.as_deref().unwrap()))],
        vec![("Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into())],
        vec![("Authorization", format!("Bearer {huge}"))],
        vec![("Cookie", "connectivly_binding=\u{0}; connectivly_binding=x".into())],
    ];
    let mut n = 0;
    for method in ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "BREW"] {
        for path in &paths {
            for (i, query) in queries.iter().enumerate() {
                for (j, (ct, body)) in bodies.iter().enumerate() {
                    // Every combination of path x method, a rotating slice of the rest.
                    if (i + j + n) % 7 != 0 {
                        continue;
                    }
                    let hs = &headers[(i * 3 + j + n) % headers.len()];
                    let mut req = Request::new(method, &format!("{path}?{query}")).body(body.clone());
                    if let Some(ct) = ct {
                        req = req.header("content-type", ct);
                    }
                    for (k, v) in hs {
                        req = req.header(k, v);
                    }
                    let r = env.provider.handle(req).await;
                    assert!(
                        r.status >= 200 && r.status < 500,
                        "{method} {path}?{}: {}",
                        &query[..query.len().min(80)],
                        r.status
                    );
                    if let Some(loc) = r.get_header("location") {
                        assert!(!loc.contains('\r') && !loc.contains('\n'));
                        assert!(
                            loc.starts_with(LOGIN) || loc.starts_with(REDIRECT),
                            "redirect to an unverified place: {loc}"
                        );
                    }
                    n += 1;
                }
            }
        }
    }
    assert!(n > 300, "only {n} cases ran");
    // And the provider still works (the table may have deleted or rotated its client: use a new one).
    let client = env.client(false).await;
    let loc = flow_to_code(&env, &client, &[], approval("u")).await;
    assert!(q(&loc, "code").is_some());
}

#[tokio::test]
async fn bearer_tokens_that_are_not_ours_are_rejected() {
    let env = env("memory").await;
    let other = common::env("memory").await;
    let client = other.client(false).await;
    let loc = flow_to_code(&other, &client, &[], approval("u")).await;
    let t = other
        .token(
            &client,
            &[("grant_type", "authorization_code"), ("code", &q(&loc, "code").unwrap()), ("redirect_uri", REDIRECT)],
        )
        .await
        .body_json()
        .unwrap();
    let foreign = t["access_token"].as_str().unwrap();
    let id_token = t["id_token"].as_str().unwrap();
    for token in [foreign, id_token, "x", "a.b.c", ""] {
        let r =
            env.call(Request::new("GET", "/oauth2/userinfo").header("Authorization", &format!("Bearer {token}"))).await;
        assert_eq!(r.status, 401, "{token}");
        assert!(r.get_header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    // Its own id_token is not an access token either.
    let r = other
        .call(Request::new("GET", "/oauth2/userinfo").header("Authorization", &format!("Bearer {id_token}")))
        .await;
    assert_eq!(r.status, 401);
    // No token at all: a bare challenge.
    let r = env.call(Request::new("GET", "/oauth2/userinfo")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.get_header("www-authenticate"), Some("Bearer realm=\"connectivly\""));
}

#[tokio::test]
async fn client_registry_validates_and_never_returns_secrets_twice() {
    let env = env("sqlite").await;
    let r = env
        .api(
            "POST",
            "/api/clients",
            Some(serde_json::json!({"name": "Mine", "owner": "user-1", "redirect_uris": ["https://mine.example/cb"]})),
        )
        .await;
    assert_eq!(r.status, 201);
    let created = r.body_json().unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("cly_cs_"));
    for (m, p) in [
        ("GET", format!("/api/clients/{id}")),
        ("GET", "/api/clients?owner=user-1".into()),
        ("GET", "/api/clients".into()),
    ] {
        let r = env.api(m, &p, None).await;
        assert_eq!(r.status, 200);
        let text = String::from_utf8_lossy(&r.body).to_string();
        assert!(!text.contains(&secret) && !text.contains("secret"), "{p}: {text}");
    }
    let mine = env.api("GET", "/api/clients?owner=user-1", None).await.body_json().unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(env.api("GET", "/api/clients?owner=user-2", None).await.body_json().unwrap(), serde_json::json!([]));

    let r = env.api("PATCH", &format!("/api/clients/{id}"), Some(serde_json::json!({"name": "Renamed"}))).await;
    assert_eq!(r.body_json().unwrap()["name"], "Renamed");
    let r = env.api("PATCH", &format!("/api/clients/{id}"), Some(serde_json::json!({"public": true}))).await;
    assert_eq!(r.status, 400, "public cannot be changed");
    let r = env
        .api(
            "PATCH",
            &format!("/api/clients/{id}"),
            Some(serde_json::json!({"redirect_uris": ["http://evil.example/cb"]})),
        )
        .await;
    assert_eq!(r.status, 400);

    let rotated = env.api("POST", &format!("/api/clients/{id}/secret"), None).await.body_json().unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(probe(&env, &id, &secret).await, 401, "the old secret stopped working");
    assert_eq!(probe(&env, &id, new_secret).await, 400, "the new one authenticates (and the bogus code is refused)");

    assert_eq!(env.api("DELETE", &format!("/api/clients/{id}"), None).await.status, 200);
    assert_eq!(env.api("GET", &format!("/api/clients/{id}"), None).await.status, 404);
    assert_eq!(env.api("DELETE", &format!("/api/clients/{id}"), None).await.status, 404);
    for bad in [
        serde_json::json!({"name": "", "redirect_uris": ["https://a.example/cb"]}),
        serde_json::json!({"name": "x", "redirect_uris": []}),
        serde_json::json!({"name": "x", "redirect_uris": ["https://a.example/cb#f"]}),
        serde_json::json!({"name": "x", "redirect_uris": ["https://a.example/cb"], "client_secret": "chosen"}),
        serde_json::json!({"name": "x", "redirect_uris": ["https://a.example/cb"], "logo_uri": "javascript:x"}),
    ] {
        assert_eq!(env.api("POST", "/api/clients", Some(bad.clone())).await.status, 400, "{bad}");
    }
}

async fn probe(env: &Env, id: &str, secret: &str) -> u16 {
    let req = Request::new("POST", "/oauth2/token")
        .form(&[("grant_type", "authorization_code"), ("code", "cly_ac_x")])
        .header("Authorization", &basic(id, secret));
    env.call(req).await.status
}

#[tokio::test]
async fn brute_force_is_rate_limited_per_client_and_per_address() {
    let env = env("memory").await;
    let client = env.client(false).await;
    let cid = client.client.client_id.clone();
    let secret = client.client_secret.clone().unwrap();
    let attempt = |id: &str, s: &str, addr: &str| {
        Request::new("POST", "/oauth2/token")
            .form(&[("grant_type", "client_credentials")])
            .header("Authorization", &basic(id, s))
            .with_addr(addr)
    };
    // Per client: 20 failures from many addresses lock the client id for a minute...
    for i in 0..20 {
        assert_eq!(env.call(attempt(&cid, "cly_cs_guess", &format!("10.0.0.{i}"))).await.status, 401);
    }
    let r = env.call(attempt(&cid, "cly_cs_guess", "10.0.1.1")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.get_header("retry-after"), Some("60"));
    // ...and while locked even the right secret gets no answer about itself.
    assert_eq!(env.call(attempt(&cid, &secret, "10.0.1.2")).await.status, 429);
    // Another client is unaffected.
    let other = env.client(false).await;
    let r = env.call(attempt(&other.client.client_id, other.client_secret.as_deref().unwrap(), "10.0.1.3")).await;
    assert_eq!(r.status, 200);

    // Per address: 60 failures (any client ids, wrong API keys, unknown consent sessions) lock the address.
    for i in 0..30 {
        env.call(attempt(&format!("cly_ci_unknown{i}"), "x", "192.0.2.7")).await;
    }
    for _ in 0..20 {
        let r = env
            .call(Request::new("GET", "/api/clients").header("X-API-KEY", "wrong-key-wrong-key").with_addr("192.0.2.7"))
            .await;
        assert_eq!(r.status, 401);
    }
    for _ in 0..10 {
        let fake = connectivly::secrets::new_secret("cly_ses_");
        assert_eq!(env.call(Request::new("GET", &format!("/consent/{fake}")).with_addr("192.0.2.7")).await.status, 404);
    }
    let r =
        env.call(attempt(other.client.client_id.as_str(), other.client_secret.as_deref().unwrap(), "192.0.2.7")).await;
    assert_eq!(r.status, 429);
    let r = env.call(Request::new("GET", "/api/clients").header("X-API-KEY", API_KEY).with_addr("192.0.2.7")).await;
    assert_eq!(r.status, 429);
    // Other addresses still work.
    let r = env.call(Request::new("GET", "/api/clients").header("X-API-KEY", API_KEY).with_addr("192.0.2.8")).await;
    assert_eq!(r.status, 200);
}

trait WithAddr {
    fn with_addr(self, addr: &str) -> Request;
}

impl WithAddr for Request {
    fn with_addr(mut self, addr: &str) -> Request {
        self.remote_addr = Some(addr.to_string());
        self
    }
}
