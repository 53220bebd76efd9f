"""Connectivly: OAuth 2.1 + OpenID Connect for an app that keeps its own login.

``Provider`` embeds the provider in this process; ``RemoteProvider`` speaks to a standalone
``connectivly`` server. Both have the same host methods (``auth_session``, ``approve``, ``deny``,
``verify_access_token``, the client registry) and raise the same exceptions.
"""

from ._native import (
    AccessDenied,
    AlreadyUsed,
    AuthSession,
    Client,
    ConfigError,
    ConnectivlyError,
    CreatedClient,
    Expired,
    HostApi,
    HttpResponse,
    InsufficientScope,
    InternalError,
    Introspection,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    NotFound,
    Provider,
    ProviderClosed,
    RemoteError,
    RemoteProvider,
    ScopeInfo,
    SessionClient,
    StorageError,
    TokenInfo,
    Unauthorized,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    __version__,
)

# Names that read naturally where the object is an auth session.
SessionNotFound = NotFound
SessionExpired = Expired
SessionAlreadyUsed = AlreadyUsed

__all__ = [
    "AccessDenied",
    "AlreadyUsed",
    "AuthSession",
    "Client",
    "ConfigError",
    "ConnectivlyError",
    "CreatedClient",
    "Expired",
    "HostApi",
    "HttpResponse",
    "InsufficientScope",
    "InternalError",
    "Introspection",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "NotFound",
    "Provider",
    "ProviderClosed",
    "RemoteError",
    "RemoteProvider",
    "ScopeInfo",
    "SessionAlreadyUsed",
    "SessionClient",
    "SessionExpired",
    "SessionNotFound",
    "StorageError",
    "TokenInfo",
    "Unauthorized",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "__version__",
]
