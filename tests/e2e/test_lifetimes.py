"""Configured lifetimes, signing algorithms, several processes on one SQLite file, and races."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from authlib.jose import JsonWebKey, JsonWebToken

from conftest import DEMO_REDIRECT_URI, Browser, assert_frame_proof_html, exchange, parse_consent_form, pkce_pair, \
    query_of, run_flow

# Lifetimes are counted in whole seconds on the server's wall clock, with no leeway: something issued at
# x.99 with a TTL of n is valid for only n - 0.99 s. TTL leaves every "still valid" step below more than
# 4 s, and the "expired" checks wait until TTL + 1.5 s after the last thing was issued (there is no
# injectable clock over HTTP yet).
TTL = 6


@pytest.fixture(scope="module")
def short(make_server):
    return make_server({"CONNECTIVLY_SESSION_TTL": str(TTL), "CONNECTIVLY_CODE_TTL": str(TTL),
                        "CONNECTIVLY_ACCESS_TOKEN_TTL": str(TTL), "CONNECTIVLY_ID_TOKEN_TTL": str(TTL + 1)})


def test_lifetimes_are_honoured(short):
    srv = short
    c1 = srv.clients[0]
    started = time.time()
    # Token lifetimes are what was configured.
    flow = run_flow(srv, Browser(srv), c1.client_id)
    tok = exchange(srv, c1, flow).json()
    assert int(tok["expires_in"]) == TTL
    jwks = JsonWebKey.import_key_set(srv.jwks())
    at = JsonWebToken(["RS256"]).decode(tok["access_token"], jwks)
    idt = JsonWebToken(["RS256"]).decode(tok["id_token"], jwks)
    assert at["exp"] - at["iat"] == TTL
    assert idt["exp"] - idt["iat"] == TTL + 1
    r = srv.userinfo(tok["access_token"])
    assert r.status_code == 200, (r.status_code, r.text, f"{time.time() - started:.1f} s after the flow began")

    # Things that will expire while we wait.
    b = Browser(srv)
    pending = b.start(c1.client_id, code_challenge=pkce_pair()[1])
    b2 = Browser(srv)
    approved = b2.start(c1.client_id, code_challenge=pkce_pair()[1])
    consent_url = srv.approve(approved, "alice").json()["redirect_uri"]
    page = b2.get(consent_url)
    assert page.status_code == 200, (page.status_code, f"{time.time() - started:.1f} s after the flow began")
    csrf = parse_consent_form(page.text)["inputs"]["csrf"]
    unredeemed = run_flow(srv, Browser(srv), c1.client_id)
    last_issued = time.time()

    # Whole seconds on the server: past expires_at = floor(issued) + TTL once TTL + 1 s have passed.
    time.sleep(max(0.0, last_issued + TTL + 1.5 - time.time()))

    # Access token expired.
    r = srv.userinfo(tok["access_token"])
    assert r.status_code == 401, r.text
    # Code expired.
    r = exchange(srv, c1, unredeemed)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # An expired session is a clear host-API error, never a redirect.
    r = srv.approve(pending, "alice")
    assert r.status_code == 410 and r.json()["error"] == "expired", (r.status_code, r.text)
    assert "redirect_uri" not in r.json()
    r = srv.deny(pending)
    assert r.status_code == 410 and r.json()["error"] == "expired", (r.status_code, r.text)
    assert "redirect_uri" not in r.json()
    # The consent page of an expired session does not issue a code: an HTML "expired" page, frame-proof too.
    r = b2.post(consent_url, data={"csrf": csrf, "decision": "allow"})
    assert r.status_code == 410, r.status_code
    assert "Location" not in r.headers
    assert_frame_proof_html(r.headers, "expired consent page")


def test_bad_lifetime_config_is_refused(make_server):
    srv = make_server({"CONNECTIVLY_CODE_TTL": "soon"}, start=False)
    with pytest.raises(RuntimeError) as e:
        srv.start(timeout=20)
    assert "CONNECTIVLY_CODE_TTL" in str(e.value)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_selectable_signing_algorithm(make_server, alg):
    srv = make_server({"CONNECTIVLY_SIGNING_ALG": alg})
    d = srv.discovery()
    assert alg in d["id_token_signing_alg_values_supported"]
    keys = srv.jwks()["keys"]
    assert any(k["alg"] == alg for k in keys), keys
    for k in keys:
        assert k.get("kid") and k.get("use") == "sig"
    flow = run_flow(srv, Browser(srv), srv.clients[0].client_id)
    tok = exchange(srv, srv.clients[0], flow).json()
    jwks = JsonWebKey.import_key_set(srv.jwks())
    idt = JsonWebToken([alg]).decode(tok["id_token"], jwks)
    idt.validate(leeway=5)
    assert idt.header["alg"] == alg
    assert idt["nonce"] == flow.nonce
    assert srv.userinfo(tok["access_token"]).status_code == 200
    # DESIGN.md: "RS256 always available (OIDC requires it), ES256 and EdDSA selectable";
    # OIDC Discovery 1.0 s3: id_token_signing_alg_values_supported "MUST" include RS256.
    assert "RS256" in d["id_token_signing_alg_values_supported"], d["id_token_signing_alg_values_supported"]
    assert any(k["alg"] == "RS256" for k in keys), [k["alg"] for k in keys]


def test_access_tokens_can_be_signed_with_another_algorithm(make_server):
    # RS256 ID tokens for every client, EdDSA access tokens for the provider and resource servers.
    srv = make_server({"CONNECTIVLY_ACCESS_TOKEN_SIGNING_ALG": "EdDSA"})
    c1 = srv.clients[0]
    flow = run_flow(srv, Browser(srv), c1.client_id)
    tok = exchange(srv, c1, flow).json()
    jwks = JsonWebKey.import_key_set(srv.jwks())
    idt = JsonWebToken(["RS256"]).decode(tok["id_token"], jwks)
    idt.validate(leeway=5)
    assert idt["nonce"] == flow.nonce
    at = JsonWebToken(["EdDSA"]).decode(tok["access_token"], jwks)
    at.validate(leeway=5)
    assert at.header["alg"] == "EdDSA" and at.header["typ"] == "at+jwt"
    assert srv.userinfo(tok["access_token"]).status_code == 200
    algs = {k["alg"] for k in srv.jwks()["keys"]}
    assert {"RS256", "EdDSA"} <= algs, algs
    assert "RS256" in srv.discovery()["id_token_signing_alg_values_supported"]


def test_unknown_access_token_algorithm_is_refused(make_server):
    srv = make_server({"CONNECTIVLY_ACCESS_TOKEN_SIGNING_ALG": "HS256"}, start=False)
    with pytest.raises(RuntimeError) as e:
        srv.start(timeout=20)
    assert "CONNECTIVLY_ACCESS_TOKEN_SIGNING_ALG" in str(e.value) and "HS256" in str(e.value)


def test_two_processes_share_one_sqlite_file(make_server):
    a = make_server()
    b_srv = make_server({"CONNECTIVLY_ISSUER": a.issuer}, start=False)
    b_srv.db_url = a.db_url
    b_srv.start()
    try:
        assert b_srv.banner.reusing, b_srv.banner.text
        b_srv.api_key = a.api_key
        assert {c.client_id for c in b_srv.clients} == {c.client_id for c in a.clients}
        assert {k["kid"] for k in b_srv.jwks()["keys"]} == {k["kid"] for k in a.jwks()["keys"]}
        c1 = a.clients[0]
        base_b = f"http://localhost:{b_srv.port}"

        # authorize on A, host approves on B, consent on A, token on B, userinfo on A.
        browser = Browser(a)
        verifier, challenge = pkce_pair()
        sid = browser.start(c1.client_id, code_challenge=challenge, state="x")
        r = requests.post(f"{base_b}/api/auth_session/{sid}/approve", json={"user": "multi", "claims": {"name": "M"}},
                          headers={"X-API-KEY": a.api_key}, timeout=10)
        assert r.status_code == 200, r.text
        done = browser.consent(r.json()["redirect_uri"], "allow")
        code = query_of(done.headers["Location"])["code"]
        tok = requests.post(f"{base_b}/oauth2/token", data={"grant_type": "authorization_code", "code": code,
                                                            "redirect_uri": DEMO_REDIRECT_URI, "code_verifier": verifier},
                            auth=(c1.client_id, c1.secret), timeout=10)
        assert tok.status_code == 200, tok.text
        info = a.userinfo(tok.json()["access_token"])
        assert info.status_code == 200 and info.json()["name"] == "M"
        # Reuse on the other process is still detected.
        again = a.token({"grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT_URI,
                         "code_verifier": verifier}, auth=(c1.client_id, c1.secret))
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert requests.get(f"{base_b}/oauth2/userinfo",
                            headers={"Authorization": "Bearer " + tok.json()["access_token"]},
                            timeout=10).status_code == 401
    finally:
        b_srv.stop()


def test_concurrent_code_redemption_succeeds_once(make_server):
    srv = make_server()
    c1 = srv.clients[0]
    for _ in range(10):
        flow = run_flow(srv, Browser(srv), c1.client_id)
        with ThreadPoolExecutor(8) as ex:
            results = list(ex.map(lambda _: exchange(srv, c1, flow), range(8)))
        codes = sorted(r.status_code for r in results)
        # Exactly one winner: zero would mean the code was burnt without ever being redeemed.
        assert codes.count(200) == 1, codes
        assert codes.count(400) == 7, codes
        for r in results:
            if r.status_code == 400:
                assert r.json()["error"] == "invalid_grant"
        # Whatever was issued from a code that was presented more than once is revoked.
        for r in results:
            if r.status_code == 200:
                assert srv.userinfo(r.json()["access_token"]).status_code == 401


def test_concurrent_approvals_succeed_once(make_server):
    srv = make_server()
    sid = Browser(srv).start(srv.clients[0].client_id, code_challenge=pkce_pair()[1])
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda i: srv.approve(sid, f"user{i}"), range(8)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1, codes
    assert codes.count(409) == 7, codes
    winner = [i for i, r in enumerate(results) if r.status_code == 200][0]
    assert srv.auth_session(sid).json()["user"] == f"user{winner}"


def test_switching_signing_algorithm_keeps_old_keys_published(make_server):
    srv = make_server()
    old_kids = {k["kid"] for k in srv.jwks()["keys"]}
    c1 = srv.clients[0]
    tok = exchange(srv, c1, run_flow(srv, Browser(srv), c1.client_id)).json()
    srv.stop()
    srv.extra_env["CONNECTIVLY_SIGNING_ALG"] = "ES256"
    srv.start()
    kids = {k["kid"] for k in srv.jwks()["keys"]}
    assert old_kids <= kids, "a key whose tokens have not expired was unpublished"
    jwks = JsonWebKey.import_key_set(srv.jwks())
    JsonWebToken(["RS256"]).decode(tok["id_token"], jwks).validate(leeway=5)
    assert srv.userinfo(tok["access_token"]).status_code == 200
    new = exchange(srv, c1, run_flow(srv, Browser(srv), c1.client_id)).json()
    assert JsonWebToken(["ES256"]).decode(new["id_token"], jwks).header["alg"] == "ES256"
