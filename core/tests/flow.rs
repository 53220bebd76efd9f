//! The authorization-code flow end to end through `Provider::handle`, on every store.

mod common;

use common::*;
use connectivly::ErrorKind;
use serde_json::json;

#[tokio::test]
async fn discovery_and_jwks_are_issuer_consistent() {
    for env in envs().await {
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let d = env.call(connectivly::Request::new("GET", path)).await.body_json().unwrap();
            assert_eq!(d["issuer"], ISSUER);
            assert_eq!(d["token_endpoint"], format!("{ISSUER}/oauth2/token"));
            assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
            assert_eq!(d["authorization_response_iss_parameter_supported"], true);
            assert!(d["scopes_supported"].as_array().unwrap().contains(&json!("photos:read")));
        }
        let jwks = env.call(connectivly::Request::new("GET", "/.well-known/jwks.json")).await.body_json().unwrap();
        let k = &jwks["keys"][0];
        assert_eq!(k["alg"], "RS256");
        assert_eq!(k["use"], "sig");
        assert!(k["kid"].is_string() && k["n"].is_string() && k["e"] == "AQAB");
        assert!(k.get("d").is_none(), "private key material published");
    }
}

#[tokio::test]
async fn confidential_client_full_flow_with_consent() {
    for env in envs().await {
        let client = env.client(false).await;
        let cid = &client.client.client_id;
        let loc = flow_to_code(&env, &client, &[], approval("user-42")).await;
        assert!(loc.starts_with(&format!("{REDIRECT}?code=")), "{loc}");
        assert_eq!(q(&loc, "state").as_deref(), Some("st-123"));
        assert_eq!(q(&loc, "iss").as_deref(), Some(ISSUER));
        let code = q(&loc, "code").unwrap();

        let r = env
            .token(&client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)])
            .await;
        assert_eq!(r.status, 200, "[{}] {:?}", env.kind, r.body_json());
        assert_eq!(r.get_header("cache-control"), Some("no-store"));
        let t = r.body_json().unwrap();
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["scope"], "openid profile email");
        let at = t["access_token"].as_str().unwrap();
        let idt = t["id_token"].as_str().unwrap();

        assert_eq!(jwt_header(at)["typ"], "at+jwt");
        let atc = jwt_claims(at);
        assert_eq!(atc["iss"], ISSUER);
        assert_eq!(atc["sub"], "user-42");
        assert_eq!(atc["client_id"], cid.as_str());
        assert_eq!(atc["aud"], ISSUER, "the default audience is the issuer");
        assert_eq!(atc["exp"].as_i64().unwrap() - atc["iat"].as_i64().unwrap(), 3600);
        assert!(atc["auth_time"].is_i64() && atc["gid"].is_string() && atc["scope"].is_string());
        // Exactly the RFC 9068 claims plus the grant id: no PII (email, name) in an access token.
        let mut names: Vec<&str> = atc.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["aud", "auth_time", "client_id", "exp", "gid", "iat", "iss", "jti", "scope", "sub"]);

        let idc = jwt_claims(idt);
        assert_eq!(idc["aud"], cid.as_str());
        assert_eq!(idc["azp"], cid.as_str());
        assert_eq!(idc["nonce"], "n-456");
        assert_eq!(idc["name"], "Ann Example");
        assert_eq!(idc["email"], "ann@example.com");
        assert!(idc["at_hash"].is_string() && idc["auth_time"].is_i64());
        let expected_at_hash = {
            use base64::Engine;
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, at.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
        };
        assert_eq!(idc["at_hash"], expected_at_hash);

        let info = env.provider.verify_access_token(at, &["openid"]).await.unwrap();
        assert_eq!(info.sub, "user-42");
        assert_eq!(info.client_id, *cid);
        let e = env.provider.verify_access_token(at, &["photos:read"]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InsufficientScope);

        let ui = env
            .call(connectivly::Request::new("GET", "/oauth2/userinfo").header("Authorization", &format!("Bearer {at}")))
            .await;
        assert_eq!(ui.status, 200);
        let ui = ui.body_json().unwrap();
        assert_eq!(ui["sub"], "user-42");
        assert_eq!(ui["email"], "ann@example.com");
        assert_eq!(ui["name"], "Ann Example");
    }
}

#[tokio::test]
async fn approved_scope_subset_limits_claims() {
    for env in envs().await {
        let client = env.client(false).await;
        let mut a = approval("u1");
        a["scopes"] = json!(["openid", "profile"]);
        a["skip_consent"] = json!(true);
        let loc = flow_to_code(&env, &client, &[], a).await;
        let code = q(&loc, "code").unwrap();
        let t = env
            .token(&client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)])
            .await;
        let t = t.body_json().unwrap();
        assert_eq!(t["scope"], "openid profile");
        let idc = jwt_claims(t["id_token"].as_str().unwrap());
        assert_eq!(idc["name"], "Ann Example");
        assert!(idc.get("email").is_none());

        // A scope that was not requested cannot be granted.
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&client.client.client_id, &[])).await;
        let r = env
            .api(
                "POST",
                &format!("/api/auth_session/{id}/approve"),
                Some(json!({"user": "u", "scopes": ["photos:read"]})),
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body_json().unwrap()["error"], "invalid_scope");
    }
}

#[tokio::test]
async fn public_client_requires_pkce_s256() {
    for env in envs().await {
        let client = env.client(true).await;
        assert!(client.client_secret.is_none());
        let cid = client.client.client_id.clone();
        let (verifier, challenge) = pkce();
        let pk = [("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];

        // Without a challenge: an error at the client's redirect URI.
        let r = Browser::default().authorize(&env, &authorize_url(&cid, &[])).await;
        assert_eq!(r.status, 302);
        let loc = r.get_header("location").unwrap();
        assert!(loc.starts_with(REDIRECT));
        assert_eq!(q(loc, "error").as_deref(), Some("invalid_request"));
        assert_eq!(q(loc, "state").as_deref(), Some("st-123"));
        assert_eq!(q(loc, "iss").as_deref(), Some(ISSUER));

        // plain is refused.
        let r = Browser::default()
            .authorize(
                &env,
                &authorize_url(&cid, &[("code_challenge", verifier.as_str()), ("code_challenge_method", "plain")]),
            )
            .await;
        assert_eq!(q(r.get_header("location").unwrap(), "error").as_deref(), Some("invalid_request"));
        // So is a challenge without a method (it would default to plain).
        let r =
            Browser::default().authorize(&env, &authorize_url(&cid, &[("code_challenge", challenge.as_str())])).await;
        assert_eq!(q(r.get_header("location").unwrap(), "error").as_deref(), Some("invalid_request"));

        let base = |code: &str| {
            vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code.to_string()),
                ("redirect_uri", REDIRECT.to_string()),
                ("client_id", cid.clone()),
            ]
        };
        let form = |pairs: Vec<(&'static str, String)>| {
            let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            connectivly::Request::new("POST", "/oauth2/token").form(&p)
        };

        // Missing verifier, wrong verifier → invalid_grant; the right one then works.
        let loc = flow_to_code(&env, &client, &pk, approval("u")).await;
        let code = q(&loc, "code").unwrap();
        let r = env.call(form(base(&code))).await;
        assert_eq!((r.status, r.body_json().unwrap()["error"].clone()), (400, json!("invalid_grant")));
        let mut wrong = base(&code);
        wrong.push(("code_verifier", pkce().0));
        let r = env.call(form(wrong)).await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_grant");
        let mut right = base(&code);
        right.push(("code_verifier", verifier.clone()));
        let r = env.call(form(right.clone())).await;
        assert_eq!(r.status, 200, "{:?}", r.body_json());
        assert!(r.body_json().unwrap()["id_token"].is_string());

        // A public client cannot authenticate with a made-up secret.
        let loc = flow_to_code(&env, &client, &pk, approval("u")).await;
        let mut with_secret = base(&q(&loc, "code").unwrap());
        with_secret.push(("code_verifier", verifier.clone()));
        with_secret.push(("client_secret", "guess".into()));
        let r = env.call(form(with_secret)).await;
        assert_eq!(r.status, 401);
    }
}

#[tokio::test]
async fn pkce_downgrade_is_refused() {
    for env in envs().await {
        let client = env.client(false).await;
        // No challenge at authorize, a verifier at the token endpoint.
        let loc = flow_to_code(&env, &client, &[], approval("u")).await;
        let r = env
            .token(
                &client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &q(&loc, "code").unwrap()),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &pkce().0),
                ],
            )
            .await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn unverified_redirect_uris_never_redirect() {
    for env in envs().await {
        let client = env.client(false).await;
        let cid = client.client.client_id.clone();
        let variants = [
            "https://CLIENT.example.com/cb",
            "https://client.example.com/CB",
            "https://client.example.com/cb/",
            "https://client.example.com/cb?x=1",
            "https://client.example.com/cb#f",
            "https://client.example.com:8443/cb",
            "http://client.example.com/cb",
            "https://client.example.com/cb/../cb",
            "https://client.example.com@evil.example/cb",
            "https://evil.example/cb",
        ];
        for v in variants {
            let url = authorize_url(&cid, &[]).replace(
                &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
                &url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>(),
            );
            let r = Browser::default().authorize(&env, &url).await;
            assert_eq!(r.status, 400, "{v}");
            assert!(r.get_header("location").is_none(), "{v}");
            assert!(r.get_header("content-type").unwrap().starts_with("text/html"));
        }
        // Unknown client, missing client, duplicated client_id: the same page.
        for url in [
            authorize_url("cly_ci_nope", &[]),
            "/oauth2/authorize?response_type=code&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb".to_string(),
            format!("{}&client_id={cid}", authorize_url(&cid, &[])),
            format!("{}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", authorize_url(&cid, &[])),
        ] {
            let r = Browser::default().authorize(&env, &url).await;
            assert_eq!(r.status, 400, "{url}");
            assert!(r.get_header("location").is_none());
        }
    }
}

#[tokio::test]
async fn mass_assignment_has_no_effect() {
    for env in envs().await {
        let client = env.client(false).await;
        let mut b = Browser::default();
        let id = b
            .start(
                &env,
                &authorize_url(
                    &client.client.client_id,
                    &[("approved", "true"), ("userid", "victim"), ("user", "victim"), ("status", "completed")],
                ),
            )
            .await;
        let s = env.api("GET", &format!("/api/auth_session/{id}"), None).await.body_json().unwrap();
        assert_eq!(s["status"], "pending");
        assert!(s["user"].is_null());
        // The consent page is not reachable before the host approves.
        let (page, csrf) = b.consent_form(&env, &format!("{ISSUER}/consent/{id}")).await;
        assert_eq!(page.status, 400);
        assert!(csrf.is_none());
    }
}

#[tokio::test]
async fn codes_are_single_use_and_bound() {
    for env in envs().await {
        let client = env.client(false).await;
        let other = env.client(false).await;
        let loc = flow_to_code(&env, &client, &[], approval("u")).await;
        let code = q(&loc, "code").unwrap();
        let ok_form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];

        // Another client, another redirect_uri: refused, and the code is not burnt by them.
        let r = env.token(&other, &ok_form).await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_grant");
        let r = env
            .token(
                &client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://client.example.com/other"),
                ],
            )
            .await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_grant");
        let r = env.token(&client, &[("grant_type", "authorization_code"), ("code", &code)]).await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_grant");

        let r = env.token(&client, &ok_form).await;
        assert_eq!(r.status, 200);
        let at = r.body_json().unwrap()["access_token"].as_str().unwrap().to_string();
        assert!(env.provider.verify_access_token(&at, &[]).await.is_ok());

        // Replay: refused, and what the code produced is revoked.
        let r = env.token(&client, &ok_form).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body_json().unwrap()["error"], "invalid_grant");
        assert_eq!(r.get_header("cache-control"), Some("no-store"));
        assert_eq!(env.provider.verify_access_token(&at, &[]).await.unwrap_err().kind(), ErrorKind::InvalidToken);
        let ui = env
            .call(connectivly::Request::new("GET", "/oauth2/userinfo").header("Authorization", &format!("Bearer {at}")))
            .await;
        assert_eq!(ui.status, 401);
        assert!(ui.get_header("www-authenticate").unwrap().contains("invalid_token"));

        // Garbage codes.
        for bad in ["", "x", "cly_ac_", &format!("{code}x")] {
            let r = env
                .token(&client, &[("grant_type", "authorization_code"), ("code", bad), ("redirect_uri", REDIRECT)])
                .await;
            assert_eq!(r.status, 400, "{bad}");
        }
    }
}

#[tokio::test]
async fn code_redemption_races_have_one_winner() {
    for env in envs().await {
        let client = env.client(false).await;
        let loc = flow_to_code(&env, &client, &[], approval("u")).await;
        let code = q(&loc, "code").unwrap();
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let p = env.provider.clone();
            let (id, secret) = (client.client.client_id.clone(), client.client_secret.clone().unwrap());
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                let req = connectivly::Request::new("POST", "/oauth2/token")
                    .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)])
                    .header("Authorization", &basic(&id, &secret));
                p.handle(req).await.status
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "[{}] {statuses:?}", env.kind);
        assert!(statuses.iter().all(|s| *s == 200 || *s == 400));
    }
}

#[tokio::test]
async fn client_authentication_failures() {
    for env in envs().await {
        let client = env.client(false).await;
        let cid = client.client.client_id.clone();
        let form = [("grant_type", "authorization_code"), ("code", "cly_ac_x"), ("redirect_uri", REDIRECT)];
        let req = |auth: Option<&str>| {
            let r = connectivly::Request::new("POST", "/oauth2/token").form(&form);
            match auth {
                Some(a) => r.header("Authorization", a),
                None => r,
            }
        };
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let cases = [
            basic(&cid, "cly_cs_wrong"),
            basic("cly_ci_unknown", "whatever"),
            "Basic !!!".to_string(),
            "Basic".to_string(),
            format!("Basic {}", b64(b"no-colon")),
            format!("Basic {}", b64(&[0xff, 0xfe, b':', 0xfd])),
            format!("Basic {}", b64(b":secret")),
            "Bearer abc".to_string(),
            "Digest x".to_string(),
        ];
        for c in &cases {
            let r = env.call(req(Some(c))).await;
            assert_eq!(r.status, 401, "{c}");
            assert_eq!(r.body_json().unwrap()["error"], "invalid_client", "{c}");
            assert!(r.get_header("www-authenticate").is_some());
            assert_eq!(r.get_header("cache-control"), Some("no-store"));
        }
        // No authentication at all.
        let r = env.call(req(None)).await;
        assert_eq!(r.status, 401);
        // Two methods at once.
        let r = env
            .call(
                connectivly::Request::new("POST", "/oauth2/token")
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("client_id", &cid),
                        ("client_secret", client.client_secret.as_deref().unwrap()),
                    ])
                    .header("Authorization", &basic(&cid, client.client_secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(r.status, 400);
        // client_secret_post works.
        let loc = flow_to_code(&env, &client, &[], approval("u")).await;
        let r = env
            .call(connectivly::Request::new("POST", "/oauth2/token").form(&[
                ("grant_type", "authorization_code"),
                ("code", &q(&loc, "code").unwrap()),
                ("redirect_uri", REDIRECT),
                ("client_id", &cid),
                ("client_secret", client.client_secret.as_deref().unwrap()),
            ]))
            .await;
        assert_eq!(r.status, 200);
        // Unsupported grant and missing grant_type.
        let r = env.token(&client, &[("grant_type", "password"), ("username", "a"), ("password", "b")]).await;
        assert_eq!(r.body_json().unwrap()["error"], "unsupported_grant_type");
        let r = env.token(&client, &[("code", "x")]).await;
        assert_eq!(r.body_json().unwrap()["error"], "invalid_request");
    }
}

#[tokio::test]
async fn deny_paths_deliver_access_denied() {
    for env in envs().await {
        let client = env.client(false).await;
        let cid = client.client.client_id.clone();
        // Host denies.
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&cid, &[])).await;
        let r = env.api("POST", &format!("/api/auth_session/{id}/deny"), None).await;
        let loc = r.body_json().unwrap()["redirect_uri"].as_str().unwrap().to_string();
        assert!(loc.starts_with(REDIRECT));
        assert_eq!(q(&loc, "error").as_deref(), Some("access_denied"));
        assert_eq!(q(&loc, "state").as_deref(), Some("st-123"));
        assert_eq!(q(&loc, "iss").as_deref(), Some(ISSUER));
        let r = env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval("u"))).await;
        assert_eq!(r.status, 409);

        // User denies on the consent page.
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&cid, &[])).await;
        let next =
            env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval("u"))).await.body_json().unwrap()
                ["redirect_uri"]
                .as_str()
                .unwrap()
                .to_string();
        assert!(next.starts_with(&format!("{ISSUER}/consent/{id}?ticket=cly_ct_")), "{next}");
        let (_, csrf) = b.consent_form(&env, &next).await;
        let r = b.decide(&env, &next, &csrf.unwrap(), "deny").await;
        let loc = r.get_header("location").unwrap();
        assert_eq!(q(loc, "error").as_deref(), Some("access_denied"));
        assert_eq!(q(loc, "iss").as_deref(), Some(ISSUER));
        // Finished: the page says so and cannot be replayed.
        let (page, _) = b.consent_form(&env, &next).await;
        assert_eq!(page.status, 409);
    }
}

#[tokio::test]
async fn consent_is_bound_to_the_browser_and_csrf_protected() {
    for env in envs().await {
        let client = env.client(false).await;
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&client.client.client_id, &[])).await;
        let next =
            env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval("u"))).await.body_json().unwrap()
                ["redirect_uri"]
                .as_str()
                .unwrap()
                .to_string();
        let (page, csrf) = b.consent_form(&env, &next).await;
        let csrf = csrf.unwrap();
        assert_eq!(page.get_header("x-frame-options"), Some("DENY"));
        assert!(page.get_header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        let html = String::from_utf8_lossy(&page.body);
        assert!(html.contains("Photo Printer") && html.contains("See your email address"));

        // Another browser without the ticket (it only knows the session id): no page, no submission.
        let bare = next.split('?').next().unwrap().to_string();
        let mut attacker = Browser::default();
        let _ = attacker.start(&env, &authorize_url(&client.client.client_id, &[])).await; // has its own cookie
        for br in [Browser::default(), attacker, b.clone()] {
            let (p, c) = br.consent_form(&env, &bare).await;
            assert_eq!(p.status, 403);
            assert!(c.is_none());
            assert_eq!(br.decide(&env, &bare, &csrf, "allow").await.status, 403);
        }
        // Right browser, wrong or missing CSRF token.
        assert_eq!(b.decide(&env, &next, "forged", "allow").await.status, 403);
        assert_eq!(env.call(b.request("POST", &next).form(&[("decision", "allow")])).await.status, 403);
        // Still pending consent; the real submission works once.
        let r = b.decide(&env, &next, &csrf, "allow").await;
        assert_eq!(r.status, 302);
        assert!(q(r.get_header("location").unwrap(), "code").is_some());
        assert_eq!(b.decide(&env, &next, &csrf, "allow").await.status, 409);

        // The ticket in a browser that did not start the flow ends the sign-in: the starting
        // browser cannot finish it either (review finding 1).
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&client.client.client_id, &[])).await;
        let r = env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval("u"))).await;
        let next = r.body_json().unwrap()["redirect_uri"].as_str().unwrap().to_string();
        let (p, _) = Browser::default().consent_form(&env, &next).await;
        assert_eq!(p.status, 403);
        let (p, _) = b.consent_form(&env, &next).await;
        assert_eq!(p.status, 409, "the session was ended");
    }
}

#[tokio::test]
async fn consent_skipping_rules() {
    for env in envs().await {
        let client = env.client(false).await;
        let cid = client.client.client_id.clone();
        // skip_consent → straight to the client.
        let mut a = approval("u");
        a["skip_consent"] = json!(true);
        let loc = flow_to_code(&env, &client, &[], a.clone()).await;
        assert!(q(&loc, "code").is_some());
        // ...unless the client asked for prompt=consent.
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&cid, &[("prompt", "consent")])).await;
        let next = env
            .api("POST", &format!("/api/auth_session/{id}/approve"), Some(a.clone()))
            .await
            .body_json()
            .unwrap()["redirect_uri"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(next.starts_with(&format!("{ISSUER}/consent/")));
        // prompt=none when consent would be needed → consent_required at the client.
        let mut b = Browser::default();
        let id = b.start(&env, &authorize_url(&cid, &[("prompt", "none")])).await;
        let next =
            env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval("u"))).await.body_json().unwrap()
                ["redirect_uri"]
                .as_str()
                .unwrap()
                .to_string();
        assert_eq!(q(&next, "error").as_deref(), Some("consent_required"));
        // First-party clients skip consent.
        let fp = env
            .provider
            .create_client(connectivly::NewClient {
                name: "Ours".into(),
                redirect_uris: vec![REDIRECT.into()],
                first_party: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let loc = flow_to_code(&env, &fp, &[], approval("u")).await;
        assert!(q(&loc, "code").is_some());
    }
}

#[tokio::test]
async fn authorize_errors_redirect_with_state_and_iss() {
    for env in envs().await {
        let client = env.client(false).await;
        let cid = client.client.client_id.clone();
        for (extra, err) in [
            (vec![("scope", "openid admin")], "invalid_scope"),
            (vec![("response_type", "token")], "unsupported_response_type"),
            (vec![("prompt", "none login")], "invalid_request"),
            (vec![("max_age", "-1")], "invalid_request"),
            (vec![("request", "eyJ")], "request_not_supported"),
            (vec![("response_mode", "fragment")], "invalid_request"),
            (vec![("code_challenge", "short"), ("code_challenge_method", "S256")], "invalid_request"),
        ] {
            let mut url = authorize_url(&cid, &[]);
            for (k, v) in &extra {
                // Replace or append the parameter.
                let needle = format!("{k}=");
                let found = url.find(&format!("&{needle}")).or_else(|| url.find(&format!("?{needle}")));
                if let Some(at) = found {
                    let start = at + 1;
                    let end = url[start..].find('&').map(|e| start + e).unwrap_or(url.len());
                    url.replace_range(
                        start..end,
                        &format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()),
                    );
                } else {
                    url.push_str(&format!(
                        "&{k}={}",
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    ));
                }
            }
            let r = Browser::default().authorize(&env, &url).await;
            assert_eq!(r.status, 302, "{extra:?}");
            let loc = r.get_header("location").unwrap();
            assert!(loc.starts_with(&format!("{REDIRECT}?")), "{loc}");
            assert_eq!(q(loc, "error").as_deref(), Some(err), "{extra:?}");
            assert_eq!(q(loc, "state").as_deref(), Some("st-123"));
            assert_eq!(q(loc, "iss").as_deref(), Some(ISSUER));
        }
    }
}

#[tokio::test]
async fn host_api_sessions() {
    for env in envs().await {
        let client = env.client(false).await;
        let mut b = Browser::default();
        let id = b
            .start(
                &env,
                &authorize_url(&client.client.client_id, &[("login_hint", "ann@example.com"), ("max_age", "300")]),
            )
            .await;
        let r = env.api("GET", &format!("/api/auth_session/{id}"), None).await;
        assert_eq!(r.status, 200);
        let s = r.body_json().unwrap();
        assert_eq!(s["client"]["client_id"], client.client.client_id.as_str());
        assert_eq!(s["client"]["name"], "Photo Printer");
        assert_eq!(s["scopes"][2]["name"], "email");
        assert_eq!(s["login_hint"], "ann@example.com");
        assert_eq!(s["max_age"], 300);
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains(client.client_secret.as_deref().unwrap()));
        assert!(!text.contains("secret"));

        // Without or with a wrong key.
        for key in [None, Some("wrong-key-wrong-key"), Some("")] {
            let mut req = connectivly::Request::new("GET", &format!("/api/auth_session/{id}"));
            if let Some(k) = key {
                req = req.header("X-API-KEY", k);
            }
            assert_eq!(env.call(req).await.status, 401);
        }
        // Unknown / malformed ids.
        for bad in ["cly_ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "12345", "%00"] {
            assert_eq!(env.api("GET", &format!("/api/auth_session/{bad}"), None).await.status, 404);
            assert_eq!(
                env.api("POST", &format!("/api/auth_session/{bad}/approve"), Some(approval("u"))).await.status,
                404
            );
        }
        // Invalid approvals.
        for body in [
            json!({}),
            json!({"user": ""}),
            json!({"user": "u", "claims": {"sub": "x"}}),
            json!({"user": "u", "approved": true}),
            json!([1]),
        ] {
            let r = env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(body.clone())).await;
            assert_eq!(r.status, 400, "{body}");
        }
        let r = env
            .call(
                connectivly::Request::new("POST", &format!("/api/auth_session/{id}/approve"))
                    .header("X-API-KEY", API_KEY)
                    .body("{not json"),
            )
            .await;
        assert_eq!(r.status, 400);
        // Approve once; the second is a conflict.
        assert_eq!(env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval("u"))).await.status, 200);
        let r = env.api("POST", &format!("/api/auth_session/{id}/approve"), Some(approval("u"))).await;
        assert_eq!(r.status, 409);
        assert_eq!(r.body_json().unwrap()["error"], "already_used");
        assert_eq!(env.api("POST", &format!("/api/auth_session/{id}/deny"), None).await.status, 409);
    }
}

#[tokio::test]
async fn approve_and_deny_race_has_one_winner() {
    for env in envs().await {
        let client = env.client(false).await;
        for _ in 0..10 {
            let id = Browser::default().start(&env, &authorize_url(&client.client.client_id, &[])).await;
            let (p1, p2) = (env.provider.clone(), env.provider.clone());
            let (i1, i2) = (id.clone(), id.clone());
            let a = tokio::spawn(async move {
                p1.approve(&i1, connectivly::Approval { skip_consent: true, ..connectivly::Approval::new("u") }).await
            });
            let d = tokio::spawn(async move { p2.deny(&i2, Default::default()).await });
            let (a, d) = (a.await.unwrap(), d.await.unwrap());
            assert!(a.is_ok() ^ d.is_ok(), "[{}] approve {a:?} deny {d:?}", env.kind);
            let loser = a.err().or(d.err()).unwrap();
            assert_eq!(loser.kind(), ErrorKind::AlreadyUsed);
        }
    }
}

#[tokio::test]
async fn login_url_with_query_is_appended_to() {
    let mut cfg = connectivly::Config::new(ISSUER, "https://app.example.com/login?next=%2Fhome");
    cfg.database_url = "memory:".into();
    cfg.require_pkce = false;
    let p = connectivly::Provider::open(cfg).await.unwrap();
    let c = p
        .create_client(connectivly::NewClient {
            name: "x".into(),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = p.handle(connectivly::Request::new("GET", &authorize_url(&c.client.client_id, &[]))).await;
    let loc = r.get_header("location").unwrap();
    assert!(loc.starts_with("https://app.example.com/login?next=%2Fhome&token=cly_ses_"), "{loc}");
    let cookie = r.get_header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"));
}

#[tokio::test]
async fn every_signing_algorithm_works_and_rs256_stays_available() {
    for alg in [connectivly::SigningAlg::ES256, connectivly::SigningAlg::EdDSA] {
        let mut cfg = connectivly::Config::new(ISSUER, LOGIN);
        cfg.database_url = "memory:".into();
        cfg.api_key = Some(API_KEY.into());
        cfg.require_pkce = false;
        cfg.signing_alg = alg;
        let env = Env {
            provider: connectivly::Provider::open(cfg).await.unwrap(),
            kind: "memory",
            api_key: API_KEY.into(),
            _dir: None,
        };
        let d = env.provider.discovery();
        let algs = d["id_token_signing_alg_values_supported"].as_array().unwrap().clone();
        assert!(algs.contains(&json!(alg.as_str())) && algs.contains(&json!("RS256")), "{algs:?}");
        let client = env.client(false).await;
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
        let at = t["access_token"].as_str().unwrap();
        assert_eq!(jwt_header(at)["alg"], alg.as_str());
        assert_eq!(jwt_header(t["id_token"].as_str().unwrap())["alg"], alg.as_str());
        assert_eq!(env.provider.verify_access_token(at, &[]).await.unwrap().sub, "u");
    }
}
