//! Micro-benchmarks of the provider's hot paths, in process (no HTTP): issuing a token response per
//! algorithm, verifying an access token, approving a session; on the memory and SQLite stores.
//!
//! `cargo bench -p connectivly --bench provider` (add `-- --quick` for a short run).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use connectivly::{Approval, Config, CreatedClient, NewClient, Provider, Request, SigningAlg};
use criterion::{Criterion, criterion_group, criterion_main};

const REDIRECT: &str = "https://client.example.com/cb";

struct Fixture {
    provider: Provider,
    client: CreatedClient,
    basic: String,
    _dir: Option<tempfile::TempDir>,
}

async fn fixture(store: &str, alg: SigningAlg) -> Fixture {
    let (url, dir) = match store {
        "memory" => ("memory:".to_string(), None),
        _ => {
            let dir = tempfile::tempdir().unwrap();
            (format!("sqlite://{}/bench.db", dir.path().display()), Some(dir))
        }
    };
    let mut cfg = Config::new("https://id.example.com", "https://app.example.com/login");
    cfg.database_url = url;
    cfg.signing_alg = alg;
    let provider = Provider::open(cfg).await.unwrap();
    let client = provider
        .create_client(NewClient { name: "bench".into(), redirect_uris: vec![REDIRECT.into()], ..Default::default() })
        .await
        .unwrap();
    let secret = client.client_secret.clone().unwrap();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", client.client.client_id))
    );
    Fixture { provider, client, basic, _dir: dir }
}

impl Fixture {
    /// A pending auth session, as `/authorize` leaves it; returns its id and the PKCE verifier.
    async fn session(&self) -> (String, String) {
        let verifier = B64.encode(connectivly::secrets::random_bytes::<32>());
        let challenge = B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", self.client.client.client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", "openid profile email"),
                ("state", "s"),
                ("nonce", "n"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let r = self.provider.handle(Request::new("GET", &format!("/oauth2/authorize?{query}"))).await;
        let location = url::Url::parse(r.get_header("location").unwrap()).unwrap();
        let id = location.query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
        (id, verifier)
    }

    fn approval() -> Approval {
        let mut a = Approval::new("alice");
        a.skip_consent = true;
        a.claims.insert("email".into(), "alice@example.com".into());
        a
    }

    /// A code ready for redemption, with its verifier.
    async fn code(&self) -> (String, String) {
        let (id, verifier) = self.session().await;
        let back = self.provider.approve(&id, Self::approval()).await.unwrap();
        let code = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        (code, verifier)
    }

    fn redeem(&self, code: &str, verifier: &str) -> Request {
        Request::new("POST", "/oauth2/token").header("authorization", &self.basic).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
    }

    async fn access_token(&self) -> String {
        let r = self
            .provider
            .handle(
                Request::new("POST", "/oauth2/token")
                    .header("authorization", &self.basic)
                    .form(&[("grant_type", "client_credentials")]),
            )
            .await;
        assert_eq!(r.status, 200);
        r.body_json().unwrap()["access_token"].as_str().unwrap().to_string()
    }
}

/// Times `routine` over inputs prepared (untimed) by `setup`.
fn timed<I, S, R>(rt: &tokio::runtime::Runtime, iters: u64, setup: S, routine: R) -> Duration
where
    S: AsyncFn() -> I,
    R: AsyncFn(I),
{
    let inputs: Vec<I> = rt.block_on(async {
        let mut v = Vec::with_capacity(iters as usize);
        for _ in 0..iters {
            v.push(setup().await);
        }
        v
    });
    rt.block_on(async {
        let start = Instant::now();
        for input in inputs {
            routine(input).await;
        }
        start.elapsed()
    })
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    for store in ["memory", "sqlite"] {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let f = rt.block_on(fixture(store, alg));
            c.bench_function(
                &format!("token response (authorization_code, id_token + access token)/{store}/{}", alg.as_str()),
                |b| {
                    b.iter_custom(|iters| {
                        timed(
                            &rt,
                            iters,
                            async || f.code().await,
                            async |(code, verifier)| {
                                let r = f.provider.handle(f.redeem(&code, &verifier)).await;
                                assert_eq!(r.status, 200);
                            },
                        )
                    })
                },
            );
            c.bench_function(&format!("token response (client_credentials)/{store}/{}", alg.as_str()), |b| {
                b.to_async(&rt).iter(async || f.access_token().await)
            });
            if alg != SigningAlg::RS256 && store == "memory" {
                continue;
            }
            c.bench_function(&format!("verify_access_token (new token)/{store}/{}", alg.as_str()), |b| {
                b.iter_custom(|iters| {
                    timed(
                        &rt,
                        iters,
                        async || f.access_token().await,
                        async |t: String| {
                            f.provider.verify_access_token(&t, &[]).await.unwrap();
                        },
                    )
                })
            });
            let seen = rt.block_on(f.access_token());
            rt.block_on(f.provider.verify_access_token(&seen, &[])).unwrap();
            c.bench_function(&format!("verify_access_token (seen token)/{store}/{}", alg.as_str()), |b| {
                b.to_async(&rt).iter(async || f.provider.verify_access_token(&seen, &[]).await.unwrap())
            });
        }
        let f = rt.block_on(fixture(store, SigningAlg::RS256));
        c.bench_function(&format!("approve (skip_consent: code issued)/{store}"), |b| {
            b.iter_custom(|iters| {
                timed(
                    &rt,
                    iters,
                    async || f.session().await.0,
                    async |id: String| {
                        f.provider.approve(&id, Fixture::approval()).await.unwrap();
                    },
                )
            })
        });
    }
}

criterion_group! {
    name = provider;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(provider);
