//! The load generator: N concurrent workers, each with its own keep-alive connection, run one
//! scenario in a loop for a fixed time and record every iteration's latency.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{BoxError, Conn, Reply, basic_auth, form};
use crate::idtoken::{Jwks, check_id_token};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// authorize → host approve (API, skip_consent) → token, checking the id_token like a client.
    Flow,
    /// `client_credentials` token requests.
    ClientCredentials,
    /// RFC 7662 introspection of an access token by its client.
    Introspect,
    /// Access-token verification over the host API (what `RemoteProvider.verify_access_token` sends).
    Verify,
}

impl Scenario {
    pub fn label(self) -> &'static str {
        match self {
            Scenario::Flow => "authorization-code flows",
            Scenario::ClientCredentials => "client_credentials tokens",
            Scenario::Introspect => "introspections (RFC 7662)",
            Scenario::Verify => "access-token verifications (host API)",
        }
    }
    /// Signatures the server makes per iteration: (ID tokens, access tokens).
    pub fn signatures(self) -> (u32, u32) {
        match self {
            Scenario::Flow => (1, 1),
            Scenario::ClientCredentials => (0, 1),
            Scenario::Introspect | Scenario::Verify => (0, 0),
        }
    }
}

/// Everything a worker needs, discovered and registered once before the run.
pub struct Target {
    pub addr: SocketAddr,
    pub issuer: String,
    api_key: String,
    client_id: String,
    /// `Authorization: Basic …` of the bench client.
    client_auth: String,
    redirect_uri: String,
    authorize_path: String,
    token_path: String,
    introspect_path: String,
    jwks: Jwks,
    /// A live access token for the introspection and verification scenarios.
    access_token: String,
}

fn path_of(url: &Value) -> Result<String, BoxError> {
    let u = url::Url::parse(url.as_str().ok_or("discovery is missing an endpoint")?)?;
    Ok(u.path().to_string())
}

impl Target {
    /// Reads discovery and the JWKS, and registers a confidential client through the host API.
    pub async fn prepare(addr: SocketAddr, api_key: &str) -> Result<Target, BoxError> {
        let mut conn = Conn::open(addr).await?;
        let disco = conn.send(Method::GET, "/.well-known/openid-configuration", &[], None).await?;
        if disco.status != StatusCode::OK {
            return Err(format!("discovery answered {}", disco.status).into());
        }
        let disco = disco.json()?;
        let jwks = conn.send(Method::GET, &path_of(&disco["jwks_uri"])?, &[], None).await?.json()?;
        let redirect_uri = "http://127.0.0.1:9/callback".to_string();
        let created = conn
            .send(
                Method::POST,
                "/api/clients",
                &[("x-api-key", api_key)],
                Some((
                    "application/json",
                    serde_json::to_vec(&json!({"name": "connectivly-bench", "redirect_uris": [redirect_uri]}))?,
                )),
            )
            .await?;
        if created.status != StatusCode::CREATED {
            return Err(format!("creating the bench client answered {}: check the API key", created.status).into());
        }
        let created = created.json()?;
        let client_id = created["client_id"].as_str().ok_or("no client_id")?.to_string();
        let client_auth = basic_auth(&client_id, created["client_secret"].as_str().ok_or("no client_secret")?);
        let mut target = Target {
            addr,
            issuer: disco["issuer"].as_str().ok_or("no issuer")?.to_string(),
            api_key: api_key.to_string(),
            client_id,
            client_auth,
            redirect_uri,
            authorize_path: path_of(&disco["authorization_endpoint"])?,
            token_path: path_of(&disco["token_endpoint"])?,
            introspect_path: path_of(&disco["introspection_endpoint"])?,
            jwks: Jwks::parse(&jwks)?,
            access_token: String::new(),
        };
        target.access_token = target.flow(&mut conn).await?;
        Ok(target)
    }

    pub async fn run_once(&self, scenario: Scenario, conn: &mut Conn) -> Result<(), BoxError> {
        match scenario {
            Scenario::Flow => self.flow(conn).await.map(drop),
            Scenario::ClientCredentials => self.client_credentials(conn).await,
            Scenario::Introspect => self.introspect(conn).await,
            Scenario::Verify => self.verify(conn).await,
        }
    }

    /// One complete authorization-code flow with fresh state, nonce and PKCE verifier; returns the
    /// access token after checking everything a careful client checks.
    async fn flow(&self, conn: &mut Conn) -> Result<String, BoxError> {
        let state = B64.encode(connectivly::secrets::random_bytes::<16>());
        let nonce = B64.encode(connectivly::secrets::random_bytes::<16>());
        let verifier = B64.encode(connectivly::secrets::random_bytes::<32>());
        let challenge = B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", &self.client_id),
                ("redirect_uri", &self.redirect_uri),
                ("scope", "openid profile email"),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let r = conn.send(Method::GET, &format!("{}?{query}", self.authorize_path), &[], None).await?;
        if r.status != StatusCode::FOUND {
            return Err(format!("authorize answered {}", r.status).into());
        }
        let login = url::Url::parse(r.header("location").ok_or("authorize without Location")?)?;
        let session = login.query_pairs().find(|(k, _)| k == "token").ok_or("no session token")?.1.into_owned();

        let approval = json!({
            "user": "bench-user",
            "claims": {"name": "Bench User", "email": "bench@example.com", "email_verified": true},
            "skip_consent": true,
        });
        let r = conn
            .send(
                Method::POST,
                &format!("/api/auth_session/{session}/approve"),
                &[("x-api-key", &self.api_key)],
                Some(("application/json", serde_json::to_vec(&approval)?)),
            )
            .await?;
        if r.status != StatusCode::OK {
            return Err(format!("approve answered {}: {}", r.status, String::from_utf8_lossy(&r.body)).into());
        }
        let back = url::Url::parse(r.json()?["redirect_uri"].as_str().ok_or("approve without redirect_uri")?)?;
        let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        if param("state").as_deref() != Some(state.as_str()) || param("iss").as_deref() != Some(self.issuer.as_str()) {
            return Err("the redirect's state or iss does not match".into());
        }
        let code = param("code").ok_or("no code in the redirect")?;

        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", &verifier),
        ]);
        let tokens = self.token_request(conn, body).await?;
        let access_token = tokens["access_token"].as_str().ok_or("no access_token")?;
        if !tokens["token_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
            return Err("token_type is not Bearer".into());
        }
        let id_token = tokens["id_token"].as_str().ok_or("no id_token")?;
        let claims = check_id_token(&self.jwks, id_token, &self.issuer, &self.client_id, &nonce, access_token)?;
        if claims["sub"] != "bench-user" || claims["email"] != "bench@example.com" {
            return Err("the id_token does not describe the approved user".into());
        }
        Ok(access_token.to_string())
    }

    async fn client_credentials(&self, conn: &mut Conn) -> Result<(), BoxError> {
        let tokens = self.token_request(conn, b"grant_type=client_credentials".to_vec()).await?;
        if tokens["access_token"].as_str().is_none_or(|t| t.split('.').count() != 3) {
            return Err("no JWT access_token".into());
        }
        Ok(())
    }

    async fn introspect(&self, conn: &mut Conn) -> Result<(), BoxError> {
        let body = form(&[("token", &self.access_token), ("token_type_hint", "access_token")]);
        expect_active(self.client_post(conn, &self.introspect_path, body).await?)
    }

    /// A form POST authenticated as the bench client.
    async fn client_post(&self, conn: &mut Conn, path: &str, body: Vec<u8>) -> Result<Reply, BoxError> {
        let auth = [("authorization", self.client_auth.as_str())];
        conn.send(Method::POST, path, &auth, Some(("application/x-www-form-urlencoded", body))).await
    }

    /// A token request that must succeed; its JSON answer.
    async fn token_request(&self, conn: &mut Conn, body: Vec<u8>) -> Result<Value, BoxError> {
        let r = self.client_post(conn, &self.token_path, body).await?;
        if r.status != StatusCode::OK {
            return Err(format!("token answered {}: {}", r.status, String::from_utf8_lossy(&r.body)).into());
        }
        r.json()
    }

    async fn verify(&self, conn: &mut Conn) -> Result<(), BoxError> {
        let body = serde_json::to_vec(&json!({"token": self.access_token}))?;
        let r = conn
            .send(Method::POST, "/api/introspect", &[("x-api-key", &self.api_key)], Some(("application/json", body)))
            .await?;
        expect_active(r)
    }
}

fn expect_active(r: Reply) -> Result<(), BoxError> {
    if r.status != StatusCode::OK {
        return Err(format!("introspection answered {}", r.status).into());
    }
    let v = r.json()?;
    if v["active"] != true || v["sub"] != "bench-user" {
        return Err("the token is not active".into());
    }
    Ok(())
}

/// What one run measured.
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latency of every successful iteration, microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        Duration::from_micros(self.latencies_us[i] as u64)
    }
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.latencies_us.last().copied().unwrap_or(0) as u64)
    }
}

/// Runs `scenario` on `concurrency` connections until `duration` has passed (after `warmup`,
/// which is not recorded).
pub async fn run(
    target: std::sync::Arc<Target>,
    scenario: Scenario,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Outcome, BoxError> {
    let start = Instant::now() + warmup;
    let end = start + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let target = target.clone();
        let mut conn = Conn::open(target.addr).await?;
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let (mut errors, mut first_error) = (0u64, None);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let result = target.run_once(scenario, &mut conn).await;
                if t0 < start {
                    continue;
                }
                match result {
                    Ok(()) => lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut outcome = Outcome { ok: 0, errors: 0, first_error: None, elapsed: duration, latencies_us: Vec::new() };
    for w in workers {
        let (lat, errors, first_error) = w.await?;
        outcome.ok += lat.len() as u64;
        outcome.latencies_us.extend(lat);
        outcome.errors += errors;
        if outcome.first_error.is_none() {
            outcome.first_error = first_error;
        }
    }
    // Iterations that started before the deadline may finish after it.
    outcome.elapsed = Instant::now().saturating_duration_since(start).max(duration);
    outcome.latencies_us.sort_unstable();
    Ok(outcome)
}
