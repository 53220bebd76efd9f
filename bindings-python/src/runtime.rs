//! The tokio runtime that runs the core's async operations behind synchronous Python methods.
//!
//! One runtime per process: a runtime does not survive `fork()`, so a child (a gunicorn worker
//! forked from a master that already used Connectivly) gets a fresh one.

use std::future::Future;
use std::sync::{Arc, Mutex};

static RUNTIME: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);

pub fn runtime() -> Arc<tokio::runtime::Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((owner, rt)) = slot.as_ref()
        && *owner == pid
    {
        return rt.clone();
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("connectivly")
            .enable_all()
            .build()
            .expect("cannot start the Connectivly runtime"),
    );
    // A runtime inherited across fork() has no threads; dropping it could block: leak it instead.
    if let Some((_, old)) = slot.replace((pid, rt.clone())) {
        std::mem::forget(old);
    }
    rt
}

/// Runs a future to completion on the runtime (the caller has released the GIL).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}
