//! `RemoteProvider`: the same host API, spoken over HTTP to a standalone `connectivly` server.

use std::sync::Arc;

use napi::bindgen_prelude::PromiseRaw;
use napi::{Env, Result};
use napi_derive::napi;

use crate::provider::{HostApi, host_api_methods};
use crate::runtime::promise;
use crate::types::ConnectOptions;

/// A client of a standalone Connectivly server's host API.
#[napi]
pub struct RemoteProvider {
    host: HostApi,
    url: String,
}

host_api_methods!(RemoteProvider);

#[napi]
impl RemoteProvider {
    /// `url` is the server's issuer URL (e.g. `http://localhost:3000`); `options.apiKey` its host-API key.
    #[napi]
    pub fn connect(env: &Env, url: String, options: ConnectOptions) -> Result<PromiseRaw<'_, RemoteProvider>> {
        promise(env, async move { connectivly::RemoteProvider::new(&url, &options.api_key) }, |r| RemoteProvider {
            url: r.url().to_string(),
            host: HostApi::new(Arc::new(r), None),
        })
    }

    /// The server's URL.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }
}
