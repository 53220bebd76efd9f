"""First run, second run, configuration: what a user sees in the terminal and what survives a restart."""

import re
import subprocess
import urllib.parse

import requests
from authlib.jose import JsonWebKey, JsonWebToken

from conftest import BIN, DEMO_REDIRECT_URI, Browser, basic_auth, exchange, free_port, parse_consent_form, pkce_pair, \
    query_of, run_flow, wait_for_binary, without_query

BANNER_FIRST = re.compile(
    r"\AListening\.\.\. (?P<issuer>\S+)\n"
    r"\n"
    r"API Key: (?P<key>cly_ak_\S+)\n"
    r"\n"
    r"Client 1 App\n"
    r"Client ID: (?P<id1>cly_ci_\S+)\n"
    r"Client Secret: (?P<s1>cly_cs_\S+)\n"
    r"\n"
    r"Client 2 App\n"
    r"Client ID: (?P<id2>cly_ci_\S+)\n"
    r"Client Secret: (?P<s2>cly_cs_\S+)\n"
    r"\n"
    r"Both demo clients accept only the redirect URI (?P<demo>\S+) \(CONNECTIVLY_DEMO_REDIRECT_URI, read on the "
    r"first run only\)\.\n"
    r"Secrets are shown once and stored only as hashes: copy them now\.\n\Z"
)


def test_first_run_banner_has_the_readme_shape(make_server):
    srv = make_server()
    text = srv.banner.text
    m = BANNER_FIRST.match(text)
    assert m, text
    assert m["issuer"] == f"http://localhost:{srv.port}" == srv.discovery()["issuer"]
    assert m["id1"] != m["id2"] and m["s1"] != m["s2"]
    assert m["demo"] == DEMO_REDIRECT_URI
    # >= 256 bits of randomness after the prefix (43 base64url chars).
    for v in (m["key"], m["s1"], m["s2"]):
        assert len(v.split("_", 2)[2]) >= 43, v
    # The secrets are stored only as hashes: not in the SQLite file in clear.
    raw = (srv.workdir / "c.db").read_bytes()
    for wal in srv.workdir.glob("c.db-wal"):
        raw += wal.read_bytes()
    for v in (m["key"], m["s1"], m["s2"]):
        assert v.encode() not in raw


def test_restart_keeps_key_clients_signing_keys_and_tokens(make_server):
    srv = make_server()
    first = srv.banner
    key = srv.api_key
    clients = list(srv.clients)
    kids = {k["kid"] for k in srv.jwks()["keys"]}
    c1 = clients[0]

    # A token issued before the restart ...
    b = Browser(srv)
    flow = run_flow(srv, b, c1.client_id, claims={"name": "Alice", "email": "alice@example.com"})
    tok = exchange(srv, c1, flow).json()
    assert srv.userinfo(tok["access_token"]).status_code == 200
    # ... and a code issued before the restart, redeemed after it.
    flow2 = run_flow(srv, b, c1.client_id)

    rc = srv.stop()
    assert rc == 0, f"SIGTERM should shut down gracefully, exit code {rc}"
    assert not srv.alive()
    srv.start()

    second = srv.banner
    assert second.reusing, second.text
    assert second.api_key is None and "API Key:" not in second.text, second.text
    assert "Client Secret:" not in second.text, second.text
    for c in clients:
        assert c.secret not in second.text
    assert key not in second.text
    assert second.issuer == first.issuer
    assert {(c.name, c.client_id) for c in second.clients} == {(c.name, c.client_id) for c in first.clients}

    # The old API key still works.
    r = srv.host("GET", f"/api/clients/{c1.client_id}", api_key=key)
    assert r.status_code == 200, r.text
    # Same signing key(s).
    assert {k["kid"] for k in srv.jwks()["keys"]} >= kids
    # The pre-restart token still verifies locally and at userinfo.
    jwks = JsonWebKey.import_key_set(srv.jwks())
    JsonWebToken(["RS256", "ES256", "EdDSA"]).decode(tok["access_token"], jwks).validate(leeway=5)
    JsonWebToken(["RS256", "ES256", "EdDSA"]).decode(tok["id_token"], jwks).validate(leeway=5)
    info = srv.userinfo(tok["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["email"] == "alice@example.com"
    # The pre-restart code and the demo client's secret still work.
    r = exchange(srv, c1, flow2)
    assert r.status_code == 200, r.text
    # And a fresh flow works with the first run's secrets.
    c2 = clients[1]
    r = exchange(srv, c2, run_flow(srv, Browser(srv), c2.client_id))
    assert r.status_code == 200, r.text


def test_binding_cookie_survives_restart(make_server):
    srv = make_server()
    b = Browser(srv)
    sid = b.start(srv.clients[0].client_id, code_challenge=pkce_pair()[1], state="across")
    srv.restart()
    url = srv.approve(sid, "alice").json()["redirect_uri"]
    r = b.consent(url, "allow")
    assert r.status_code in (302, 303)
    q = query_of(r.headers["Location"])
    assert q["code"] and q["state"] == "across"


def test_explicit_api_key(make_server):
    key = "my-explicit-host-key-0123456789"
    srv = make_server({"CONNECTIVLY_API_KEY": key})
    assert srv.host("GET", "/api/clients", api_key=key).status_code == 200
    assert srv.host("GET", "/api/clients", api_key=key + "x").status_code == 401
    if srv.banner.api_key is not None:
        assert srv.banner.api_key == key
    sid = Browser(srv).start(srv.clients[0].client_id, code_challenge=pkce_pair()[1])
    assert srv.host("POST", f"/api/auth_session/{sid}/approve", api_key=key, json={"user": "a"}).status_code == 200
    srv.restart()
    assert srv.host("GET", "/api/clients", api_key=key).status_code == 200


def test_explicit_api_key_replaces_a_generated_one(make_server):
    srv = make_server()
    generated = srv.api_key
    key = "replacement-key-abcdefghijklmnop"
    srv.stop()
    srv.extra_env["CONNECTIVLY_API_KEY"] = key
    srv.start()
    assert srv.host("GET", "/api/clients", api_key=key).status_code == 200
    assert srv.host("GET", "/api/clients", api_key=generated).status_code == 401


def test_custom_issuer_is_used_everywhere(make_server):
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    srv = make_server({"CONNECTIVLY_ISSUER": issuer}, port=port)
    assert srv.banner.issuer == issuer
    d = srv.discovery()
    assert d["issuer"] == issuer
    assert d["token_endpoint"].startswith(issuer + "/")
    flow = run_flow(srv, Browser(srv), srv.clients[0].client_id)
    assert query_of(flow.redirect)["iss"] == issuer
    tok = exchange(srv, srv.clients[0], flow).json()
    jwks = JsonWebKey.import_key_set(srv.jwks())
    assert JsonWebToken(["RS256"]).decode(tok["id_token"], jwks)["iss"] == issuer


SPOOF = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
         "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/evil", "X-Original-Host": "evil.example",
         "Forwarded": "host=evil.example;proto=https"}


def test_public_urls_ignore_host_headers(server):
    """The original built URLs from Host / X-Forwarded-*: they must come from the issuer only."""
    r = requests.get(server.url("/.well-known/openid-configuration"), headers=SPOOF, timeout=10)
    assert r.status_code == 200
    assert "evil" not in r.text
    assert r.json()["issuer"] == server.issuer


def test_flow_urls_ignore_host_headers(server):
    """Every URL of a flow, with Host / X-Forwarded-* / Forwarded spoofed on every request: the login
    redirect from /authorize, its cookie, the consent URL `approve` returns, the consent form's action, the
    code redirect and its `iss` (RFC 9207), an error redirect's `iss`, and the tokens' `iss` are exactly what
    they are without the spoofing."""
    c1 = server.clients[0]
    authz = server.url("/oauth2/authorize")
    b = Browser(server)
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": c1.client_id, "redirect_uri": DEMO_REDIRECT_URI,
              "scope": "openid profile", "state": "st", "nonce": "n", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    r = b.get(authz, params=params, headers=SPOOF)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    login = r.headers["Location"]
    assert without_query(login) == server.login_url, login
    assert list(query_of(login)) == ["token"], login
    cookie = r.headers.get("Set-Cookie", "")
    assert "evil" not in cookie.lower() and "domain=" not in cookie.lower(), cookie
    sid = query_of(login)["token"]

    approved = server.host("POST", f"/api/auth_session/{sid}/approve", headers=SPOOF, json={"user": "alice"})
    assert approved.status_code == 200, approved.text
    consent_url = approved.json()["redirect_uri"]
    assert without_query(consent_url) == server.url(f"/consent/{sid}"), consent_url
    assert "evil" not in consent_url

    page = b.get(consent_url, headers=SPOOF)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    assert "evil" not in page.text
    form = parse_consent_form(page.text)
    action = urllib.parse.urljoin(consent_url, form["action"] or consent_url)
    assert without_query(action) == server.url(f"/consent/{sid}"), action
    done = b.post(action, data={**form["inputs"], "decision": "allow"}, headers=SPOOF)
    assert done.status_code == 302, (done.status_code, done.text[:300])
    target = done.headers["Location"]
    assert without_query(target) == DEMO_REDIRECT_URI, target
    q = query_of(target)
    assert q["iss"] == server.issuer and q["state"] == "st" and q["code"], target
    assert "evil" not in target

    tok = requests.post(server.url("/oauth2/token"), headers={**SPOOF, "Authorization": basic_auth(c1.client_id, c1.secret)},
                        data={"grant_type": "authorization_code", "code": q["code"], "redirect_uri": DEMO_REDIRECT_URI,
                              "code_verifier": verifier}, timeout=10)
    assert tok.status_code == 200, tok.text
    jwks = JsonWebKey.import_key_set(server.jwks())
    for name in ("id_token", "access_token"):
        assert JsonWebToken(["RS256"]).decode(tok.json()[name], jwks)["iss"] == server.issuer, name

    # An error redirect (bad scope, after client and redirect URI are verified) carries the real issuer too.
    err = b.get(authz, params={**params, "scope": "openid no-such-scope"}, headers=SPOOF)
    assert err.status_code == 302, err.status_code
    eq = query_of(err.headers["Location"])
    assert eq["error"] == "invalid_scope" and eq["iss"] == server.issuer, err.headers["Location"]
    assert without_query(err.headers["Location"]) == DEMO_REDIRECT_URI


def _run_expect_failure(env_overrides, tmp_path):
    wait_for_binary()
    env = {"PATH": "/usr/bin:/bin", "CONNECTIVLY_PORT": str(free_port()), "CONNECTIVLY_BIND": "127.0.0.1",
           "CONNECTIVLY_DATABASE_URL": f"sqlite://{tmp_path / 'c.db'}", "CONNECTIVLY_LOG": "warn",
           "CONNECTIVLY_REDIRECT_URL": "http://127.0.0.1:9/login"}
    env.update(env_overrides)
    env = {k: v for k, v in env.items() if v is not None}
    p = subprocess.Popen([BIN], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.terminate()
        out, err = p.communicate(timeout=10)
        raise AssertionError(f"server started despite bad config {env_overrides}: {out!r}")
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def test_missing_redirect_url_fails_clearly(tmp_path):
    rc, out, err = _run_expect_failure({"CONNECTIVLY_REDIRECT_URL": None}, tmp_path)
    assert rc != 0
    assert "CONNECTIVLY_REDIRECT_URL" in out + err
    assert "API Key:" not in out


def test_short_explicit_api_key_is_refused(tmp_path):
    rc, out, err = _run_expect_failure({"CONNECTIVLY_API_KEY": "short"}, tmp_path)
    assert rc != 0
    assert "api_key" in (out + err).lower().replace("-", "_")
    assert "panicked" not in err


def test_port_in_use_fails_clearly(make_server, tmp_path):
    srv = make_server()
    rc, out, err = _run_expect_failure({"CONNECTIVLY_PORT": str(srv.port)}, tmp_path)
    assert rc != 0
    assert "panicked" not in err
    assert srv.alive()
