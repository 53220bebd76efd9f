//! `HostApi` (the shared base class), and `Provider`: the provider embedded in this process.

use std::sync::{Arc, Mutex};

use connectivly::settings::Shape;
use connectivly::{Approval, Config, Denial, ErrorKind};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::clients;
use crate::errors::{IntoPyResult, to_py};
use crate::runtime::block_on;
use crate::types::{self, AuthSession, Client, CreatedClient, Grant, HttpResponse, Introspection, KeyInfo, TokenInfo};

struct State {
    api: Option<Arc<dyn connectivly::HostApi>>,
    local: Option<connectivly::Provider>,
    /// For an embedded provider: reopened in a forked child (a gunicorn worker), whose inherited
    /// connections and runtime must not be used.
    config: Option<Config>,
    pid: u32,
}

/// The operations an embedded `Provider` and a `RemoteProvider` share, with the same names.
#[pyclass(subclass, module = "connectivly")]
pub struct HostApi {
    state: Mutex<State>,
}

impl HostApi {
    pub fn new(
        api: Arc<dyn connectivly::HostApi>,
        local: Option<connectivly::Provider>,
        config: Option<Config>,
    ) -> HostApi {
        HostApi { state: Mutex::new(State { api: Some(api), local, config, pid: std::process::id() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refresh_after_fork(&self, st: &mut State) -> connectivly::Result<()> {
        if st.pid == std::process::id() || st.api.is_none() {
            return Ok(());
        }
        if let Some(cfg) = st.config.clone() {
            let p = block_on(connectivly::Provider::open(cfg))?;
            st.api = Some(Arc::new(p.clone()));
            st.local = Some(p);
        }
        st.pid = std::process::id();
        Ok(())
    }

    pub fn api(&self) -> connectivly::Result<Arc<dyn connectivly::HostApi>> {
        let mut st = self.lock();
        self.refresh_after_fork(&mut st)?;
        st.api.clone().ok_or_else(closed)
    }

    pub fn local(&self) -> connectivly::Result<connectivly::Provider> {
        let mut st = self.lock();
        self.refresh_after_fork(&mut st)?;
        st.local.clone().ok_or_else(closed)
    }

    pub fn close_inner(&self) -> Option<connectivly::Provider> {
        let mut st = self.lock();
        st.api = None;
        st.local.take()
    }
}

fn closed() -> connectivly::Error {
    connectivly::Error::new(ErrorKind::Closed, "the provider is closed")
}

fn request(
    method: &str,
    path: &str,
    query: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
    remote_addr: Option<String>,
) -> connectivly::Request {
    connectivly::Request {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.to_vec(),
        remote_addr,
    }
}

#[pymethods]
impl HostApi {
    /// What the host needs to decide: the app, the requested scopes, prompt, max_age, login_hint.
    fn auth_session(&self, py: Python<'_>, session_id: &str) -> PyResult<AuthSession> {
        let api = self.api().py_err()?;
        let s = py.detach(|| block_on(api.auth_session(session_id))).py_err()?;
        AuthSession::from_core(py, s)
    }

    /// Approves the session for `user`; returns the URL to redirect the browser to.
    #[pyo3(signature = (session_id, user, *, claims=None, scopes=None, skip_consent=false, remember=false, auth_time=None))]
    #[allow(clippy::too_many_arguments)]
    fn approve(
        &self,
        py: Python<'_>,
        session_id: &str,
        user: String,
        claims: Option<&Bound<'_, PyAny>>,
        scopes: Option<Vec<String>>,
        skip_consent: bool,
        remember: bool,
        auth_time: Option<i64>,
    ) -> PyResult<String> {
        let approval =
            Approval { user, claims: types::claims_from_py(claims)?, scopes, skip_consent, remember, auth_time };
        let api = self.api().py_err()?;
        py.detach(|| block_on(api.approve(session_id, approval))).py_err()
    }

    /// Refuses the session; returns the URL that brings `error` (default `access_denied`) to the client.
    #[pyo3(signature = (session_id, *, error=None, error_description=None))]
    fn deny(
        &self,
        py: Python<'_>,
        session_id: &str,
        error: Option<String>,
        error_description: Option<String>,
    ) -> PyResult<String> {
        let api = self.api().py_err()?;
        py.detach(|| block_on(api.deny(session_id, Denial { error, error_description }))).py_err()
    }

    /// Verifies an access token (signature, expiry, issuer, audience, revocation, scopes).
    #[pyo3(signature = (token, scopes=Vec::new()))]
    fn verify_access_token(&self, py: Python<'_>, token: &str, scopes: Vec<String>) -> PyResult<TokenInfo> {
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        // A token this provider verified within the last second: the cache answers without releasing
        // the GIL or entering the runtime.
        if let Ok(p) = self.local()
            && let Some(answer) = p.verify_access_token_cached(token, &scopes)
        {
            return Ok(TokenInfo::from_core(answer.py_err()?));
        }
        let api = self.api().py_err()?;
        let t = py.detach(|| block_on(api.verify_access_token(token, &scopes))).py_err()?;
        Ok(TokenInfo::from_core(t))
    }

    /// RFC 7662 introspection: `active` plus the token's claims, or only `active=False`.
    fn introspect(&self, py: Python<'_>, token: &str) -> PyResult<Introspection> {
        let api = self.api().py_err()?;
        let i = py.detach(|| block_on(api.introspect(token))).py_err()?;
        Introspection::from_core(py, i)
    }

    /// Guards a resource request: the token info, or the 401/403 response to send.
    #[pyo3(signature = (method, headers, body=None, scopes=Vec::new()))]
    fn protect(
        &self,
        py: Python<'_>,
        method: &str,
        headers: Vec<(String, String)>,
        body: Option<&[u8]>,
        scopes: Vec<String>,
    ) -> PyResult<Py<PyAny>> {
        let api = self.api().py_err()?;
        let req = request(method, "/", "", headers, body.unwrap_or_default(), None);
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        match py.detach(|| block_on(api.protect(&req, &scopes))) {
            Ok(t) => Ok(Py::new(py, TokenInfo::from_core(t))?.into_any()),
            Err(resp) => Ok(Py::new(py, HttpResponse::from_core(py, resp))?.into_any()),
        }
    }

    /// Registers a client; the secret (confidential clients) is in the result and nowhere else, ever.
    #[pyo3(signature = (name, redirect_uris, *, owner=None, public=false, first_party=false, logo_uri=None, client_uri=None, allowed_scopes=None, issue_refresh_tokens=false, introspection_allowed=false))]
    #[allow(clippy::too_many_arguments)]
    fn create_client(
        &self,
        py: Python<'_>,
        name: String,
        redirect_uris: Vec<String>,
        owner: Option<String>,
        public: bool,
        first_party: bool,
        logo_uri: Option<String>,
        client_uri: Option<String>,
        allowed_scopes: Option<Vec<String>>,
        issue_refresh_tokens: bool,
        introspection_allowed: bool,
    ) -> PyResult<CreatedClient> {
        let api = self.api().py_err()?;
        let new = clients::new_client(
            name,
            redirect_uris,
            owner,
            public,
            first_party,
            logo_uri,
            client_uri,
            allowed_scopes,
            issue_refresh_tokens,
            introspection_allowed,
        );
        let c = py.detach(|| block_on(api.create_client(new))).py_err()?;
        CreatedClient::from_core(py, c)
    }

    #[pyo3(signature = (owner=None))]
    fn list_clients(&self, py: Python<'_>, owner: Option<&str>) -> PyResult<Vec<Client>> {
        let api = self.api().py_err()?;
        let v = py.detach(|| block_on(api.list_clients(owner))).py_err()?;
        Ok(v.into_iter().map(Client::from).collect())
    }

    fn get_client(&self, py: Python<'_>, client_id: &str) -> PyResult<Client> {
        let api = self.api().py_err()?;
        Ok(Client::from(py.detach(|| block_on(api.get_client(client_id))).py_err()?))
    }

    #[pyo3(signature = (client_id, *, name=None, owner=None, redirect_uris=None, first_party=None, logo_uri=None, client_uri=None, allowed_scopes=None, issue_refresh_tokens=None, introspection_allowed=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_client(
        &self,
        py: Python<'_>,
        client_id: &str,
        name: Option<String>,
        owner: Option<String>,
        redirect_uris: Option<Vec<String>>,
        first_party: Option<bool>,
        logo_uri: Option<String>,
        client_uri: Option<String>,
        allowed_scopes: Option<Vec<String>>,
        issue_refresh_tokens: Option<bool>,
        introspection_allowed: Option<bool>,
    ) -> PyResult<Client> {
        let api = self.api().py_err()?;
        let update = clients::client_update(
            name,
            owner,
            redirect_uris,
            first_party,
            logo_uri,
            client_uri,
            allowed_scopes,
            issue_refresh_tokens,
            introspection_allowed,
        );
        Ok(Client::from(py.detach(|| block_on(api.update_client(client_id, update))).py_err()?))
    }

    /// Issues a new secret; the old one stops working at once.
    fn rotate_client_secret(&self, py: Python<'_>, client_id: &str) -> PyResult<CreatedClient> {
        let api = self.api().py_err()?;
        let c = py.detach(|| block_on(api.rotate_client_secret(client_id))).py_err()?;
        CreatedClient::from_core(py, c)
    }

    /// Deletes a client and revokes everything issued to it.
    fn delete_client(&self, py: Python<'_>, client_id: &str) -> PyResult<()> {
        let api = self.api().py_err()?;
        py.detach(|| block_on(api.delete_client(client_id))).py_err()
    }

    /// Revokes a token: an access token by itself, a refresh token with everything issued alongside it.
    fn revoke(&self, py: Python<'_>, token: &str) -> PyResult<()> {
        let api = self.api().py_err()?;
        py.detach(|| block_on(api.revoke(token))).py_err()
    }

    /// Revokes every token of a user, with every client; returns how many authorizations died.
    fn revoke_user(&self, py: Python<'_>, user: &str) -> PyResult<u64> {
        let api = self.api().py_err()?;
        py.detach(|| block_on(api.revoke_user(user))).py_err()
    }

    /// Revokes every token issued to a client.
    fn revoke_client(&self, py: Python<'_>, client_id: &str) -> PyResult<()> {
        let api = self.api().py_err()?;
        py.detach(|| block_on(api.revoke_client(client_id))).py_err()
    }

    /// The clients a user has remembered consent for.
    fn list_grants(&self, py: Python<'_>, user: &str) -> PyResult<Vec<Grant>> {
        let api = self.api().py_err()?;
        Ok(py.detach(|| block_on(api.list_grants(user))).py_err()?.into_iter().map(Grant::from).collect())
    }

    /// Forgets a user's consent for a client and revokes its tokens for that user.
    fn revoke_grant(&self, py: Python<'_>, user: &str, client_id: &str) -> PyResult<()> {
        let api = self.api().py_err()?;
        py.detach(|| block_on(api.revoke_grant(user, client_id))).py_err()
    }

    /// Replaces the active signing keys; returns the new ones.
    fn rotate_keys(&self, py: Python<'_>) -> PyResult<Vec<KeyInfo>> {
        let api = self.api().py_err()?;
        Ok(py.detach(|| block_on(api.rotate_keys())).py_err()?.into_iter().map(KeyInfo::from).collect())
    }

    /// Releases the store's connections; later calls raise `ProviderClosed`.
    fn close(&self, py: Python<'_>) {
        if let Some(p) = self.close_inner() {
            py.detach(|| block_on(p.close()));
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, _t: Py<PyAny>, _v: Py<PyAny>, _tb: Py<PyAny>) -> bool {
        self.close(py);
        false
    }
}

/// An OAuth 2.1 / OpenID Connect provider embedded in this process.
#[pyclass(extends = HostApi, module = "connectivly")]
pub struct Provider {
    issuer: String,
}

#[pymethods]
impl Provider {
    /// Every setting of the core's table, as keyword arguments (`session_ttl=600`); the `.pyi` lists them.
    #[new]
    #[pyo3(signature = (issuer, login_url, **settings))]
    fn new(
        py: Python<'_>,
        issuer: &Bound<'_, PyAny>,
        login_url: &Bound<'_, PyAny>,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Provider>> {
        let mut pairs = vec![("issuer".to_string(), to_json(issuer)?), ("login_url".to_string(), to_json(login_url)?)];
        for (name, value) in settings.into_iter().flat_map(|d| d.iter()) {
            let name: String = name.extract()?;
            pairs.push((name, to_json(&value)?));
        }
        let cfg = Config::from_settings(Shape::Python, pairs.iter().map(|(k, v)| (k.as_str(), v))).map_err(|e| {
            if e.is_argument_error() { PyTypeError::new_err(format!("Provider(): {}", e.message())) } else { to_py(e) }
        })?;
        let open_cfg = cfg.clone();
        let p = py
            .detach(|| block_on(connectivly::Provider::open(open_cfg)))
            .map_err(|e| to_py(e.for_shape(Shape::Python)))?;
        let issuer = p.issuer().to_string();
        Ok(PyClassInitializer::from(HostApi::new(Arc::new(p.clone()), Some(p), Some(cfg)))
            .add_subclass(Provider { issuer }))
    }

    /// The issuer URL (the base of every endpoint and the `iss` of every token).
    #[getter]
    fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Serves one OAuth request; `path` is relative to the issuer (e.g. `/oauth2/token`).
    #[pyo3(signature = (method, path, query="", headers=Vec::new(), body=None, remote_addr=None))]
    #[allow(clippy::too_many_arguments)]
    fn handle(
        slf: PyRef<'_, Self>,
        py: Python<'_>,
        method: &str,
        path: &str,
        query: &str,
        headers: Vec<(String, String)>,
        body: Option<&[u8]>,
        remote_addr: Option<String>,
    ) -> PyResult<HttpResponse> {
        let p = slf.as_super().local().py_err()?;
        let req = request(method, path, query, headers, body.unwrap_or_default(), remote_addr);
        let resp = py.detach(|| block_on(p.handle(req)));
        Ok(HttpResponse::from_core(py, resp))
    }

    /// The discovery document (OIDC Discovery / RFC 8414).
    fn discovery(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let p = slf.as_super().local().py_err()?;
        types::json_to_py(py, &p.discovery())
    }

    /// Creates the stored host-API key if none exists; returns it (shown once) or None.
    fn ensure_api_key(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<Option<String>> {
        let p = slf.as_super().local().py_err()?;
        py.detach(|| block_on(p.ensure_api_key())).py_err()
    }

    /// Replaces the stored host-API key; returns the new one (shown once).
    fn rotate_api_key(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<String> {
        let p = slf.as_super().local().py_err()?;
        py.detach(|| block_on(p.rotate_api_key())).py_err()
    }

    /// The published signing keys.
    fn signing_keys(slf: PyRef<'_, Self>) -> PyResult<Vec<KeyInfo>> {
        let p = slf.as_super().local().py_err()?;
        Ok(p.signing_keys().into_iter().map(KeyInfo::from).collect())
    }

    fn __repr__(&self) -> String {
        format!("Provider(issuer={:?})", self.issuer)
    }
}

/// A keyword argument's value as the core's settings table reads it. Types the table never takes
/// are a `TypeError` naming the type, rather than a guess.
fn to_json(v: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    use serde_json::Value;
    if v.is_none() {
        Ok(Value::Null)
    } else if v.is_instance_of::<PyBool>() {
        Ok(Value::Bool(v.extract()?))
    } else if v.is_instance_of::<PyInt>() {
        match v.extract::<i64>() {
            Ok(n) => Ok(Value::from(n)),
            // Beyond i64: out of every setting's range, and the table says so with the number.
            Err(_) => Ok(serde_json::Number::from_f64(v.extract::<f64>().unwrap_or(f64::MAX))
                .map(Value::Number)
                .unwrap_or(Value::Null)),
        }
    } else if v.is_instance_of::<PyFloat>() {
        // NaN and infinities are no setting's value; `Null` would quietly mean "the default".
        serde_json::Number::from_f64(v.extract()?)
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err("Provider(): a setting cannot be NaN or infinite"))
    } else if v.is_instance_of::<PyString>() {
        Ok(Value::String(v.extract()?))
    } else if let Ok(d) = v.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            map.insert(k.str()?.to_string(), to_json(&v)?);
        }
        Ok(Value::Object(map))
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        v.try_iter()?.map(|item| to_json(&item?)).collect::<PyResult<Vec<_>>>().map(Value::Array)
    } else if let Ok(path) = v.call_method0("__fspath__") {
        to_json(&path)
    } else {
        Err(PyTypeError::new_err(format!("Provider(): a setting cannot be a {}", v.get_type().name()?)))
    }
}
