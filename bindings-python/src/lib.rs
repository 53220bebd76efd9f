//! `connectivly._native`: the Rust core for Python. Thin: every operation is a core call; this crate
//! only converts arguments, results and errors.

use pyo3::prelude::*;

mod clients;
mod errors;
mod provider;
mod remote;
mod runtime;
mod types;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<provider::HostApi>()?;
    m.add_class::<provider::Provider>()?;
    m.add_class::<remote::RemoteProvider>()?;
    m.add_class::<types::Client>()?;
    m.add_class::<types::CreatedClient>()?;
    m.add_class::<types::SessionClient>()?;
    m.add_class::<types::ScopeInfo>()?;
    m.add_class::<types::AuthSession>()?;
    m.add_class::<types::TokenInfo>()?;
    m.add_class::<types::Introspection>()?;
    m.add_class::<types::HttpResponse>()?;
    m.add_class::<types::Grant>()?;
    m.add_class::<types::KeyInfo>()?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(root_metadata_paths, m)?)?;
    m.add_function(wrap_pyfunction!(_setting_names, m)?)?;
    Ok(())
}

/// The root-relative paths of the metadata of `issuer` besides `{issuer}/.well-known/…`
/// (RFC 8414 §3.1 path form), computed by the core; the Flask integration registers them on the app.
#[pyfunction]
fn root_metadata_paths(issuer: &str) -> Vec<String> {
    connectivly::root_metadata_paths(issuer)
}

/// The keyword arguments `Provider` takes: the core's settings table in Python's spelling. A test
/// compares it with the `.pyi`, so a setting added to the core reaches the stubs too.
#[pyfunction]
fn _setting_names() -> Vec<String> {
    connectivly::settings::all().iter().map(|s| s.name(connectivly::settings::Shape::Python)).collect()
}
