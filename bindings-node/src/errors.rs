//! The core's error kinds as JavaScript errors: an `Error` whose `code` is the kind's stable
//! [`code`](connectivly::ErrorKind::code) (`"not_found"`, `"already_used"`, ...). Mapped here, once; the
//! JavaScript wrapper re-throws each code as its `ConnectivlyError` subclass.

use napi::{Env, JsError};

/// Converts a core error into a JavaScript `Error` carrying `code`, ready to reject a Promise or throw.
pub fn to_js(env: &Env, err: connectivly::Error) -> napi::Error {
    let message = if err.message().is_empty() { err.kind().code().to_string() } else { err.message().to_string() };
    let js = JsError::from(napi::Error::new(err.kind().code(), message)).into_unknown(*env);
    napi::Error::from(js)
}

/// A bad argument (the wrong type or shape), reported like napi's own argument conversions.
pub fn invalid_arg(message: impl Into<String>) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, message.into())
}
