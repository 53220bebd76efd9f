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

/// What a malformed request must get back.
enum Want {
    /// A JSON error body with this status and `error` code (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662
    /// §2.3, the host API).
    Json(u16, &'static str),
    /// RFC 6750 §3.1: this status, the `error` code in the body and in `WWW-Authenticate`.
    Bearer(u16, &'static str),
    /// RFC 6749 §4.1.2.1: client or redirect URI unverified, so an HTML error page, never a redirect.
    Page(u16),
    /// RFC 6749 §4.1.2.1: a redirect to the registered URI with this `error`, `state` and `iss`.
    Redirect(&'static str),
}

/// Malformed input, case by case, with the exact status and error code the RFCs name for it: a 200
/// (or any other 4xx) for any of these fails.
#[tokio::test]
async fn malformed_requests_get_the_rfc_status_and_error_code() {
    let env = env("memory").await;
    let client = env.client(false).await;
    let public = env.client(true).await;
    let cid = client.client.client_id.clone();
    let auth = basic(&cid, client.client_secret.as_deref().unwrap());
    let (_, challenge) = pkce();
    let session =
        Browser::default().start(&env, &authorize_request(&cid, "openid profile email", Some(&challenge), &[])).await;
    // A valid access token without `openid`, for userinfo's insufficient_scope.
    let cc = env.token(&client, &[("grant_type", "client_credentials")]).await.body_json().unwrap();
    let no_openid = cc["access_token"].as_str().expect("a client_credentials token").to_string();

    let form = |path: &str, body: &str| {
        Request::new("POST", path).header("content-type", "application/x-www-form-urlencoded").body(body.to_string())
    };
    let token = |body: &str| form("/oauth2/token", body).header("Authorization", &auth);
    let revoke = |body: &str| form("/oauth2/revoke", body).header("Authorization", &auth);
    let introspect = |body: &str| form("/oauth2/introspect", body).header("Authorization", &auth);
    let bearer = |value: &str| Request::new("GET", "/oauth2/userinfo").header("Authorization", value);
    let authorize = |extra: &[(&str, &str)]| {
        Request::new("GET", &authorize_request(&cid, "openid profile email", Some(&challenge), extra))
    };
    let raw_authorize = |query: &str| Request::new("GET", &format!("/oauth2/authorize?{query}"));
    let api = |method: &str, path: &str, ct: Option<&str>, body: &[u8]| {
        let mut r = Request::new(method, path).header("X-API-KEY", API_KEY).body(body.to_vec());
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r
    };
    let approve = format!("/api/auth_session/{session}/approve");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let redirect = enc(REDIRECT);
    let big = format!("grant_type=client_credentials&x={}", "a".repeat(64 * 1024));

    let cases: Vec<(&str, Request, Want)> = vec![
        // The token endpoint (RFC 6749 §3.2, §5.2).
        (
            "token: GET",
            Request::new("GET", "/oauth2/token?grant_type=client_credentials"),
            Want::Json(405, "method_not_allowed"),
        ),
        (
            "token: not form-encoded",
            Request::new("POST", "/oauth2/token")
                .header("content-type", "text/plain")
                .header("Authorization", &auth)
                .body("grant_type=client_credentials"),
            Want::Json(400, "invalid_request"),
        ),
        (
            "token: JSON",
            Request::new("POST", "/oauth2/token")
                .header("Authorization", &auth)
                .json(&serde_json::json!({"grant_type": "client_credentials"})),
            Want::Json(400, "invalid_request"),
        ),
        ("token: no grant_type", token("scope=openid"), Want::Json(400, "invalid_request")),
        (
            "token: grant_type twice",
            token("grant_type=client_credentials&grant_type=client_credentials"),
            Want::Json(400, "invalid_request"),
        ),
        ("token: bad percent-encoding", token("grant_type=%zz"), Want::Json(400, "invalid_request")),
        (
            "token: truncated percent-encoding",
            token("grant_type=client_credentials%2"),
            Want::Json(400, "invalid_request"),
        ),
        ("token: encoded non-UTF-8", token("grant_type=%ff%fe"), Want::Json(400, "invalid_request")),
        (
            "token: raw non-UTF-8",
            token("grant_type=client_credentials").body(vec![0xff, 0xfe, b'=', 0x80]),
            Want::Json(400, "invalid_request"),
        ),
        (
            "token: unknown grant_type",
            token("grant_type=password&username=a&password=b"),
            Want::Json(400, "unsupported_grant_type"),
        ),
        (
            "token: no client authentication",
            form("/oauth2/token", "grant_type=client_credentials"),
            Want::Json(401, "invalid_client"),
        ),
        (
            "token: malformed Basic",
            form("/oauth2/token", "grant_type=client_credentials").header("Authorization", "Basic !!!"),
            Want::Json(401, "invalid_client"),
        ),
        (
            "token: wrong secret",
            form("/oauth2/token", "grant_type=client_credentials")
                .header("Authorization", &basic(&cid, "cly_cs_wrong")),
            Want::Json(401, "invalid_client"),
        ),
        (
            "token: unknown client",
            form("/oauth2/token", "grant_type=client_credentials")
                .header("Authorization", &basic("cly_ci_nobody", "x")),
            Want::Json(401, "invalid_client"),
        ),
        (
            "token: two authentication methods",
            token(&format!(
                "grant_type=client_credentials&client_id={cid}&client_secret={}",
                enc(client.client_secret.as_deref().unwrap())
            )),
            Want::Json(400, "invalid_request"),
        ),
        (
            "token: code missing",
            token(&format!("grant_type=authorization_code&redirect_uri={redirect}")),
            Want::Json(400, "invalid_request"),
        ),
        (
            "token: unknown code",
            token(&format!("grant_type=authorization_code&code=cly_ac_nope&redirect_uri={redirect}")),
            Want::Json(400, "invalid_grant"),
        ),
        ("token: code twice", token("grant_type=authorization_code&code=a&code=b"), Want::Json(400, "invalid_request")),
        ("token: refresh_token missing", token("grant_type=refresh_token"), Want::Json(400, "invalid_request")),
        (
            "token: unknown refresh token",
            token("grant_type=refresh_token&refresh_token=garbage"),
            Want::Json(400, "invalid_grant"),
        ),
        ("token: unknown scope", token("grant_type=client_credentials&scope=nope"), Want::Json(400, "invalid_scope")),
        ("token: body over 64 KiB", token(&big), Want::Json(413, "payload_too_large")),
        // Revocation (RFC 7009 §2.1, §2.2.1).
        ("revoke: GET", Request::new("GET", "/oauth2/revoke?token=x"), Want::Json(405, "method_not_allowed")),
        ("revoke: no token", revoke("token_type_hint=access_token"), Want::Json(400, "invalid_request")),
        ("revoke: token twice", revoke("token=a&token=b"), Want::Json(400, "invalid_request")),
        ("revoke: encoded non-UTF-8", revoke("token=%ff"), Want::Json(400, "invalid_request")),
        (
            "revoke: not form-encoded",
            Request::new("POST", "/oauth2/revoke")
                .header("Authorization", &auth)
                .json(&serde_json::json!({"token": "x"})),
            Want::Json(400, "invalid_request"),
        ),
        ("revoke: no client authentication", form("/oauth2/revoke", "token=x"), Want::Json(401, "invalid_client")),
        // Introspection (RFC 7662 §2.1, §2.3).
        ("introspect: GET", Request::new("GET", "/oauth2/introspect?token=x"), Want::Json(405, "method_not_allowed")),
        ("introspect: no token", introspect("token_type_hint=access_token"), Want::Json(400, "invalid_request")),
        ("introspect: token twice", introspect("token=a&token=b"), Want::Json(400, "invalid_request")),
        ("introspect: bad percent-encoding", introspect("token=%g0"), Want::Json(400, "invalid_request")),
        (
            "introspect: no client authentication",
            form("/oauth2/introspect", "token=x"),
            Want::Json(401, "invalid_client"),
        ),
        // The protected resource (RFC 6750 §2, §3.1).
        ("userinfo: empty Bearer", bearer("Bearer "), Want::Bearer(401, "invalid_token")),
        ("userinfo: not a token", bearer("Bearer not-a-jwt"), Want::Bearer(401, "invalid_token")),
        (
            "userinfo: alg none",
            bearer("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
            Want::Bearer(401, "invalid_token"),
        ),
        (
            "userinfo: Authorization twice",
            bearer("Bearer a").header("Authorization", "Bearer b"),
            Want::Bearer(400, "invalid_request"),
        ),
        (
            "userinfo: header and form",
            Request::new("POST", "/oauth2/userinfo").form(&[("access_token", "a")]).header("Authorization", "Bearer b"),
            Want::Bearer(400, "invalid_request"),
        ),
        ("userinfo: no openid scope", bearer(&format!("Bearer {no_openid}")), Want::Bearer(403, "insufficient_scope")),
        ("userinfo: DELETE", Request::new("DELETE", "/oauth2/userinfo"), Want::Json(405, "method_not_allowed")),
        // The authorization endpoint before the client and redirect URI are verified: a page, no redirect.
        (
            "authorize: bad percent-encoding",
            raw_authorize(&format!("response_type=code&client_id={cid}&redirect_uri={redirect}&state=%zz")),
            Want::Page(400),
        ),
        (
            "authorize: encoded non-UTF-8",
            raw_authorize(&format!("response_type=code&client_id={cid}&redirect_uri={redirect}&state=%ff")),
            Want::Page(400),
        ),
        (
            "authorize: client_id twice",
            raw_authorize(&format!("response_type=code&client_id={cid}&client_id={cid}&redirect_uri={redirect}")),
            Want::Page(400),
        ),
        (
            "authorize: no client_id",
            raw_authorize(&format!("response_type=code&redirect_uri={redirect}")),
            Want::Page(400),
        ),
        (
            "authorize: unknown client",
            raw_authorize(&format!("response_type=code&client_id=cly_ci_nobody&redirect_uri={redirect}")),
            Want::Page(400),
        ),
        ("authorize: no redirect_uri", raw_authorize(&format!("response_type=code&client_id={cid}")), Want::Page(400)),
        (
            "authorize: unregistered redirect_uri",
            raw_authorize(&format!(
                "response_type=code&client_id={cid}&redirect_uri={}",
                enc("https://client.example.com/cb/")
            )),
            Want::Page(400),
        ),
        (
            "authorize: redirect_uri twice",
            raw_authorize(&format!(
                "response_type=code&client_id={cid}&redirect_uri={redirect}&redirect_uri={redirect}"
            )),
            Want::Page(400),
        ),
        (
            "authorize: JSON POST",
            Request::new("POST", "/oauth2/authorize").json(&serde_json::json!({"client_id": cid})),
            Want::Page(400),
        ),
        ("authorize: DELETE", Request::new("DELETE", "/oauth2/authorize"), Want::Json(405, "method_not_allowed")),
        // ...and after: the error goes back to the client (RFC 6749 §4.1.2.1, RFC 7636 §4.4.1).
        (
            "authorize: response_type=token",
            authorize(&[]).query_replace("response_type=code", "response_type=token"),
            Want::Redirect("unsupported_response_type"),
        ),
        (
            "authorize: no response_type",
            authorize(&[]).query_replace("response_type=code&", ""),
            Want::Redirect("invalid_request"),
        ),
        ("authorize: response_type twice", authorize(&[("response_type", "code")]), Want::Redirect("invalid_request")),
        (
            "authorize: unknown scope",
            authorize(&[]).query_replace("scope=openid+profile+email", "scope=openid+nope"),
            Want::Redirect("invalid_scope"),
        ),
        ("authorize: scope twice", authorize(&[("scope", "openid")]), Want::Redirect("invalid_request")),
        ("authorize: state twice", authorize(&[("state", "again")]), Want::Redirect("invalid_request")),
        (
            "authorize: PKCE plain",
            authorize(&[]).query_replace("code_challenge_method=S256", "code_challenge_method=plain"),
            Want::Redirect("invalid_request"),
        ),
        (
            "authorize: public client without PKCE",
            Request::new("GET", &authorize_request(&public.client.client_id, "openid", None, &[])),
            Want::Redirect("invalid_request"),
        ),
        // The host API: JSON errors with its own codes.
        (
            "api: approve, truncated JSON",
            api("POST", &approve, Some("application/json"), b"{"),
            Want::Json(400, "invalid_request"),
        ),
        (
            "api: approve, JSON array",
            api("POST", &approve, Some("application/json"), b"[]"),
            Want::Json(400, "invalid_request"),
        ),
        (
            "api: approve, user not a string",
            api("POST", &approve, Some("application/json"), br#"{"user": 5}"#),
            Want::Json(400, "invalid_request"),
        ),
        (
            "api: approve, claims not an object",
            api("POST", &approve, Some("application/json"), br#"{"user": "u", "claims": "x"}"#),
            Want::Json(400, "invalid_request"),
        ),
        ("api: approve, empty body", api("POST", &approve, None, b""), Want::Json(400, "invalid_request")),
        (
            "api: approve, non-UTF-8",
            api("POST", &approve, Some("application/json"), b"\xff\xfe"),
            Want::Json(400, "invalid_request"),
        ),
        (
            "api: approve, unknown session",
            api("POST", "/api/auth_session/cly_ses_nope/approve", Some("application/json"), br#"{"user": "u"}"#),
            Want::Json(404, "not_found"),
        ),
        (
            "api: client, redirect_uris not a list",
            api(
                "POST",
                "/api/clients",
                Some("application/json"),
                br#"{"name": "x", "redirect_uris": "https://a.example/cb"}"#,
            ),
            Want::Json(400, "invalid_request"),
        ),
        (
            "api: client, javascript: URI",
            api(
                "POST",
                "/api/clients",
                Some("application/json"),
                br#"{"name": "x", "redirect_uris": ["javascript:alert(1)"]}"#,
            ),
            Want::Json(400, "invalid_request"),
        ),
        ("api: owner non-UTF-8", api("GET", "/api/clients?owner=%ff", None, b""), Want::Json(400, "invalid_request")),
        ("api: PUT /api/clients", api("PUT", "/api/clients", None, b""), Want::Json(405, "method_not_allowed")),
        ("api: no such route", api("GET", "/api/nope", None, b""), Want::Json(404, "not_found")),
        (
            "api: key twice",
            api("GET", "/api/clients", None, b"").header("X-API-KEY", API_KEY),
            Want::Json(401, "unauthorized"),
        ),
    ];
    let n = cases.len();
    for (name, req, want) in cases {
        let r = env.call(req).await;
        let body = r.body_json();
        let text = String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).to_string();
        match want {
            Want::Json(status, code) | Want::Bearer(status, code) => {
                assert_eq!(
                    (r.status, body.as_ref().map(|b| b["error"].clone())),
                    (status, Some(serde_json::json!(code))),
                    "{name}: {text}"
                );
                assert!(r.get_header("location").is_none(), "{name}");
                if matches!(want, Want::Bearer(..)) {
                    let challenge = r.get_header("www-authenticate").unwrap_or_default();
                    assert!(
                        challenge.starts_with("Bearer ") && challenge.contains(&format!("error=\"{code}\"")),
                        "{name}: {challenge}"
                    );
                }
            }
            Want::Page(status) => {
                assert_eq!(r.status, status, "{name}: {text}");
                assert!(r.get_header("location").is_none(), "{name}: redirected");
                assert!(r.get_header("content-type").unwrap_or_default().starts_with("text/html"), "{name}");
            }
            Want::Redirect(code) => {
                assert_eq!(r.status, 302, "{name}: {text}");
                let loc = r.get_header("location").unwrap();
                assert!(loc.starts_with(&format!("{REDIRECT}?")), "{name}: {loc}");
                assert_eq!(q(loc, "error").as_deref(), Some(code), "{name}: {loc}");
                assert_eq!(q(loc, "iss").as_deref(), Some(ISSUER), "{name}: {loc}");
                assert!(r.get_header("set-cookie").is_none(), "{name}: a refused request started a session");
            }
        }
    }
    assert!(n >= 70, "{n} cases");
}

trait QueryReplace {
    fn query_replace(self, from: &str, to: &str) -> Request;
}

impl QueryReplace for Request {
    fn query_replace(mut self, from: &str, to: &str) -> Request {
        assert!(self.query.contains(from), "{from} not in {}", self.query);
        self.query = self.query.replacen(from, to, 1);
        self
    }
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
    // Per client and address: 20 failures from one address lock that pair for a minute...
    for _ in 0..20 {
        assert_eq!(env.call(attempt(&cid, "cly_cs_guess", "10.0.0.1")).await.status, 401);
    }
    let r = env.call(attempt(&cid, "cly_cs_guess", "10.0.0.1")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.get_header("retry-after"), Some("60"));
    // ...and while locked even the right secret from there gets no answer about itself...
    assert_eq!(env.call(attempt(&cid, &secret, "10.0.0.1")).await.status, 429);
    // ...but the real client elsewhere is not locked out by someone else's failures (review finding 3).
    assert_eq!(env.call(attempt(&cid, &secret, "10.0.1.2")).await.status, 200);
    // An IPv6 host's whole /64 counts as one source.
    for i in 0..20 {
        env.call(attempt(&cid, "cly_cs_guess", &format!("2001:db8:1:2::{i:x}"))).await;
    }
    assert_eq!(env.call(attempt(&cid, &secret, "2001:db8:1:2:ffff::1")).await.status, 429);
    assert_eq!(env.call(attempt(&cid, &secret, "2001:db8:1:3::1")).await.status, 200);
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
