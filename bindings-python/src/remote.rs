//! `RemoteProvider`: the same host API, spoken over HTTP to a standalone `connectivly` server.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::errors::to_py;
use crate::provider::HostApi;

#[pyclass(extends = HostApi, module = "connectivly")]
pub struct RemoteProvider {
    url: String,
}

#[pymethods]
impl RemoteProvider {
    #[new]
    #[pyo3(signature = (url, api_key))]
    fn new(url: &str, api_key: &str) -> PyResult<PyClassInitializer<RemoteProvider>> {
        let r = connectivly::RemoteProvider::new(url, api_key).map_err(to_py)?;
        let url = r.url().to_string();
        Ok(PyClassInitializer::from(HostApi::new(Arc::new(r), None, None)).add_subclass(RemoteProvider { url }))
    }

    /// The server's URL.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    fn __repr__(&self) -> String {
        format!("RemoteProvider(url={:?})", self.url)
    }
}
