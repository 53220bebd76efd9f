//! A thousand at once: single-use things stay single-use under heavy concurrency, on every store.

mod common;

use common::*;
use connectivly::Request;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};

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

/// One token request of the rotation race: which secret it sent (0 = the original, k = the one
/// rotation k returned), how many rotations had completed when it started and had begun when its
/// answer came.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    generation: usize,
    done_at_start: usize,
    begun_at_end: usize,
    status: u16,
}

impl Attempt {
    /// Its secret was the current one from before it started until after it ended.
    fn wholly_current(&self) -> bool {
        self.done_at_start == self.generation && self.begun_at_end == self.generation
    }
    /// A later rotation had completed before it started.
    fn superseded(&self) -> bool {
        self.done_at_start > self.generation
    }
}

#[derive(Default)]
struct Race {
    secrets: std::sync::Mutex<Vec<String>>,
    begun: AtomicUsize,
    done: AtomicUsize,
    in_flight: AtomicUsize,
    stop: AtomicBool,
    log: std::sync::Mutex<Vec<Attempt>>,
}

impl Race {
    fn attempts(&self) -> Vec<Attempt> {
        self.log.lock().unwrap().clone()
    }
    /// Waits (a minute at most) until `what` holds of the attempts so far.
    async fn until(&self, label: &str, what: impl Fn(&[Attempt]) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !what(&self.log.lock().unwrap()) {
            assert!(std::time::Instant::now() < deadline, "{label}: never happened");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

/// Token requests never stop while the client secret is rotated ten times in sequence, then ten
/// times at once: before each rotation requests are in flight and some request ran wholly between
/// it and the one before, so rotations and requests certainly interleave. Every request answers
/// 200 with the secret current throughout it and 401 with one superseded before it began (either,
/// when a rotation overlapped it), never anything else; after the concurrent rotations exactly one
/// of their secrets is in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_rotation_racing_token_requests() {
    // Requests with old secrets fail on purpose here; the brute-force lock would answer 429 instead.
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
        let race = Arc::new(Race::default());
        race.secrets.lock().unwrap().push(old.clone());

        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (p, id, race) = (env.provider.clone(), id.clone(), race.clone());
                tokio::spawn(async move {
                    let mut n = 0usize;
                    while !race.stop.load(SeqCst) {
                        n += 1;
                        let done_at_start = race.done.load(SeqCst);
                        // Alternately the newest secret known and the original one.
                        let generation = if (n + w).is_multiple_of(2) { done_at_start } else { 0 };
                        let secret = race.secrets.lock().unwrap()[generation].clone();
                        race.in_flight.fetch_add(1, SeqCst);
                        let r = p
                            .handle(
                                Request::new("POST", "/oauth2/token")
                                    .form(&[("grant_type", "client_credentials")])
                                    .header("Authorization", &basic(&id, &secret)),
                            )
                            .await;
                        race.in_flight.fetch_sub(1, SeqCst);
                        let begun_at_end = race.begun.load(SeqCst);
                        race.log.lock().unwrap().push(Attempt {
                            generation,
                            done_at_start,
                            begun_at_end,
                            status: r.status,
                        });
                        // The memory store answers without ever waiting: without this the workers
                        // would hold every runtime thread and the rotations would never run.
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();

        // Ten rotations in sequence, each only once requests have run between it and the last one.
        let mut in_flight_at_rotation = Vec::new();
        for k in 1..=10 {
            race.until(&format!("[{}] a request wholly between rotations {} and {k}", env.kind, k - 1), |a| {
                a.iter().any(|a| a.generation == k - 1 && a.wholly_current())
            })
            .await;
            if k > 1 {
                race.until(&format!("[{}] a superseded secret tried after rotation {}", env.kind, k - 1), |a| {
                    a.iter().any(|a| a.superseded() && a.done_at_start == k - 1)
                })
                .await;
            }
            race.until("requests in flight", |_| race.in_flight.load(SeqCst) > 0).await;
            in_flight_at_rotation.push(race.in_flight.load(SeqCst));
            race.begun.fetch_add(1, SeqCst);
            let secret = env.provider.rotate_client_secret(&id).await.unwrap().client_secret.unwrap();
            race.secrets.lock().unwrap().push(secret);
            race.done.fetch_add(1, SeqCst);
        }
        race.until(&format!("[{}] a request with the last sequential secret", env.kind), |a| {
            a.iter().any(|a| a.generation == 10 && a.wholly_current())
        })
        .await;

        // Then ten at once, released together while the requests go on.
        race.begun.fetch_add(1, SeqCst);
        let barrier = Arc::new(tokio::sync::Barrier::new(10));
        let before = race.attempts().len();
        let rotations: Vec<_> = (0..10)
            .map(|_| {
                let (p, id, barrier) = (env.provider.clone(), id.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    p.rotate_client_secret(&id).await
                })
            })
            .collect();
        let mut concurrent = Vec::new();
        for r in rotations {
            concurrent.push(r.await.unwrap().unwrap().client_secret.unwrap());
        }
        race.until("requests after the concurrent rotations", |a| a.len() > before + 16).await;
        race.stop.store(true, SeqCst);
        for w in workers {
            w.await.unwrap();
        }

        let attempts = race.attempts();
        let kind = env.kind;
        assert!(attempts.iter().all(|a| a.status == 200 || a.status == 401), "[{kind}] {attempts:?}");
        let wrong: Vec<&Attempt> = attempts
            .iter()
            .filter(|a| (a.wholly_current() && a.status != 200) || (a.superseded() && a.status != 401))
            .collect();
        assert!(wrong.is_empty(), "[{kind}] answered with the wrong secret's verdict: {wrong:?}");
        for g in 0..=10 {
            let between = attempts.iter().filter(|a| a.generation == g && a.wholly_current()).count();
            assert!(between > 0, "[{kind}] no request ran between rotations {g} and {}", g + 1);
        }
        assert!(in_flight_at_rotation.iter().all(|n| *n > 0), "[{kind}] {in_flight_at_rotation:?}");
        assert!(attempts.iter().filter(|a| a.superseded()).count() >= 10, "[{kind}] stale secrets were tried");

        // Exactly one of the concurrent rotations is in force: every other secret fails.
        let mut working = Vec::new();
        let sequential = race.secrets.lock().unwrap().clone();
        for s in concurrent.iter().chain(sequential.iter()) {
            let r = env
                .call(
                    Request::new("POST", "/oauth2/token")
                        .form(&[("grant_type", "client_credentials")])
                        .header("Authorization", &basic(&id, s)),
                )
                .await;
            if r.status == 200 {
                working.push(s.clone());
            }
        }
        assert_eq!(working.len(), 1, "[{kind}] one secret wins");
        assert!(concurrent.contains(&working[0]), "[{kind}] and it is one of the last rotations'");
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
