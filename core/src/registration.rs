//! Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592), off unless an
//! initial access token is configured. Registered clients are ordinary clients of the registry.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::clients::{Client, ClientUpdate, NewClient};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Request, Response};
use crate::provider::Provider;
use crate::secrets::{self, prefix};
use crate::store::ClientRecord;
use crate::tokens::bearer_token;

/// Client metadata as RFC 7591 §2 names it. Unknown fields are ignored, as the RFC allows.
#[derive(Debug, Deserialize)]
struct Metadata {
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    logo_uri: Option<String>,
    #[serde(default)]
    client_uri: Option<String>,
}

const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];
const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];

impl Metadata {
    fn parse(body: &[u8]) -> Result<Metadata> {
        let v: Value = serde_json::from_slice(body).map_err(|_| Error::invalid_request("the body must be JSON"))?;
        if !v.is_object() {
            return Err(Error::invalid_request("the body must be a JSON object"));
        }
        let m: Metadata = serde_json::from_value(v).map_err(|e| {
            let msg = e.to_string();
            Error::invalid_request(format!("invalid client metadata: {}", msg.split(" at line").next().unwrap_or("")))
        })?;
        if let Some(g) = &m.grant_types
            && let Some(bad) = g.iter().find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(Error::invalid_request(format!("grant type {bad:?} is not supported")));
        }
        if let Some(r) = &m.response_types
            && r.iter().any(|r| r != "code")
        {
            return Err(Error::invalid_request("only the response type \"code\" is supported"));
        }
        if let Some(a) = &m.token_endpoint_auth_method
            && !AUTH_METHODS.contains(&a.as_str())
        {
            return Err(Error::invalid_request(format!("token_endpoint_auth_method {a:?} is not supported")));
        }
        Ok(m)
    }

    fn public(&self) -> bool {
        self.token_endpoint_auth_method.as_deref() == Some("none")
    }

    fn allowed_scopes(&self) -> Option<Vec<String>> {
        self.scope.as_deref().map(crate::scopes::split)
    }
}

/// RFC 7591 §3.2.2: `invalid_redirect_uri` for redirect URI problems, else `invalid_client_metadata`.
fn registration_error(e: &Error) -> Response {
    let code = match e.kind() {
        ErrorKind::InvalidRequest | ErrorKind::InvalidScope if e.message().contains("redirect") => {
            "invalid_redirect_uri"
        }
        ErrorKind::InvalidRequest | ErrorKind::InvalidScope => "invalid_client_metadata",
        _ => return Response::oauth_error(e),
    };
    Response::json(400, &json!({"error": code, "error_description": e.message()})).no_store()
}

impl Provider {
    /// `POST /oauth2/register` and `GET|PUT|DELETE /oauth2/register/{client_id}`.
    pub(crate) async fn registration_endpoint(&self, req: &Request, client_id: Option<&str>) -> Response {
        let Some(initial) = self.config().registration_token.as_deref() else {
            return self.error_page(404, "Not found", "Dynamic client registration is not enabled.");
        };
        let token = match bearer_token(req) {
            Ok(t) => t,
            Err(e) => return crate::tokens::bearer_error(&e),
        };
        let result = match (req.method.as_str(), client_id) {
            ("POST", None) => {
                if !secrets::constant_time_eq(token.as_bytes(), initial.as_bytes()) {
                    return crate::tokens::bearer_error(&Error::invalid_token("the initial access token is not valid"));
                }
                self.register(req).await.map(|v| (201, v))
            }
            (method, Some(id)) => {
                let client = match self.registered_client(id, &token).await {
                    Ok(c) => c,
                    Err(e) => return crate::tokens::bearer_error(&e),
                };
                match method {
                    "GET" => Ok((200, self.registration_response(&Client::from(&client), None, None))),
                    "PUT" => self.reregister(&client, req).await.map(|v| (200, v)),
                    "DELETE" => {
                        return match self.delete_client(&client.client_id).await {
                            Ok(()) => Response::new(204).no_store(),
                            Err(e) => Response::oauth_error(&e),
                        };
                    }
                    _ => Err(Error::new(ErrorKind::MethodNotAllowed, "use GET, PUT or DELETE")),
                }
            }
            _ => Err(Error::new(ErrorKind::MethodNotAllowed, "use POST")),
        };
        match result {
            Ok((status, v)) => Response::json(status, &v).no_store(),
            Err(e) => registration_error(&e),
        }
    }

    async fn register(&self, req: &Request) -> Result<Value> {
        let m = Metadata::parse(&req.body)?;
        let registration_token = secrets::new_secret(prefix::REGISTRATION);
        let created = self
            .insert_client(
                NewClient {
                    name: m.client_name.clone().unwrap_or_else(|| "Unnamed app".into()),
                    owner: None,
                    redirect_uris: m.redirect_uris.clone(),
                    public: m.public(),
                    first_party: false,
                    logo_uri: m.logo_uri.clone(),
                    client_uri: m.client_uri.clone(),
                    allowed_scopes: m.allowed_scopes(),
                    issue_refresh_tokens: false,
                    introspection_allowed: false,
                },
                Some(secrets::hash_secret(&registration_token)),
            )
            .await?;
        tracing::info!(client_id = %created.client.client_id, "client registered dynamically");
        Ok(self.registration_response(&created.client, created.client_secret.as_deref(), Some(&registration_token)))
    }

    async fn reregister(&self, client: &ClientRecord, req: &Request) -> Result<Value> {
        let m = Metadata::parse(&req.body)?;
        if m.public() != client.public {
            return Err(Error::invalid_request(
                "token_endpoint_auth_method cannot change between public and confidential",
            ));
        }
        let updated = self
            .update_client(
                &client.client_id,
                ClientUpdate {
                    name: m.client_name.clone(),
                    redirect_uris: Some(m.redirect_uris.clone()),
                    logo_uri: m.logo_uri.clone(),
                    client_uri: m.client_uri.clone(),
                    allowed_scopes: m.allowed_scopes(),
                    ..Default::default()
                },
            )
            .await?;
        Ok(self.registration_response(&updated, None, None))
    }

    /// The client behind a registration access token (RFC 7592 §2); every mismatch is one answer.
    async fn registered_client(&self, client_id: &str, token: &str) -> Result<ClientRecord> {
        let denied = || Error::invalid_token("the registration access token is not valid for this client");
        let client = self.store().get_client(client_id).await?.ok_or_else(denied)?;
        match &client.registration_token_hash {
            Some(h) if secrets::verify_secret(token, h) => Ok(client),
            _ => Err(denied()),
        }
    }

    fn registration_response(&self, c: &Client, secret: Option<&str>, registration_token: Option<&str>) -> Value {
        let mut v = json!({
            "client_id": c.client_id,
            "client_id_issued_at": c.created_at,
            "client_name": c.name,
            "redirect_uris": c.redirect_uris,
            "token_endpoint_auth_method": if c.public { "none" } else { "client_secret_basic" },
            "grant_types": if c.public { json!(["authorization_code", "refresh_token"]) } else { json!(GRANT_TYPES) },
            "response_types": ["code"],
            "registration_client_uri": self.url(&format!("/oauth2/register/{}", c.client_id)),
        });
        if let Some(s) = &c.allowed_scopes {
            v["scope"] = json!(s.join(" "));
        }
        if let Some(l) = &c.logo_uri {
            v["logo_uri"] = json!(l);
        }
        if let Some(u) = &c.client_uri {
            v["client_uri"] = json!(u);
        }
        if let Some(s) = secret {
            v["client_secret"] = json!(s);
            v["client_secret_expires_at"] = json!(0);
        }
        if let Some(t) = registration_token {
            v["registration_access_token"] = json!(t);
        }
        v
    }
}
