"""The Flask host example over real HTTP, driven by a real OIDC client library (authlib)."""

from __future__ import annotations

import secrets
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

from conftest import sign_in_through

CALLBACK = "http://localhost:8000/callback"


def sign_in(issuer: str, host_url: str, client_id: str, secret: str, scope: str) -> dict[str, Any]:
    """What a third-party app does: discovery only, code + PKCE, id_token verified via JWKS."""
    disc = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert disc["issuer"] == issuer
    client = OAuth2Session(client_id, secret, scope=scope, redirect_uri=CALLBACK, code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, _state = client.create_authorization_url(disc["authorization_endpoint"], nonce=nonce, code_verifier=verifier)
    final = sign_in_through(host_url, url)
    token = client.fetch_token(disc["token_endpoint"], authorization_response=final, code_verifier=verifier)
    jwks = JsonWebKey.import_key_set(requests.get(disc["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        jwks,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "values": [issuer]}, "aud": {"essential": True, "values": [client_id]}},
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()
    userinfo = client.get(disc["userinfo_endpoint"]).json()
    return {"token": token, "claims": dict(claims), "userinfo": userinfo}


def test_sign_in_with_flask_host_and_call_its_api(flask_host: Any) -> None:
    issuer = f"{flask_host.url}/oauth"
    created = flask_host.provider.create_client("Photo Printer", [CALLBACK])
    result = sign_in(issuer, flask_host.url, created.client_id, created.client_secret,
                     "openid profile email photos:read")
    assert result["claims"]["sub"] == "ann"
    assert result["claims"]["name"] == "Ann Example"
    assert result["userinfo"] == {"sub": "ann", "name": "Ann Example", "email": "ann@example.com",
                                  "email_verified": True}

    at = result["token"]["access_token"]
    r = requests.get(f"{flask_host.url}/api/photos", headers={"Authorization": f"Bearer {at}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["owner"] == "ann"

    r = requests.get(f"{flask_host.url}/api/photos", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(f"{flask_host.url}/api/photos", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_token_without_the_scope_gets_403(flask_host: Any) -> None:
    issuer = f"{flask_host.url}/oauth"
    created = flask_host.provider.create_client("Profile Only", [CALLBACK])
    result = sign_in(issuer, flask_host.url, created.client_id, created.client_secret, "openid profile")
    at = result["token"]["access_token"]
    r = requests.get(f"{flask_host.url}/api/photos", headers={"Authorization": f"Bearer {at}"}, timeout=10)
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]


def test_endpoints_are_mounted_at_the_issuer_path(flask_host: Any) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                 "/.well-known/jwks.json"):
        r = requests.get(f"{flask_host.url}/oauth{path}", timeout=10)
        assert r.status_code == 200, path
    assert requests.get(f"{flask_host.url}/.well-known/openid-configuration", timeout=10).status_code == 404
    r = requests.post(f"{flask_host.url}/oauth/oauth2/token", data={"grant_type": "authorization_code"},
                      auth=("cly_ci_x", "wrong"), timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["Cache-Control"] == "no-store"
    r = requests.post(f"{flask_host.url}/oauth/oauth2/token", data=b"x" * (200 * 1024),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert r.status_code == 413


def test_prompt_login_sends_a_signed_in_user_through_the_host_login_again(flask_host: Any) -> None:
    import html
    import re
    import time
    from urllib.parse import parse_qs, urlencode, urlsplit

    import requests

    created = flask_host.provider.create_client("Bank", ["http://localhost:8000/callback"])
    browser = requests.Session()

    def walk(**extra: str) -> tuple[int, str]:
        """Follows redirects and forms like a browser; counts the host's login forms filled in."""
        logins = 0
        url = flask_host.url + "/oauth/oauth2/authorize?" + urlencode({
            "response_type": "code", "client_id": created.client_id, "redirect_uri": "http://localhost:8000/callback",
            "scope": "openid", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256", **extra})
        for _ in range(12):
            if url.startswith("/"):
                url = flask_host.url + url
            if url.startswith("http://localhost:8000/callback"):
                return logins, url
            r = browser.get(url, allow_redirects=False)
            if r.status_code == 200 and 'name="password"' in r.text:
                logins += 1
                nxt = html.unescape(re.search(r'name="next" value="([^"]*)"', r.text).group(1))  # type: ignore[union-attr]
                r = browser.post(flask_host.url + "/login", data={"username": "ann", "password": "wonderland",
                                                                  "next": nxt}, allow_redirects=False)
            elif r.status_code == 200 and 'name="csrf"' in r.text:
                hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', r.text))
                r = browser.post(url, data={**hidden, "decision": "allow"}, allow_redirects=False)
            assert r.status_code in (301, 302, 303), (r.status_code, r.text[:300])
            url = r.headers["location"]
        raise AssertionError("too many redirects")

    assert walk()[0] == 1
    assert walk()[0] == 0, "signed in already"
    time.sleep(1.1)  # auth_time has whole seconds: the sign-in must be older than the request
    logins, callback = walk(prompt="login")
    assert logins == 1, "prompt=login: signed in again rather than a 500"
    assert parse_qs(urlsplit(callback).query).get("code"), callback


def test_the_host_login_only_redirects_to_its_own_paths(flask_host: Any) -> None:
    for evil in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/x"):
        r = requests.post(flask_host.url + "/login", data={"username": "ann", "password": "wonderland", "next": evil},
                          allow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] in ("/", flask_host.url + "/"), (evil, r.headers)
