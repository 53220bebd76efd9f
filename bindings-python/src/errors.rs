//! The core's error kinds as Python exceptions: one class per kind, all under `ConnectivlyError`,
//! each with a `code` attribute. Mapped here, once.

use connectivly::ErrorKind;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(connectivly, ConnectivlyError, PyException, "Base class of every Connectivly error.");
create_exception!(connectivly, InvalidRequest, ConnectivlyError, "The request or arguments are invalid.");
create_exception!(connectivly, InvalidClient, ConnectivlyError, "Client authentication failed.");
create_exception!(connectivly, InvalidGrant, ConnectivlyError, "The grant (code, token) is invalid.");
create_exception!(connectivly, UnauthorizedClient, ConnectivlyError, "The client may not use this grant.");
create_exception!(connectivly, UnsupportedGrantType, ConnectivlyError, "The grant type is not supported.");
create_exception!(connectivly, UnsupportedResponseType, ConnectivlyError, "The response type is not supported.");
create_exception!(connectivly, InvalidScope, ConnectivlyError, "A scope is unknown or not allowed.");
create_exception!(connectivly, InvalidToken, ConnectivlyError, "The token is missing, invalid, expired or revoked.");
create_exception!(connectivly, InsufficientScope, ConnectivlyError, "The token lacks a required scope.");
create_exception!(connectivly, AccessDenied, ConnectivlyError, "The authorization was refused.");
create_exception!(
    connectivly,
    LoginRequired,
    ConnectivlyError,
    "The client asked for a fresh sign-in: re-authenticate the user, then approve with auth_time."
);
create_exception!(connectivly, Unauthorized, ConnectivlyError, "The host-API key is missing or wrong.");
create_exception!(connectivly, NotFound, ConnectivlyError, "No such auth session or client.");
create_exception!(connectivly, Expired, ConnectivlyError, "The auth session has expired.");
create_exception!(connectivly, AlreadyUsed, ConnectivlyError, "The auth session was already approved or denied.");
create_exception!(connectivly, ConfigError, ConnectivlyError, "The configuration is invalid.");
create_exception!(connectivly, StorageError, ConnectivlyError, "The store is unavailable.");
create_exception!(connectivly, ProviderClosed, ConnectivlyError, "The provider was closed.");
create_exception!(connectivly, RateLimited, ConnectivlyError, "Too many failed attempts; retry later.");
create_exception!(connectivly, RemoteError, ConnectivlyError, "The Connectivly server could not be reached.");
create_exception!(connectivly, InternalError, ConnectivlyError, "An unexpected internal error.");

/// Converts a core error into its Python exception.
pub fn to_py(err: connectivly::Error) -> PyErr {
    let msg = err.message().to_string();
    match err.kind() {
        ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed | ErrorKind::PayloadTooLarge => {
            InvalidRequest::new_err(msg)
        }
        ErrorKind::InvalidClient => InvalidClient::new_err(msg),
        ErrorKind::InvalidGrant => InvalidGrant::new_err(msg),
        ErrorKind::UnauthorizedClient => UnauthorizedClient::new_err(msg),
        ErrorKind::UnsupportedGrantType => UnsupportedGrantType::new_err(msg),
        ErrorKind::UnsupportedResponseType => UnsupportedResponseType::new_err(msg),
        ErrorKind::InvalidScope => InvalidScope::new_err(msg),
        ErrorKind::InvalidToken => InvalidToken::new_err(msg),
        ErrorKind::InsufficientScope => InsufficientScope::new_err(msg),
        ErrorKind::AccessDenied => AccessDenied::new_err(msg),
        ErrorKind::LoginRequired => LoginRequired::new_err(msg),
        ErrorKind::Unauthorized => Unauthorized::new_err(msg),
        ErrorKind::NotFound => NotFound::new_err(msg),
        ErrorKind::Expired => Expired::new_err(msg),
        ErrorKind::AlreadyUsed => AlreadyUsed::new_err(msg),
        ErrorKind::Config => ConfigError::new_err(msg),
        ErrorKind::Storage => StorageError::new_err(msg),
        ErrorKind::Closed => ProviderClosed::new_err(msg),
        ErrorKind::RateLimited => RateLimited::new_err(msg),
        ErrorKind::Remote => RemoteError::new_err(msg),
        _ => InternalError::new_err(msg),
    }
}

pub trait IntoPyResult<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for connectivly::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// Registers every exception class on the module, each with its stable `code`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes: &[(&str, Bound<'_, pyo3::types::PyType>, &str)] = &[
        ("ConnectivlyError", py.get_type::<ConnectivlyError>(), "error"),
        ("InvalidRequest", py.get_type::<InvalidRequest>(), ErrorKind::InvalidRequest.code()),
        ("InvalidClient", py.get_type::<InvalidClient>(), ErrorKind::InvalidClient.code()),
        ("InvalidGrant", py.get_type::<InvalidGrant>(), ErrorKind::InvalidGrant.code()),
        ("UnauthorizedClient", py.get_type::<UnauthorizedClient>(), ErrorKind::UnauthorizedClient.code()),
        ("UnsupportedGrantType", py.get_type::<UnsupportedGrantType>(), ErrorKind::UnsupportedGrantType.code()),
        (
            "UnsupportedResponseType",
            py.get_type::<UnsupportedResponseType>(),
            ErrorKind::UnsupportedResponseType.code(),
        ),
        ("InvalidScope", py.get_type::<InvalidScope>(), ErrorKind::InvalidScope.code()),
        ("InvalidToken", py.get_type::<InvalidToken>(), ErrorKind::InvalidToken.code()),
        ("InsufficientScope", py.get_type::<InsufficientScope>(), ErrorKind::InsufficientScope.code()),
        ("AccessDenied", py.get_type::<AccessDenied>(), ErrorKind::AccessDenied.code()),
        ("LoginRequired", py.get_type::<LoginRequired>(), ErrorKind::LoginRequired.code()),
        ("Unauthorized", py.get_type::<Unauthorized>(), ErrorKind::Unauthorized.code()),
        ("NotFound", py.get_type::<NotFound>(), ErrorKind::NotFound.code()),
        ("Expired", py.get_type::<Expired>(), ErrorKind::Expired.code()),
        ("AlreadyUsed", py.get_type::<AlreadyUsed>(), ErrorKind::AlreadyUsed.code()),
        ("ConfigError", py.get_type::<ConfigError>(), ErrorKind::Config.code()),
        ("StorageError", py.get_type::<StorageError>(), ErrorKind::Storage.code()),
        ("ProviderClosed", py.get_type::<ProviderClosed>(), ErrorKind::Closed.code()),
        ("RateLimited", py.get_type::<RateLimited>(), ErrorKind::RateLimited.code()),
        ("RemoteError", py.get_type::<RemoteError>(), ErrorKind::Remote.code()),
        ("InternalError", py.get_type::<InternalError>(), ErrorKind::Internal.code()),
    ];
    for (name, class, code) in classes {
        class.setattr("code", *code)?;
        m.add(*name, class)?;
    }
    Ok(())
}
