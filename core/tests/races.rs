//! A thousand at once: single-use things stay single-use under heavy concurrency, on every store.

mod common;

use common::*;
use connectivly::Request;
use serde_json::json;

async fn storm(env: &Env, n: usize, req: impl Fn() -> Request) -> Vec<(u16, serde_json::Value)> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let p = env.provider.clone();
        let r = req();
        tasks.push(tokio::spawn(async move {
            let resp = p.handle(r).await;
            (resp.status, resp.body_json().unwrap_or(json!(null)))
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_redemptions_of_one_code_and_one_refresh_token() {
    for env in envs().await {
        let client = env.client(false).await;
        let (id, secret) = (client.client.client_id.clone(), client.client_secret.clone().unwrap());
        let url = authorize_url(&id, &[]).replace("scope=openid+profile+email", "scope=openid+offline_access");
        let code = q(&approved(&env, &url).await, "code").unwrap();

        let results = storm(&env, 1000, || {
            Request::new("POST", "/oauth2/token")
                .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)])
                .header("Authorization", &basic(&id, &secret))
        })
        .await;
        let winners: Vec<&serde_json::Value> = results.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
        assert_eq!(winners.len(), 1, "[{}] code: one winner", env.kind);
        assert!(
            results.iter().all(|(s, b)| *s == 200 || (*s == 400 && b["error"] == "invalid_grant")),
            "[{}]",
            env.kind
        );
        // The replays revoked what the winner got: no orphan tokens from a contested code.
        let at = winners[0]["access_token"].as_str().unwrap();
        assert!(env.provider.verify_access_token(at, &[]).await.is_err(), "[{}]", env.kind);

        // A fresh family for the refresh storm.
        let loc = approved(&env, &url).await;
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
        let rt = t["refresh_token"].as_str().unwrap().to_string();
        let results = storm(&env, 1000, || {
            Request::new("POST", "/oauth2/token")
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
                .header("Authorization", &basic(&id, &secret))
        })
        .await;
        let winners: Vec<&serde_json::Value> = results.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
        assert_eq!(winners.len(), 1, "[{}] refresh: one winner", env.kind);
        assert!(results.iter().all(|(s, _)| *s == 200 || *s == 400), "[{}]", env.kind);
        // No two live children: the losers' replays revoked the family, the winner's child included.
        let child = winners[0]["refresh_token"].as_str().unwrap();
        assert_eq!(env.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", child)]).await.status, 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_rotation_racing_token_requests() {
    // Requests with the old secret fail on purpose here; the brute-force lock would answer 429 instead.
    for env in envs_with(|c| c.failed_auth_limit_per_client = 0).await {
        let svc = env
            .provider
            .create_client(connectivly::NewClient {
                name: "svc".into(),
                redirect_uris: vec![REDIRECT.into()],
                allowed_scopes: Some(vec!["photos:read".into()]),
                ..Default::default()
            })
            .await
            .unwrap();
        let id = svc.client.client_id.clone();
        let old = svc.client_secret.clone().unwrap();
        let rotations: Vec<_> = (0..10)
            .map(|_| {
                let p = env.provider.clone();
                let id = id.clone();
                tokio::spawn(async move { p.rotate_client_secret(&id).await })
            })
            .collect();
        let requests = storm(&env, 200, || {
            Request::new("POST", "/oauth2/token")
                .form(&[("grant_type", "client_credentials")])
                .header("Authorization", &basic(&id, &old))
        })
        .await;
        let mut secrets = Vec::new();
        for r in rotations {
            secrets.push(r.await.unwrap().unwrap().client_secret.unwrap());
        }
        // Each request either authenticated with the secret of its moment, or was refused: never a 5xx.
        assert!(requests.iter().all(|(s, _)| *s == 200 || *s == 401), "[{}]", env.kind);
        // Exactly one rotation is in force afterwards: the old secret and all but one new one fail.
        let working: Vec<&String> = {
            let mut w = Vec::new();
            for s in &secrets {
                let r = env
                    .call(
                        Request::new("POST", "/oauth2/token")
                            .form(&[("grant_type", "client_credentials")])
                            .header("Authorization", &basic(&id, s)),
                    )
                    .await;
                if r.status == 200 {
                    w.push(s);
                }
            }
            w
        };
        assert_eq!(working.len(), 1, "[{}] one secret wins", env.kind);
        let r = env
            .call(
                Request::new("POST", "/oauth2/token")
                    .form(&[("grant_type", "client_credentials")])
                    .header("Authorization", &basic(&id, &old)),
            )
            .await;
        assert_eq!(r.status, 401);
    }
}

/// Starts a session at `url` and has the host approve it with consent skipped; the client redirect
/// carrying the code.
async fn approved(env: &Env, url: &str) -> String {
    let mut a = approval("u");
    a["skip_consent"] = json!(true);
    let sid = Browser::default().start(env, url).await;
    let r = env.api("POST", &format!("/api/auth_session/{sid}/approve"), Some(a)).await;
    r.body_json().unwrap()["redirect_uri"].as_str().unwrap().to_string()
}
