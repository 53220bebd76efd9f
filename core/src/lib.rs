//! Connectivly: an OAuth 2.1 + OpenID Connect provider for web apps that keep their own login.
//!
//! The [`Provider`] runs the protocol; the host answers one question per authorization — who is
//! logged in — with [`Provider::approve`]. [`Provider::handle`] serves every endpoint through
//! framework-neutral [`http::Request`] / [`http::Response`] types that the server and the language
//! bindings adapt.

mod at_rest;
pub mod clients;
pub mod config;
mod consent;
pub mod error;
pub mod flow;
pub mod grants;
mod handler;
pub mod host_api;
pub mod http;
pub mod jwt;
pub mod keys;
pub mod metrics;
mod pages;
pub mod provider;
mod ratelimit;
mod registration;
pub mod remote;
mod revocation;
pub mod scopes;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod time;
mod token_cache;
mod token_endpoint;
pub mod tokens;

pub use clients::{Client, ClientUpdate, CreatedClient, NewClient};
pub use config::Config;
pub use error::{Error, ErrorKind, Result};
pub use flow::{Approval, AuthSession, Denial, ScopeInfo, SessionClient};
pub use grants::Grant;
pub use handler::root_metadata_paths;
pub use host_api::HostApi;
pub use http::{Request, Response};
pub use keys::SigningAlg;
pub use provider::{KeyInfo, Provider};
pub use remote::RemoteProvider;
pub use scopes::ScopeDef;
pub use tokens::{Introspection, TokenInfo, TokenResponse};
