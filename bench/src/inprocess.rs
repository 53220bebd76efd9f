//! The token endpoint's own cost, with the provider in this process (no HTTP, no sockets): what
//! `Provider::handle` spends on a `client_credentials` request and on an authorization-code
//! exchange, next to the pure signing cost of the tokens each one signs. The load generator's ratio
//! adds what a server adds (HTTP parsing, the kernel's TCP, the runtime); this one is the protocol
//! work alone.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use connectivly::{Approval, Config, NewClient, Provider, Request, SigningAlg};

use crate::client::{BoxError, basic_auth};
use crate::fmt_us;

const REDIRECT: &str = "http://127.0.0.1:9/cb";

/// Prints, per algorithm, the mean time of a token response on one thread (its CPU time, on a quiet
/// machine) and its ratio to pure signing.
pub async fn report(budget: Duration) -> Result<(), BoxError> {
    println!("token endpoint in process (SQLite file store, one thread, {} s per figure)", budget.as_secs_f64());
    println!("{:<6} {:<34} {:>10} {:>16} {:>7}", "alg", "request", "per call", "pure signing", "ratio");
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        let floor = crate::signing::cost(alg.as_str(), budget / 2).0;
        let setup = Setup::open(alg).await?;
        // Warm the provider's caches and SQLite's page cache first.
        for _ in 0..20 {
            setup.client_credentials().await?;
        }
        let cc = mean(budget, || setup.client_credentials()).await?;
        println!(
            "{:<6} {:<34} {:>10} {:>16} {:>7.2}",
            alg.as_str(),
            "client_credentials (1 token)",
            fmt_us(cc),
            fmt_us(floor),
            cc.as_secs_f64() / floor.as_secs_f64()
        );
        // Codes are made outside the timed part: only the exchange is the token endpoint's work.
        let mut codes = Vec::new();
        let mut spent = Duration::ZERO;
        while spent < budget {
            for _ in 0..50 {
                codes.push(setup.code().await?);
            }
            let start = Instant::now();
            for (code, verifier) in codes.drain(..) {
                setup.exchange(&code, &verifier).await?;
            }
            spent += start.elapsed();
        }
        let n = setup.exchanges.get();
        let exchange = spent / n.max(1);
        println!(
            "{:<6} {:<34} {:>10} {:>16} {:>7.2}",
            alg.as_str(),
            "authorization_code (ID + access)",
            fmt_us(exchange),
            fmt_us(floor * 2),
            exchange.as_secs_f64() / (floor * 2).as_secs_f64()
        );
    }
    Ok(())
}

struct Setup {
    provider: Provider,
    /// A sign-in app (code flow) and a service (`client_credentials`, which needs allowed scopes).
    client_id: String,
    auth: String,
    service_auth: String,
    _dir: tempfile::TempDir,
    exchanges: std::cell::Cell<u32>,
}

impl Setup {
    async fn open(alg: SigningAlg) -> Result<Setup, BoxError> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::new("http://127.0.0.1:1", "http://127.0.0.1:9/login");
        config.database_url = format!("sqlite://{}", dir.path().join("token.db").display());
        config.signing_alg = alg;
        config.scopes = vec![connectivly::ScopeDef::new("photos:read", "Read photos")];
        let provider = Provider::open(config).await?;
        let new = |allowed_scopes| NewClient {
            name: "bench".into(),
            redirect_uris: vec![REDIRECT.into()],
            allowed_scopes,
            ..Default::default()
        };
        let auth = |c: &connectivly::CreatedClient| -> Result<String, BoxError> {
            Ok(basic_auth(&c.client.client_id, c.client_secret.as_deref().ok_or("no secret")?))
        };
        let app = provider.create_client(new(None)).await?;
        let service = provider.create_client(new(Some(vec!["photos:read".into()]))).await?;
        Ok(Setup {
            auth: auth(&app)?,
            service_auth: auth(&service)?,
            provider,
            client_id: app.client.client_id,
            _dir: dir,
            exchanges: Default::default(),
        })
    }

    async fn client_credentials(&self) -> Result<(), BoxError> {
        let req = Request::new("POST", "/oauth2/token")
            .header("authorization", &self.service_auth)
            .form(&[("grant_type", "client_credentials"), ("scope", "photos:read")]);
        ok(self.provider.handle(req).await)
    }

    /// A fresh authorization code with PKCE: (code, verifier).
    async fn code(&self) -> Result<(String, String), BoxError> {
        let (verifier, authorize) = authorize_request(&self.client_id, REDIRECT);
        let r = self.provider.handle(authorize).await;
        let location = r.get_header("location").ok_or("authorize did not redirect")?;
        let session = query_value(location, "token")?;
        let mut approval = Approval::new("alice");
        approval.skip_consent = true;
        approval.claims.insert("email".into(), "alice@example.com".into());
        let back = self.provider.approve(&session, approval).await?;
        Ok((query_value(&back, "code")?, verifier))
    }

    async fn exchange(&self, code: &str, verifier: &str) -> Result<(), BoxError> {
        let req = Request::new("POST", "/oauth2/token").header("authorization", &self.auth).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ]);
        self.exchanges.set(self.exchanges.get() + 1);
        ok(self.provider.handle(req).await)
    }
}

/// A fresh PKCE verifier and the `GET /oauth2/authorize` (S256 challenge, `openid profile email`) that uses it.
pub(crate) fn authorize_request(client_id: &str, redirect_uri: &str) -> (String, Request) {
    let verifier = B64.encode(connectivly::secrets::random_bytes::<32>());
    let challenge = B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid profile email"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    (verifier, Request::new("GET", &format!("/oauth2/authorize?{query}")))
}

fn ok(r: connectivly::Response) -> Result<(), BoxError> {
    if r.status == 200 { Ok(()) } else { Err(format!("token endpoint answered {}", r.status).into()) }
}

fn query_value(url: &str, name: &str) -> Result<String, BoxError> {
    let u = url::Url::parse(url)?;
    Ok(u.query_pairs().find(|(k, _)| k == name).ok_or_else(|| format!("no {name} in {url}"))?.1.into_owned())
}

/// Mean duration of `op` over about `budget` of repetitions.
async fn mean<F, Fut>(budget: Duration, op: F) -> Result<Duration, BoxError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        for _ in 0..20 {
            op().await?;
        }
        n += 20;
    }
    Ok(start.elapsed() / n)
}
