"""The security review of issue 16, one finding at a time, over HTTP against the server binary.

Each test here is written so that it fails on the behaviour the review found (see the finding's number
in the test name) and passes with the fix.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import time
import urllib.parse
import warnings

import requests
from authlib.jose import JsonWebKey, JsonWebToken

from conftest import BIN, DEMO_REDIRECT_URI, HTTP_TIMEOUT, Browser, basic_auth, exchange, parse_consent_form, \
    pkce_pair, query_of, run_flow, without_query

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*authlib.jose.*")

CHALLENGE = pkce_pair()[1]
OTHER_REDIRECT_URI = "http://localhost:5000/other"


def _approved_consent_url(server, browser, client_id, user="alice", **authorize):
    sid = browser.start(client_id, code_challenge=CHALLENGE, **authorize)
    r = server.approve(sid, user, claims={"name": user})
    assert r.status_code == 200, r.text
    url = r.json()["redirect_uri"]
    assert url.startswith(server.issuer + "/consent/"), url
    return sid, url


def _status(server, sid):
    return server.auth_session(sid).json()["status"]


def _assert_refused_without_redirect(r, status):
    assert r.status_code == status, (r.status_code, r.headers, r.text[:300])
    assert "Location" not in r.headers, r.headers.get("Location")
    assert "decision" not in r.text


# ----------------------------------------------------------------------------- 1. consent in the attacker's browser


def test_1_consent_url_carries_a_ticket_that_needs_the_starting_browser_too(server, client1):
    attacker, victim = Browser(server), Browser(server)
    sid = attacker.start(client1.client_id, code_challenge=CHALLENGE, prompt="consent")
    # The victim's host app approves S for the victim (the attacker passed the login link along).
    url = server.approve(sid, "victim", claims={"name": "Victim"}).json()["redirect_uri"]
    ticket = query_of(url).get("ticket", "")
    assert ticket.startswith("cly_ct_"), url
    bare = without_query(url)

    # Without the ticket, or with a wrong one of the right shape, the attacker's own browser gets nothing.
    _assert_refused_without_redirect(attacker.get(bare), 403)
    _assert_refused_without_redirect(attacker.post(bare, data={"decision": "allow"}), 403)
    wrong = "cly_ct_" + secrets.token_urlsafe(64)[: len(ticket) - len("cly_ct_")]
    assert wrong != ticket and len(wrong) == len(ticket)
    r = attacker.get(bare + "?ticket=" + wrong)
    _assert_refused_without_redirect(r, 403)
    assert "victim" not in r.text.lower()
    assert _status(server, sid) == "approved"

    # The victim's browser (no binding cookie) has the ticket but not the cookie: refused, and the
    # session ends, so the ticket is worthless afterwards even in the attacker's browser.
    _assert_refused_without_redirect(victim.get(url), 403)
    assert _status(server, sid) == "denied"
    r = attacker.get(url)
    _assert_refused_without_redirect(r, 409)
    assert "victim" not in r.text.lower()
    _assert_refused_without_redirect(attacker.post(url, data={"decision": "allow", "csrf": "x"}), 409)


def test_1_the_browser_that_started_the_flow_still_completes(server, client1):
    b = Browser(server)
    flow_verifier, challenge = pkce_pair()
    sid = b.start(client1.client_id, code_challenge=challenge, state="s1")
    url = server.approve(sid, "alice", claims={"name": "Alice"}).json()["redirect_uri"]
    ticket = query_of(url)["ticket"]
    page = b.get(url)
    assert page.status_code == 200, page.text[:300]
    form = parse_consent_form(page.text)
    assert form["method"] == "post"
    assert form["inputs"].get("ticket") == ticket  # posted back as a hidden field
    assert ticket not in (form["action"] or "")
    r = b.post(urllib.parse.urljoin(url, form["action"]), data={**form["inputs"], "decision": "allow"})
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    loc = r.headers["Location"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?") and query_of(loc)["state"] == "s1", loc
    assert ticket not in loc and "ticket" not in query_of(loc)
    tok = server.token({"grant_type": "authorization_code", "code": query_of(loc)["code"],
                        "redirect_uri": DEMO_REDIRECT_URI, "code_verifier": flow_verifier},
                       auth=(client1.client_id, client1.secret))
    assert tok.status_code == 200, tok.text
    assert server.userinfo(tok.json()["access_token"]).json()["sub"] == "alice"


# ----------------------------------------------------------------------------- 2. database files private, keys sealed


def _start_fails(srv) -> str:
    """Starts the binary with the server's env and expects it to exit non-zero at startup."""
    p = subprocess.Popen([BIN], env=srv.env(), cwd=srv.workdir, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("the server started although it should have refused to")
    assert p.returncode != 0, (out, err)
    return out + err


def _private(path):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o077 == 0, f"{path} mode {mode:o}"


def _key_rows(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return c.execute("SELECT kid, alg, private_der FROM signing_keys").fetchall()


def test_2_database_files_are_private_and_keys_sealed(make_server):
    # CONNECTIVLY_DATABASE_URL empty: the default, sqlite://connectivly.db in the working directory.
    srv = make_server({"CONNECTIVLY_DATABASE_URL": ""})
    db = srv.workdir / "connectivly.db"
    key = srv.workdir / "connectivly.db.key"
    b = Browser(srv)
    flow = run_flow(srv, b, srv.clients[0].client_id, skip_consent=True)
    assert exchange(srv, srv.clients[0], flow).status_code == 200
    assert db.exists() and key.exists()
    for path in (db, srv.workdir / "connectivly.db-wal", srv.workdir / "connectivly.db-shm", key):
        if path.exists():
            _private(path)
    rows = _key_rows(db)
    assert rows
    for kid, _alg, der in rows:
        assert bytes(der).startswith(b"CLYK1"), (kid, bytes(der)[:8])
    assert srv.stop() == 0

    # Without its key file the sealed keys are unusable: the start fails naming the file, and no new
    # key file is made.
    moved = srv.workdir / "kek.bak"
    key.rename(moved)
    text = _start_fails(srv)
    assert "connectivly.db.key" in text, text
    assert not key.exists()
    moved.rename(key)

    # A group/world-readable database is refused unless the operator says it is shared on purpose.
    os.chmod(db, 0o644)
    text = _start_fails(srv)
    assert "chmod 600" in text, text
    srv.extra_env["CONNECTIVLY_ALLOW_READABLE_DATABASE"] = "true"
    srv.start()
    assert srv.discovery()["issuer"] == srv.issuer
    srv.stop()


def test_2_plaintext_keys_of_an_existing_database_are_sealed_on_start(make_server):
    """A database written before sealing (plain PKCS#8 in signing_keys, no key file): the first start
    seals the keys in place and keeps signing with them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    srv = make_server({"CONNECTIVLY_DATABASE_URL": ""})
    db, key = srv.workdir / "connectivly.db", srv.workdir / "connectivly.db.key"
    assert srv.stop() == 0
    plain = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = plain.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    with sqlite3.connect(db) as c:
        kids = [r[0] for r in c.execute("SELECT kid FROM signing_keys WHERE alg = 'RS256'")]
        assert len(kids) == 1, kids
        c.execute("UPDATE signing_keys SET private_der = ? WHERE kid = ?", (der, kids[0]))
        c.execute("DELETE FROM signing_keys WHERE kid != ?", (kids[0],))
    key.unlink()
    assert not any(bytes(r[2]).startswith(b"CLYK1") for r in _key_rows(db))

    srv.start()
    rows = _key_rows(db)
    assert [r[0] for r in rows] == kids
    assert bytes(rows[0][2]).startswith(b"CLYK1") and bytes(rows[0][2]) != der
    assert key.exists()
    _private(key)
    # Still the same key: the JWKS publishes its public half and tokens verify with it.
    n = plain.public_key().public_numbers().n
    jwk = next(k for k in srv.jwks()["keys"] if k["kid"] == kids[0])
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big") == n
    b = Browser(srv)
    flow = run_flow(srv, b, srv.clients[0].client_id, skip_consent=True)
    tok = exchange(srv, srv.clients[0], flow).json()
    pem = plain.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = JsonWebToken(["RS256"]).decode(tok["id_token"], pem)
    assert claims["sub"] == "alice"


# ----------------------------------------------------------------------------- 3. no lockout of the real client


def _token_from(srv, source: str, client_id: str, secret: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=HTTP_TIMEOUT, source_address=(source, 0))
    try:
        body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": "cly_code_bogus",
                                       "redirect_uri": DEMO_REDIRECT_URI, "code_verifier": "v" * 43})
        conn.request("POST", "/oauth2/token", body=body, headers={
            "Authorization": basic_auth(client_id, secret), "Host": f"localhost:{srv.port}",
            "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else {})
    finally:
        conn.close()


def test_3_failed_secrets_from_one_address_do_not_lock_out_the_client_elsewhere(make_server):
    srv = make_server({"CONNECTIVLY_FAILED_AUTH_LIMIT_PER_CLIENT": "20",
                       "CONNECTIVLY_FAILED_LIMIT_PER_ADDRESS": "60"})
    c = srv.clients[0]
    answers = [_token_from(srv, "127.0.0.2", c.client_id, "cly_cs_wrong" + str(i))[0] for i in range(25)]
    assert answers[:20] == [401] * 20, answers
    assert answers[20:] == [429] * 5, answers
    # The real client, from its own address, with the right secret: authenticated (the bogus code is
    # what is refused), not locked out.
    status, body = _token_from(srv, "127.0.0.1", c.client_id, c.secret)
    assert (status, body.get("error")) == (400, "invalid_grant"), (status, body)
    # The brute-forcing address stays blocked even with the right secret.
    status, body = _token_from(srv, "127.0.0.2", c.client_id, c.secret)
    assert status == 429, (status, body)


# ----------------------------------------------------------------------------- 4. introspection by other clients


def test_4_introspection_only_for_the_tokens_client_or_a_resource_server(server, client1, client2):
    flow = run_flow(server, Browser(server), client1.client_id, skip_consent=True)
    at = exchange(server, client1, flow).json()["access_token"]

    def introspect(cid, secret):
        r = requests.post(server.url("/oauth2/introspect"), data={"token": at},
                          headers={"Authorization": basic_auth(cid, secret)}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    assert introspect(client2.client_id, client2.secret) == {"active": False}
    mine = introspect(client1.client_id, client1.secret)
    assert mine["active"] is True and mine["client_id"] == client1.client_id
    rs = server.create_client(name="Resource Server", introspection_allowed=True)
    assert rs.get("introspection_allowed") is True, rs
    theirs = introspect(rs["client_id"], rs["client_secret"])
    assert theirs["active"] is True and theirs["client_id"] == client1.client_id
    host = server.host("POST", "/api/introspect", json={"token": at})
    assert host.status_code == 200 and host.json()["active"] is True, host.text


# ----------------------------------------------------------------------------- 5. removed redirect URI


def test_5_a_redirect_uri_removed_mid_flight_receives_no_code(server):
    c = server.create_client(name="Two URIs", redirect_uris=[DEMO_REDIRECT_URI, OTHER_REDIRECT_URI])
    cid = c["client_id"]
    b = Browser(server)

    # Consent pending, then the URI goes away: Allow is a 400 page, nothing is sent to the old URI.
    sid, url = _approved_consent_url(server, b, cid, redirect_uri=OTHER_REDIRECT_URI)
    r = server.host("PATCH", f"/api/clients/{cid}", json={"redirect_uris": [DEMO_REDIRECT_URI]})
    assert r.status_code == 200, r.text
    r = b.consent(url, "allow")
    _assert_refused_without_redirect(r, 400)
    assert r.headers["Content-Type"].startswith("text/html")
    assert _status(server, sid) == "approved"

    # skip_consent approval after the removal: refused to the host, no redirect URI handed out.
    sid = b.start(cid, redirect_uri=DEMO_REDIRECT_URI, code_challenge=CHALLENGE)
    r = server.host("PATCH", f"/api/clients/{cid}", json={"redirect_uris": [OTHER_REDIRECT_URI]})
    assert r.status_code == 200, r.text
    r = server.approve(sid, "alice", skip_consent=True)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request" and "redirect_uri" not in r.json(), r.json()

    # The client deleted while consent is pending: no redirect anywhere.
    sid, url = _approved_consent_url(server, b, cid, redirect_uri=OTHER_REDIRECT_URI)
    form = parse_consent_form(b.get(url).text)
    assert server.host("DELETE", f"/api/clients/{cid}").status_code in (200, 204)
    _assert_refused_without_redirect(b.post(url, data={**form["inputs"], "decision": "allow"}), 404)
    _assert_refused_without_redirect(b.post(url, data={**form["inputs"], "decision": "deny"}), 404)


# ----------------------------------------------------------------------------- 6. ambiguous redirect URIs


def test_6_registration_refuses_uris_that_parse_differently_elsewhere(server):
    for uri in ("https://a.example\\@evil.example/cb", "https:evil.example/cb", "https:/evil.example/cb"):
        r = server.host("POST", "/api/clients", json={"name": "x", "redirect_uris": [uri]})
        assert r.status_code == 400, (uri, r.status_code, r.text)
        body = r.json()
        assert body["error"] == "invalid_request", body
        # The description names the URI (quoted Rust-style, so a backslash shows doubled).
        desc = body.get("error_description", "")
        assert uri in desc or json.dumps(uri)[1:-1] in desc, (uri, body)
    ok = server.host("POST", "/api/clients", json={"name": "x", "redirect_uris": ["https://a.example/cb"]})
    assert ok.status_code == 201, ok.text


# ----------------------------------------------------------------------------- 7. prompt=login


def test_7_prompt_login_needs_a_fresh_auth_time(server, client1):
    b = Browser(server)
    verifier, challenge = pkce_pair()
    sid = b.start(client1.client_id, code_challenge=challenge, prompt="login", state="pl")
    for extra in ({}, {"auth_time": int(time.time()) - 600}):
        r = server.approve(sid, "alice", **extra)
        assert r.status_code == 400, (extra, r.text)
        assert r.json()["error"] == "login_required", r.json()
        assert _status(server, sid) == "pending"
    auth_time = int(time.time())
    r = server.approve(sid, "alice", auth_time=auth_time)
    assert r.status_code == 200, r.text
    done = b.consent(r.json()["redirect_uri"], "allow")
    assert done.status_code in (302, 303), done.text[:300]
    q = query_of(done.headers["Location"])
    tok = server.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": DEMO_REDIRECT_URI,
                        "code_verifier": verifier}, auth=(client1.client_id, client1.secret))
    assert tok.status_code == 200, tok.text
    claims = JsonWebToken(["RS256", "ES256", "EdDSA"]).decode(tok.json()["id_token"],
                                                             JsonWebKey.import_key_set(server.jwks()))
    assert claims["auth_time"] == auth_time


# ----------------------------------------------------------------------------- 8. binding cookie


def _authorize_raw(srv, cookie: str | None = None) -> requests.Response:
    params = {"response_type": "code", "client_id": srv.clients[0].client_id, "redirect_uri": DEMO_REDIRECT_URI,
              "scope": "openid", "state": "c", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    headers = {"Cookie": cookie} if cookie else {}
    r = requests.get(f"http://127.0.0.1:{srv.port}/oauth2/authorize", params=params, headers=headers,
                     allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return r


def _set_cookie(r):
    raw = r.headers["Set-Cookie"]
    first, *attrs = [p.strip() for p in raw.split(";")]
    name, value = first.split("=", 1)
    return name, value, attrs


def test_8_cookie_prefix_follows_the_issuer(make_server):
    srv = make_server({"CONNECTIVLY_ISSUER": "https://id.example.test"})
    r = _authorize_raw(srv)
    assert r.headers["Location"].startswith("http://127.0.0.1:9/connectivly?token=")
    name, value, attrs = _set_cookie(r)
    assert name == "__Host-connectivly_binding", r.headers["Set-Cookie"]
    assert "Secure" in attrs and "Path=/" in attrs, attrs
    assert not any(a.lower().startswith("domain=") for a in attrs), attrs

    srv = make_server({"CONNECTIVLY_ISSUER": "https://id.example.test/auth"})
    name, value, attrs = _set_cookie(_authorize_raw(srv))
    assert name == "__Secure-connectivly_binding", attrs
    assert "Secure" in attrs and "Path=/auth" in attrs, attrs


def test_8_a_planted_binding_cookie_is_not_adopted(server, client1):
    planted = "cly_bn_" + secrets.token_urlsafe(32)
    assert len(planted) == len("cly_bn_") + 43
    r = _authorize_raw(server, cookie=f"connectivly_binding={planted}")
    name, value, _ = _set_cookie(r)
    assert name == "connectivly_binding"
    assert value.split(".")[0] != planted and value.split(".")[0].startswith("cly_bn_"), value
    sid = query_of(r.headers["Location"])["token"]
    url = server.approve(sid, "alice").json()["redirect_uri"]
    # The planter knows only the planted value: with the ticket and that cookie alone, refused.
    fixer = requests.get(url, headers={"Cookie": f"connectivly_binding={planted}"}, allow_redirects=False,
                         timeout=HTTP_TIMEOUT)
    _assert_refused_without_redirect(fixer, 403)


# ----------------------------------------------------------------------------- 9. PKCE for every client


def test_9_pkce_required_from_confidential_clients_by_default(server, make_server, client1):
    r = Browser(server).authorize(client1.client_id, state="nopkce")  # no code_challenge
    assert r.status_code == 302, r.text[:300]
    loc = r.headers["Location"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?"), loc
    q = query_of(loc)
    assert q["error"] == "invalid_request" and q["state"] == "nopkce" and q["iss"] == server.issuer, q
    assert "code" not in q

    relaxed = make_server({"CONNECTIVLY_REQUIRE_PKCE": "false"})
    r = Browser(relaxed).authorize(relaxed.clients[0].client_id)
    assert r.status_code == 302
    assert without_query(r.headers["Location"]) == relaxed.login_url, r.headers["Location"]

    def shape(srv):
        return json.loads(json.dumps(srv.discovery()).replace(srv.issuer, "ISSUER"))

    assert shape(server) == shape(relaxed)
    assert server.discovery()["code_challenge_methods_supported"] == ["S256"]
