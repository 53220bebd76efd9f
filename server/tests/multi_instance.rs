//! Several server instances behind a (simulated) load balancer on one PostgreSQL database: two
//! real axum servers on loopback, in-process, each with its own provider and connection pool.
//! A client hops between them at every step; single-use things stay single-use across them; the
//! first start on an empty database creates one key set and one API key; a lost database is a
//! clean 503 and the flow resumes when it is back.
//!
//! Skipped (with a note) unless `CONNECTIVLY_TEST_POSTGRES_URL` names a server; `tests/pg-cluster
//! start` runs a private one. Each test works in a fresh database of its own.

use std::time::Duration;

use connectivly::{Config, Provider};
use connectivly_server::bootstrap::{self, ApiKeyLine};
use serde_json::{Value, json};
use sqlx::Connection;

const ISSUER: &str = "https://id.example.com";
const LOGIN: &str = "https://app.example.com/connectivly";
const REDIRECT: &str = "https://client.example.com/cb";
/// Bounds every test: nothing here may hang the suite.
const LIMIT: Duration = Duration::from_secs(300);

fn admin_url() -> Option<String> {
    std::env::var("CONNECTIVLY_TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty())
}

fn skip(name: &str) -> bool {
    if admin_url().is_none() {
        eprintln!("{name}: skipped, CONNECTIVLY_TEST_POSTGRES_URL is not set (tests/pg-cluster start runs a server)");
        return true;
    }
    false
}

async fn admin() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&admin_url().unwrap()).await.expect("cannot connect to CONNECTIVLY_TEST_POSTGRES_URL")
}

async fn admin_exec(sql: String) {
    let mut conn = admin().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// A new empty database: (its URL, its name).
async fn fresh_database() -> (String, String) {
    let name = format!("connectivly_t_{}", hex(&connectivly::secrets::random_bytes::<8>()));
    admin_exec(format!("CREATE DATABASE {name}")).await;
    let mut url = url::Url::parse(&admin_url().unwrap()).unwrap();
    url.set_path(&format!("/{name}"));
    (url.to_string(), name)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// SplitMix64: a tiny deterministic generator. The seed is printed, and `CONNECTIVLY_TEST_SEED`
/// replays a run.
struct Rng(u64);

impl Rng {
    fn from_env(test: &str) -> Rng {
        let seed = std::env::var("CONNECTIVLY_TEST_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| u64::from_le_bytes(connectivly::secrets::random_bytes::<8>()));
        eprintln!("{test}: seed {seed} (CONNECTIVLY_TEST_SEED={seed} replays it)");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One `connectivly` server: a provider and axum on a loopback port.
struct Instance {
    provider: Provider,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn config(db_url: &str) -> Config {
    let mut cfg = Config::new(ISSUER, LOGIN);
    cfg.database_url = db_url.to_string();
    cfg.database_max_connections = Some(10);
    cfg.database_acquire_timeout = Some(5);
    cfg
}

async fn serve(provider: Provider) -> Instance {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = connectivly_server::app(provider.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Instance { provider, base, server }
}

async fn start(db_url: &str) -> Instance {
    serve(Provider::open(config(db_url)).await.unwrap()).await
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
struct Http(reqwest::Client);

impl Http {
    fn new() -> Http {
        Http(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
    }
    async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("the instance answers");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Resp { status, headers, body: r.text().await.unwrap_or_default() }
    }
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.0.get(url)
    }
    fn post_form(&self, url: &str, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.0
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish())
    }
    fn post_json(&self, url: &str, body: &Value) -> reqwest::RequestBuilder {
        self.0.post(url).header("content-type", "application/json").body(body.to_string())
    }
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The path (and query) of an issuer URL, to send to whichever instance the balancer picks.
fn path_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// Two instances on one database, a stored API key and a confidential client.
struct Deployment {
    inst: Vec<Instance>,
    http: Http,
    api_key: String,
    client_id: String,
    client_secret: String,
}

impl Deployment {
    async fn new() -> (Deployment, String) {
        let (db_url, db) = fresh_database().await;
        let (a, b) = tokio::join!(start(&db_url), start(&db_url));
        let api_key = a.provider.ensure_api_key().await.unwrap().expect("a fresh database has no API key");
        assert_eq!(b.provider.ensure_api_key().await.unwrap(), None, "the second instance reuses the stored key");
        let http = Http::new();
        let r = http
            .send(
                http.post_json(
                    &format!("{}/api/clients", b.base),
                    &json!({"name": "Photo Printer", "redirect_uris": [REDIRECT]}),
                )
                .header("x-api-key", &api_key),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let c = r.json();
        let d = Deployment {
            inst: vec![a, b],
            http,
            api_key,
            client_id: c["client_id"].as_str().unwrap().into(),
            client_secret: c["client_secret"].as_str().unwrap().into(),
        };
        (d, db)
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("{}{path}", self.inst[i].base)
    }

    /// GET /oauth2/authorize on `i`: (session id, binding cookie, PKCE verifier).
    async fn authorize(&self, i: usize, state: &str) -> (String, String, String) {
        let verifier = connectivly::secrets::new_secret("pkce_");
        let challenge = connectivly::secrets::sha256_b64(verifier.as_bytes());
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", &self.client_id),
                ("redirect_uri", REDIRECT),
                ("scope", "openid profile"),
                ("state", state),
                ("nonce", "n-1"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let r = self.http.send(self.http.get(&self.url(i, &format!("/oauth2/authorize?{q}")))).await;
        assert_eq!(r.status, 302, "authorize on {i}: {}", r.body);
        let loc = r.header("location").unwrap();
        assert!(loc.starts_with(LOGIN), "{loc}");
        let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
        (param(loc, "token").unwrap(), cookie, verifier)
    }

    async fn approve(&self, i: usize, session: &str, user: &str) -> Resp {
        let body = json!({"user": user, "claims": {"name": format!("Name of {user}")}});
        self.http
            .send(
                self.http
                    .post_json(&self.url(i, &format!("/api/auth_session/{session}/approve")), &body)
                    .header("x-api-key", &self.api_key),
            )
            .await
    }

    /// GET the consent page on `i`, POST "allow" on `j`: the client redirect with the code.
    async fn consent(&self, i: usize, j: usize, consent_url: &str, cookie: &str) -> String {
        let path = path_of(consent_url);
        let page = self.http.send(self.http.get(&self.url(i, &path)).header("cookie", cookie)).await;
        assert_eq!(page.status, 200, "consent page on {i}: {}", page.body);
        let csrf = page.body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let r = self
            .http
            .send(
                self.http
                    .post_form(&self.url(j, &path), &[("csrf", &csrf), ("decision", "allow")])
                    .header("cookie", cookie),
            )
            .await;
        assert_eq!(r.status, 302, "consent decision on {j}: {}", r.body);
        r.header("location").unwrap().to_string()
    }

    async fn token(&self, i: usize, code: &str, verifier: &str) -> Resp {
        self.http
            .send(self.http.post_form(
                &self.url(i, "/oauth2/token"),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                    ("client_id", &self.client_id),
                    ("client_secret", &self.client_secret),
                ],
            ))
            .await
    }

    async fn userinfo(&self, i: usize, access_token: &str) -> Resp {
        self.http
            .send(
                self.http
                    .get(&self.url(i, "/oauth2/userinfo"))
                    .header("authorization", format!("Bearer {access_token}")),
            )
            .await
    }

    /// authorize → approve (host API) → consent page → consent decision → token → userinfo, each
    /// step on the instance `hops` names.
    async fn flow(&self, hops: [usize; 6], user: &str, state: &str) {
        let (session, cookie, verifier) = self.authorize(hops[0], state).await;
        let r = self.approve(hops[1], &session, user).await;
        assert_eq!(r.status, 200, "approve on {}: {}", hops[1], r.body);
        let next = r.json()["redirect_uri"].as_str().unwrap().to_string();
        assert!(next.starts_with(&format!("{ISSUER}/consent/")), "{next}");
        let back = self.consent(hops[2], hops[3], &next, &cookie).await;
        assert!(back.starts_with(REDIRECT), "{back}");
        assert_eq!(param(&back, "state").as_deref(), Some(state));
        assert_eq!(param(&back, "iss").as_deref(), Some(ISSUER));
        let r = self.token(hops[4], &param(&back, "code").unwrap(), &verifier).await;
        assert_eq!(r.status, 200, "token on {}: {}", hops[4], r.body);
        let t = r.json();
        assert!(t["id_token"].is_string());
        let r = self.userinfo(hops[5], t["access_token"].as_str().unwrap()).await;
        assert_eq!(r.status, 200, "userinfo on {}: {}", hops[5], r.body);
        assert_eq!(r.json()["sub"], user);
        assert_eq!(r.json()["name"], format!("Name of {user}"));
    }

    async fn close(self) {
        for i in &self.inst {
            i.provider.close().await;
        }
    }
}

const A: usize = 0;
const B: usize = 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flow_hops_between_instances_at_every_step() {
    if skip("a_flow_hops_between_instances_at_every_step") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (d, _) = Deployment::new().await;
        // The issue's path: authorize on A, approve via B, consent on A, token on B, userinfo on A.
        d.flow([A, B, A, A, B, A], "ann", "fixed").await;
        // Then 200 flows with a random instance at every step.
        let mut rng = Rng::from_env("a_flow_hops_between_instances_at_every_step");
        for n in 0..200 {
            let hops = std::array::from_fn(|_| rng.pick(2));
            d.flow(hops, &format!("user-{n}"), &format!("s{n}")).await;
        }
        d.close().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_code_across_instances_have_one_winner() {
    if skip("concurrent_redemptions_of_one_code_across_instances_have_one_winner") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (d, _) = Deployment::new().await;
        let (session, cookie, verifier) = d.authorize(A, "race").await;
        let next = d.approve(B, &session, "ann").await.json()["redirect_uri"].as_str().unwrap().to_string();
        let back = d.consent(A, B, &next, &cookie).await;
        let code = param(&back, "code").unwrap();

        let d = std::sync::Arc::new(d);
        let mut set = tokio::task::JoinSet::new();
        for n in 0..200 {
            let (d, code, verifier) = (d.clone(), code.clone(), verifier.clone());
            set.spawn(async move {
                let r = d.token(n % 2, &code, &verifier).await;
                (r.status, r.json())
            });
        }
        let mut winners = Vec::new();
        let mut losers = 0;
        while let Some(r) = set.join_next().await {
            let (status, body) = r.unwrap();
            match status {
                200 => winners.push(body),
                400 => {
                    assert_eq!(body["error"], "invalid_grant");
                    losers += 1;
                }
                s => panic!("unexpected status {s}: {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one redemption succeeds");
        assert_eq!(losers, 199);
        // A replayed code revokes what was issued from it, on every instance.
        let at = winners[0]["access_token"].as_str().unwrap();
        for i in [A, B] {
            assert_eq!(d.userinfo(i, at).await.status, 401);
        }
        if let Some(d) = std::sync::Arc::into_inner(d) {
            d.close().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_start_of_two_instances_creates_one_key_set_and_one_api_key() {
    if skip("first_start_of_two_instances_creates_one_key_set_and_one_api_key") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (db_url, _) = fresh_database().await;
        // What `connectivly` does on start: open (migrate, load or create keys), then bootstrap.
        let boot = |url: String| async move {
            let provider = Provider::open(config(&url)).await.unwrap();
            let banner = bootstrap::run(&provider, "http://localhost:5000/auth", None).await.unwrap();
            (serve(provider).await, banner)
        };
        let (a, b) = tokio::join!(tokio::spawn(boot(db_url.clone())), tokio::spawn(boot(db_url.clone())));
        let ((a, banner_a), (b, banner_b)) = (a.unwrap(), b.unwrap());

        let new_keys: Vec<&String> = [&banner_a.api_key, &banner_b.api_key]
            .into_iter()
            .filter_map(|k| match k {
                ApiKeyLine::New(k) => Some(k),
                _ => None,
            })
            .collect();
        assert_eq!(new_keys.len(), 1, "exactly one instance creates (and prints) the API key");
        assert!(a.provider.check_api_key(new_keys[0]).await.unwrap());
        assert!(b.provider.check_api_key(new_keys[0]).await.unwrap());
        assert_eq!(banner_a.first_run as u8 + banner_b.first_run as u8, 1, "one first run");
        assert_eq!(a.provider.list_clients(None).await.unwrap().len(), 2, "one pair of demo clients");

        assert_eq!(a.provider.store().list_keys().await.unwrap().len(), 1, "one signing key");
        let http = Http::new();
        let ja = http.send(http.get(&format!("{}/.well-known/jwks.json", a.base))).await.json();
        let jb = http.send(http.get(&format!("{}/.well-known/jwks.json", b.base))).await.json();
        assert_eq!(ja["keys"].as_array().unwrap().len(), 1);
        assert_eq!(ja, jb, "both instances publish the same key set");
        for i in [a, b] {
            i.provider.close().await;
        }
    })
    .await
    .expect("test timed out");
}

/// Backends of `db` (other than the caller's) currently waiting for a lock.
async fn lock_waiters(admin: &mut sqlx::PgConnection, db: &str) -> Vec<i32> {
    use sqlx::Row;
    sqlx::query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'")
        .bind(db)
        .fetch_all(&mut *admin)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i32, _>(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_database_is_a_clean_503_and_the_flow_resumes() {
    if skip("a_lost_database_is_a_clean_503_and_the_flow_resumes") {
        return;
    }
    tokio::time::timeout(LIMIT, async {
        let (d, db) = Deployment::new().await;
        let (db_url, mut admin) = (d.inst[0].provider.config().database_url.clone(), admin().await);

        // 1. The connection serving a request dies under it. A lock holds B's query inside the
        //    database until the backend running it is terminated.
        let (session, cookie, verifier) = d.authorize(A, "lost").await;
        let mut holder = sqlx::PgConnection::connect(&db_url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE auth_sessions IN ACCESS EXCLUSIVE MODE").execute(&mut holder).await.unwrap();
        let d = std::sync::Arc::new(d);
        let pending = {
            let (d, session) = (d.clone(), session.clone());
            tokio::spawn(async move { d.approve(B, &session, "ann").await })
        };
        let mut waiters = Vec::new();
        for _ in 0..200 {
            waiters = lock_waiters(&mut admin, &db).await;
            if !waiters.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!waiters.is_empty(), "B's query never reached the database");
        for pid in &waiters {
            sqlx::query("SELECT pg_terminate_backend($1, 5000)").bind(pid).execute(&mut admin).await.unwrap();
        }
        let r = pending.await.unwrap();
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.json()["error"], "temporarily_unavailable");
        sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
        holder.close().await.unwrap();

        // The next request gets a fresh connection, and the session is still pending.
        let r = d.approve(B, &session, "ann").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let next = r.json()["redirect_uri"].as_str().unwrap().to_string();

        // 2. The database goes away entirely: every endpoint answers 503, none 500.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = $1")
            .bind(&db)
            .execute(&mut admin)
            .await
            .unwrap();
        for i in [A, B] {
            let page = d.http.send(d.http.get(&d.url(i, &path_of(&next))).header("cookie", &cookie)).await;
            assert_eq!(page.status, 503, "consent page on {i} while the database is away");
            let r = d.http.send(d.http.get(&d.url(i, "/api/clients")).header("x-api-key", &d.api_key)).await;
            assert_eq!(r.status, 503);
            assert_eq!(r.json()["error"], "temporarily_unavailable");
            let r = d.token(i, "cly_ac_whatever", &verifier).await;
            assert_eq!(r.status, 503, "{}", r.body);
            assert_eq!(r.json()["error"], "temporarily_unavailable");
        }

        // 3. It is back: the same instances finish the interrupted flow without a restart.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")))
            .execute(&mut admin)
            .await
            .unwrap();
        let back = d.consent(A, B, &next, &cookie).await;
        let r = d.token(B, &param(&back, "code").unwrap(), &verifier).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = d.userinfo(A, r.json()["access_token"].as_str().unwrap()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["sub"], "ann");
        d.flow([B, A, B, A, B, A], "bob", "after").await;

        admin.close().await.unwrap();
        if let Some(d) = std::sync::Arc::into_inner(d) {
            d.close().await;
        }
    })
    .await
    .expect("test timed out");
}
