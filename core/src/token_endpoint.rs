//! `POST /oauth2/token`: authorization_code (+PKCE), refresh_token (rotating, replay-detecting) and
//! client_credentials.

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Params, Request, Response};
use crate::provider::Provider;
use crate::scopes;
use crate::secrets::{self, prefix};
use crate::store::{AuthorizationRecord, ClientRecord, RefreshTokenRecord};
use crate::tokens::TokenResponse;

impl Provider {
    /// `POST /oauth2/token`.
    pub(crate) async fn token_endpoint(&self, req: &Request) -> Response {
        match self.token(req).await {
            Ok(t) => Response::json(200, &t).no_store(),
            Err(e) => Response::oauth_error(&e),
        }
    }

    async fn token(&self, req: &Request) -> Result<TokenResponse> {
        if req.method != "POST" {
            return Err(Error::new(ErrorKind::MethodNotAllowed, "use POST"));
        }
        if !req.content_type_is("application/x-www-form-urlencoded") {
            return Err(Error::invalid_request("the token request must be application/x-www-form-urlencoded"));
        }
        let params = Params::parse(&req.body)?;
        let grant_type = params.require("grant_type")?;
        let client = self.authenticate_client(req, &params).await?;
        let m = self.metrics();
        let (result, counter) = match grant_type {
            "authorization_code" => (self.redeem_code(&client, &params).await, &m.tokens_authorization_code),
            "refresh_token" => (self.refresh(&client, &params).await, &m.tokens_refresh_token),
            "client_credentials" => (self.client_credentials(&client, &params).await, &m.tokens_client_credentials),
            _ => {
                return Err(Error::new(
                    ErrorKind::UnsupportedGrantType,
                    format!("grant_type {grant_type:?} is not supported"),
                ));
            }
        };
        if result.is_ok() {
            crate::metrics::inc(counter);
        }
        result
    }

    async fn redeem_code(&self, client: &ClientRecord, params: &Params) -> Result<TokenResponse> {
        let code = params.require("code")?;
        let redirect_uri = params.get("redirect_uri")?;
        let verifier = params.get("code_verifier")?;
        let invalid = || Error::invalid_grant("the code is invalid, expired, or was issued to another client");
        if !secrets::has_shape(code, prefix::CODE) {
            return Err(invalid());
        }
        let auth = self.store().get_authorization_by_code(&secrets::hash_secret(code)).await?.ok_or_else(invalid)?;
        // Bindings are checked before the code is consumed, so a wrong client cannot burn it.
        if !secrets::constant_time_eq(auth.client_id.as_bytes(), client.client_id.as_bytes()) {
            tracing::warn!(client_id = %client.client_id, "code presented by another client");
            return Err(invalid());
        }
        if auth.revoked || auth.code_expires_at <= crate::time::now() {
            return Err(invalid());
        }
        if redirect_uri != Some(auth.redirect_uri.as_str()) {
            return Err(Error::invalid_grant("redirect_uri does not match the authorization request"));
        }
        match (&auth.code_challenge, verifier) {
            (Some(challenge), Some(v)) => {
                if !valid_verifier(v)
                    || !secrets::constant_time_eq(secrets::sha256_b64(v.as_bytes()).as_bytes(), challenge.as_bytes())
                {
                    return Err(Error::invalid_grant("code_verifier does not match the code_challenge"));
                }
            }
            (Some(_), None) => return Err(Error::invalid_grant("code_verifier is required")),
            // A verifier without a challenge is a downgrade attempt or a confused client.
            (None, Some(_)) => {
                return Err(Error::invalid_grant("no code_challenge was sent for this code"));
            }
            (None, None) => {}
        }
        let refresh = (client.issue_refresh_tokens || auth.scopes.iter().any(|s| s == "offline_access"))
            .then(|| self.new_refresh_token(&auth, &auth.scopes));
        if !self.store().redeem_code(&auth.id, refresh.as_ref().map(|(_, r)| r)).await? {
            // A replayed code: someone else holds it. Revoke everything issued from it.
            let r = self.store().revoke_authorization(&auth.id).await;
            self.tokens_revoked();
            r?;
            tracing::warn!(client_id = %client.client_id, "authorization code reused; its tokens are revoked");
            return Err(invalid());
        }
        let (access_token, expires_in) =
            self.mint_access_token(&auth.subject, &auth.client_id, &auth.scopes, Some(auth.auth_time), Some(&auth.id))?;
        let id_token = if auth.scopes.iter().any(|s| s == "openid") {
            Some(self.mint_id_token(&auth, &access_token, auth.nonce.as_deref())?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            scope: scopes::join(&auth.scopes),
            id_token,
            refresh_token: refresh.map(|(raw, _)| raw),
        })
    }

    /// A new refresh token of `auth`'s family (issued when `offline_access` was granted or the
    /// client always gets one).
    fn new_refresh_token(&self, auth: &AuthorizationRecord, scopes: &[String]) -> (String, RefreshTokenRecord) {
        let raw = secrets::new_secret(prefix::REFRESH);
        let now = crate::time::now();
        let rec = RefreshTokenRecord {
            token_hash: secrets::hash_secret(&raw),
            authorization_id: auth.id.clone(),
            client_id: auth.client_id.clone(),
            scopes: scopes.to_vec(),
            created_at: now,
            expires_at: now + self.config().refresh_token_ttl,
            rotated_at: None,
        };
        (raw, rec)
    }

    async fn refresh(&self, client: &ClientRecord, params: &Params) -> Result<TokenResponse> {
        let token = params.require("refresh_token")?;
        let invalid = || Error::invalid_grant("the refresh token is invalid, expired or revoked");
        if !secrets::has_shape(token, prefix::REFRESH) {
            return Err(invalid());
        }
        let hash = secrets::hash_secret(token);
        let old = self.store().get_refresh_token(&hash).await?.ok_or_else(invalid)?;
        if !secrets::constant_time_eq(old.client_id.as_bytes(), client.client_id.as_bytes()) {
            tracing::warn!(client_id = %client.client_id, "refresh token presented by another client");
            return Err(invalid());
        }
        let now = crate::time::now();
        let auth = match self.store().get_authorization(&old.authorization_id).await? {
            Some(a) if !a.revoked => a,
            _ => return Err(invalid()),
        };
        if old.expires_at <= now {
            return Err(invalid());
        }
        if let Some(rotated_at) = old.rotated_at {
            return Err(self.refresh_replayed(&auth, client, now - rotated_at).await);
        }
        let scopes = match params.get("scope")? {
            None => old.scopes.clone(),
            Some(s) => {
                let asked = scopes::parse(Some(s), self.scopes())?;
                if let Some(extra) = asked.iter().find(|s| !old.scopes.contains(s)) {
                    return Err(Error::invalid_scope(format!("scope {extra:?} was not granted")));
                }
                asked
            }
        };
        // The successor keeps the whole grant; a narrower `scope` only narrows this access token.
        let (raw, next) = self.new_refresh_token(&auth, &old.scopes);
        let retain_until = next.expires_at + self.config().max_signed_token_ttl();
        if !self.store().rotate_refresh_token(&hash, &next, now, retain_until).await? {
            // Another request rotated it first: this one is a replay as far as the family knows.
            return Err(self.refresh_replayed(&auth, client, 0).await);
        }
        let (access_token, expires_in) =
            self.mint_access_token(&auth.subject, &auth.client_id, &scopes, Some(auth.auth_time), Some(&auth.id))?;
        let id_token = if scopes.iter().any(|s| s == "openid") {
            let narrowed = AuthorizationRecord { scopes: scopes.clone(), ..auth.clone() };
            Some(self.mint_id_token(&narrowed, &access_token, None)?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            scope: scopes::join(&scopes),
            id_token,
            refresh_token: Some(raw),
        })
    }

    /// An already-rotated refresh token came back. Outside the grace window the family is revoked:
    /// either the client or an attacker holds a stolen token, and the provider cannot tell which.
    async fn refresh_replayed(&self, auth: &AuthorizationRecord, client: &ClientRecord, since_rotation: i64) -> Error {
        crate::metrics::inc(&self.metrics().refresh_reuse_detected);
        let grace = self.config().refresh_reuse_grace;
        if grace > 0 && since_rotation < grace {
            tracing::info!(client_id = %client.client_id, "rotated refresh token retried within the grace window");
        } else {
            let r = self.store().revoke_authorization(&auth.id).await;
            self.tokens_revoked();
            match r {
                Ok(()) => {
                    tracing::warn!(client_id = %client.client_id, "refresh token replayed; its family is revoked")
                }
                Err(e) => return e,
            }
        }
        Error::invalid_grant("the refresh token is invalid, expired or revoked")
    }

    async fn client_credentials(&self, client: &ClientRecord, params: &Params) -> Result<TokenResponse> {
        if client.public {
            return Err(Error::new(ErrorKind::UnauthorizedClient, "public clients cannot use client_credentials"));
        }
        let allowed: Vec<String> =
            client.allowed_scopes.iter().flatten().filter(|s| !USER_SCOPES.contains(&s.as_str())).cloned().collect();
        let scopes = match params.get("scope")? {
            None => allowed,
            Some(s) => {
                let asked = scopes::parse(Some(s), self.scopes())?;
                if let Some(bad) = asked.iter().find(|s| !allowed.contains(s)) {
                    return Err(Error::invalid_scope(format!("this client may not request scope {bad:?}")));
                }
                asked
            }
        };
        let (access_token, expires_in) =
            self.mint_access_token(&client.client_id, &client.client_id, &scopes, None, None)?;
        tracing::info!(client_id = %client.client_id, "client_credentials token issued");
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            scope: scopes::join(&scopes),
            id_token: None,
            refresh_token: None,
        })
    }
}

/// Scopes that describe a user: meaningless for a client acting as itself.
const USER_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// RFC 7636 §4.1: 43-128 characters of `[A-Za-z0-9-._~]`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}
