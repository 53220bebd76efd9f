//! `RemoteProvider`: the host-API subset of [`Provider`](crate::Provider), spoken over HTTP to a
//! standalone `connectivly` server. Same method names, same result types, same error kinds.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

use crate::clients::{Client, ClientUpdate, CreatedClient, NewClient};
use crate::error::{Error, ErrorKind, Result};
use crate::flow::{Approval, AuthSession, Denial};
use crate::grants::Grant;
use crate::provider::KeyInfo;
use crate::tokens::{Introspection, TokenInfo};

/// A client of a Connectivly server's host API.
#[derive(Debug, Clone)]
pub struct RemoteProvider {
    base: String,
    api_key: String,
    http: reqwest::Client,
}

impl RemoteProvider {
    /// `url` is the server's issuer URL (e.g. `http://localhost:3000`); `api_key` its host-API key.
    pub fn new(url: &str, api_key: &str) -> Result<RemoteProvider> {
        let parsed = url::Url::parse(url).map_err(|_| Error::config(format!("{url:?} is not an absolute URL")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::config("the server URL must be http(s)"));
        }
        if api_key.is_empty() {
            return Err(Error::config("api_key is required"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::config(format!("HTTP client: {e}")))?;
        Ok(RemoteProvider { base: url.trim_end_matches('/').to_string(), api_key: api_key.to_string(), http })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<T> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path)).header("X-API-KEY", &self.api_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            // reqwest's message names the URL but never the headers, so the key cannot leak.
            Error::new(ErrorKind::Remote, format!("cannot reach the Connectivly server: {}", e.without_url()))
        })?;
        let status = resp.status();
        let bytes =
            resp.bytes().await.map_err(|e| Error::new(ErrorKind::Remote, format!("reading the response: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|_| Error::new(ErrorKind::Remote, "the server's response was not what the host API returns"));
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let kind =
            v.get("error").and_then(Value::as_str).and_then(ErrorKind::from_code).unwrap_or(match status.as_u16() {
                401 => ErrorKind::Unauthorized,
                404 => ErrorKind::NotFound,
                503 => ErrorKind::Storage,
                _ => ErrorKind::Remote,
            });
        let message = v
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {status}"));
        Err(Error::new(kind, message))
    }

    pub async fn auth_session(&self, id: &str) -> Result<AuthSession> {
        self.call(reqwest::Method::GET, &format!("/api/auth_session/{}", seg(id)), None).await
    }

    pub async fn approve(&self, id: &str, approval: Approval) -> Result<String> {
        let v: Value = self
            .call(reqwest::Method::POST, &format!("/api/auth_session/{}/approve", seg(id)), Some(to_value(&approval)?))
            .await?;
        redirect_of(v)
    }

    pub async fn deny(&self, id: &str, denial: Denial) -> Result<String> {
        let v: Value = self
            .call(reqwest::Method::POST, &format!("/api/auth_session/{}/deny", seg(id)), Some(to_value(&denial)?))
            .await?;
        redirect_of(v)
    }

    pub async fn verify_access_token(&self, token: &str, required_scopes: &[&str]) -> Result<TokenInfo> {
        let i = self.introspect(token).await?;
        let info = i.into_token_info().ok_or_else(|| Error::invalid_token("the token is not active"))?;
        let missing: Vec<&str> = required_scopes.iter().copied().filter(|s| !info.has_scope(s)).collect();
        if !missing.is_empty() {
            return Err(Error::new(
                ErrorKind::InsufficientScope,
                format!("the token lacks scope {}", missing.join(" ")),
            ));
        }
        Ok(info)
    }

    /// As [`Provider::protect`](crate::Provider::protect), verifying through the server.
    pub async fn protect(
        &self,
        req: &crate::http::Request,
        scopes: &[&str],
    ) -> std::result::Result<TokenInfo, crate::http::Response> {
        let token = crate::tokens::bearer_token(req).map_err(|e| crate::tokens::bearer_error(&e))?;
        self.verify_access_token(&token, scopes).await.map_err(|e| crate::tokens::bearer_error(&e))
    }

    pub async fn introspect(&self, token: &str) -> Result<Introspection> {
        self.call(reqwest::Method::POST, "/api/introspect", Some(json!({"token": token}))).await
    }

    pub async fn create_client(&self, new: NewClient) -> Result<CreatedClient> {
        self.call(reqwest::Method::POST, "/api/clients", Some(to_value(&new)?)).await
    }

    pub async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<Client>> {
        let path = match owner {
            Some(o) => {
                format!("/api/clients?owner={}", url::form_urlencoded::byte_serialize(o.as_bytes()).collect::<String>())
            }
            None => "/api/clients".into(),
        };
        self.call(reqwest::Method::GET, &path, None).await
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Client> {
        self.call(reqwest::Method::GET, &format!("/api/clients/{}", seg(client_id)), None).await
    }

    pub async fn update_client(&self, client_id: &str, update: ClientUpdate) -> Result<Client> {
        self.call(reqwest::Method::PATCH, &format!("/api/clients/{}", seg(client_id)), Some(to_value(&update)?)).await
    }

    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<CreatedClient> {
        self.call(reqwest::Method::POST, &format!("/api/clients/{}/secret", seg(client_id)), None).await
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<()> {
        let _: Value = self.call(reqwest::Method::DELETE, &format!("/api/clients/{}", seg(client_id)), None).await?;
        Ok(())
    }

    pub async fn revoke(&self, token: &str) -> Result<()> {
        let _: Value = self.call(reqwest::Method::POST, "/api/revoke", Some(json!({"token": token}))).await?;
        Ok(())
    }

    pub async fn revoke_user(&self, user: &str) -> Result<u64> {
        let v: Value = self.call(reqwest::Method::POST, &format!("/api/users/{}/revoke", seg(user)), None).await?;
        Ok(v.get("revoked").and_then(Value::as_u64).unwrap_or(0))
    }

    pub async fn revoke_client(&self, client_id: &str) -> Result<()> {
        let _: Value =
            self.call(reqwest::Method::POST, &format!("/api/clients/{}/revoke", seg(client_id)), None).await?;
        Ok(())
    }

    pub async fn list_grants(&self, user: &str) -> Result<Vec<Grant>> {
        self.call(reqwest::Method::GET, &format!("/api/users/{}/grants", seg(user)), None).await
    }

    pub async fn revoke_grant(&self, user: &str, client_id: &str) -> Result<()> {
        let path = format!("/api/users/{}/grants/{}", seg(user), seg(client_id));
        let _: Value = self.call(reqwest::Method::DELETE, &path, None).await?;
        Ok(())
    }

    pub async fn rotate_keys(&self) -> Result<Vec<KeyInfo>> {
        self.call(reqwest::Method::POST, "/api/keys/rotate", None).await
    }
}

/// Percent-encodes one path segment, so an id can never change the route.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

fn to_value<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|_| Error::invalid_request("cannot encode the request"))
}

fn redirect_of(v: Value) -> Result<String> {
    v.get("redirect_uri")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::new(ErrorKind::Remote, "the server's answer had no redirect_uri"))
}
