//! The one error classification of Connectivly.
//!
//! Every failure in the core carries an [`ErrorKind`]. Adapters map the kind exactly once: the HTTP
//! layer to a status and an OAuth `error` code, Python to an exception class, Node to an `err.code`.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed: missing, duplicated or invalid parameters (`invalid_request`).
    InvalidRequest,
    /// Client authentication failed (`invalid_client`, 401).
    InvalidClient,
    /// The code, refresh token or other grant is invalid, expired, revoked or bound elsewhere (`invalid_grant`).
    InvalidGrant,
    /// The client may not use this grant type (`unauthorized_client`).
    UnauthorizedClient,
    /// The grant type is not supported (`unsupported_grant_type`).
    UnsupportedGrantType,
    /// The response type is not supported (`unsupported_response_type`).
    UnsupportedResponseType,
    /// A requested scope is unknown or not allowed (`invalid_scope`).
    InvalidScope,
    /// The bearer token is missing, malformed, expired or revoked (`invalid_token`, 401).
    InvalidToken,
    /// The token lacks a required scope (`insufficient_scope`, 403).
    InsufficientScope,
    /// The user or the host refused the authorization (`access_denied`).
    AccessDenied,
    /// The client asked for a fresh sign-in (`prompt=login`, `max_age`) and the approval does not show
    /// one (`login_required`): re-authenticate the user, then approve again.
    LoginRequired,
    /// The caller did not present valid host-API credentials (401).
    Unauthorized,
    /// The object (session, client, ...) does not exist (404).
    NotFound,
    /// The object existed but has expired (410).
    Expired,
    /// The single-use object was already used, approved or denied (409).
    AlreadyUsed,
    /// The HTTP method is not allowed on this path (405).
    MethodNotAllowed,
    /// The request body is larger than allowed (413).
    PayloadTooLarge,
    /// The configuration is invalid.
    Config,
    /// The store failed or is unreachable (503).
    Storage,
    /// The provider was closed by its owner.
    Closed,
    /// Too many failed attempts from this client or address; retry later (429).
    RateLimited,
    /// A remote Connectivly server could not be reached or answered unexpectedly (502).
    Remote,
    /// A bug or an unexpected internal failure (500).
    Internal,
}

impl ErrorKind {
    /// Stable snake_case identifier: the OAuth `error` code where one exists, the Python exception's
    /// `.code` and the JS `err.code`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InvalidClient => "invalid_client",
            ErrorKind::InvalidGrant => "invalid_grant",
            ErrorKind::UnauthorizedClient => "unauthorized_client",
            ErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            ErrorKind::UnsupportedResponseType => "unsupported_response_type",
            ErrorKind::InvalidScope => "invalid_scope",
            ErrorKind::InvalidToken => "invalid_token",
            ErrorKind::InsufficientScope => "insufficient_scope",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::LoginRequired => "login_required",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Expired => "expired",
            ErrorKind::AlreadyUsed => "already_used",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::Config => "config_error",
            ErrorKind::Storage => "temporarily_unavailable",
            ErrorKind::Closed => "closed",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Remote => "remote_error",
            ErrorKind::Internal => "server_error",
        }
    }

    /// The HTTP status this kind is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidClient | ErrorKind::InvalidToken | ErrorKind::Unauthorized => 401,
            ErrorKind::InsufficientScope | ErrorKind::AccessDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::AlreadyUsed => 409,
            ErrorKind::Expired => 410,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal | ErrorKind::Config => 500,
            ErrorKind::Remote => 502,
            ErrorKind::Storage | ErrorKind::Closed => 503,
            _ => 400,
        }
    }

    /// Parses a [`code`](Self::code) back, as the remote client receives it.
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ALL_KINDS.iter().copied().find(|k| k.code() == code)
    }
}

const ALL_KINDS: &[ErrorKind] = &[
    ErrorKind::InvalidRequest,
    ErrorKind::InvalidClient,
    ErrorKind::InvalidGrant,
    ErrorKind::UnauthorizedClient,
    ErrorKind::UnsupportedGrantType,
    ErrorKind::UnsupportedResponseType,
    ErrorKind::InvalidScope,
    ErrorKind::InvalidToken,
    ErrorKind::InsufficientScope,
    ErrorKind::AccessDenied,
    ErrorKind::LoginRequired,
    ErrorKind::Unauthorized,
    ErrorKind::NotFound,
    ErrorKind::Expired,
    ErrorKind::AlreadyUsed,
    ErrorKind::MethodNotAllowed,
    ErrorKind::PayloadTooLarge,
    ErrorKind::Config,
    ErrorKind::Storage,
    ErrorKind::Closed,
    ErrorKind::RateLimited,
    ErrorKind::Remote,
    ErrorKind::Internal,
];

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A Connectivly error: a kind plus a human-readable description that never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// For a configuration error about one setting: its canonical key and the message without the
    /// setting's name, so that each adapter can name it the way its user wrote it.
    setting: Option<(&'static str, String)>,
    /// A binding's argument error rather than a bad value: an unknown setting name, or a value of the
    /// wrong type (a string for a number). Python and Node raise their `TypeError` for it, as for any
    /// unexpected keyword or argument of the wrong type.
    argument: bool,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), setting: None, argument: false }
    }

    /// A configuration error about one setting, by its canonical key (`session_ttl`). `detail` reads
    /// after the setting's name ("must be …"), or after a colon when it starts with `": "`.
    pub fn setting(key: &'static str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Error {
            kind: ErrorKind::Config,
            message: join_setting(key, &detail),
            setting: Some((key, detail)),
            argument: false,
        }
    }

    /// Marks a configuration error as an argument error: an unknown setting, or a value of the wrong type.
    pub fn as_argument_error(mut self) -> Self {
        self.argument = true;
        self
    }

    /// Whether a binding should raise its `TypeError` (see [`as_argument_error`](Self::as_argument_error)).
    pub fn is_argument_error(&self) -> bool {
        self.argument
    }

    /// The canonical key of the setting this configuration error is about, if it is about one.
    pub fn setting_key(&self) -> Option<&'static str> {
        self.setting.as_ref().map(|(k, _)| *k)
    }

    /// This error with its setting named by `name(key)` (`CONNECTIVLY_API_KEY`, `apiKey`, …).
    pub fn rename_setting(mut self, name: impl FnOnce(&str) -> String) -> Self {
        if let Some((key, detail)) = &self.setting {
            self.message = join_setting(&name(key), detail);
        }
        self
    }

    /// This error with its setting spelled as a user of `shape` writes it.
    pub fn for_shape(self, shape: crate::settings::Shape) -> Self {
        self.rename_setting(|key| crate::settings::display(key, shape))
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The description, safe to show to a client (`error_description`).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn invalid_request(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, m)
    }
    pub fn invalid_client(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidClient, m)
    }
    pub fn invalid_grant(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidGrant, m)
    }
    pub fn invalid_scope(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidScope, m)
    }
    pub fn invalid_token(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidToken, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, m)
    }
    pub fn storage(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Storage, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, m)
    }
    pub fn config(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, m)
    }
}

fn join_setting(name: &str, detail: &str) -> String {
    if detail.starts_with(':') { format!("{name}{detail}") } else { format!("{name} {detail}") }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // The driver message may name tables or constraints but never holds bound values.
        tracing::error!(error = %e, "store error");
        crate::metrics::STORE_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match e {
            sqlx::Error::RowNotFound => Error::not_found("not found"),
            sqlx::Error::PoolClosed => Error::new(ErrorKind::Closed, "the provider is closed"),
            _ => Error::storage("the store is unavailable; try again"),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in ALL_KINDS {
            assert!(seen.insert(k.code()), "duplicate code {}", k.code());
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
        }
    }

    #[test]
    fn statuses_follow_rfc6749() {
        assert_eq!(ErrorKind::InvalidClient.http_status(), 401);
        assert_eq!(ErrorKind::InvalidGrant.http_status(), 400);
        assert_eq!(ErrorKind::InvalidScope.http_status(), 400);
        assert_eq!(ErrorKind::Storage.http_status(), 503);
    }
}
