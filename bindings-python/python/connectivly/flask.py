"""Flask integration: mount the OAuth endpoints, protect API routes with bearer tokens.

    oauth = Connectivly(app, provider, url_prefix="/oauth")   # or Connectivly(); oauth.init_app(app, provider)

    @app.route("/api/photos")
    @oauth.require_token("photos:read")
    def photos():
        return {"owner": oauth.current_token.sub}

Every request is handed to the core untouched; this module only translates between Flask and it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar, Union, cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, request

from ._native import HostApi, HttpResponse, Provider, TokenInfo, root_metadata_paths

F = TypeVar("F", bound=Callable[..., Any])

_METHODS = ["GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Largest request body handed to the provider (the core refuses larger ones as well).
MAX_BODY_BYTES = 64 * 1024


def _to_flask(resp: HttpResponse) -> Response:
    out = Response(resp.body, status=resp.status)
    out.headers.clear()
    for name, value in resp.headers:
        out.headers.add(name, value)
    return out


def _request_headers() -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.headers.items()]


class Connectivly:
    """Mounts a provider's endpoints in a Flask app and guards routes with access tokens."""

    def __init__(
        self,
        app: Optional[Flask] = None,
        provider: Optional[HostApi] = None,
        url_prefix: Optional[str] = None,
    ) -> None:
        self.provider: Optional[HostApi] = provider
        if app is not None:
            if provider is None:
                raise TypeError("Connectivly(app, provider): provider is required with app")
            self.init_app(app, provider, url_prefix)

    def init_app(self, app: Flask, provider: HostApi, url_prefix: Optional[str] = None) -> None:
        """Registers the endpoints (embedded ``Provider`` only) under ``url_prefix``.

        ``url_prefix`` defaults to the path of the provider's issuer, so the discovery document,
        the endpoints it names and the routes served always agree. For an issuer with a path
        (``http://localhost:5000/oauth``) it also registers, at the app's root, the metadata paths
        that RFC 8414 §3.1 and MCP clients look for
        (``/.well-known/oauth-authorization-server/oauth``, ``/.well-known/openid-configuration/oauth``),
        and ``/oauth/`` shows the provider's landing page.
        """
        self.provider = provider
        app.extensions["connectivly"] = self
        if not isinstance(provider, Provider):
            return  # A RemoteProvider's endpoints are served by the server itself.
        issuer_path = urlsplit(provider.issuer).path.rstrip("/")
        prefix = (url_prefix if url_prefix is not None else issuer_path).rstrip("/")
        if prefix != issuer_path:
            raise ValueError(
                f"url_prefix {prefix!r} must be the path of the issuer {provider.issuer!r}: "
                "clients find the endpoints through the issuer"
            )
        bp = Blueprint("connectivly", __name__, url_prefix=prefix or None)
        if prefix:
            # The mount's root (`/oauth/`; Werkzeug redirects `/oauth` there) is the provider's landing
            # page. An issuer at the app's root leaves `/` to the app.
            bp.add_url_rule("/", "landing", self._dispatch, defaults={"subpath": ""}, methods=_METHODS)
        bp.add_url_rule("/<path:subpath>", "endpoint", self._dispatch, methods=_METHODS)
        app.register_blueprint(bp)
        # The blueprint sees only the issuer's path; these documents live at the app's root, which this
        # extension owns. The core names the paths and answers them when handed the full path.
        for i, path in enumerate(root_metadata_paths(provider.issuer)):
            app.add_url_rule(path, f"connectivly_metadata_{i}", self._root_view(path), methods=_METHODS)

    def _root_view(self, path: str) -> Callable[[], Response]:
        def view() -> Response:
            return self._serve(path)

        return view

    def _dispatch(self, subpath: str) -> Response:
        return self._serve("/" + subpath)

    def _serve(self, path: str) -> Response:
        provider = cast(Provider, self.provider)
        # Read at most one byte past the limit: the core answers an oversized body with its own 413.
        body = request.stream.read(MAX_BODY_BYTES + 1)
        resp = provider.handle(
            request.method,
            path,
            request.query_string.decode("latin-1"),
            _request_headers(),
            body,
            request.remote_addr,
        )
        return _to_flask(resp)

    def require_token(self, *scopes: str) -> Callable[[F], F]:
        """Decorator: the request needs a valid bearer token carrying every one of ``scopes``.

        Answers 401 (no or bad token) or 403 (missing scope) with ``WWW-Authenticate`` otherwise.
        """

        def decorator(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                provider = self.provider
                if provider is None:
                    raise RuntimeError("Connectivly.init_app(app, provider) was not called")
                form = request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded"
                result: Union[TokenInfo, HttpResponse] = provider.protect(
                    request.method,
                    _request_headers(),
                    request.get_data(cache=True) if form else None,
                    list(scopes),
                )
                if isinstance(result, HttpResponse):
                    return _to_flask(result)
                g.connectivly_token = result
                return view(*args, **kwargs)

            return cast(F, wrapper)

        return decorator

    @property
    def current_token(self) -> TokenInfo:
        """The verified token of the current request (inside a ``require_token`` view)."""
        token = g.get("connectivly_token")
        if token is None:
            raise RuntimeError("current_token is only available inside a require_token view")
        return cast(TokenInfo, token)
