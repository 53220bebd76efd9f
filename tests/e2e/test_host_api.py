"""The host API (X-API-KEY), as the original README's host app uses it, plus the client registry and CLI."""

import re

import pytest
import requests

from conftest import DEMO_REDIRECT_URI, Browser, Client, exchange, pkce_pair, query_of, run_flow

CHALLENGE = pkce_pair()[1]


def assert_json_error(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body


# ----------------------------------------------------------------------------- API key


def _host_endpoints(server, sid, client_id):
    return [
        ("GET", f"/api/auth_session/{sid}", None),
        ("POST", f"/api/auth_session/{sid}/approve", {"user": "eve"}),
        ("POST", f"/api/auth_session/{sid}/deny", {}),
        ("GET", "/api/clients?owner=owner-1", None),
        ("POST", "/api/clients", {"name": "X", "redirect_uris": [DEMO_REDIRECT_URI]}),
        ("GET", f"/api/clients/{client_id}", None),
        ("PATCH", f"/api/clients/{client_id}", {"name": "pwned"}),
        ("POST", f"/api/clients/{client_id}/secret", None),
        ("DELETE", f"/api/clients/{client_id}", None),
    ]


@pytest.mark.parametrize("key", [None, "", "wrong", "cly_ak_" + "A" * 43, "__prefix__", "__lower__", "__bearer__"])
def test_host_api_rejects_missing_or_wrong_key(server, browser, key):
    sid = browser.start(server.clients[0].client_id, code_challenge=CHALLENGE)
    c = server.create_client(name="Victim")
    if key == "__prefix__":
        key = server.api_key[:-1]
    elif key == "__lower__":
        key = server.api_key.lower() if server.api_key.lower() != server.api_key else server.api_key.upper()
    for method, path, body in _host_endpoints(server, sid, c["client_id"]):
        if key == "__bearer__":
            r = server.host(method, path, api_key=None, json=body,
                            headers={"Authorization": f"Bearer {server.api_key}"})
        else:
            r = server.host(method, path, api_key=key, json=body) if body is not None else \
                server.host(method, path, api_key=key)
        assert r.status_code == 401, (method, path, key, r.status_code, r.text)
        assert "secret" not in r.text.lower() or "client_secret" not in r.text
    # Nothing happened.
    assert server.auth_session(sid).json()["status"] == "pending"
    got = server.host("GET", f"/api/clients/{c['client_id']}")
    assert got.status_code == 200 and got.json()["name"] == "Victim"


def test_api_key_header_name_is_case_insensitive(server):
    r = requests.get(server.url("/api/clients"), headers={"x-api-key": server.api_key}, timeout=10)
    assert r.status_code == 200


# ----------------------------------------------------------------------------- auth sessions


def test_auth_session_info_and_never_a_secret(server, browser, client1):
    sid = browser.start(client1.client_id, scope="openid email", state="s", code_challenge=CHALLENGE,
                        login_hint="alice@example.com", prompt="consent", max_age="600")
    r = server.auth_session(sid)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "pending"
    assert body["user"] is None
    assert body["client"]["client_id"] == client1.client_id
    assert body["client"]["name"] == client1.name
    assert [s["name"] for s in body["scopes"]] == ["openid", "email"]
    assert all(s.get("description") for s in body["scopes"])
    assert body["login_hint"] == "alice@example.com"
    assert body["prompt"] in ("consent", ["consent"])
    assert body["max_age"] == 600
    assert "expires_at" in body
    # Never a secret: not the value, not a field.
    for c in server.clients:
        if c.secret:
            assert c.secret not in r.text
    assert "secret" not in r.text.lower()
    assert server.api_key not in r.text


def test_auth_session_of_api_created_client_has_no_secret(server, browser):
    c = server.create_client(name="Confidential Co", owner="o-7", logo_uri="https://example.com/l.png",
                             client_uri="https://example.com")
    sid = browser.start(c["client_id"], code_challenge=CHALLENGE)
    r = server.auth_session(sid)
    assert r.status_code == 200
    assert c["client_secret"] not in r.text
    assert "secret" not in r.text.lower()
    assert r.json()["client"]["owner"] == "o-7"


def test_unknown_session_is_404(server):
    for method, path in (("GET", "/api/auth_session/cly_ses_nope"),
                         ("POST", "/api/auth_session/cly_ses_nope/approve"),
                         ("POST", "/api/auth_session/cly_ses_nope/deny")):
        body = {"user": "alice"} if path.endswith("approve") else None
        r = server.host(method, path, json=body) if body else server.host(method, path)
        assert_json_error(r, 404)


def test_approve_twice_is_409(server, browser, client1):
    sid = browser.start(client1.client_id, code_challenge=CHALLENGE)
    first = server.approve(sid, "alice")
    assert first.status_code == 200
    second = server.approve(sid, "mallory")
    assert_json_error(second, 409)
    assert "redirect_uri" not in second.json()
    assert server.auth_session(sid).json()["user"] == "alice"
    # deny after approve is also refused
    assert_json_error(server.deny(sid), 409)


def test_approve_after_completion_is_409(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    assert server.auth_session(flow.session_id).json()["status"] == "completed"
    assert_json_error(server.approve(flow.session_id, "mallory"), 409)


def test_deny_via_host_api(server, browser, client1):
    sid = browser.start(client1.client_id, state="host-deny", code_challenge=CHALLENGE)
    r = server.deny(sid)
    assert r.status_code == 200, r.text
    loc = r.json()["redirect_uri"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?"), loc
    q = query_of(loc)
    assert q["error"] == "access_denied"
    assert q["state"] == "host-deny"
    assert q["iss"] == server.issuer
    assert "code" not in q
    assert server.auth_session(sid).json()["status"] == "denied"
    # A denied session can be neither approved nor denied again.
    assert_json_error(server.approve(sid, "alice"), 409)
    assert_json_error(server.deny(sid), 409)


def test_deny_with_explicit_error_body(server, browser, client1):
    sid = browser.start(client1.client_id, state="d2", code_challenge=CHALLENGE)
    r = server.deny(sid, {"error": "access_denied"})
    assert r.status_code == 200
    q = query_of(r.json()["redirect_uri"])
    assert q["error"] == "access_denied" and q["state"] == "d2" and q["iss"] == server.issuer


def test_approve_requires_a_user(server, browser, client1):
    sid = browser.start(client1.client_id, code_challenge=CHALLENGE)
    for body in ({}, {"user": ""}, {"user": None}, {"claims": {"name": "x"}}):
        r = server.host("POST", f"/api/auth_session/{sid}/approve", json=body)
        assert r.status_code == 400, (body, r.status_code, r.text)
    assert server.auth_session(sid).json()["status"] == "pending"
    assert server.approve(sid, "alice").status_code == 200


def test_approve_cannot_grant_more_than_requested(server, browser, client1):
    verifier, challenge = pkce_pair()
    sid = browser.start(client1.client_id, scope="openid", code_challenge=challenge)
    r = server.approve(sid, "alice", scopes=["openid", "email"], claims={"email": "a@x"}, skip_consent=True)
    if r.status_code == 200:
        q = query_of(r.json()["redirect_uri"])
        tok = server.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": DEMO_REDIRECT_URI,
                            "code_verifier": verifier}, auth=(client1.client_id, client1.secret)).json()
        assert tok["scope"].split() == ["openid"]
        assert "email" not in server.userinfo(tok["access_token"]).json()
    else:
        assert r.status_code == 400, r.text


# ----------------------------------------------------------------------------- clients


def test_api_created_confidential_client_can_authenticate(server, browser):
    """The original stored API-created secrets in plaintext and compared hashes: they never worked."""
    c = server.create_client(name="Photo Printer", owner="user-42", redirect_uris=["https://printer.example/cb"])
    assert c["client_id"] and c["client_secret"]
    assert c["name"] == "Photo Printer"
    client = Client(c["name"], c["client_id"], c["client_secret"])
    flow = run_flow(server, browser, client.client_id, redirect_uri="https://printer.example/cb")
    r = exchange(server, client, flow, redirect_uri="https://printer.example/cb")
    assert r.status_code == 200, r.text


def test_client_registry_crud_and_secret_rotation(server, browser):
    c = server.create_client(name="CRUD App", owner="owner-crud", redirect_uris=[DEMO_REDIRECT_URI])
    cid, secret = c["client_id"], c["client_secret"]

    got = server.host("GET", f"/api/clients/{cid}")
    assert got.status_code == 200
    assert got.json()["name"] == "CRUD App" and got.json()["redirect_uris"] == [DEMO_REDIRECT_URI]
    assert secret not in got.text and "client_secret\"" not in got.text.replace('"client_secret":null', "")

    listed = server.host("GET", "/api/clients", params={"owner": "owner-crud"})
    assert listed.status_code == 200
    items = listed.json()
    items = items.get("clients", items) if isinstance(items, dict) else items
    assert [i["client_id"] for i in items] == [cid]
    assert secret not in listed.text
    other = server.host("GET", "/api/clients", params={"owner": "nobody-owns-this"}).json()
    other = other.get("clients", other) if isinstance(other, dict) else other
    assert other == []

    patched = server.host("PATCH", f"/api/clients/{cid}", json={"name": "CRUD App 2",
                                                                 "redirect_uris": ["http://localhost:5000/new"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "CRUD App 2"
    # The old redirect_uri is gone, the new one works.
    r = Browser(server).authorize(cid, redirect_uri=DEMO_REDIRECT_URI, code_challenge=CHALLENGE)
    assert r.status_code == 400 and "Location" not in r.headers

    rotated = server.host("POST", f"/api/clients/{cid}/secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret and new_secret != secret
    old = Client("x", cid, secret)
    new = Client("x", cid, new_secret)
    flow = run_flow(server, browser, cid, redirect_uri="http://localhost:5000/new")
    bad = exchange(server, old, flow, redirect_uri="http://localhost:5000/new")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    good = exchange(server, new, flow, redirect_uri="http://localhost:5000/new")
    assert good.status_code == 200, good.text

    deleted = server.host("DELETE", f"/api/clients/{cid}")
    assert deleted.status_code in (200, 204)
    assert server.host("GET", f"/api/clients/{cid}").status_code == 404
    assert server.host("DELETE", f"/api/clients/{cid}").status_code == 404
    r = Browser(server).authorize(cid, redirect_uri="http://localhost:5000/new", code_challenge=CHALLENGE)
    assert r.status_code == 400 and "Location" not in r.headers


def test_create_client_validation(server):
    bad_bodies = [
        {"redirect_uris": [DEMO_REDIRECT_URI]},  # no name
        {"name": "x", "redirect_uris": []},
        {"name": "x"},
        {"name": "x", "redirect_uris": ["not a url"]},
        {"name": "x", "redirect_uris": ["/relative/path"]},
        {"name": "x", "redirect_uris": ["http://localhost:5000/cb#frag"]},
        {"name": "x", "redirect_uris": "http://localhost:5000/cb"},
        {"name": "x", "redirect_uris": [DEMO_REDIRECT_URI], "public": "yes"},
    ]
    for body in bad_bodies:
        r = server.host("POST", "/api/clients", json=body)
        assert r.status_code == 400 or r.status_code == 422, (body, r.status_code, r.text)
        assert r.json().get("error"), r.text


def test_unknown_client_operations_are_404(server):
    for method, path in (("GET", "/api/clients/cly_ci_nope"), ("PATCH", "/api/clients/cly_ci_nope"),
                         ("DELETE", "/api/clients/cly_ci_nope"), ("POST", "/api/clients/cly_ci_nope/secret")):
        r = server.host(method, path, json={"name": "x"}) if method == "PATCH" else server.host(method, path)
        assert_json_error(r, 404)


def test_public_client_has_no_secret_and_rotation_is_refused(server):
    c = server.create_client(name="SPA", public=True)
    assert c["client_secret"] is None
    r = server.host("POST", f"/api/clients/{c['client_id']}/secret")
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


# ----------------------------------------------------------------------------- login URL, CLI


def test_login_url_with_query_is_appended_correctly(make_server):
    srv = make_server(login_url="http://127.0.0.1:9/login?tenant=a%20b&x=1")
    r = Browser(srv).authorize(srv.clients[0].client_id, code_challenge=CHALLENGE)
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert loc.startswith("http://127.0.0.1:9/login?"), loc
    q = query_of(loc)
    assert q["tenant"] == "a b" and q["x"] == "1" and q["token"].startswith("cly_")
    assert loc.count("?") == 1


def test_cli_clients_and_rotate_api_key(make_server):
    srv = make_server()
    # CLI works on the same SQLite file while the server runs.
    out = srv.run_cli("clients", "create", "--name", "CLI App", "--redirect-uri", "http://localhost:7000/cb",
                      "--redirect-uri", "http://localhost:7000/cb2", "--owner", "cli-owner").stdout
    cid = re.search(r"^Client ID: (\S+)$", out, re.M).group(1)
    secret = re.search(r"^Client Secret: (\S+)$", out, re.M).group(1)
    pub = srv.run_cli("clients", "create", "--name", "CLI SPA", "--redirect-uri", "http://localhost:7000/spa",
                      "--public").stdout
    pub_id = re.search(r"^Client ID: (\S+)$", pub, re.M).group(1)
    assert "Client Secret:" not in pub
    listing = srv.run_cli("clients", "list").stdout
    assert cid in listing and pub_id in listing and srv.clients[0].client_id in listing
    assert secret not in listing

    # The CLI-created client works against the running server.
    b = Browser(srv)
    client = Client("CLI App", cid, secret)
    flow = run_flow(srv, b, cid, redirect_uri="http://localhost:7000/cb2")
    r = exchange(srv, client, flow, redirect_uri="http://localhost:7000/cb2")
    assert r.status_code == 200, r.text
    got = srv.host("GET", f"/api/clients/{cid}").json()
    assert got["owner"] == "cli-owner"

    fp = srv.run_cli("clients", "create", "--name", "CLI FP", "--redirect-uri", DEMO_REDIRECT_URI,
                     "--first-party").stdout
    fp_id = re.search(r"^Client ID: (\S+)$", fp, re.M).group(1)
    sid = Browser(srv).start(fp_id, code_challenge=CHALLENGE)
    assert "code=" in srv.approve(sid, "alice").json()["redirect_uri"]

    # Rotating the API key: the new one works, the old one stops (after a restart of running
    # servers, as the command itself says).
    old_key = srv.api_key
    rot = srv.run_cli("rotate-api-key").stdout
    new_key = re.search(r"^API Key: (\S+)$", rot, re.M).group(1)
    assert new_key != old_key
    srv.restart()
    assert srv.host("GET", "/api/clients", api_key=new_key).status_code == 200
    assert srv.host("GET", "/api/clients", api_key=old_key).status_code == 401
    srv.api_key = new_key


def test_consent_page_shows_app_owner_logo_scopes_and_provider_name(make_server):
    srv = make_server({"CONNECTIVLY_PROVIDER_NAME": "Photo Host"})
    c = srv.create_client(name="Printing Co", owner="printing-owner", logo_uri="https://printing.example/logo.png",
                          client_uri="https://printing.example")
    b = Browser(srv)
    sid = b.start(c["client_id"], scope="openid email", code_challenge=CHALLENGE)
    page = b.get(srv.approve(sid, "alice").json()["redirect_uri"])
    assert page.status_code == 200
    text = page.text
    assert "Photo Host" in text
    assert "Printing Co" in text
    assert "printing-owner" in text
    assert "https://printing.example/logo.png" in text
    assert "See your email address" in text and "Confirm your identity" in text
    assert "See your name" not in text  # profile was not requested
    # No external assets besides the client's own logo.
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
