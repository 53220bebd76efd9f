//! Whole requests through `Provider::handle`, against a provider with registered clients and live
//! sessions: the authorize query, the token form, Basic and Bearer headers, cookies, JSON bodies of
//! the host API. Never a panic, never a 5xx.
//!
//! So that requests get past "unknown client" and "unknown session", the fuzzed text may name the
//! fixture's values with placeholders (`$C` the confidential client's id, `$K` its secret, `$P` the
//! public client's id, `$S` a pending session, `$A` a session awaiting consent, `$R` the redirect
//! URI, `$V`/`$H` a PKCE verifier and its challenge, `$O` an unredeemed code, `$F` a refresh token,
//! `$T` an access token, `$B` the binding cookie), and a flag starts from a valid request of the
//! route whose parameters the fuzzed ones override. The fixture is rebuilt whenever fuzzed requests
//! used it up (deleted the client, decided the sessions) and every few hundred runs.
#![no_main]

use std::sync::{Mutex, OnceLock};

use base64::Engine;
use connectivly::{Approval, Config, NewClient, Provider, Request};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://id.example.com";
const LOGIN: &str = "https://app.example.com/login";
const REDIRECT: &str = "https://client.example.com/cb";
const API_KEY: &str = "fuzz-api-key-0123456789";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REBUILD_EVERY: u32 = 500;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn provider() -> &'static Provider {
    static P: OnceLock<Provider> = OnceLock::new();
    P.get_or_init(|| {
        let mut cfg = Config::new(ISSUER, LOGIN);
        cfg.database_url = "memory:".into();
        cfg.api_key = Some(API_KEY.into());
        cfg.failed_auth_limit_per_client = 0;
        cfg.failed_limit_per_address = 0;
        cfg.scopes = vec![connectivly::ScopeDef::new("photos:read", "Read your photos")];
        runtime().block_on(Provider::open(cfg)).unwrap()
    })
}

/// Live objects the fuzzed requests can name.
struct Fixture {
    confidential: String,
    secret: String,
    public: String,
    pending: String,
    awaiting_consent: String,
    /// Path and query of the consent page of `awaiting_consent` (with its ticket).
    consent: String,
    cookie: String,
    code: String,
    refresh: String,
    access: String,
    runs: u32,
}

fn set_cookie(r: &connectivly::Response) -> String {
    r.get_header("set-cookie").expect("authorize sets the binding cookie").split(';').next().unwrap().to_string()
}

fn query_value(url: &str, name: &str) -> String {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap()
}

/// Starts a session at `/authorize` in the browser holding `cookie`; its id and the new cookie.
async fn start(p: &Provider, client_id: &str, cookie: Option<&str>) -> (String, String) {
    let mut req = Request::new("GET", &authorize_query(client_id, "openid profile email offline_access"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = p.handle(req).await;
    let loc = r.get_header("location").expect("authorize redirects to the login URL");
    assert!(loc.starts_with(LOGIN), "the fixture's authorize request was refused: {loc}");
    (query_value(loc, "token"), set_cookie(&r))
}

fn authorize_query(client_id: &str, scope: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("/oauth2/authorize?{q}")
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

async fn build(p: &Provider) -> Fixture {
    let client = |public| NewClient {
        name: "Fuzzed".into(),
        redirect_uris: vec![REDIRECT.into()],
        public,
        allowed_scopes: (!public).then(|| {
            vec!["openid".into(), "profile".into(), "email".into(), "offline_access".into(), "photos:read".into()]
        }),
        ..Default::default()
    };
    let confidential = p.create_client(client(false)).await.unwrap();
    let public = p.create_client(client(true)).await.unwrap();
    let (cid, secret) = (confidential.client.client_id.clone(), confidential.client_secret.clone().unwrap());

    let (pending, cookie) = start(p, &cid, None).await;
    let (awaiting_consent, cookie) = start(p, &public.client.client_id, Some(&cookie)).await;
    let consent = p.approve(&awaiting_consent, Approval::new("u1")).await.unwrap();
    let consent = consent.strip_prefix(ISSUER).expect("the consent URL is on the issuer").to_string();
    // Two codes: one redeemed here for tokens, one left for the fuzzer.
    let mut codes = Vec::new();
    for _ in 0..2 {
        let (id, _) = start(p, &cid, None).await;
        let to = p.approve(&id, Approval { skip_consent: true, ..Approval::new("u1") }).await.unwrap();
        codes.push(query_value(&to, "code"));
    }
    let r = p
        .handle(
            Request::new("POST", "/oauth2/token")
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &codes[0]),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ])
                .header("authorization", &basic(&cid, &secret)),
        )
        .await;
    assert_eq!(r.status, 200, "the fixture's token request was refused: {:?}", String::from_utf8_lossy(&r.body));
    let t = r.body_json().unwrap();
    // The consent page opens for the fixture's browser: fuzzed consent requests reach the session.
    let page = p.handle(Request::new("GET", &consent).header("cookie", &cookie)).await;
    assert_eq!(page.status, 200, "the fixture's consent page does not open");
    Fixture {
        confidential: cid,
        secret,
        public: public.client.client_id,
        pending,
        awaiting_consent,
        consent,
        cookie,
        code: codes.pop().unwrap(),
        refresh: t["refresh_token"].as_str().unwrap().to_string(),
        access: t["access_token"].as_str().unwrap().to_string(),
        runs: 0,
    }
}

/// Whether fuzzed requests left the fixture usable: its clients exist and its sessions are undecided.
async fn usable(p: &Provider, f: &Fixture) -> bool {
    f.runs < REBUILD_EVERY
        && p.get_client(&f.confidential).await.is_ok()
        && p.get_client(&f.public).await.is_ok()
        && session_status(p, &f.pending).await.as_deref() == Some("pending")
        && session_status(p, &f.awaiting_consent).await.as_deref() == Some("approved")
}

async fn session_status(p: &Provider, id: &str) -> Option<String> {
    p.auth_session(id).await.ok().map(|s| s.status)
}

fn fixture() -> &'static Mutex<Option<Fixture>> {
    static F: OnceLock<Mutex<Option<Fixture>>> = OnceLock::new();
    F.get_or_init(|| Mutex::new(None))
}

impl Fixture {
    fn fill(&self, s: &str) -> String {
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let binding = self.cookie.split_once('=').map(|(_, v)| v).unwrap_or("");
        s.replace("$C", &self.confidential)
            .replace("$K", &self.secret)
            .replace("$P", &self.public)
            .replace("$S", &self.pending)
            .replace("$A", &self.awaiting_consent)
            .replace("$R", &enc(REDIRECT))
            .replace("$V", VERIFIER)
            .replace("$H", CHALLENGE)
            .replace("$O", &self.code)
            .replace("$F", &self.refresh)
            .replace("$T", &self.access)
            .replace("$B", binding)
    }
}

const PATHS: &[&str] = &[
    "/oauth2/authorize",
    "/oauth2/token",
    "/oauth2/userinfo",
    "/oauth2/revoke",
    "/oauth2/introspect",
    "/oauth2/register",
    "/oauth2/register/$C",
    "/consent/$S",
    "/consent/$A",
    "/api/auth_session/$S",
    "/api/auth_session/$S/approve",
    "/api/auth_session/$S/deny",
    "/api/auth_session/$A/approve",
    "/api/clients",
    "/api/clients/$C",
    "/api/clients/$C/secret",
    "/api/clients/$C/revoke",
    "/api/introspect",
    "/api/revoke",
    "/api/users/u1/grants",
    "/api/users/u1/grants/$C",
    "/api/users/u1/revoke",
    "/api/keys",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
];
const METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "OPTIONS"];

/// A valid request's parameters for the route, which fuzzed parameters of the same name replace.
fn base(path: &str, pick: u8, f: &Fixture) -> String {
    match path {
        "/oauth2/authorize" => {
            let client = if pick % 2 == 0 { "$C" } else { "$P" };
            format!(
                "response_type=code&client_id={client}&redirect_uri=$R&scope=openid+profile+offline_access\
                 &state=s&nonce=n&code_challenge=$H&code_challenge_method=S256"
            )
        }
        "/oauth2/token" => match pick % 3 {
            0 => "grant_type=authorization_code&code=$O&redirect_uri=$R&code_verifier=$V".into(),
            1 => "grant_type=refresh_token&refresh_token=$F".into(),
            _ => "grant_type=client_credentials&scope=photos:read".into(),
        },
        "/oauth2/revoke" | "/oauth2/introspect" => {
            if pick % 2 == 0 {
                "token=$T".into()
            } else {
                "token=$F&token_type_hint=refresh_token".into()
            }
        }
        "/consent/$A" => f.consent.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

/// `base` with every parameter the fuzzed `extra` also names dropped, then `extra`.
fn merge(base: &str, extra: &str) -> String {
    let names: Vec<&str> = extra.split('&').map(|kv| kv.split('=').next().unwrap_or("")).collect();
    let kept: Vec<&str> =
        base.split('&').filter(|kv| !kv.is_empty() && !names.contains(&kv.split('=').next().unwrap_or(""))).collect();
    let mut out = kept.join("&");
    if !extra.is_empty() {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(extra);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let p = provider();
    let mut guard = fixture().lock().unwrap();
    let rebuild = match guard.as_ref() {
        Some(f) => !runtime().block_on(usable(p, f)),
        None => true,
    };
    if rebuild {
        *guard = Some(runtime().block_on(build(p)));
    }
    let f = guard.as_mut().unwrap();
    f.runs += 1;

    // data[0] the route, data[1] the method, data[2] flags, data[3] which valid request to start
    // from; the rest is split into query (or form) parameters, one header value and the body.
    let path = PATHS[data[0] as usize % PATHS.len()];
    let method = METHODS[data[1] as usize % METHODS.len()];
    let flags = data[2];
    let mut parts = data[4..].splitn(3, |b| *b == 0xff);
    let extra = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let header = f.fill(&String::from_utf8_lossy(parts.next().unwrap_or_default()));
    let mut body = parts.next().unwrap_or_default().to_vec();
    let params = if flags & 1 != 0 { merge(&base(path, data[3], f), &extra) } else { extra };
    let params = f.fill(&params);
    // Parameters go into the query of a GET, the form of anything else (unless a body was fuzzed).
    let query = if method == "GET" || !body.is_empty() { params.clone() } else { String::new() };
    if body.is_empty() && method != "GET" {
        body = params.into_bytes();
    } else if let Ok(text) = std::str::from_utf8(&body) {
        body = f.fill(text).into_bytes();
    }
    let content_type =
        if body.first() == Some(&b'{') { "application/json" } else { "application/x-www-form-urlencoded" };
    let authorization = match (flags >> 1) & 3 {
        0 => header.clone(),
        1 => basic(&f.confidential, &f.secret),
        2 => format!("Bearer {}", f.access),
        _ => basic(&f.public, ""),
    };
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    if flags & 8 == 0 {
        headers.push(("authorization".into(), authorization));
    }
    if flags & 16 == 0 {
        headers.push(("x-api-key".into(), API_KEY.into()));
    }
    headers.push(("cookie".into(), if flags & 32 == 0 { f.cookie.clone() } else { header }));
    if flags & 64 != 0 {
        headers.push(("origin".into(), "https://client.example.com".into()));
    }
    let req = Request {
        method: method.into(),
        path: f.fill(path),
        query,
        headers,
        body,
        remote_addr: (flags & 128 != 0).then(|| "192.0.2.1".to_string()),
    };
    let resp = runtime().block_on(p.handle(req));
    assert!(resp.status < 500, "{method} {path} answered {}: {:?}", resp.status, String::from_utf8_lossy(&resp.body));
});
