//! The token endpoint, token minting, local access-token verification and userinfo.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Params, Request, Response};
use crate::jwt;
use crate::keys::SigningAlg;
use crate::provider::Provider;
use crate::scopes;
use crate::secrets;
use crate::store::{AuthorizationRecord, TokenOrigin};
use crate::token_cache::Cached;

/// The claims of an RFC 9068 access token, serialized straight from borrowed fields: one is minted
/// for every token response.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: String,
    jti: String,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// The authorization (grant) a user's token comes from; revoking it revokes the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<&'a str>,
}

/// What a verified access token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Every claim of the token, shared with the verified-token cache rather than copied.
    pub claims: Arc<Map<String, Value>>,
}

impl TokenInfo {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// An RFC 7662 introspection answer. Inactive tokens carry nothing but `active: false`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Introspection {
    fn from_info(info: &TokenInfo) -> Introspection {
        let c = &info.claims;
        Introspection {
            active: true,
            sub: Some(info.sub.clone()),
            client_id: Some(info.client_id.clone()),
            scope: Some(scopes::join(&info.scopes)),
            exp: Some(info.exp),
            iat: Some(info.iat),
            iss: c.get("iss").and_then(Value::as_str).map(str::to_string),
            aud: c.get("aud").cloned(),
            token_type: Some("Bearer".into()),
            jti: Some(info.jti.clone()),
        }
    }

    /// The token info an active answer describes (what a remote `verify_access_token` returns).
    pub fn into_token_info(self) -> Option<TokenInfo> {
        if !self.active {
            return None;
        }
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(self.sub));
        claims.insert("client_id".into(), json!(self.client_id));
        claims.insert("scope".into(), json!(self.scope));
        claims.insert("exp".into(), json!(self.exp));
        claims.insert("iat".into(), json!(self.iat));
        claims.insert("iss".into(), json!(self.iss));
        claims.insert("jti".into(), json!(self.jti));
        if let Some(aud) = &self.aud {
            claims.insert("aud".into(), aud.clone());
        }
        Some(TokenInfo {
            sub: self.sub?,
            client_id: self.client_id?,
            scopes: scopes::split(self.scope.as_deref().unwrap_or("")),
            jti: self.jti.unwrap_or_default(),
            iat: self.iat.unwrap_or(0),
            exp: self.exp?,
            claims: Arc::new(claims),
        })
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl Provider {
    /// Signs an access token (RFC 9068) for `sub`. `gid` ties it to the authorization it came from.
    pub(crate) fn mint_access_token(
        &self,
        sub: &str,
        client_id: &str,
        scopes: &[String],
        auth_time: Option<i64>,
        gid: Option<&str>,
    ) -> Result<(String, i64)> {
        let cfg = self.config();
        let keys = self.keys();
        let key = keys.signing_key(cfg.access_token_alg()).ok_or_else(|| Error::internal("no signing key"))?;
        let now = crate::time::now();
        let claims = AccessTokenClaims {
            iss: &cfg.issuer,
            sub,
            aud: cfg.audience(),
            client_id,
            scope: scopes::join(scopes),
            jti: URL_SAFE_NO_PAD.encode(secrets::random_bytes::<16>()),
            iat: now,
            exp: now + cfg.access_token_ttl,
            auth_time,
            gid,
        };
        Ok((jwt::encode(key, "at+jwt", &claims)?, cfg.access_token_ttl))
    }

    /// Signs an ID token for an authorization; `nonce` only in the response to the code.
    pub(crate) fn mint_id_token(
        &self,
        auth: &AuthorizationRecord,
        access_token: &str,
        nonce: Option<&str>,
    ) -> Result<String> {
        let cfg = self.config();
        let keys = self.keys();
        let key = keys.signing_key(cfg.signing_alg).ok_or_else(|| Error::internal("no signing key"))?;
        let now = crate::time::now();
        let mut claims = scopes::release_claims(&auth.claims, &auth.scopes, self.scopes());
        claims.insert("iss".into(), json!(cfg.issuer));
        claims.insert("sub".into(), json!(auth.subject));
        claims.insert("aud".into(), json!(auth.client_id));
        claims.insert("azp".into(), json!(auth.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + cfg.id_token_ttl));
        claims.insert("auth_time".into(), json!(auth.auth_time));
        claims.insert("at_hash".into(), json!(half_hash(key.alg, access_token)));
        if let Some(n) = nonce {
            claims.insert("nonce".into(), json!(n));
        }
        jwt::encode(key, "JWT", &Value::Object(claims))
    }

    /// Verifies an access token locally: signature, type, issuer, audience, expiry, revocation, and
    /// optionally that it carries every scope in `required_scopes`.
    pub async fn verify_access_token(&self, token: &str, required_scopes: &[&str]) -> Result<TokenInfo> {
        let cache = self.token_cache();
        let key = crate::token_cache::key(token);
        let epoch = cache.epoch();
        let info = match cache.get(&key, crate::time::now()) {
            Cached::Fresh(info) => return with_scopes(info, required_scopes),
            Cached::Stale(info) => info,
            Cached::Miss => self.verify_signed_access_token(token).await?,
        };
        self.check_not_revoked(&info).await?;
        cache.put(key, &info, epoch);
        with_scopes(info, required_scopes)
    }

    /// What the verified-token cache alone can answer, without waiting for anything: `None` when a
    /// full [`verify_access_token`](Self::verify_access_token) is needed. Lets a binding answer a
    /// token it has seen without an async round trip through its event loop.
    pub fn verify_access_token_cached(&self, token: &str, required_scopes: &[&str]) -> Option<Result<TokenInfo>> {
        match self.token_cache().get(&crate::token_cache::key(token), crate::time::now()) {
            Cached::Fresh(info) => Some(with_scopes(info, required_scopes)),
            Cached::Stale(_) | Cached::Miss => None,
        }
    }

    /// Signature, type, issuer, audience and expiry: everything but revocation.
    async fn verify_signed_access_token(&self, token: &str) -> Result<TokenInfo> {
        let invalid = |m: &str| Error::invalid_token(m.to_string());
        let verified = match jwt::verify(token, &self.keys()) {
            Ok(v) => v,
            Err(e) => {
                // A kid we have not loaded may come from another instance's rotation.
                let unknown_kid = jwt::peek_kid(token).is_some_and(|kid| self.keys().by_kid(&kid).is_none());
                if unknown_kid && self.refresh_keys_throttled().await? {
                    jwt::verify(token, &self.keys())?
                } else {
                    return Err(e);
                }
            }
        };
        if verified.typ.is_none_or(|t| !t.eq_ignore_ascii_case("at+jwt")) {
            return Err(invalid("not an access token"));
        }
        let Value::Object(c) = verified.claims else { return Err(invalid("malformed claims")) };
        let cfg = self.config();
        let str_claim = |k: &str| c.get(k).and_then(Value::as_str);
        if str_claim("iss") != Some(cfg.issuer.as_str()) {
            return Err(invalid("the token was issued by another issuer"));
        }
        let aud_ok = match c.get("aud") {
            Some(Value::String(a)) => a == cfg.audience(),
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(cfg.audience())),
            _ => false,
        };
        if !aud_ok {
            return Err(invalid("the token is for another audience"));
        }
        let exp = c.get("exp").and_then(Value::as_i64).ok_or_else(|| invalid("the token has no expiry"))?;
        if exp <= crate::time::now() {
            return Err(invalid("the token has expired"));
        }
        let info = TokenInfo {
            sub: str_claim("sub").ok_or_else(|| invalid("no subject"))?.to_string(),
            client_id: str_claim("client_id").ok_or_else(|| invalid("no client_id"))?.to_string(),
            scopes: scopes::split(str_claim("scope").unwrap_or("")),
            jti: str_claim("jti").ok_or_else(|| invalid("no jti"))?.to_string(),
            iat: c.get("iat").and_then(Value::as_i64).unwrap_or(0),
            exp,
            claims: Arc::new(c),
        };
        Ok(info)
    }

    /// The store's word on revocation: the token's jti, its authorization, or (client_credentials)
    /// its client.
    async fn check_not_revoked(&self, info: &TokenInfo) -> Result<()> {
        let origin = match info.claims.get("gid").and_then(Value::as_str) {
            Some(gid) => TokenOrigin::Grant(gid),
            // A client's own token (client_credentials): revoked with or by its client.
            None => TokenOrigin::Client { client_id: &info.client_id, issued_at: info.iat },
        };
        if self.store().access_token_revoked(&info.jti, origin).await? {
            return Err(Error::invalid_token("the token has been revoked"));
        }
        Ok(())
    }

    /// RFC 7662 introspection of an access token: active with its claims, or only `active: false`.
    pub async fn introspect(&self, token: &str) -> Result<Introspection> {
        match self.verify_access_token(token, &[]).await {
            Ok(info) => Ok(Introspection::from_info(&info)),
            Err(e) if e.kind() == ErrorKind::InvalidToken => Ok(Introspection::default()),
            Err(e) => Err(e),
        }
    }

    /// Guards a resource request: the bearer token must verify and carry `scopes`. On failure the
    /// ready RFC 6750 response (401/403 with `WWW-Authenticate`) for the adapter to send.
    pub async fn protect(&self, req: &Request, scopes: &[&str]) -> std::result::Result<TokenInfo, Response> {
        let token = bearer_token(req).map_err(|e| bearer_error(&e))?;
        self.verify_access_token(&token, scopes).await.map_err(|e| bearer_error(&e))
    }

    /// `GET|POST /oauth2/userinfo`.
    pub(crate) async fn userinfo_endpoint(&self, req: &Request) -> Response {
        match self.userinfo(req).await {
            Ok(v) => Response::json(200, &v).no_store(),
            Err(e) => bearer_error(&e),
        }
    }

    async fn userinfo(&self, req: &Request) -> Result<Value> {
        let token = bearer_token(req)?;
        let info = self.verify_access_token(&token, &["openid"]).await?;
        let gid = info
            .claims
            .get("gid")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_token("no user behind this token"))?;
        let auth = self
            .store()
            .get_authorization(gid)
            .await?
            .ok_or_else(|| Error::invalid_token("the token has been revoked"))?;
        let mut out = scopes::release_claims(&auth.claims, &info.scopes, self.scopes());
        out.insert("sub".into(), json!(info.sub));
        Ok(Value::Object(out))
    }
}

/// `info` if it carries every scope in `required`.
fn with_scopes(info: TokenInfo, required: &[&str]) -> Result<TokenInfo> {
    let missing: Vec<&str> = required.iter().copied().filter(|s| !info.has_scope(s)).collect();
    if !missing.is_empty() {
        return Err(Error::new(ErrorKind::InsufficientScope, format!("the token lacks scope {}", missing.join(" "))));
    }
    Ok(info)
}

/// The bearer token of a resource request: `Authorization: Bearer` or (POST) a form `access_token`,
/// never both (RFC 6750 §2).
pub fn bearer_token(req: &Request) -> Result<String> {
    let header =
        req.single_header("authorization").map_err(|_| Error::invalid_request("repeated Authorization header"))?;
    let from_header = match header {
        Some(h) => {
            let (scheme, value) =
                h.trim().split_once(' ').ok_or_else(|| Error::invalid_token("malformed Authorization header"))?;
            if !scheme.eq_ignore_ascii_case("bearer") || value.trim().is_empty() {
                return Err(Error::invalid_token("expected a Bearer token"));
            }
            Some(value.trim().to_string())
        }
        None => None,
    };
    let from_form = if req.method == "POST" && req.content_type_is("application/x-www-form-urlencoded") {
        Params::parse(&req.body)?.get("access_token")?.map(str::to_string)
    } else {
        None
    };
    match (from_header, from_form) {
        (Some(_), Some(_)) => Err(Error::invalid_request("send the token once, not in two places")),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(Error::new(ErrorKind::InvalidToken, "")),
    }
}

/// An RFC 6750 error response with `WWW-Authenticate`.
pub fn bearer_error(e: &Error) -> Response {
    let mut challenge = String::from("Bearer realm=\"connectivly\"");
    if !e.message().is_empty() || e.kind() != ErrorKind::InvalidToken {
        challenge.push_str(&format!(", error=\"{}\"", e.kind().code()));
        if !e.message().is_empty() {
            let desc: String = e.message().chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
            challenge.push_str(&format!(", error_description=\"{desc}\""));
        }
    }
    let status = match e.kind() {
        ErrorKind::InvalidRequest => 400,
        k => k.http_status(),
    };
    let body = if e.message().is_empty() && e.kind() == ErrorKind::InvalidToken {
        json!({"error": "invalid_token", "error_description": "a Bearer token is required"})
    } else {
        json!({"error": e.kind().code(), "error_description": e.message()})
    };
    Response::json(status, &body).no_store().with_header("www-authenticate", &challenge)
}

/// `at_hash`: base64url of the left half of the hash of the token, with the JWS algorithm's hash
/// (SHA-256 for RS256/ES256, SHA-512 for Ed25519).
fn half_hash(alg: SigningAlg, token: &str) -> String {
    let d = match alg {
        SigningAlg::EdDSA => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, token.as_bytes()),
        _ => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()),
    };
    let bytes = d.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}
