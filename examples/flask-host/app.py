"""A host app with its own users and login, that becomes an OpenID Connect provider with Connectivly.

Run it:  pip install ./bindings-python flask && python examples/flask-host/app.py
Then register a client (see README.md beside this file) and sign in at http://localhost:5000.

Embedded by default. With CONNECTIVLY_URL and CONNECTIVLY_API_KEY set, the same code uses a standalone
`connectivly` server instead (RemoteProvider).
"""

from __future__ import annotations

import functools
import os
import secrets
from typing import Any, Callable, Optional, TypeVar, cast
from urllib.parse import urlencode

from flask import Flask, redirect, render_template_string, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from connectivly import HostApi, Provider, RemoteProvider
from connectivly.flask import Connectivly

F = TypeVar("F", bound=Callable[..., Any])

# The host's own users: any user store works; Connectivly never sees passwords.
USERS: dict[str, dict[str, str]] = {
    "ann": {"name": "Ann Example", "email": "ann@example.com", "password": generate_password_hash("wonderland")},
    "bob": {"name": "Bob Builder", "email": "bob@example.com", "password": generate_password_hash("canwefixit")},
}

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to Photo Host</title></head>
<body><main>
<h1>Sign in to Photo Host</h1>
{% if error %}<p role="alert">{{ error }}</p>{% endif %}
<form method="post">
  <input type="hidden" name="next" value="{{ next }}">
  <label for="username">Username</label> <input id="username" name="username" autocomplete="username" required>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
</main></body></html>"""

HOME_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Photo Host</title></head>
<body><main><h1>Photo Host</h1>
{% if user %}<p>Signed in as {{ user }}.</p>{% else %}<p><a href="/login">Sign in</a></p>{% endif %}
</main></body></html>"""


def make_provider() -> HostApi:
    url = os.environ.get("CONNECTIVLY_URL")
    if url:
        return RemoteProvider(url, api_key=os.environ["CONNECTIVLY_API_KEY"])
    issuer = os.environ.get("CONNECTIVLY_ISSUER", "http://localhost:5000/oauth")
    return Provider(
        issuer=issuer,
        login_url="/connectivly",
        database=os.environ.get("CONNECTIVLY_DATABASE_URL", "sqlite://connectivly.db"),
        scopes={"photos:read": "See your photos"},
    )


def create_app(provider: Optional[HostApi] = None) -> Flask:
    app = Flask(__name__)
    app.secret_key = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    provider = provider or make_provider()
    oauth = Connectivly(app, provider)
    app.extensions["provider"] = provider

    def login_required(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if "user" not in session:
                return redirect(url_for("login", next=request.full_path))
            return view(*args, **kwargs)

        return cast(F, wrapper)

    @app.get("/")
    def home() -> str:
        return render_template_string(HOME_PAGE, user=session.get("user"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response | str:
        next_url = request.values.get("next", "/")
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/"  # only local redirects after login
        if request.method == "POST":
            username = request.form.get("username", "")
            user = USERS.get(username)
            if user and check_password_hash(user["password"], request.form.get("password", "")):
                session.clear()
                session["user"] = username
                return redirect(next_url)
            return render_template_string(LOGIN_PAGE, error="Wrong username or password.", next=next_url)
        return render_template_string(LOGIN_PAGE, error=None, next=next_url)

    @app.get("/connectivly")
    @login_required
    def connectivly_auth() -> Response:
        user = USERS[session["user"]]
        target = provider.approve(
            request.args["token"],
            user=session["user"],
            claims={"name": user["name"], "email": user["email"], "email_verified": True},
        )
        return redirect(target)

    @app.get("/api/photos")
    @oauth.require_token("photos:read")
    def photos() -> dict[str, Any]:
        token = oauth.current_token
        return {"owner": token.sub, "photos": [f"/photos/{token.sub}/1.jpg", f"/photos/{token.sub}/2.jpg"]}

    @app.get("/logout")
    def logout() -> Response:
        session.clear()
        return redirect("/?" + urlencode({"signed_out": 1}))

    return app


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    create_app().run(host="127.0.0.1", port=port)
