//! The bridge from the core's futures to JavaScript Promises.
//!
//! The future runs on napi's tokio runtime (a pool of worker threads, never the JavaScript thread); its
//! result is converted back on the JavaScript thread. A core error rejects the Promise with the coded
//! `Error` built in [`crate::errors`].

use std::future::Future;

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, Result};

use crate::errors;

/// Spawns `fut` and returns its Promise; `convert` turns the core's result into the JavaScript value.
pub fn promise<'env, T, V, F, C>(env: &'env Env, fut: F, convert: C) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = connectivly::Result<T>> + Send + 'static,
    C: FnOnce(T) -> V + 'static,
{
    env.spawn_future_with_callback(async move { Ok(fut.await) }, move |env, result| match result {
        Ok(v) => Ok(convert(v)),
        Err(e) => Err(errors::to_js(env, e)),
    })
}
