//! Result types: frozen classes with attributes, converted once from the core's types.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};
use serde_json::{Map, Value};

pub fn json_to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    Ok(pythonize::pythonize(py, v)?.unbind())
}

pub fn map_to_py(py: Python<'_>, m: &Map<String, Value>) -> PyResult<Py<PyAny>> {
    Ok(pythonize::pythonize(py, m)?.unbind())
}

/// A registered client application (never carries its secret).
#[pyclass(frozen, get_all, module = "connectivly")]
#[derive(Clone)]
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
    pub allowed_scopes: Option<Vec<String>>,
    pub issue_refresh_tokens: bool,
    pub introspection_allowed: bool,
}

#[pymethods]
impl Client {
    fn __repr__(&self) -> String {
        format!(
            "Client(client_id={:?}, name={:?}, public={})",
            self.client_id,
            self.name,
            if self.public { "True" } else { "False" }
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Client>().map(|o| o.get() == self).unwrap_or(false)
    }
}

impl PartialEq for Client {
    fn eq(&self, o: &Client) -> bool {
        self.client_id == o.client_id
            && self.name == o.name
            && self.owner == o.owner
            && self.redirect_uris == o.redirect_uris
            && self.public == o.public
            && self.first_party == o.first_party
            && self.logo_uri == o.logo_uri
            && self.client_uri == o.client_uri
            && self.created_at == o.created_at
            && self.allowed_scopes == o.allowed_scopes
            && self.issue_refresh_tokens == o.issue_refresh_tokens
            && self.introspection_allowed == o.introspection_allowed
    }
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
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct Grant {
    pub user: String,
    pub client_id: String,
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[pymethods]
impl Grant {
    fn __repr__(&self) -> String {
        format!("Grant(user={:?}, client_id={:?}, scopes={:?})", self.user, self.client_id, self.scopes)
    }
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
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[pymethods]
impl KeyInfo {
    fn __repr__(&self) -> String {
        format!("KeyInfo(kid={:?}, alg={:?})", self.kid, self.alg)
    }
}

impl From<connectivly::KeyInfo> for KeyInfo {
    fn from(k: connectivly::KeyInfo) -> KeyInfo {
        KeyInfo { kid: k.kid, alg: k.alg, created_at: k.created_at, retired_at: k.retired_at }
    }
}

/// A client right after creation or secret rotation: the one time its secret is visible.
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct CreatedClient {
    pub client: Py<Client>,
    pub client_id: String,
    /// `None` for public clients.
    pub client_secret: Option<String>,
}

#[pymethods]
impl CreatedClient {
    fn __repr__(&self) -> String {
        // The secret stays out of reprs, logs and tracebacks.
        format!(
            "CreatedClient(client_id={:?}, client_secret={})",
            self.client_id,
            if self.client_secret.is_some() { "'***'" } else { "None" }
        )
    }
}

impl CreatedClient {
    pub fn from_core(py: Python<'_>, c: connectivly::CreatedClient) -> PyResult<CreatedClient> {
        Ok(CreatedClient {
            client_id: c.client.client_id.clone(),
            client: Py::new(py, Client::from(c.client))?,
            client_secret: c.client_secret,
        })
    }
}

/// The app asking, as the host sees it in an auth session.
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct SessionClient {
    pub client_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub first_party: bool,
}

/// A scope with its user-facing description.
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct ScopeInfo {
    pub name: String,
    pub description: String,
}

#[pymethods]
impl ScopeInfo {
    fn __repr__(&self) -> String {
        format!("ScopeInfo(name={:?}, description={:?})", self.name, self.description)
    }
}

/// A pending authorization: what the host decides on.
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct AuthSession {
    pub id: String,
    pub status: String,
    pub client: Py<SessionClient>,
    pub scopes: Vec<Py<ScopeInfo>>,
    pub redirect_uri: String,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub user: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[pymethods]
impl AuthSession {
    fn __repr__(&self) -> String {
        format!("AuthSession(status={:?}, client={:?})", self.status, self.client.get().name)
    }
}

impl AuthSession {
    pub fn from_core(py: Python<'_>, s: connectivly::AuthSession) -> PyResult<AuthSession> {
        Ok(AuthSession {
            id: s.id,
            status: s.status,
            client: Py::new(
                py,
                SessionClient {
                    client_id: s.client.client_id,
                    name: s.client.name,
                    owner: s.client.owner,
                    logo_uri: s.client.logo_uri,
                    client_uri: s.client.client_uri,
                    first_party: s.client.first_party,
                },
            )?,
            scopes: s
                .scopes
                .into_iter()
                .map(|sc| Py::new(py, ScopeInfo { name: sc.name, description: sc.description }))
                .collect::<PyResult<_>>()?,
            redirect_uri: s.redirect_uri,
            prompt: s.prompt,
            max_age: s.max_age,
            login_hint: s.login_hint,
            user: s.user,
            created_at: s.created_at,
            expires_at: s.expires_at,
        })
    }
}

/// What a verified access token says.
#[pyclass(frozen, module = "connectivly")]
pub struct TokenInfo {
    #[pyo3(get)]
    pub sub: String,
    #[pyo3(get)]
    pub client_id: String,
    #[pyo3(get)]
    pub scopes: Vec<String>,
    #[pyo3(get)]
    pub jti: String,
    #[pyo3(get)]
    pub iat: i64,
    #[pyo3(get)]
    pub exp: i64,
    // Most callers read only `sub` and `scopes`: the claims dict is built on first access, not on
    // every verification.
    claims: Arc<Map<String, Value>>,
    claims_py: PyOnceLock<Py<PyAny>>,
}

#[pymethods]
impl TokenInfo {
    #[getter]
    fn claims(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let dict = self.claims_py.get_or_try_init(py, || map_to_py(py, &self.claims))?;
        Ok(dict.clone_ref(py))
    }
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
    fn __repr__(&self) -> String {
        format!("TokenInfo(sub={:?}, client_id={:?}, scopes={:?})", self.sub, self.client_id, self.scopes)
    }
}

impl TokenInfo {
    pub fn from_core(t: connectivly::TokenInfo) -> TokenInfo {
        TokenInfo {
            sub: t.sub,
            client_id: t.client_id,
            scopes: t.scopes,
            jti: t.jti,
            iat: t.iat,
            exp: t.exp,
            claims: t.claims,
            claims_py: PyOnceLock::new(),
        }
    }
}

/// An RFC 7662 introspection answer.
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct Introspection {
    pub active: bool,
    pub sub: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub iss: Option<String>,
    pub aud: Py<PyAny>,
    pub token_type: Option<String>,
    pub jti: Option<String>,
}

#[pymethods]
impl Introspection {
    fn __repr__(&self) -> String {
        format!("Introspection(active={}, sub={:?})", if self.active { "True" } else { "False" }, self.sub)
    }
}

impl Introspection {
    pub fn from_core(py: Python<'_>, i: connectivly::Introspection) -> PyResult<Introspection> {
        Ok(Introspection {
            active: i.active,
            sub: i.sub,
            client_id: i.client_id,
            scope: i.scope,
            exp: i.exp,
            iat: i.iat,
            iss: i.iss,
            aud: json_to_py(py, &i.aud.unwrap_or(Value::Null))?,
            token_type: i.token_type,
            jti: i.jti,
        })
    }
}

/// An HTTP response from the provider, for a web framework to send.
#[pyclass(frozen, get_all, module = "connectivly")]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Py<PyBytes>,
}

#[pymethods]
impl HttpResponse {
    fn __repr__(&self) -> String {
        format!("HttpResponse(status={})", self.status)
    }
}

impl HttpResponse {
    pub fn from_core(py: Python<'_>, r: connectivly::Response) -> HttpResponse {
        HttpResponse { status: r.status, headers: r.headers, body: PyBytes::new(py, &r.body).unbind() }
    }
}

/// Converts an optional `dict` of claims into JSON, refusing anything that is not JSON-shaped.
pub fn claims_from_py(claims: Option<&Bound<'_, PyAny>>) -> PyResult<Map<String, Value>> {
    let Some(c) = claims.filter(|c| !c.is_none()) else { return Ok(Map::new()) };
    if !c.is_instance_of::<PyDict>() {
        return Err(pyo3::exceptions::PyTypeError::new_err("claims must be a dict"));
    }
    let v: Value = pythonize::depythonize(c)
        .map_err(|e| pyo3::exceptions::PyTypeError::new_err(format!("claims must be JSON-serialisable: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(pyo3::exceptions::PyTypeError::new_err("claims must be a dict")),
    }
}
