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
        match (method, segments.as_slice()) {
            (
                "GET" | "HEAD",
                [".well-known", "openid-configuration"] | [".well-known", "oauth-authorization-server"],
            ) => Response::json(200, &self.discovery()).with_header("cache-control", "public, max-age=300"),
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
            (_, [".well-known", ..] | ["oauth2", ..]) => {
                Response::oauth_error(&Error::new(ErrorKind::MethodNotAllowed, "method not allowed"))
            }
            _ => self.error_page(404, "Not found", "There is nothing here."),
        }
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
        // serde's message names the offending field or position, never echoes the input value.
        let msg = e.to_string();
        let msg = msg.split(" at line").next().unwrap_or("invalid JSON");
        Error::invalid_request(format!("invalid JSON body: {msg}"))
    })
}

fn api_error(e: &Error) -> Response {
    Response::json(e.kind().http_status(), &json!({"error": e.kind().code(), "error_description": e.message()}))
        .no_store()
}
