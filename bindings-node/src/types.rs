//! Arguments and results: plain JavaScript objects with camelCase fields, converted once from and to the
//! core's types.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::invalid_arg;

/// Options of `Provider.open`; the same settings as the server's `CONNECTIVLY_*` variables. Only the
/// type: `open` reads the object through the core's settings table, which a test compares with this.
#[allow(dead_code)] // only its generated TypeScript interface is used
#[napi(object)]
pub struct ProviderOptions {
    /// The issuer URL: the base of every endpoint and the `iss` of every token.
    pub issuer: String,
    /// The host's login endpoint; the browser arrives there with `?token=<session id>`.
    pub login_url: String,
    /// The store: `sqlite://path.db` (default `sqlite://connectivly.db`), `memory:`, or another URL the core supports.
    pub database: Option<String>,
    /// PostgreSQL: connections this provider may hold open at once (default 10).
    pub database_max_connections: Option<i64>,
    /// PostgreSQL: seconds an operation waits for a connection before it fails with `storage` (default 10).
    pub database_acquire_timeout: Option<i64>,
    /// An explicit host-API key (at least 16 characters); otherwise the key lives, hashed, in the store.
    pub api_key: Option<String>,
    /// The name shown on the consent page.
    pub provider_name: Option<String>,
    /// A logo beside the provider name on the consent page: a `data:image/…;base64,` URI or a path or URL
    /// on the issuer's origin.
    pub provider_logo_uri: Option<String>,
    /// Accent colour of the consent page, `#rgb` or `#rrggbb`.
    pub accent_color: Option<String>,
    /// The host's own scopes: name → description shown to users.
    pub scopes: Option<HashMap<String, String>>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub signing_alg: Option<String>,
    /// Signs access tokens when it should differ from `signingAlg` (e.g. RS256 ID tokens, ES256 access tokens).
    pub access_token_signing_alg: Option<String>,
    /// `aud` of access tokens (default: the issuer).
    pub audience: Option<String>,
    /// Seconds from `/authorize` to approval and consent (default 900).
    pub session_ttl: Option<i64>,
    /// Authorization code lifetime in seconds (default 60).
    pub code_ttl: Option<i64>,
    /// Access token lifetime in seconds (default 3600).
    pub access_token_ttl: Option<i64>,
    /// ID token lifetime in seconds (default 3600).
    pub id_token_ttl: Option<i64>,
    /// Refresh token lifetime in seconds (default 30 days).
    pub refresh_token_ttl: Option<i64>,
    /// Seconds a just-rotated refresh token is refused without revoking its family (default 0).
    pub refresh_reuse_grace: Option<i64>,
    /// Rotate signing keys when the active one is this old, in seconds; 0 = only on demand.
    pub key_rotation_interval: Option<i64>,
    /// Encrypts signing keys at rest (at least 16 characters).
    pub secret: Option<String>,
    /// Enables Dynamic Client Registration for callers presenting this initial access token.
    pub registration_token: Option<String>,
    /// Every authorization request must carry a PKCE `code_challenge` (default true).
    pub require_pkce: Option<bool>,
    /// Open a SQLite file (and its `.key` file) that other local users can read (default false).
    pub allow_readable_database: Option<bool>,
    /// Failed client authentications per client id from one source address per minute before that pair
    /// is refused (default 20; 0 = no limit).
    pub failed_auth_limit_per_client: Option<i64>,
    /// Failures (client authentication, host-API key, unknown consent sessions) per source address per
    /// minute before it is refused (default 60; 0 = no limit).
    pub failed_limit_per_address: Option<i64>,
}

/// Options of `RemoteProvider.connect`.
#[napi(object)]
pub struct ConnectOptions {
    /// The server's host-API key (`X-API-KEY`).
    pub api_key: String,
}

/// The host's approval of an auth session.
#[napi(object)]
pub struct ApproveOptions {
    /// The subject: the host's stable id for the logged-in user.
    pub user: String,
    /// User claims (name, email, ...), released in the ID token and userinfo as the granted scopes allow.
    #[napi(ts_type = "Record<string, unknown>")]
    pub claims: Option<Value>,
    /// Grant only these of the requested scopes (default: all requested).
    pub scopes: Option<Vec<String>>,
    /// The host vouches for this client: no consent page (unless the client sent `prompt=consent`).
    pub skip_consent: Option<bool>,
    /// Remember the user's consent for this client.
    pub remember: Option<bool>,
    /// When the user last authenticated (Unix seconds); defaults to now.
    pub auth_time: Option<i64>,
}

impl ApproveOptions {
    pub fn into_core(self) -> napi::Result<connectivly::Approval> {
        let claims = match self.claims {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(invalid_arg("claims must be a plain object")),
        };
        Ok(connectivly::Approval {
            user: self.user,
            claims,
            scopes: self.scopes,
            skip_consent: self.skip_consent.unwrap_or(false),
            remember: self.remember.unwrap_or(false),
            auth_time: self.auth_time,
        })
    }
}

/// The host's refusal of an auth session.
#[napi(object)]
pub struct DenyOptions {
    /// `access_denied` (default), `login_required`, `consent_required`, `interaction_required` or
    /// `account_selection_required`.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The core denial an optional options object asks for (none: `access_denied`).
pub fn denial(d: Option<DenyOptions>) -> connectivly::Denial {
    match d {
        None => connectivly::Denial::default(),
        Some(d) => connectivly::Denial { error: d.error, error_description: d.error_description },
    }
}

/// A request for `Provider.handle`, with `path` relative to the issuer.
#[napi(object)]
pub struct HttpRequest {
    pub method: String,
    /// Below the issuer, starting with `/` (e.g. `/oauth2/token`), percent-encoded as received.
    pub path: String,
    /// The raw query string without `?`.
    pub query: Option<String>,
    /// Header name/value pairs, in order; a name may repeat.
    pub headers: Option<Vec<(String, String)>>,
    pub body: Option<Buffer>,
    /// The peer's address (for per-address rate limits).
    pub remote_addr: Option<String>,
}

/// An HTTP response from the provider, for a web framework to send.
#[napi(object)]
pub struct HttpResponse {
    pub status: u16,
    /// Header name/value pairs, in order; a name may repeat (`set-cookie`).
    pub headers: Vec<(String, String)>,
    pub body: Buffer,
}

impl From<connectivly::Response> for HttpResponse {
    fn from(r: connectivly::Response) -> HttpResponse {
        HttpResponse { status: r.status, headers: r.headers, body: r.body.into() }
    }
}

/// A registered client application (never carries its secret).
#[napi(object)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub allowed_scopes: Option<Vec<String>>,
    pub issue_refresh_tokens: bool,
    /// A resource server: may introspect other clients' access tokens.
    pub introspection_allowed: bool,
}

impl From<connectivly::Client> for Client {
    fn from(c: connectivly::Client) -> Client {
        Client {
            client_id: c.client_id,
            name: c.name,
            owner: c.owner,
            redirect_uris: c.redirect_uris,
            public: c.public,
            first_party: c.first_party,
            logo_uri: c.logo_uri,
            client_uri: c.client_uri,
            created_at: c.created_at,
            allowed_scopes: c.allowed_scopes,
            issue_refresh_tokens: c.issue_refresh_tokens,
            introspection_allowed: c.introspection_allowed,
        }
    }
}

/// A user's remembered consent for a client.
#[napi(object)]
pub struct Grant {
    pub user: String,
    pub client_id: String,
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<connectivly::Grant> for Grant {
    fn from(g: connectivly::Grant) -> Grant {
        Grant {
            user: g.user,
            client_id: g.client_id,
            client_name: g.client_name,
            scopes: g.scopes,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

/// A published signing key.
#[napi(object)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
    /// Set once a newer key signs; the key stays published until its tokens expire.
    pub retired_at: Option<i64>,
}

impl From<connectivly::KeyInfo> for KeyInfo {
    fn from(k: connectivly::KeyInfo) -> KeyInfo {
        KeyInfo { kid: k.kid, alg: k.alg, created_at: k.created_at, retired_at: k.retired_at }
    }
}

/// A client right after creation or secret rotation: the one time its secret is visible.
#[napi(object)]
pub struct CreatedClient {
    pub client: Client,
    pub client_id: String,
    /// Absent for public clients.
    pub client_secret: Option<String>,
}

impl From<connectivly::CreatedClient> for CreatedClient {
    fn from(c: connectivly::CreatedClient) -> CreatedClient {
        CreatedClient { client_id: c.client.client_id.clone(), client: c.client.into(), client_secret: c.client_secret }
    }
}

/// The app asking, as the host sees it in an auth session.
#[napi(object)]
pub struct SessionClient {
    pub client_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub first_party: bool,
}

/// A scope with its user-facing description.
#[napi(object)]
pub struct ScopeInfo {
    pub name: String,
    pub description: String,
}

/// A pending authorization: what the host decides on.
#[napi(object)]
pub struct AuthSession {
    pub id: String,
    /// `pending`, `approved`, `completed`, `denied`, ...
    pub status: String,
    pub client: SessionClient,
    pub scopes: Vec<ScopeInfo>,
    pub redirect_uri: String,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The subject, once approved.
    pub user: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

impl From<connectivly::AuthSession> for AuthSession {
    fn from(s: connectivly::AuthSession) -> AuthSession {
        AuthSession {
            id: s.id,
            status: s.status,
            client: SessionClient {
                client_id: s.client.client_id,
                name: s.client.name,
                owner: s.client.owner,
                logo_uri: s.client.logo_uri,
                client_uri: s.client.client_uri,
                first_party: s.client.first_party,
            },
            scopes: s.scopes.into_iter().map(|sc| ScopeInfo { name: sc.name, description: sc.description }).collect(),
            redirect_uri: s.redirect_uri,
            prompt: s.prompt,
            max_age: s.max_age,
            login_hint: s.login_hint,
            user: s.user,
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}

/// What a verified access token says.
#[napi(object, object_to_js = false, object_from_js = false)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Every claim of the token.
    #[napi(ts_type = "Record<string, unknown>")]
    pub claims: Arc<Map<String, Value>>,
}

impl From<connectivly::TokenInfo> for TokenInfo {
    fn from(t: connectivly::TokenInfo) -> TokenInfo {
        TokenInfo {
            sub: t.sub,
            client_id: t.client_id,
            scopes: t.scopes,
            jti: t.jti,
            iat: t.iat,
            exp: t.exp,
            claims: t.claims,
        }
    }
}

impl TokenInfo {
    /// The JSON text the JS wrapper parses into the `TokenInfo` object. Verification is a resource
    /// server's hot path, and building the object one napi property at a time (a dozen claims, each a
    /// call into V8) cost more than everything else around the signature check; V8's own JSON.parse
    /// builds the same plain object several times faster.
    pub fn into_json(self) -> String {
        serde_json::to_string(&self).expect("token claims are JSON")
    }
}

/// An RFC 7662 introspection answer; an inactive token carries nothing but `active: false`.
#[napi(object)]
pub struct Introspection {
    pub active: bool,
    pub sub: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub iss: Option<String>,
    #[napi(ts_type = "string | string[]")]
    pub aud: Option<Value>,
    pub token_type: Option<String>,
    pub jti: Option<String>,
}

impl From<connectivly::Introspection> for Introspection {
    fn from(i: connectivly::Introspection) -> Introspection {
        Introspection {
            active: i.active,
            sub: i.sub,
            client_id: i.client_id,
            scope: i.scope,
            exp: i.exp,
            iat: i.iat,
            iss: i.iss,
            aud: i.aud,
            token_type: i.token_type,
            jti: i.jti,
        }
    }
}

/// `protect`'s answer: the verified token (a `TokenInfo` as JSON text), or the 401/403 response to send.
pub type Protected = napi::Either<String, HttpResponse>;
