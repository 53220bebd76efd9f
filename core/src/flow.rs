//! The authorization flow: `/authorize` opens an auth session; the host approves or denies it; the
//! user consents (or not); a single-use code goes back to the client.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::http::{Params, Request, Response, append_query};
use crate::provider::Provider;
use crate::scopes;
use crate::secrets::{self, prefix};
use crate::store::{AuthorizationRecord, ClientRecord, SessionRecord, SessionStatus};

/// Binding values one browser's cookie carries at most: one per sign-in started in another tab.
pub(crate) const MAX_BINDINGS: usize = 4;
const MAX_STATE_LEN: usize = 2048;
const MAX_CLAIMS_BYTES: usize = 16 * 1024;
const PROMPT_VALUES: &[&str] = &["none", "login", "consent", "select_account"];
const DENY_ERRORS: &[&str] =
    &["access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required"];

/// The client as the host sees it in an auth session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClient {
    pub client_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub first_party: bool,
}

/// A scope with the description shown to users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeInfo {
    pub name: String,
    pub description: String,
}

/// What the host learns about a pending authorization (`GET /api/auth_session/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSession {
    pub id: String,
    pub status: String,
    pub client: SessionClient,
    pub scopes: Vec<ScopeInfo>,
    pub redirect_uri: String,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The subject, once approved.
    pub user: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The host's approval of an auth session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The subject: the host's stable id for the logged-in user.
    pub user: String,
    /// User claims (name, email, ...), released in the id_token and userinfo as the granted scopes allow.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Grant only these of the requested scopes (default: all requested).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The host vouches for this client: no consent page (unless the client sent `prompt=consent`).
    #[serde(default)]
    pub skip_consent: bool,
    /// Remember the user's consent for this client (used by later flows).
    #[serde(default)]
    pub remember: bool,
    /// When the user last authenticated (Unix seconds); defaults to now.
    #[serde(default)]
    pub auth_time: Option<i64>,
}

impl Approval {
    pub fn new(user: impl Into<String>) -> Approval {
        Approval { user: user.into(), ..Default::default() }
    }
}

/// The host's refusal of an auth session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    /// `access_denied` (default), `login_required`, `consent_required`, `interaction_required` or
    /// `account_selection_required`.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// An error that goes back to the client at its verified redirect URI.
struct RedirectError {
    error: Error,
    state: Option<String>,
}

impl Provider {
    /// `GET|POST /oauth2/authorize`.
    pub(crate) async fn authorize_endpoint(&self, req: &Request) -> Response {
        let raw = match req.method.as_str() {
            "GET" => req.query.as_bytes(),
            "POST" if req.content_type_is("application/x-www-form-urlencoded") => &req.body[..],
            "POST" => {
                return self.error_page(400, "Invalid request", "The authorization request must be form-encoded.");
            }
            _ => {
                return Response::oauth_error(&Error::new(ErrorKind::MethodNotAllowed, "use GET or POST"));
            }
        };
        let Ok(params) = Params::parse(raw) else {
            return self.error_page(400, "Invalid request", "The authorization request is malformed.");
        };
        // Phase 1: until client and redirect URI are verified, nothing may redirect.
        let (client, redirect_uri) = match self.verify_client_and_redirect(&params).await {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::Storage => {
                return self.error_page(503, "Try again", e.message());
            }
            Err(e) => return self.error_page(400, "This sign-in link is not valid", e.message()),
        };
        // Phase 2: every other error goes back to the client.
        match self.open_session(req, &params, &client, &redirect_uri).await {
            Ok(resp) => resp,
            Err(RedirectError { error, state }) => {
                if error.kind() == ErrorKind::Storage {
                    return self.error_page(503, "Try again", error.message());
                }
                Response::redirect(&self.error_redirect(&redirect_uri, &error, state.as_deref())).with_reason(&error)
            }
        }
    }

    async fn verify_client_and_redirect(&self, params: &Params) -> Result<(ClientRecord, String)> {
        let client_id = params.get("client_id")?.ok_or_else(|| Error::invalid_request("client_id is missing"))?;
        let client = match self.client_record(client_id).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::invalid_request("unknown client_id"));
            }
            Err(e) => return Err(e),
        };
        let redirect_uri =
            params.get("redirect_uri")?.ok_or_else(|| Error::invalid_request("redirect_uri is missing"))?;
        // Exact string comparison (OAuth 2.1 §4.1.1): no normalisation, no prefix or case games.
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            // The URI received, so the developer sees the difference (a port, a trailing slash) at
            // once; cut short, since a page and a log line are no place for a 2 KB parameter.
            let shown: String = redirect_uri.chars().take(200).collect();
            let more = if shown.len() < redirect_uri.len() { "…" } else { "" };
            return Err(Error::invalid_request(format!(
                "redirect_uri \"{shown}{more}\" is not registered for this client"
            )));
        }
        Ok((client.clone(), redirect_uri.to_string()))
    }

    async fn open_session(
        &self,
        req: &Request,
        params: &Params,
        client: &ClientRecord,
        redirect_uri: &str,
    ) -> std::result::Result<Response, RedirectError> {
        // A repeated or oversized state cannot be echoed back safely.
        let state = params.get("state").ok().flatten().filter(|s| s.len() <= MAX_STATE_LEN).map(str::to_string);
        let fail = |error: Error| RedirectError { error, state: state.clone() };
        if params.get("state").is_err() {
            return Err(fail(Error::invalid_request("parameter state is repeated")));
        }
        if params.get("state").ok().flatten().is_some_and(|s| s.len() > MAX_STATE_LEN) {
            return Err(fail(Error::invalid_request("state is too long")));
        }
        let session = self.build_session(params, client, redirect_uri, state.clone()).map_err(fail)?;

        let cfg = self.config();
        let cookie_name = cfg.binding_cookie_name();
        // A fresh value for every session: a value planted in the browser beforehand (cookie tossing
        // from a sibling host, a shared machine) binds nothing. The cookie keeps a few earlier values
        // so that sign-ins started in other tabs can still be finished.
        let binding = secrets::new_secret(prefix::BINDING);
        let mut values = vec![binding.as_str()];
        for v in binding_values(req, cookie_name) {
            if values.len() < MAX_BINDINGS && !values.contains(&v) {
                values.push(v);
            }
        }
        let cookie_value = values.join(".");
        let id = secrets::new_secret(prefix::SESSION);
        let session = SessionRecord {
            id_hash: secrets::hash_secret(&id),
            binding_hash: secrets::hash_secret(&binding),
            ..session
        };
        self.store().insert_session(&session).await.map_err(fail)?;
        crate::metrics::inc(&self.metrics().flows_started);
        self.maybe_collect_garbage();
        tracing::info!(client_id = %client.client_id, "auth session started");

        let cookie = format!(
            "{cookie_name}={cookie_value}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{}",
            cfg.cookie_path(),
            cfg.session_ttl,
            if cfg.secure_cookies() { "; Secure" } else { "" }
        );
        Ok(Response::redirect(&append_query(&cfg.login_url, &[("token", &id)])).with_header("set-cookie", &cookie))
    }

    fn build_session(
        &self,
        params: &Params,
        client: &ClientRecord,
        redirect_uri: &str,
        state: Option<String>,
    ) -> Result<SessionRecord> {
        for unsupported in ["request", "request_uri"] {
            if params.get(unsupported)?.is_some() {
                let kind = if unsupported == "request" { "request_not_supported" } else { "request_uri_not_supported" };
                return Err(Error::invalid_request(format!("{kind}: {unsupported} objects are not supported")));
            }
        }
        match params.get("response_type")? {
            Some("code") => {}
            Some(_) => {
                return Err(Error::new(ErrorKind::UnsupportedResponseType, "only response_type=code is supported"));
            }
            None => return Err(Error::invalid_request("response_type is missing")),
        }
        if let Some(mode) = params.get("response_mode")?
            && mode != "query"
        {
            return Err(Error::invalid_request("only response_mode=query is supported"));
        }
        let requested = scopes::parse(params.get("scope")?, self.scopes())?;
        if let Some(allowed) = &client.allowed_scopes
            && let Some(s) = requested.iter().find(|s| !allowed.contains(s))
        {
            return Err(Error::invalid_scope(format!("this client may not request scope {s:?}")));
        }

        let challenge = params.get("code_challenge")?;
        let method = params.get("code_challenge_method")?;
        let code_challenge = match (challenge, method) {
            (Some(c), Some("S256")) => {
                // base64url(SHA-256) is exactly 43 characters of the unreserved alphabet.
                if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(Error::invalid_request("code_challenge must be a base64url SHA-256 (43 characters)"));
                }
                Some(c.to_string())
            }
            (Some(_), _) => {
                return Err(Error::invalid_request("code_challenge_method must be S256"));
            }
            (None, Some(_)) => {
                return Err(Error::invalid_request("code_challenge_method without code_challenge"));
            }
            (None, None) if client.public => {
                return Err(Error::invalid_request("public clients must use PKCE (code_challenge with S256)"));
            }
            (None, None) if self.config().require_pkce => {
                return Err(Error::invalid_request(
                    "code_challenge is required: this provider requires PKCE (S256) from every client",
                ));
            }
            (None, None) => None,
        };
        let nonce = params.get("nonce")?;
        if nonce.is_some_and(|n| n.len() > 512) {
            return Err(Error::invalid_request("nonce is too long"));
        }
        let prompt = params.get("prompt")?;
        if let Some(p) = prompt {
            let values: Vec<&str> = p.split(' ').filter(|s| !s.is_empty()).collect();
            if values.iter().any(|v| !PROMPT_VALUES.contains(v)) {
                return Err(Error::invalid_request("unsupported prompt value"));
            }
            if values.contains(&"none") && values.len() > 1 {
                return Err(Error::invalid_request("prompt=none cannot be combined with other values"));
            }
        }
        let max_age = match params.get("max_age")? {
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| Error::invalid_request("max_age must be a non-negative integer"))?,
            ),
            None => None,
        };
        let login_hint = params.get("login_hint")?;
        if login_hint.is_some_and(|h| h.len() > 512) {
            return Err(Error::invalid_request("login_hint is too long"));
        }
        let now = crate::time::now();
        Ok(SessionRecord {
            id_hash: String::new(),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_string(),
            scopes: requested,
            state,
            nonce: nonce.map(str::to_string),
            code_challenge,
            prompt: prompt.map(str::to_string),
            max_age,
            login_hint: login_hint.map(str::to_string),
            binding_hash: String::new(),
            status: SessionStatus::Pending,
            subject: None,
            claims: Map::new(),
            granted_scopes: Vec::new(),
            auth_time: None,
            remember: false,
            consent_hash: None,
            created_at: now,
            expires_at: now + self.config().session_ttl,
        })
    }

    /// The client redirect carrying an error (RFC 6749 §4.1.2.1 + RFC 9207 `iss`).
    pub(crate) fn error_redirect(&self, redirect_uri: &str, error: &Error, state: Option<&str>) -> String {
        let code = match error.message().split_once(':') {
            // `request_not_supported: ...` style messages carry an OIDC-specific code.
            Some((c, _)) if c.ends_with("_not_supported") => c,
            _ => error.kind().code(),
        };
        let mut pairs: Vec<(&str, &str)> = vec![("error", code)];
        if !error.message().is_empty() {
            pairs.push(("error_description", error.message()));
        }
        self.client_redirect(redirect_uri, pairs, state)
    }

    /// The response to the client at its verified redirect URI: `pairs`, then `state` and `iss`
    /// (RFC 9207), every value form-encoded.
    fn client_redirect<'a>(
        &'a self,
        redirect_uri: &str,
        mut pairs: Vec<(&'a str, &'a str)>,
        state: Option<&'a str>,
    ) -> String {
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", self.issuer()));
        append_query(redirect_uri, &pairs)
    }

    fn code_redirect(&self, session: &SessionRecord, code: &str) -> String {
        self.client_redirect(&session.redirect_uri, vec![("code", code)], session.state.as_deref())
    }

    /// Where the consent form posts: the page's URL without its ticket (the form carries it).
    pub(crate) fn consent_url(&self, session_id: &str) -> String {
        self.url(&format!("/consent/{session_id}"))
    }

    /// The consent page as `approve` hands it to the host: with the one-time ticket that only this
    /// answer reveals. The page needs the ticket *and* the binding cookie of the browser that
    /// started the flow, so neither a browser that only has the link nor one that only has the
    /// cookie can finish a sign-in.
    fn consent_url_with_ticket(&self, session_id: &str, ticket: &str) -> String {
        append_query(&self.consent_url(session_id), &[("ticket", ticket)])
    }

    /// Loads a session by the id the host or browser presents.
    pub(crate) async fn load_session(&self, id: &str) -> Result<SessionRecord> {
        if !secrets::has_shape(id, prefix::SESSION) {
            return Err(Error::not_found("unknown auth session"));
        }
        let s = self.store().get_session(&secrets::hash_secret(id)).await?;
        let s = s.ok_or_else(|| Error::not_found("unknown auth session"))?;
        if s.expires_at <= crate::time::now() && matches!(s.status, SessionStatus::Pending | SessionStatus::Approved) {
            return Err(Error::new(ErrorKind::Expired, "the auth session has expired"));
        }
        Ok(s)
    }

    /// What the host needs to decide: the app, the scopes, the prompt.
    pub async fn auth_session(&self, id: &str) -> Result<AuthSession> {
        let s = self.load_session(id).await?;
        let client = self.session_client(&s).await?;
        Ok(AuthSession {
            id: id.to_string(),
            status: s.status.as_str().into(),
            client: SessionClient {
                client_id: client.client_id,
                name: client.name,
                owner: client.owner,
                logo_uri: client.logo_uri,
                client_uri: client.client_uri,
                first_party: client.first_party,
            },
            scopes: self.scope_infos(&s.scopes),
            redirect_uri: s.redirect_uri,
            prompt: s.prompt,
            max_age: s.max_age,
            login_hint: s.login_hint,
            user: s.subject,
            created_at: s.created_at,
            expires_at: s.expires_at,
        })
    }

    pub(crate) fn scope_infos(&self, names: &[String]) -> Vec<ScopeInfo> {
        names
            .iter()
            .filter_map(|n| self.scopes().iter().find(|d| &d.name == n))
            .map(|d| ScopeInfo { name: d.name.clone(), description: d.description.clone() })
            .collect()
    }

    /// The host says who is logged in. Returns where to send the browser: the consent page, or
    /// straight back to the client with a code when consent is not needed.
    pub async fn approve(&self, id: &str, approval: Approval) -> Result<String> {
        let session = self.load_session(id).await?;
        if session.status != SessionStatus::Pending {
            return Err(already(session.status));
        }
        validate_approval(&approval)?;
        let client = self.session_client(&session).await?;
        let granted = match &approval.scopes {
            None => session.scopes.clone(),
            Some(subset) => {
                let mut g = Vec::new();
                for s in subset {
                    if !session.scopes.contains(s) {
                        return Err(Error::invalid_scope(format!("scope {s:?} was not requested")));
                    }
                    if !g.contains(s) {
                        g.push(s.clone());
                    }
                }
                g
            }
        };
        let now = crate::time::now();
        let auth_time = approval.auth_time.unwrap_or(now);
        if auth_time > now + 60 || auth_time < 0 {
            return Err(Error::invalid_request("auth_time is in the future"));
        }
        if let Some(max_age) = session.max_age
            && now - auth_time > max_age
        {
            return Err(Error::new(
                ErrorKind::LoginRequired,
                "the user authenticated longer ago than the client's max_age: re-authenticate, then approve",
            ));
        }
        let prompts: Vec<&str> = session.prompt.as_deref().unwrap_or("").split(' ').collect();
        // prompt=login asks for a sign-in made for this request: the host must say when it happened
        // (auth_time), and it must be after the request started. A default of "now" would let a host
        // that ignores `prompt` pass the check without re-authenticating anyone.
        if prompts.contains(&"login") && approval.auth_time.is_none_or(|t| t < session.created_at) {
            return Err(Error::new(
                ErrorKind::LoginRequired,
                "the client asked for a fresh sign-in (prompt=login): re-authenticate the user, then approve \
                 with auth_time set to when they signed in",
            ));
        }
        let vouched = approval.skip_consent || client.first_party;
        // A remembered grant only matters when nothing else settles consent.
        let remembered = !vouched
            && !prompts.contains(&"consent")
            && match self.store().get_grant(&approval.user, &client.client_id).await? {
                Some(g) => granted.iter().all(|s| g.scopes.contains(s)),
                None => false,
            };
        let approved = SessionRecord {
            status: SessionStatus::Approved,
            subject: Some(approval.user.clone()),
            claims: approval.claims,
            granted_scopes: granted,
            auth_time: Some(auth_time),
            remember: approval.remember,
            ..session.clone()
        };
        let consent_needed = prompts.contains(&"consent") || !(vouched || remembered);
        if consent_needed && prompts.contains(&"none") {
            still_registered(&client, &session)?;
            let denied = SessionRecord { status: SessionStatus::Denied, ..approved };
            if !self.store().transition_session(&denied, SessionStatus::Pending, None).await? {
                return Err(self.lost_race(id).await);
            }
            return Ok(self.error_redirect_with_code(
                &session,
                "consent_required",
                "the user must consent, but prompt=none was requested",
            ));
        }
        if consent_needed {
            let ticket = secrets::new_secret(prefix::CONSENT_TICKET);
            let approved = SessionRecord { consent_hash: Some(secrets::hash_secret(&ticket)), ..approved };
            if !self.store().transition_session(&approved, SessionStatus::Pending, None).await? {
                return Err(self.lost_race(id).await);
            }
            crate::metrics::inc(&self.metrics().flows_approved);
            tracing::info!(client_id = %session.client_id, "auth session approved; consent pending");
            return Ok(self.consent_url_with_ticket(id, &ticket));
        }
        crate::metrics::inc(&self.metrics().flows_approved);
        self.complete(approved, &client, SessionStatus::Pending, id).await
    }

    /// Issues the code: moves the session from `from` to completed and stores the authorization,
    /// atomically. Returns the client redirect carrying the code. `client` is the session's client
    /// as read now: a client deleted, or a redirect URI removed, since `/authorize` gets no code.
    pub(crate) async fn complete(
        &self,
        approved: SessionRecord,
        client: &ClientRecord,
        from: SessionStatus,
        id: &str,
    ) -> Result<String> {
        still_registered(client, &approved)?;
        let now = crate::time::now();
        let code = secrets::new_secret(prefix::CODE);
        let cfg = self.config();
        let authorization = AuthorizationRecord {
            id: secrets::new_id("gr_"),
            code_hash: secrets::hash_secret(&code),
            client_id: approved.client_id.clone(),
            redirect_uri: approved.redirect_uri.clone(),
            subject: approved.subject.clone().ok_or_else(|| Error::internal("approved session without subject"))?,
            scopes: approved.granted_scopes.clone(),
            claims: approved.claims.clone(),
            nonce: approved.nonce.clone(),
            code_challenge: approved.code_challenge.clone(),
            auth_time: approved.auth_time.unwrap_or(now),
            code_expires_at: now + cfg.code_ttl,
            code_used: false,
            revoked: false,
            created_at: now,
            expires_at: now + cfg.code_ttl + cfg.access_token_ttl.max(cfg.id_token_ttl),
        };
        let completed = SessionRecord { status: SessionStatus::Completed, ..approved };
        if !self.store().transition_session(&completed, from, Some(&authorization)).await? {
            return Err(self.lost_race(id).await);
        }
        if completed.remember {
            self.remember_grant(&authorization.subject, &authorization.client_id, &authorization.scopes).await?;
        }
        crate::metrics::inc(&self.metrics().flows_completed);
        tracing::info!(client_id = %completed.client_id, "authorization code issued");
        Ok(self.code_redirect(&completed, &code))
    }

    /// The host refuses: the client receives `error=access_denied` (or the given OIDC error).
    pub async fn deny(&self, id: &str, denial: Denial) -> Result<String> {
        let error = denial.error.as_deref().unwrap_or("access_denied");
        if !DENY_ERRORS.contains(&error) {
            return Err(Error::invalid_request(format!("error must be one of {}", DENY_ERRORS.join(", "))));
        }
        let description = denial.error_description.as_deref().unwrap_or("the request was denied");
        if description.len() > 500 || description.chars().any(char::is_control) {
            return Err(Error::invalid_request("error_description must be under 500 printable characters"));
        }
        let session = self.load_session(id).await?;
        if session.status != SessionStatus::Pending {
            return Err(already(session.status));
        }
        let client = self.session_client(&session).await?;
        self.finish_denied(session, &client, SessionStatus::Pending, id, error, description).await
    }

    /// The session's client as it is now (deleted: not found, and nothing is sent anywhere).
    pub(crate) async fn session_client(&self, session: &SessionRecord) -> Result<ClientRecord> {
        self.client_record(&session.client_id).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::not_found("the client of this auth session was deleted"),
            _ => e,
        })
    }

    pub(crate) async fn finish_denied(
        &self,
        session: SessionRecord,
        client: &ClientRecord,
        from: SessionStatus,
        id: &str,
        error: &str,
        description: &str,
    ) -> Result<String> {
        still_registered(client, &session)?;
        let denied = SessionRecord { status: SessionStatus::Denied, ..session };
        if !self.store().transition_session(&denied, from, None).await? {
            return Err(self.lost_race(id).await);
        }
        crate::metrics::inc(&self.metrics().flows_denied);
        tracing::info!(client_id = %denied.client_id, error, "auth session denied");
        Ok(self.error_redirect_with_code(&denied, error, description))
    }

    fn error_redirect_with_code(&self, session: &SessionRecord, error: &str, description: &str) -> String {
        let pairs = vec![("error", error), ("error_description", description)];
        self.client_redirect(&session.redirect_uri, pairs, session.state.as_deref())
    }

    /// A conditional update lost: report what the winner did.
    async fn lost_race(&self, id: &str) -> Error {
        match self.load_session(id).await {
            Ok(s) => already(s.status),
            Err(e) => e,
        }
    }
}

/// The browser goes back only to a redirect URI the client still has: one removed (or its client
/// deleted) while the session was in flight receives neither a code nor an error.
fn still_registered(client: &ClientRecord, session: &SessionRecord) -> Result<()> {
    if client.client_id != session.client_id || !client.redirect_uris.iter().any(|r| r == &session.redirect_uri) {
        return Err(Error::invalid_request(
            "the redirect URI of this sign-in is no longer registered for its client: start signing in again",
        ));
    }
    Ok(())
}

/// The binding values in the browser's cookie(s) of that name, well-formed ones only, bounded.
pub(crate) fn binding_values<'r, 'n>(req: &'r Request, name: &'n str) -> impl Iterator<Item = &'r str> + use<'r, 'n> {
    req.cookies(name)
        .flat_map(|v| v.split('.'))
        .filter(|v| secrets::has_shape(v, prefix::BINDING))
        .take(2 * MAX_BINDINGS)
}

fn already(status: SessionStatus) -> Error {
    let what = match status {
        SessionStatus::Pending => "is still pending",
        SessionStatus::Approved => "was already approved",
        SessionStatus::Completed => "was already completed",
        SessionStatus::Denied => "was denied",
    };
    Error::new(ErrorKind::AlreadyUsed, format!("the auth session {what}"))
}

fn validate_approval(a: &Approval) -> Result<()> {
    if a.user.is_empty() || a.user.len() > 255 || a.user.chars().any(char::is_control) {
        return Err(Error::invalid_request("user must be 1-255 printable characters"));
    }
    for k in a.claims.keys() {
        if scopes::RESERVED_CLAIMS.contains(&k.as_str()) {
            return Err(Error::invalid_request(format!("claim {k:?} is set by the provider, not the host")));
        }
    }
    if serde_json::to_vec(&a.claims).map(|v| v.len()).unwrap_or(usize::MAX) > MAX_CLAIMS_BYTES {
        return Err(Error::invalid_request("claims are too large (16 KiB at most)"));
    }
    Ok(())
}
