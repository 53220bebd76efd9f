//! The client registry: apps that the host's users create, and how clients authenticate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Params, Request, decode_component};
use crate::provider::Provider;
use crate::secrets::{self, prefix};
use crate::store::ClientRecord;

/// A registered client as the host sees it. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub created_at: i64,
    /// Scopes this client may be granted (`None`: any; client_credentials needs a list).
    pub allowed_scopes: Option<Vec<String>>,
    /// Refresh tokens even without `offline_access`.
    pub issue_refresh_tokens: bool,
    /// A resource server: `/oauth2/introspect` describes other clients' access tokens to it.
    #[serde(default)]
    pub introspection_allowed: bool,
}

impl From<&ClientRecord> for Client {
    fn from(c: &ClientRecord) -> Client {
        Client {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            owner: c.owner.clone(),
            redirect_uris: c.redirect_uris.clone(),
            public: c.public,
            first_party: c.first_party,
            logo_uri: c.logo_uri.clone(),
            client_uri: c.client_uri.clone(),
            created_at: c.created_at,
            allowed_scopes: c.allowed_scopes.clone(),
            issue_refresh_tokens: c.issue_refresh_tokens,
            introspection_allowed: c.introspection_allowed,
        }
    }
}

/// A client right after creation or secret rotation: the only time its secret is visible.
/// `{:?}` masks the secret (a debug log line must not leak it); read the field to show it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: Client,
    /// `None` for public clients.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedClient")
            .field("client", &self.client)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// What a host supplies to register a client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub allowed_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub issue_refresh_tokens: bool,
    /// A resource server (confidential clients only): `/oauth2/introspect` describes access tokens
    /// issued to other clients to it. Other clients learn only about their own tokens.
    #[serde(default)]
    pub introspection_allowed: bool,
}

/// A partial update; absent fields stay as they are. `public` cannot change after creation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub first_party: Option<bool>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub allowed_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub issue_refresh_tokens: Option<bool>,
    #[serde(default)]
    pub introspection_allowed: Option<bool>,
}

const MAX_REDIRECT_URIS: usize = 20;
const MAX_URI_LEN: usize = 2000;

/// Checks a redirect URI at registration (OAuth 2.1 §2.3): absolute, no fragment, https — or http
/// on a loopback host, or a private-use scheme for native apps. Dangerous schemes are refused.
pub fn validate_redirect_uri(uri: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid_request(format!("redirect URI {uri:?} {why}"));
    if uri.len() > MAX_URI_LEN || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("is too long or contains whitespace or control characters"));
    }
    if uri.contains('\\') {
        // WHATWG parsers read `\` as `/` in http(s) URLs, others as data: the same string would
        // name two places (`https://a.example\@evil.example/cb`).
        return Err(bad("must not contain a backslash"));
    }
    let u = url::Url::parse(uri).map_err(|_| bad("is not an absolute URL"))?;
    if u.as_str() != uri {
        // `https:evil.example/cb` parses as `https://evil.example/cb` here and as something else
        // elsewhere: only a URI in its one canonical form is registered, so the exact string match
        // at /authorize means the same place to every parser.
        return Err(bad(&format!("is not in canonical form (it reads as {:?}): register that form", u.as_str())));
    }
    if u.fragment().is_some() || uri.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    match u.scheme() {
        "https" => {
            if u.host_str().is_none_or(str::is_empty) {
                return Err(bad("has no host"));
            }
        }
        "http" => {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                return Err(bad("must use https (http is allowed only on localhost / loopback)"));
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            return Err(bad("uses a forbidden scheme"));
        }
        // Private-use schemes for native apps must be reverse-domain names (RFC 8252 §7.1).
        s if s.contains('.') => {}
        _ => {
            return Err(bad("must use https, loopback http, or a reverse-domain private-use scheme"));
        }
    }
    if u.username() != "" || u.password().is_some() {
        return Err(bad("must not contain user information"));
    }
    Ok(())
}

fn validate_optional_url(field: &str, v: &Option<String>) -> Result<()> {
    if let Some(v) = v {
        let ok =
            v.len() <= MAX_URI_LEN && url::Url::parse(v).is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http");
        if !ok {
            return Err(Error::invalid_request(format!("{field} must be an http(s) URL")));
        }
    }
    Ok(())
}

fn validate_fields(name: &str, redirect_uris: &[String], logo: &Option<String>, home: &Option<String>) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(Error::invalid_request("name must be 1-200 printable characters"));
    }
    if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(Error::invalid_request(format!("redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs")));
    }
    for uri in redirect_uris {
        validate_redirect_uri(uri)?;
    }
    validate_optional_url("logo_uri", logo)?;
    validate_optional_url("client_uri", home)
}

fn validate_owner(owner: &Option<String>) -> Result<()> {
    if owner.as_ref().is_some_and(|o| o.is_empty() || o.len() > 255) {
        return Err(Error::invalid_request("owner must be 1-255 characters"));
    }
    Ok(())
}

impl Provider {
    /// Registers a client. The secret (confidential clients) is in the result and nowhere else, ever.
    pub async fn create_client(&self, new: NewClient) -> Result<CreatedClient> {
        self.insert_client(new, None).await
    }

    pub(crate) async fn insert_client(
        &self,
        new: NewClient,
        registration_token_hash: Option<String>,
    ) -> Result<CreatedClient> {
        validate_fields(&new.name, &new.redirect_uris, &new.logo_uri, &new.client_uri)?;
        validate_owner(&new.owner)?;
        if new.public && new.introspection_allowed {
            return Err(Error::invalid_request("introspection_allowed needs a confidential client (public is true)"));
        }
        self.validate_allowed_scopes(&new.allowed_scopes)?;
        let secret = (!new.public).then(|| secrets::new_secret(prefix::CLIENT_SECRET));
        let rec = ClientRecord {
            client_id: secrets::new_id(prefix::CLIENT_ID),
            secret_hash: secret.as_deref().map(secrets::hash_secret),
            name: new.name.trim().to_string(),
            owner: new.owner,
            redirect_uris: dedup(new.redirect_uris),
            public: new.public,
            first_party: new.first_party,
            logo_uri: new.logo_uri,
            client_uri: new.client_uri,
            created_at: crate::time::now(),
            allowed_scopes: new.allowed_scopes,
            issue_refresh_tokens: new.issue_refresh_tokens,
            introspection_allowed: new.introspection_allowed,
            tokens_revoked_before: None,
            registration_token_hash,
        };
        self.store().insert_client(&rec).await?;
        self.invalidate_redirect_origins().await;
        tracing::info!(client_id = %rec.client_id, public = rec.public, "client created");
        Ok(CreatedClient { client: Client::from(&rec), client_secret: secret })
    }

    /// Clients, all of them or those of one owner, oldest first.
    pub async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<Client>> {
        Ok(self.store().list_clients(owner).await?.iter().map(Client::from).collect())
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Client> {
        Ok(Client::from(&self.client_record(client_id).await?))
    }

    pub async fn update_client(&self, client_id: &str, update: ClientUpdate) -> Result<Client> {
        let mut rec = self.client_record(client_id).await?;
        if let Some(n) = update.name {
            rec.name = n.trim().to_string();
        }
        if let Some(o) = update.owner {
            rec.owner = Some(o);
        }
        if let Some(u) = update.redirect_uris {
            rec.redirect_uris = dedup(u);
        }
        if let Some(f) = update.first_party {
            rec.first_party = f;
        }
        if update.logo_uri.is_some() {
            rec.logo_uri = update.logo_uri;
        }
        if update.client_uri.is_some() {
            rec.client_uri = update.client_uri;
        }
        if update.allowed_scopes.is_some() {
            rec.allowed_scopes = update.allowed_scopes;
        }
        if let Some(r) = update.issue_refresh_tokens {
            rec.issue_refresh_tokens = r;
        }
        if let Some(i) = update.introspection_allowed {
            if i && rec.public {
                return Err(Error::invalid_request("introspection_allowed needs a confidential client"));
            }
            rec.introspection_allowed = i;
        }
        validate_fields(&rec.name, &rec.redirect_uris, &rec.logo_uri, &rec.client_uri)?;
        validate_owner(&rec.owner)?;
        self.validate_allowed_scopes(&rec.allowed_scopes)?;
        if !self.store().update_client(&rec).await? {
            return Err(Error::not_found("no such client"));
        }
        self.invalidate_redirect_origins().await;
        Ok(Client::from(&rec))
    }

    /// Issues a new secret; the old one stops working at once.
    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<CreatedClient> {
        let mut rec = self.client_record(client_id).await?;
        if rec.public {
            return Err(Error::invalid_request("public clients have no secret"));
        }
        let secret = secrets::new_secret(prefix::CLIENT_SECRET);
        rec.secret_hash = Some(secrets::hash_secret(&secret));
        if !self.store().update_client(&rec).await? {
            return Err(Error::not_found("no such client"));
        }
        tracing::info!(client_id = %rec.client_id, "client secret rotated");
        Ok(CreatedClient { client: Client::from(&rec), client_secret: Some(secret) })
    }

    /// Deletes a client and revokes everything issued to it.
    pub async fn delete_client(&self, client_id: &str) -> Result<()> {
        let deleted = self.store().delete_client(client_id).await;
        self.tokens_revoked();
        if !deleted? {
            return Err(Error::not_found("no such client"));
        }
        let revoked = self.store().revoke_client_authorizations(client_id).await;
        self.tokens_revoked();
        revoked?;
        self.invalidate_redirect_origins().await;
        tracing::info!(client_id, "client deleted");
        Ok(())
    }

    fn validate_allowed_scopes(&self, allowed: &Option<Vec<String>>) -> Result<()> {
        for s in allowed.iter().flatten() {
            if !self.scopes().iter().any(|d| &d.name == s) {
                return Err(Error::invalid_scope(format!("allowed_scopes names an unknown scope {s:?}")));
            }
        }
        Ok(())
    }

    /// Revokes every token issued to a client (it keeps working for new authorizations).
    pub async fn revoke_client(&self, client_id: &str) -> Result<()> {
        let mut rec = self.client_record(client_id).await?;
        rec.tokens_revoked_before = Some(crate::time::now());
        let updated = self.store().update_client(&rec).await;
        self.tokens_revoked();
        if !updated? {
            return Err(Error::not_found("no such client"));
        }
        let revoked = self.store().revoke_client_authorizations(client_id).await;
        self.tokens_revoked();
        revoked?;
        tracing::info!(client_id, "all tokens of the client revoked");
        Ok(())
    }

    pub(crate) async fn client_record(&self, client_id: &str) -> Result<ClientRecord> {
        if client_id.is_empty() || client_id.len() > 255 {
            return Err(Error::not_found("no such client"));
        }
        self.store().get_client(client_id).await?.ok_or_else(|| Error::not_found("no such client"))
    }

    /// Authenticates the client of a token-endpoint request: `client_secret_basic`,
    /// `client_secret_post`, or `none` for public clients. Exactly one method per request.
    pub(crate) async fn authenticate_client(&self, req: &Request, params: &Params) -> Result<ClientRecord> {
        let addr = req.remote_addr.as_deref();
        self.check_rate(None, addr)?;
        let failed = |client_id: Option<&str>| {
            crate::metrics::inc(&self.metrics().client_auth_failures);
            self.record_failure(client_id, addr);
            Error::invalid_client("client authentication failed")
        };
        let basic = match req.single_header("authorization").map_err(|_| failed(None))? {
            Some(h) => Some(parse_basic(h).ok_or_else(|| {
                failed(None);
                Error::invalid_client("malformed Authorization header")
            })?),
            None => None,
        };
        let form_id = params.get("client_id")?;
        let form_secret = params.get("client_secret")?;
        let (client_id, secret) = match (basic, form_secret) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_request("use one client authentication method, not two"));
            }
            (Some((id, secret)), None) => {
                if form_id.is_some_and(|f| f != id) {
                    return Err(Error::invalid_client("client_id does not match the Authorization header"));
                }
                (id, Some(secret))
            }
            (None, s) => (
                form_id.ok_or_else(|| Error::invalid_client("client authentication is required"))?.to_string(),
                s.map(str::to_string),
            ),
        };
        let secret = secret.filter(|s| !s.is_empty());
        // A client under attack is refused before its secret is checked: guessing gets no feedback.
        self.check_rate(Some(&client_id), addr)?;
        let rec = match self.store().get_client(&client_id).await {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                // Same work as a real check, so timing does not reveal which client ids exist.
                secrets::verify_secret(secret.as_deref().unwrap_or(""), &secrets::hash_secret("-"));
                return Err(failed(None));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(failed(None)),
            Err(e) => return Err(e),
        };
        match (&rec.secret_hash, secret) {
            (Some(hash), Some(secret)) if !rec.public && secrets::verify_secret(&secret, hash) => Ok(rec),
            (None, None) if rec.public => Ok(rec),
            _ => {
                tracing::warn!(client_id = %rec.client_id, "failed client authentication");
                Err(failed(Some(&rec.client_id)))
            }
        }
    }
}

fn dedup(uris: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for u in uris {
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let id = decode_component(&decoded[..colon]).ok()?;
    let secret = decode_component(&decoded[colon + 1..]).ok()?;
    (!id.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/cb",
            "http://localhost:5000/auth",
            "http://127.0.0.1/cb",
            "com.example.app:/cb",
            "https://a.example/cb?x=1",
        ] {
            validate_redirect_uri(ok).unwrap();
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "http://app.example.com/cb",
            "https://a.example/cb#frag",
            "/relative",
            "https://user:pw@a.example/cb",
            "https://a.example/c b",
            "myapp:/cb",
            // Strings that other parsers read differently (finding 6 of the security review).
            "https://a.example\\@evil.example/cb",
            "https:evil.example/cb",
            "https:/evil.example/cb",
            "https://A.example/cb",
            "https://a.example",
            "https://a.example:443/cb",
            "https://a.example/./cb",
            "http://localhost:5000/a/../cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn created_client_debug_masks_the_secret() {
        let secret = secrets::new_secret(prefix::CLIENT_SECRET);
        let created = CreatedClient {
            client: Client {
                client_id: "cly_ci_x".into(),
                name: "App".into(),
                owner: None,
                redirect_uris: vec!["https://a.example/cb".into()],
                public: false,
                first_party: false,
                logo_uri: None,
                client_uri: None,
                created_at: 0,
                allowed_scopes: None,
                issue_refresh_tokens: false,
                introspection_allowed: false,
            },
            client_secret: Some(secret.clone()),
        };
        let shown = format!("{created:?} {created:#?}");
        assert!(!shown.contains(&secret) && !shown.contains(&secret[prefix::CLIENT_SECRET.len()..]), "{shown}");
        assert!(shown.contains("***") && shown.contains("cly_ci_x"));
    }

    #[test]
    fn basic_header_parsing() {
        let h = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret"));
        assert_eq!(parse_basic(&h), Some(("my id".into(), "s:cret".into())));
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic"), None);
        assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))), None);
        assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode([0xff, b':', 0xfe]))), None);
    }
}
