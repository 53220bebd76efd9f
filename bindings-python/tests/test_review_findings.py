"""The security review's findings (issue 16) in the embedded Python shape: the consent page needs the ticket
that approve() returned *and* the binding cookie of the browser that started the flow; prompt=login needs a
fresh auth_time; the SQLite file and its key file are private to this user."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import connectivly
from conftest import query

REDIRECT = "https://client.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
COOKIE = "__Host-connectivly_binding"  # https issuer at the origin's root


def authorize(provider: Any, client_id: str, **extra: str) -> tuple[str, str]:
    """GET /authorize as a browser: the session id handed to the host, and the browser's cookie header."""
    q = (f"response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb"
         f"&scope=openid&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256")
    for k, v in extra.items():
        q += f"&{k}={v}"
    r = provider.handle("GET", "/oauth2/authorize", q)
    assert r.status == 302, r.body
    headers = dict(r.headers)
    cookie = headers["set-cookie"].split(";")[0]
    assert cookie.startswith(COOKIE + "=cly_bn_"), cookie
    return query(headers["location"])["token"], cookie


def consent(provider: Any, url: str, cookie: str | None) -> Any:
    u = urlsplit(url)
    headers = [("cookie", cookie)] if cookie else []
    return provider.handle("GET", u.path, u.query, headers)


def test_a_sign_in_approved_in_another_browser_can_be_finished_by_neither(provider: Any) -> None:
    client = provider.create_client("App", [REDIRECT])
    sid, attacker_cookie = authorize(provider, client.client_id, prompt="consent")
    url = provider.approve(sid, "victim")
    assert "ticket=cly_ct_" in url, url
    # The attacker's browser has the cookie but not the ticket: no page.
    bare = url.split("?")[0]
    assert consent(provider, bare, attacker_cookie).status == 403
    # The victim's browser has the ticket but not the cookie: refused, and the sign-in is over.
    assert consent(provider, url, None).status == 403
    # Even with the ticket (had it leaked), the attacker's browser now gets nothing.
    assert consent(provider, url, attacker_cookie).status == 409
    assert provider.auth_session(sid).status == "denied"


def test_the_same_browser_goes_authorize_login_consent_code(provider: Any) -> None:
    client = provider.create_client("App", [REDIRECT])
    sid, cookie = authorize(provider, client.client_id)
    url = provider.approve(sid, "ann")
    page = consent(provider, url, cookie)
    assert page.status == 200
    html = page.body.decode()
    assert 'name="ticket"' in html and 'name="csrf"' in html
    csrf = html.split('name="csrf" value="')[1].split('"')[0]
    ticket = html.split('name="ticket" value="')[1].split('"')[0]
    r = provider.handle("POST", urlsplit(url).path, "", [("cookie", cookie),
                        ("content-type", "application/x-www-form-urlencoded")],
                        f"ticket={ticket}&csrf={csrf}&decision=allow".encode())
    assert r.status == 302
    location = dict(r.headers)["location"]
    assert location.startswith(REDIRECT) and "code" in query(location) and "ticket" not in location


def test_prompt_login_needs_a_fresh_auth_time(provider: Any) -> None:
    client = provider.create_client("App", [REDIRECT])
    sid, _ = authorize(provider, client.client_id, prompt="login")
    with pytest.raises(connectivly.LoginRequired) as e:
        provider.approve(sid, "ann", skip_consent=True)
    assert e.value.code == "login_required"
    with pytest.raises(connectivly.LoginRequired):
        provider.approve(sid, "ann", skip_consent=True, auth_time=int(time.time()) - 3600)
    target = provider.approve(sid, "ann", skip_consent=True, auth_time=int(time.time()))
    assert "code" in query(target)


def test_pkce_is_required_from_confidential_clients_too(provider: Any) -> None:
    client = provider.create_client("App", [REDIRECT])
    q = f"response_type=code&client_id={client.client_id}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&state=s"
    r = provider.handle("GET", "/oauth2/authorize", q)
    location = dict(r.headers)["location"]
    assert location.startswith(REDIRECT) and query(location)["error"] == "invalid_request"


def test_the_database_and_its_key_file_are_private(provider: Any, db_url: str, tmp_path: Path) -> None:
    db = Path(db_url.removeprefix("sqlite://"))
    provider.create_client("App", [REDIRECT])
    for f in [db, Path(str(db) + ".key"), Path(str(db) + "-wal")]:
        assert f.exists(), f
        assert stat.S_IMODE(os.stat(f).st_mode) & 0o077 == 0, f
    other = tmp_path / "shared.db"
    connectivly.Provider("https://id.example.com", "/login", database=f"sqlite://{other}").close()
    os.chmod(other, 0o644)
    with pytest.raises(connectivly.ConfigError, match="chmod 600"):
        connectivly.Provider("https://id.example.com", "/login", database=f"sqlite://{other}")
    connectivly.Provider("https://id.example.com", "/login", database=f"sqlite://{other}",
                         allow_readable_database=True).close()
