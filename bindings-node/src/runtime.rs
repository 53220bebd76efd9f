//! The bridge from the core's futures to JavaScript Promises.
//!
//! The future runs on napi's tokio runtime (a pool of worker threads, never the JavaScript thread); its
//! result is converted back on the JavaScript thread. A core error rejects the Promise with the coded
//! `Error` built in [`crate::errors`].

use std::future::Future;
use std::task::{Context, Poll, Waker};

use napi::bindgen_prelude::{Either, PromiseRaw, ToNapiValue};
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

/// Like [`promise`], but polls `fut` once on the calling (JavaScript) thread first, inside the
/// runtime's context. On this VM a round trip through the runtime costs two thread wake-ups, about
/// 150 µs, several times the work of a verification; a future that finishes without waiting (a
/// token checked against the embedded SQLite or memory store) settles its Promise at once instead. One
/// that would wait (PostgreSQL, a peer over HTTP) carries on, already started, on the runtime.
///
/// Only for reads: a write may wait for SQLite's write lock, and the event loop must never wait.
pub fn promise_now_or_later<'env, T, V, F, C>(env: &'env Env, fut: F, convert: C) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = connectivly::Result<T>> + Send + 'static,
    C: FnOnce(T) -> V + 'static,
{
    match now_or_promise(env, fut, convert) {
        Ok(Either::A(v)) => PromiseRaw::resolve(env, v),
        Ok(Either::B(later)) => Ok(later),
        Err(e) => PromiseRaw::reject(env, e),
    }
}

/// Like [`promise_now_or_later`], but a future that finishes without waiting hands back its value
/// itself (a ready error is thrown), not a settled Promise: the JS wrapper resolves it, which spares
/// the hottest call, verifying a token, a native Promise and its microtask.
pub fn now_or_promise<'env, T, V, F, C>(env: &'env Env, fut: F, convert: C) -> Result<Either<V, PromiseRaw<'env, V>>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = connectivly::Result<T>> + Send + 'static,
    C: FnOnce(T) -> V + 'static,
{
    let mut fut = Box::pin(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match napi::bindgen_prelude::within_runtime_if_available(|| fut.as_mut().poll(&mut cx)) {
        Poll::Ready(Ok(v)) => Ok(Either::A(convert(v))),
        Poll::Ready(Err(e)) => Err(errors::to_js(env, e)),
        // Polling again with a real waker (the runtime's first poll) replaces the no-op one.
        Poll::Pending => promise(env, fut, convert).map(Either::B),
    }
}
