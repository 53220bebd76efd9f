//! `connectivly` for Node.js: the Rust core as a native addon. Thin: every operation is a core call; this
//! crate only converts arguments, results and errors. Every I/O method returns a Promise settled from the
//! tokio runtime, so the event loop never waits on the provider.

mod clients;
mod errors;
mod provider;
mod remote;
mod runtime;
mod types;

pub use provider::Provider;
pub use remote::RemoteProvider;

/// The version of the native core.
#[napi_derive::napi]
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The root-relative paths of `issuer`'s metadata besides `{issuer}/.well-known/…` (the RFC 8414 §3.1
/// path form), computed by the core; `provider.wellKnown()` serves them.
#[napi_derive::napi]
pub fn root_metadata_paths(issuer: String) -> Vec<String> {
    connectivly::root_metadata_paths(&issuer)
}

/// The options `Provider.open` takes: the core's settings table in camelCase. A test compares it with the
/// generated `ProviderOptions` type, so a setting added to the core reaches the types too.
#[napi_derive::napi]
pub fn setting_names() -> Vec<String> {
    connectivly::settings::all().iter().map(|s| s.name(connectivly::settings::Shape::Node)).collect()
}
