//! Revocation (RFC 7009) and introspection (RFC 7662), for clients at `/oauth2/revoke` and
//! `/oauth2/introspect`, and natively for the host.

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Params, Request, Response};
use crate::jwt;
use crate::provider::Provider;
use crate::scopes;
use crate::secrets::{self, prefix};
use crate::store::ClientRecord;
use crate::tokens::Introspection;

/// What a presented token turned out to be.
enum Found {
    /// A refresh token: revoking it revokes its whole family (authorization).
    Refresh {
        authorization_id: String,
        client_id: String,
    },
    /// An access token signed by us (possibly expired): revoked by `jti`.
    Access {
        jti: String,
        client_id: String,
        exp: i64,
    },
    Unknown,
}

impl Provider {
    async fn find_token(&self, token: &str) -> Result<Found> {
        if secrets::has_shape(token, prefix::REFRESH) {
            return Ok(match self.store().get_refresh_token(&secrets::hash_secret(token)).await? {
                Some(r) => Found::Refresh { authorization_id: r.authorization_id, client_id: r.client_id },
                None => Found::Unknown,
            });
        }
        let Ok(v) = jwt::verify(token, &self.keys()) else { return Ok(Found::Unknown) };
        let typ = v.typ.as_deref().unwrap_or("");
        let c = &v.claims;
        match (typ.eq_ignore_ascii_case("at+jwt"), c["jti"].as_str(), c["client_id"].as_str(), c["exp"].as_i64()) {
            (true, Some(jti), Some(client_id), Some(exp)) => {
                Ok(Found::Access { jti: jti.into(), client_id: client_id.into(), exp })
            }
            _ => Ok(Found::Unknown),
        }
    }

    async fn revoke_found(&self, found: Found, requester: Option<&ClientRecord>) -> Result<()> {
        let owned_by = |client_id: &str| requester.is_none_or(|c| c.client_id == client_id);
        match found {
            Found::Refresh { authorization_id, client_id } if owned_by(&client_id) => {
                let r = self.store().revoke_authorization(&authorization_id).await;
                self.tokens_revoked();
                r?;
                tracing::info!(client_id, "refresh token revoked with its family");
            }
            Found::Access { jti, client_id, exp } if owned_by(&client_id) => {
                let r = self.store().revoke_jti(&jti, exp).await;
                self.tokens_revoked();
                r?;
                tracing::info!(client_id, "access token revoked");
            }
            // Unknown, or another client's token: RFC 7009 §2.2 answers the same, and nothing changes.
            _ => {}
        }
        Ok(())
    }

    /// Revokes a token as the host: an access token by itself, a refresh token with its family.
    /// Unknown tokens are ignored (the result is the same: the token does not work).
    pub async fn revoke(&self, token: &str) -> Result<()> {
        let found = self.find_token(token).await?;
        self.revoke_found(found, None).await
    }

    /// `POST /oauth2/revoke` (RFC 7009).
    pub(crate) async fn revocation_endpoint(&self, req: &Request) -> Response {
        let result: Result<()> = async {
            let params = client_form(req)?;
            let client = self.authenticate_client(req, &params).await?;
            let token = params.require("token")?;
            let found = self.find_token(token).await?;
            self.revoke_found(found, Some(&client)).await
        }
        .await;
        match result {
            Ok(()) => Response::new(200).no_store(),
            Err(e) => Response::oauth_error(&e),
        }
    }

    /// `POST /oauth2/introspect` (RFC 7662), for confidential clients (resource servers).
    pub(crate) async fn introspection_endpoint(&self, req: &Request) -> Response {
        let result: Result<Introspection> = async {
            let params = client_form(req)?;
            let client = self.authenticate_client(req, &params).await?;
            if client.public {
                return Err(Error::new(ErrorKind::UnauthorizedClient, "public clients cannot introspect tokens"));
            }
            self.introspect_any(params.require("token")?, Some(&client)).await
        }
        .await;
        match result {
            Ok(i) => Response::json(200, &serde_json::to_value(&i).unwrap_or_default()).no_store(),
            Err(e) => Response::oauth_error(&e),
        }
    }

    /// Introspects an access token or a refresh token. A token is described only to the client it
    /// was issued to, to a client registered as a resource server (`introspection_allowed`; access
    /// tokens only), or to the host (`requester = None`): to anyone else it is `active: false`, so an
    /// authenticated client cannot scan for other clients' tokens (RFC 7662 §4).
    pub(crate) async fn introspect_any(&self, token: &str, requester: Option<&ClientRecord>) -> Result<Introspection> {
        if !secrets::has_shape(token, prefix::REFRESH) {
            let answer = self.introspect(token).await?;
            let described_to =
                |c: &ClientRecord| c.introspection_allowed || answer.client_id.as_deref() == Some(c.client_id.as_str());
            return Ok(if requester.is_none_or(described_to) { answer } else { Introspection::default() });
        }
        let now = crate::time::now();
        let Some(r) = self.store().get_refresh_token(&secrets::hash_secret(token)).await? else {
            return Ok(Introspection::default());
        };
        if requester.is_some_and(|c| c.client_id != r.client_id) || r.rotated_at.is_some() || r.expires_at <= now {
            return Ok(Introspection::default());
        }
        let Some(auth) = self.store().get_authorization(&r.authorization_id).await?.filter(|a| !a.revoked) else {
            return Ok(Introspection::default());
        };
        Ok(Introspection {
            active: true,
            sub: Some(auth.subject),
            client_id: Some(r.client_id),
            scope: Some(scopes::join(&r.scopes)),
            exp: Some(r.expires_at),
            iat: Some(r.created_at),
            iss: Some(self.issuer().to_string()),
            aud: None,
            token_type: Some("refresh_token".into()),
            jti: None,
        })
    }
}

fn client_form(req: &Request) -> Result<Params> {
    if req.method != "POST" {
        return Err(Error::new(ErrorKind::MethodNotAllowed, "use POST"));
    }
    if !req.content_type_is("application/x-www-form-urlencoded") {
        return Err(Error::invalid_request("the request must be application/x-www-form-urlencoded"));
    }
    Params::parse(&req.body)
}
