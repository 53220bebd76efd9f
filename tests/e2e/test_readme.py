"""The README's Python snippets, run as written (the host's own `login_required` and `current_user`
are the only things supplied): a snippet that drifted from the product is a bug."""

from __future__ import annotations

import re
import types
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import DEMO_REDIRECT_URI, Browser, exchange, parse_consent_form, pkce_pair, query_of

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(after_heading: str) -> str:
    text = README.read_text()
    start = text.index(after_heading)
    m = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert m, f"no python block after {after_heading!r}"
    return m.group(1)


def host_namespace() -> dict:
    """What the host app already has: its login decorator and its current user."""
    user = types.SimpleNamespace(email="ann@example.com", name="Ann Example")
    return {"login_required": lambda view: view, "current_user": user, "__name__": "readme_app"}


def test_readme_curl_call_shape_matches_the_host_api(server):
    text = README.read_text()
    assert "/api/auth_session/$TOKEN/approve" in text and '-d \'{"user": "test@example.com"}\'' in text
    b = Browser(server)
    sid = b.start(server.clients[0].client_id, code_challenge=pkce_pair()[1])
    r = server.approve(sid, "test@example.com")
    assert r.status_code == 200 and set(r.json()) == {"redirect_uri"}


def test_readme_flask_snippet_against_the_server(make_server, monkeypatch):
    pytest.importorskip("flask")
    server = make_server(login_url="http://host.test/connectivly")
    monkeypatch.setenv("CONNECTIVLY_URL", server.issuer)
    monkeypatch.setenv("CONNECTIVLY_API_KEY", server.banner.api_key)
    ns = host_namespace()
    exec(compile(snippet("#### Flask example"), "README.md (Flask example)", "exec"), ns)
    host = ns["app"].test_client()

    client = server.clients[0]
    b = Browser(server)
    verifier, challenge = pkce_pair()
    r = b.authorize(client.client_id, code_challenge=challenge, state="st")
    login = r.headers["Location"]
    assert login.startswith("http://host.test/connectivly?token=")
    r = host.get(urlsplit(login).path + "?" + urlsplit(login).query)
    assert r.status_code == 302
    consent = r.headers["Location"]
    r = b.consent(consent, "allow")
    target = r.headers["Location"]
    assert target.startswith(DEMO_REDIRECT_URI) and query_of(target)["state"] == "st"


def test_readme_embedded_python_snippet(tmp_path, monkeypatch):
    pytest.importorskip("flask")
    pytest.importorskip("connectivly")
    monkeypatch.chdir(tmp_path)  # the snippet's sqlite://connectivly.db lands here
    ns = host_namespace()
    exec(compile(snippet("## Python: the provider inside your Flask app"), "README.md (Python)", "exec"), ns)
    app, provider = ns["app"], ns["provider"]
    web = app.test_client()
    disc = web.get("/oauth/.well-known/openid-configuration").get_json()
    assert disc["issuer"] == "http://localhost:5000/oauth"
    created = provider.create_client("Printer", ["https://printer.example/cb"])

    verifier, challenge = pkce_pair()
    r = web.get("/oauth/oauth2/authorize", query_string={
        "response_type": "code", "client_id": created.client_id, "redirect_uri": "https://printer.example/cb",
        "scope": "openid email photos:read", "state": "s", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/connectivly?token=")
    r = web.get(r.headers["Location"])
    consent = urlsplit(r.headers["Location"])
    page = web.get(f"{consent.path}?{consent.query}")  # the ticket travels in the query
    assert page.status_code == 200
    form = parse_consent_form(page.get_data(as_text=True))
    r = web.post(consent.path, data={**form["inputs"], "decision": "allow"})
    code = query_of(r.headers["Location"])["code"]
    tok = web.post("/oauth/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://printer.example/cb",
        "code_verifier": verifier, "client_id": created.client_id, "client_secret": created.client_secret}).get_json()
    r = web.get("/api/photos", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 200 and r.get_json() == {"owner": "ann@example.com"}
    assert web.get("/api/photos").status_code == 401
    provider.close()
