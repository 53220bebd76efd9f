"""A host app with its own users and login, that becomes an OpenID Connect provider with Connectivly.

Run it:  pip install ./bindings-python flask && python examples/flask-host/app.py
Register a third-party app:  python examples/flask-host/app.py create-client NAME REDIRECT_URI...
(prints CLIENT_ID=… and CLIENT_SECRET=…), then sign in from that app (see README.md beside this file).

Embedded by default. With CONNECTIVLY_URL and CONNECTIVLY_API_KEY set, the same code uses a standalone
`connectivly` server instead (RemoteProvider).
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
import sys
import time
from typing import Any, Callable, Optional, TypeVar, cast
from urllib.parse import urlencode

from flask import Flask, redirect, render_template_string, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from connectivly import AlreadyUsed, Expired, HostApi, LoginRequired, NotFound, Provider, RemoteProvider
from connectivly.flask import Connectivly

F = TypeVar("F", bound=Callable[..., Any])

# The host's own users: any user store works; Connectivly never sees passwords.
USERS: dict[str, dict[str, str]] = {
    "ann": {"name": "Ann Example", "email": "ann@example.com", "password": generate_password_hash("wonderland")},
    "bob": {"name": "Bob Builder", "email": "bob@example.com", "password": generate_password_hash("canwefixit")},
}

# The consent page wears the host's colours: its name, this logo (inline, so the page loads nothing from
# elsewhere) and its accent colour.
PROVIDER_NAME = "Photo Host"
ACCENT_COLOR = "#0f7b6c"
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0f7b6c"/>'
    '<path d="M5 24l7-9 5 6 3-4 7 7z" fill="#fff"/><circle cx="22" cy="10" r="3" fill="#fff"/></svg>'
)
LOGO_URI = "data:image/svg+xml;base64," + base64.b64encode(LOGO_SVG.encode()).decode()

STYLE = """body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
background:#f4f5f7;color:#1d2330}
main{max-width:24rem;margin:8vh auto;padding:1.75rem;background:#fff;border-top:4px solid #0f7b6c;border-radius:12px;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
@media (max-width:26rem){body{background:#fff}main{margin:0;border-radius:0;box-shadow:none;min-height:100vh}}
h1{font-size:1.3rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{width:100%;box-sizing:border-box;font:inherit;padding:.55rem .7rem;border:1px solid #8a93a3;border-radius:8px}
button{margin-top:1.25rem;width:100%;font:inherit;font-weight:600;padding:.65rem;border:0;border-radius:8px;
background:#0f7b6c;color:#fff;cursor:pointer}
:focus-visible{outline:3px solid #1d2330;outline-offset:2px}
[role=alert]{color:#a3261a}"""

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to Photo Host</title><style>{{ style|safe }}</style></head>
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

# A reload of the approval URL, the back button, or a sign-in left too long: the link is spent. A page that
# says what to do, not a 500.
SIGN_IN_AGAIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in link expired · Photo Host</title>
<style>{{ style|safe }}</style></head>
<body><main><h1>This sign-in link was already used or has expired</h1>
<p>Go back to the app you were signing in to and sign in again.</p>
<p><a href="/">Photo Host home</a></p>
</main></body></html>"""

HOME_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Photo Host</title>
<style>{{ style|safe }}</style></head>
<body><main><h1>Photo Host</h1>
{% if user %}<p>Signed in as {{ user }}.</p>{% else %}<p><a href="/login">Sign in</a></p>{% endif %}
</main></body></html>"""


def make_provider() -> HostApi:
    url = os.environ.get("CONNECTIVLY_URL")
    if url:
        return RemoteProvider(url, api_key=os.environ["CONNECTIVLY_API_KEY"])
    port = os.environ.get("PORT", "5000")
    issuer = os.environ.get("CONNECTIVLY_ISSUER", f"http://localhost:{port}/oauth")
    return Provider(
        issuer=issuer,
        login_url="/connectivly",
        database=os.environ.get("CONNECTIVLY_DATABASE_URL", "sqlite://connectivly.db"),
        scopes={"photos:read": "See your photos"},
        provider_name=PROVIDER_NAME,
        provider_logo_uri=LOGO_URI,
        accent_color=ACCENT_COLOR,
    )


def create_app(provider: Optional[HostApi] = None) -> Flask:
    app = Flask(__name__)
    app.secret_key = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    # Cookies are shared across ports: a client app on another localhost port (Photo Printer on :8000) must not
    # overwrite this app's session cookie, so it has a name of its own rather than Flask's "session".
    app.config.update(SESSION_COOKIE_NAME="photohost_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax")
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
        return render_template_string(HOME_PAGE, style=STYLE, user=session.get("user"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response | str:
        next_url = request.values.get("next", "/")
        if not next_url.startswith("/") or next_url.startswith(("//", "/\\")):
            next_url = "/"  # only local redirects after login
        if request.method == "POST":
            username = request.form.get("username", "")
            user = USERS.get(username)
            if user and check_password_hash(user["password"], request.form.get("password", "")):
                session.clear()
                session["user"] = username
                session["at"] = int(time.time())  # when they signed in: prompt=login and max_age check it
                return redirect(next_url)
            return render_template_string(LOGIN_PAGE, style=STYLE, error="Wrong username or password.", next=next_url)
        return render_template_string(LOGIN_PAGE, style=STYLE, error=None, next=next_url)

    @app.get("/connectivly")
    @login_required
    def connectivly_auth() -> Response | tuple[str, int]:
        user = USERS[session["user"]]
        try:
            target = provider.approve(
                request.args["token"],
                user=session["user"],
                claims={"name": user["name"], "email": user["email"], "email_verified": True},
                auth_time=session.get("at"),
            )
        except LoginRequired:  # the app asked for a fresh sign-in (prompt=login, max_age): again, then back
            session.clear()
            return redirect(url_for("login", next=request.full_path))
        except (NotFound, AlreadyUsed, Expired):  # unknown, already used (a reload, the back button), expired
            return render_template_string(SIGN_IN_AGAIN_PAGE, style=STYLE), 400
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


def create_client(args: list[str]) -> None:
    """`app.py create-client NAME REDIRECT_URI...`: registers a third-party app with this host's provider
    and prints its credentials as environment assignments (the secret is shown this once)."""
    if len(args) < 2:
        sys.exit("usage: app.py create-client NAME REDIRECT_URI...")
    created = make_provider().create_client(args[0], args[1:])
    print(f"CLIENT_ID={created.client_id}")
    print(f"CLIENT_SECRET={created.client_secret}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["create-client"]:
        create_client(sys.argv[2:])
    else:
        port = int(os.environ.get("PORT", "5000"))
        create_app().run(host="127.0.0.1", port=port)
