//! The framework-neutral front door: one `handle(Request) -> Response` for every endpoint.
//! Adapters (axum, Flask, Express) only translate to and from these types.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::clients::{ClientUpdate, NewClient};
use crate::error::{Error, ErrorKind, Result};
use crate::flow::{Approval, Denial};
use crate::http::{MAX_BODY_BYTES, Request, Response, decode_path_segment};
use crate::provider::Provider;

impl Provider {
    /// Serves one request. Never panics on input and never answers 500 to a malformed request.
    ///
    /// `req.path` is relative to the issuer, except for the paths of
    /// [`root_metadata_paths`](Self::root_metadata_paths), which are answered as received at the
    /// origin's root.
    pub async fn handle(&self, req: Request) -> Response {
        let started = std::time::Instant::now();
        let endpoint = crate::metrics::endpoint_of(&req.path);
        let cors = CORS_ENDPOINTS.contains(&endpoint);
        let origin = if cors { req.header_values("origin").next().map(str::to_string) } else { None };
        let mut resp = if cors && req.method == "OPTIONS" {
            self.preflight(endpoint, origin.as_deref()).await
        } else {
            self.route(req).await
        };
        if let Some(origin) = origin {
            self.add_cors(&mut resp, endpoint, &origin).await;
        }
        self.metrics().observe_request(endpoint, resp.status, started.elapsed());
        resp
    }

    async fn route(&self, req: Request) -> Response {
        if req.body.len() > MAX_BODY_BYTES {
            return Response::payload_too_large();
        }
        let path = req.path.clone();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = req.method.as_str();
        // RFC 8414 §3.1 puts the metadata of an issuer with a path at the origin's root, with the path
        // after the well-known segment; an adapter that sees the app's root passes such a request on as is.
        if self.is_root_metadata_path(&path) {
            return match method {
                "GET" | "HEAD" => self.discovery_response(),
                _ => method_not_allowed("GET, HEAD"),
            };
        }
        match (method, segments.as_slice()) {
            ("GET" | "HEAD", [""]) => self.landing_page(&req),
            (_, [""]) => self
                .error_page(405, "Method not allowed", "This page can only be read (GET).")
                .with_header("allow", "GET, HEAD"),
            (
                "GET" | "HEAD",
                [".well-known", "openid-configuration"] | [".well-known", "oauth-authorization-server"],
            ) => self.discovery_response(),
            ("GET" | "HEAD", [".well-known", "jwks.json"]) => {
                // Keys another instance rotated in must be published before its tokens reach clients.
                if let Err(e) = self.refresh_keys_throttled().await {
                    tracing::warn!(error = %e, "could not refresh signing keys");
                }
                Response::json(200, &self.keys().jwks()).with_header("cache-control", "public, max-age=300")
            }
            (_, ["oauth2", "authorize"]) => self.authorize_endpoint(&req).await,
            (_, ["oauth2", "token"]) => self.token_endpoint(&req).await,
            (_, ["oauth2", "revoke"]) => self.revocation_endpoint(&req).await,
            (_, ["oauth2", "introspect"]) => self.introspection_endpoint(&req).await,
            (_, ["oauth2", "register"]) => self.registration_endpoint(&req, None).await,
            (_, ["oauth2", "register", id]) => self.registration_endpoint(&req, Some(id)).await,
            ("GET" | "POST", ["oauth2", "userinfo"]) => self.userinfo_endpoint(&req).await,
            (_, ["consent", id]) => self.consent_endpoint(&req, id).await,
            (_, ["api", rest @ ..]) => self.host_api(&req, rest).await,
            (_, [".well-known", "openid-configuration" | "oauth-authorization-server" | "jwks.json"]) => {
                method_not_allowed("GET, HEAD")
            }
            (_, ["oauth2", "userinfo"]) => method_not_allowed("GET, POST"),
            // A client probing for a document that is not here (`/.well-known/oauth-protected-resource`,
            // another issuer's path form) reads 404 as "try the next one"; 405 would say it exists.
            (_, [".well-known", ..] | ["oauth2", ..]) => {
                Response::oauth_error(&Error::not_found("there is no such endpoint"))
            }
            _ => self.error_page(404, "Not found", "There is nothing here."),
        }
    }

    fn discovery_response(&self) -> Response {
        Response::json(200, &self.discovery()).with_header("cache-control", "public, max-age=300")
    }

    /// Root-relative paths where clients look for this provider's metadata besides
    /// `{issuer}/.well-known/…`: for an issuer with a path (`https://app.example.com/oauth`),
    /// `/.well-known/oauth-authorization-server/oauth` (RFC 8414 §3.1) and
    /// `/.well-known/openid-configuration/oauth` (the MCP authorization spec's fallback). Empty for an
    /// issuer at the origin's root, where the ordinary paths are these. An adapter that owns the app's
    /// root (a Flask app, an Express router at `/`) serves them by passing the request's full path to
    /// [`handle`](Self::handle).
    pub fn root_metadata_paths(&self) -> Vec<String> {
        root_metadata_paths(self.issuer())
    }

    fn is_root_metadata_path(&self, path: &str) -> bool {
        // Parsing the issuer only for requests that can match keeps the common paths cheap.
        let candidate = METADATA_DOCUMENTS
            .iter()
            .any(|doc| path.strip_prefix(doc).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1));
        candidate && root_metadata_paths(self.issuer()).iter().any(|p| p == path)
    }

    /// `GET /` (below the issuer): what this is and where its documents are, for a person who opens the
    /// issuer URL in a browser, or as JSON for a client that asks for it.
    fn landing_page(&self, req: &Request) -> Response {
        let links = crate::pages::LandingLinks {
            issuer: self.issuer(),
            openid_configuration: &self.url("/.well-known/openid-configuration"),
            oauth_authorization_server: &self.url("/.well-known/oauth-authorization-server"),
            jwks_uri: &self.url("/.well-known/jwks.json"),
            host_api: &self.url("/api/"),
        };
        let resp = if prefers_json(req) {
            Response::json(
                200,
                &json!({
                    "issuer": links.issuer,
                    "openid_configuration": links.openid_configuration,
                    "oauth_authorization_server": links.oauth_authorization_server,
                    "jwks_uri": links.jwks_uri,
                }),
            )
            .with_header("cache-control", "no-cache")
        } else {
            crate::pages::landing_page(&crate::pages::Branding::of(self.config()), &links)
        };
        // The answer depends on Accept: a cache must not hand the JSON to a browser.
        resp.with_header("vary", "Accept")
    }

    /// OIDC Discovery / RFC 8414 metadata.
    pub fn discovery(&self) -> Value {
        let algs: Vec<&str> = self.keys().algorithms().iter().map(|a| a.as_str()).collect();
        let claims: Vec<String> = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash"]
            .iter()
            .map(|s| s.to_string())
            .chain(self.scopes().iter().flat_map(|s| s.claims.iter().cloned()))
            .collect();
        let mut doc = json!({
            "issuer": self.issuer(),
            "authorization_endpoint": self.url("/oauth2/authorize"),
            "token_endpoint": self.url("/oauth2/token"),
            "userinfo_endpoint": self.url("/oauth2/userinfo"),
            "jwks_uri": self.url("/.well-known/jwks.json"),
            "scopes_supported": self.scopes().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "revocation_endpoint": self.url("/oauth2/revoke"),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint": self.url("/oauth2/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": claims,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "claims_parameter_supported": false,
        });
        if self.config().registration_token.is_some() {
            doc["registration_endpoint"] = json!(self.url("/oauth2/register"));
        }
        doc
    }

    /// The host API (`X-API-KEY`).
    async fn host_api(&self, req: &Request, path: &[&str]) -> Response {
        let addr = req.remote_addr.as_deref();
        if let Err(e) = self.check_rate(None, addr) {
            return api_error(&e).with_header("retry-after", "60");
        }
        let authorized = match req.single_header("x-api-key") {
            Ok(Some(k)) => match self.check_api_key(k.trim()).await {
                Ok(ok) => ok,
                Err(e) => return api_error(&e),
            },
            _ => false,
        };
        if !authorized {
            self.record_failure(None, addr);
        }
        if !authorized && !self.has_api_key() {
            return api_error(&Error::not_found("the host API is not enabled (no API key is configured)"));
        }
        if !authorized {
            return api_error(&Error::new(ErrorKind::Unauthorized, "a valid X-API-KEY header is required"))
                .with_header("www-authenticate", "ApiKey header=\"X-API-KEY\"");
        }
        let result = self.host_api_route(req, path).await;
        match result {
            Ok((status, v)) => Response::json(status, &v).no_store(),
            Err(e) => api_error(&e),
        }
    }

    async fn host_api_route(&self, req: &Request, path: &[&str]) -> Result<(u16, Value)> {
        let m = req.method.as_str();
        let ok = |v: Value| Ok((200, v));
        match (m, path) {
            ("GET", ["auth_session", id]) => ok(to_json(&self.auth_session(id).await?)),
            ("POST", ["auth_session", id, "approve"]) => {
                let approval: Approval = json_body(req)?;
                ok(json!({"redirect_uri": self.approve(id, approval).await?}))
            }
            ("POST", ["auth_session", id, "deny"]) => {
                let denial: Denial =
                    if req.body.iter().all(u8::is_ascii_whitespace) { Denial::default() } else { json_body(req)? };
                ok(json!({"redirect_uri": self.deny(id, denial).await?}))
            }
            ("GET", ["clients"]) => {
                let params = crate::http::Params::parse(req.query.as_bytes())?;
                ok(to_json(&self.list_clients(params.get("owner")?).await?))
            }
            ("POST", ["clients"]) => {
                let new: NewClient = json_body(req)?;
                Ok((201, to_json(&self.create_client(new).await?)))
            }
            ("GET", ["clients", id]) => ok(to_json(&self.get_client(id).await?)),
            ("PATCH", ["clients", id]) => {
                let update: ClientUpdate = json_body(req)?;
                ok(to_json(&self.update_client(id, update).await?))
            }
            ("DELETE", ["clients", id]) => {
                self.delete_client(id).await?;
                ok(json!({"deleted": true}))
            }
            ("POST", ["introspect"]) => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Body {
                    token: String,
                    #[serde(default)]
                    #[allow(dead_code)]
                    token_type_hint: Option<String>,
                }
                let body: Body = if req.content_type_is("application/x-www-form-urlencoded") {
                    let p = crate::http::Params::parse(&req.body)?;
                    Body { token: p.require("token")?.to_string(), token_type_hint: None }
                } else {
                    json_body(req)?
                };
                ok(to_json(&self.introspect_any(&body.token, None).await?))
            }
            ("POST", ["revoke"]) => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Body {
                    token: String,
                }
                let body: Body = json_body(req)?;
                self.revoke(&body.token).await?;
                ok(json!({"revoked": true}))
            }
            ("POST", ["users", user, "revoke"]) => {
                let n = self.revoke_user(&decode_path_segment(user)?).await?;
                ok(json!({"revoked": n}))
            }
            ("GET", ["users", user, "grants"]) => ok(to_json(&self.list_grants(&decode_path_segment(user)?).await?)),
            ("DELETE", ["users", user, "grants", client_id]) => {
                self.revoke_grant(&decode_path_segment(user)?, client_id).await?;
                ok(json!({"revoked": true}))
            }
            ("POST", ["clients", id, "revoke"]) => {
                self.revoke_client(id).await?;
                ok(json!({"revoked": true}))
            }
            ("GET", ["keys"]) => ok(to_json(&self.signing_keys())),
            ("POST", ["keys", "rotate"]) => ok(to_json(&self.rotate_keys().await?)),
            ("POST", ["clients", id, "secret"]) => ok(to_json(&self.rotate_client_secret(id).await?)),
            (
                _,
                ["auth_session", _]
                | ["auth_session", _, "approve" | "deny"]
                | ["clients"]
                | ["clients", _]
                | ["clients", _, "secret"],
            ) => Err(Error::new(ErrorKind::MethodNotAllowed, "method not allowed on this path")),
            _ => Err(Error::not_found("no such host API route")),
        }
    }
}

/// The metadata documents that RFC 8414 §3.1 (and the MCP authorization spec) also look for at the
/// origin's root, followed by the issuer's path.
const METADATA_DOCUMENTS: &[&str] = &["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"];

/// [`Provider::root_metadata_paths`] for an issuer URL, for adapters that hold only the issuer.
/// Percent-encoded as a client sends it; empty for an issuer at the origin's root or an invalid URL.
pub fn root_metadata_paths(issuer: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(issuer) else { return Vec::new() };
    let path = url.path().trim_end_matches('/');
    if path.is_empty() {
        return Vec::new();
    }
    METADATA_DOCUMENTS.iter().map(|doc| format!("{doc}{path}")).collect()
}

/// Whether the client asked for JSON rather than HTML (RFC 9110 §12.5.1): the higher quality wins,
/// then the more specific match (`application/json` over `*/*`); a tie, or no Accept at all, is HTML.
/// So a browser (`text/html,…,*/*;q=0.8`) gets the page, and `curl -H 'Accept: application/json'`
/// or axios (`application/json, text/plain, */*`) the JSON.
fn prefers_json(req: &Request) -> bool {
    // (quality, specificity) of the most specific range matching each type: 2 exact, 1 `type/*`, 0 `*/*`.
    let mut json: Option<(f32, u8)> = None;
    let mut html: Option<(f32, u8)> = None;
    let consider = |best: &mut Option<(f32, u8)>, q: f32, specificity: u8| {
        if best.is_none_or(|(_, s)| specificity > s) {
            *best = Some((q, specificity));
        }
    };
    for range in req.header_values("accept").flat_map(|v| v.split(',')) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = match parts.filter_map(|p| p.split_once('=')).find(|(k, _)| k.trim().eq_ignore_ascii_case("q")) {
            None => 1.0,
            // A quality that is not a number in 0..=1 makes the range unusable, not an error.
            Some((_, v)) => match v.trim().parse::<f32>() {
                Ok(q) if (0.0..=1.0).contains(&q) => q,
                _ => continue,
            },
        };
        match media.as_str() {
            "application/json" => consider(&mut json, q, 2),
            "application/*" => consider(&mut json, q, 1),
            "text/html" => consider(&mut html, q, 2),
            "text/*" => consider(&mut html, q, 1),
            "*/*" => {
                consider(&mut json, q, 0);
                consider(&mut html, q, 0);
            }
            _ => {}
        }
    }
    let (json_q, json_s) = json.unwrap_or((0.0, 0));
    let (html_q, html_s) = html.unwrap_or((0.0, 0));
    json_q > 0.0 && (json_q > html_q || (json_q >= html_q && json_s > html_s))
}

/// Endpoints a browser-based public client calls directly (CORS). Never the host API.
const CORS_ENDPOINTS: &[&str] = &["token", "userinfo", "revoke", "jwks"];

impl Provider {
    /// Whether `origin` is the origin of some registered redirect URI (cached briefly).
    async fn origin_allowed(&self, origin: &str) -> bool {
        match self.redirect_origins().await {
            Ok(origins) => origins.iter().any(|o| o == origin),
            Err(_) => false,
        }
    }

    async fn preflight(&self, endpoint: &str, origin: Option<&str>) -> Response {
        let allowed = match origin {
            Some(o) => endpoint == "jwks" || self.origin_allowed(o).await,
            None => false,
        };
        let mut r = Response::new(204).with_header("vary", "Origin");
        if allowed {
            r = r
                .with_header("access-control-allow-methods", "GET, POST, OPTIONS")
                .with_header("access-control-allow-headers", "authorization, content-type")
                .with_header("access-control-max-age", "600");
        }
        r
    }

    async fn add_cors(&self, resp: &mut Response, endpoint: &str, origin: &str) {
        let allowed = endpoint == "jwks" || self.origin_allowed(origin).await;
        resp.headers.push(("vary".into(), "Origin".into()));
        if allowed {
            let value = if endpoint == "jwks" { "*" } else { origin };
            resp.headers.push(("access-control-allow-origin".into(), value.into()));
            resp.headers.push(("access-control-expose-headers".into(), "www-authenticate".into()));
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T> {
    // serde would read a struct from a JSON array, positionally: only objects are accepted.
    let v: Value = serde_json::from_slice(&req.body).map_err(|_| Error::invalid_request("the body must be JSON"))?;
    if !v.is_object() {
        return Err(Error::invalid_request("the body must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| {
        // serde's message names the offending field, and for a wrong type or value also quotes the
        // value (`invalid type: string "…", expected u64`): that part is cut, since the message reaches
        // the caller and the log line, and a body can carry a user's claims.
        let msg = e.to_string();
        let msg = msg.split(" at line").next().unwrap_or("invalid JSON");
        let msg = match msg.find(", expected") {
            Some(i) if msg.starts_with("invalid type") => format!("invalid type{}", &msg[i..]),
            Some(i) if msg.starts_with("invalid value") => format!("invalid value{}", &msg[i..]),
            Some(i) if msg.starts_with("unknown variant") => format!("unknown variant{}", &msg[i..]),
            _ => msg.to_string(),
        };
        Error::invalid_request(format!("invalid JSON body: {msg}"))
    })
}

/// 405 with the methods the path does take (RFC 9110 §15.5.6).
fn method_not_allowed(allow: &str) -> Response {
    let mut r = Response::oauth_error(&Error::new(ErrorKind::MethodNotAllowed, "method not allowed"));
    r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("allow"));
    r.with_header("allow", allow)
}

fn api_error(e: &Error) -> Response {
    Response::json(e.kind().http_status(), &json!({"error": e.kind().code(), "error_description": e.message()}))
        .no_store()
}
