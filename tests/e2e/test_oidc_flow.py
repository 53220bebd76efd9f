"""The happy path, as a third-party "Sign in with <host>" app sees it: a real OIDC client library
(authlib) that only knows the issuer URL, against the running binary."""

import base64
import hashlib
import time
import urllib.parse
import warnings

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oidc.core import CodeIDToken

from conftest import DEMO_REDIRECT_URI, Browser, exchange, parse_consent_form, pkce_pair, query_of, run_flow

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*authlib.jose.*")

CLAIMS = {"name": "Alice Example", "email": "alice@example.com"}


def left_half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


# ----------------------------------------------------------------------------- discovery


def test_discovery_documents_are_issuer_consistent(server):
    oidc = requests.get(server.url("/.well-known/openid-configuration"), timeout=10)
    oauth = requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10)
    assert oidc.status_code == 200 and oauth.status_code == 200
    for doc in (oidc.json(), oauth.json()):
        assert doc["issuer"] == server.issuer
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            assert doc[key].startswith(server.issuer + "/"), (key, doc[key])
        assert "S256" in doc["code_challenge_methods_supported"]
        assert "plain" not in doc["code_challenge_methods_supported"]
        assert "code" in doc["response_types_supported"]
    d = oidc.json()
    assert d["userinfo_endpoint"].startswith(server.issuer + "/")
    assert "RS256" in d["id_token_signing_alg_values_supported"]
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(d["token_endpoint_auth_methods_supported"])
    assert {"openid", "profile", "email"} <= set(d["scopes_supported"])


def test_jwks_keys_have_kid_alg_use_and_no_private_parts(server):
    keys = server.jwks()["keys"]
    assert keys
    for k in keys:
        assert k.get("kid") and k.get("alg") and k.get("use") == "sig"
        assert not ({"d", "p", "q", "dp", "dq", "qi"} & set(k)), "private key material published"
    assert any(k["alg"] == "RS256" for k in keys)


# ----------------------------------------------------------------------------- authlib full flow


def _decode_id_token(server, id_token, client_id, nonce, access_token):
    jwks = JsonWebKey.import_key_set(server.jwks())
    jwt = JsonWebToken(["RS256", "ES256", "EdDSA"])
    claims = jwt.decode(
        id_token,
        jwks,
        claims_cls=CodeIDToken,
        claims_options={
            "iss": {"essential": True, "value": server.issuer},
            "aud": {"essential": True, "value": client_id},
            "nonce": {"essential": True, "value": nonce},
            "sub": {"essential": True},
            "at_hash": {"essential": True},
        },
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate(leeway=5)
    return claims


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_full_flow_with_authlib(server, auth_method):
    """discovery → authorize (nonce, PKCE S256) → host login approves → consent Allow → token →
    id_token verified via JWKS (iss, aud, nonce, at_hash) → userinfo has the approved claims."""
    client = server.clients[0] if auth_method == "client_secret_basic" else server.clients[1]
    host = server.fake_host
    host.user, host.claims, host.scopes = "alice@example.com", dict(CLAIMS), ["openid", "profile", "email"]

    # The client library knows only the issuer: everything else comes from discovery.
    meta = requests.get(server.issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == server.issuer
    oauth = OAuth2Session(
        client.client_id,
        client.secret,
        scope="openid profile email",
        redirect_uri=DEMO_REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    )
    verifier = generate_token(48)
    nonce = generate_token(16)
    uri, state = oauth.create_authorization_url(meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier)
    assert "code_challenge=" in uri and "code_challenge_method=S256" in uri

    # The browser follows: authorize → host login (approves) → consent page.
    browser = requests.Session()
    page = browser.get(uri, allow_redirects=True, timeout=10)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    assert page.url.startswith(server.issuer + "/consent/"), page.url
    assert [urllib.parse.urlsplit(h.url).netloc for h in page.history][1] == urllib.parse.urlsplit(
        server.fake_host.login_url).netloc
    assert client.name in page.text
    # The host redirected the browser to the URL `approve` returned: it carries the consent ticket,
    # which the page's form posts back as a hidden field.
    ticket = query_of(page.url).get("ticket", "")
    assert ticket.startswith("cly_ct_"), page.url
    form = parse_consent_form(page.text)
    assert form["inputs"].get("csrf")
    assert form["inputs"].get("ticket") == ticket
    assert ("decision", "allow") in form["buttons"] and ("decision", "deny") in form["buttons"]
    action = urllib.parse.urljoin(page.url, form["action"] or page.url)
    done = browser.post(action, data={**form["inputs"], "decision": "allow"}, allow_redirects=False, timeout=10)
    assert done.status_code in (302, 303), (done.status_code, done.text[:300])
    callback = done.headers["Location"]
    assert callback.startswith(DEMO_REDIRECT_URI + "?")
    assert ticket not in callback and "ticket" not in query_of(callback)
    q = query_of(callback)
    assert q["state"] == state
    assert q["iss"] == meta["issuer"]  # RFC 9207

    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state,
                              code_verifier=verifier)
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and token["id_token"]
    assert int(token["expires_in"]) > 0

    claims = _decode_id_token(server, token["id_token"], client.client_id, nonce, token["access_token"])
    assert claims["sub"] == "alice@example.com"
    assert claims["iss"] == server.issuer
    assert claims["aud"] == client.client_id or client.client_id in claims["aud"]
    assert claims["azp"] == client.client_id
    assert claims["nonce"] == nonce
    assert claims["at_hash"] == left_half_hash(token["access_token"])
    for k in ("exp", "iat", "auth_time"):
        assert isinstance(claims[k], int)
    assert claims["exp"] > time.time() > claims["iat"] - 5
    assert claims["name"] == CLAIMS["name"]
    assert claims["email"] == CLAIMS["email"]

    info = oauth.get(meta["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["sub"] == "alice@example.com"
    assert body["name"] == CLAIMS["name"]
    assert body["email"] == CLAIMS["email"]


def test_access_token_is_rfc9068_jwt(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id, user="bob", claims=CLAIMS)
    r = exchange(server, client1, flow)
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    jwks = JsonWebKey.import_key_set(server.jwks())
    claims = JsonWebToken(["RS256", "ES256", "EdDSA"]).decode(at, jwks)
    claims.validate(leeway=5)
    assert claims.header["typ"].lower() in ("at+jwt", "application/at+jwt")
    assert claims.header["kid"] in {k["kid"] for k in server.jwks()["keys"]}
    assert claims["iss"] == server.issuer
    assert claims["sub"] == "bob"
    assert claims["aud"] == server.issuer or server.issuer in claims["aud"]
    assert claims["client_id"] == client1.client_id
    assert set(claims["scope"].split()) == {"openid", "profile", "email"}
    assert claims["jti"]
    assert claims["exp"] > claims["iat"]
    # No secret ever rides in a token.
    assert client1.secret not in at
    payload = base64.urlsafe_b64decode(at.split(".")[1] + "==").decode()
    assert "secret" not in payload.lower()


def test_token_response_shape_and_userinfo_post(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id, claims=CLAIMS)
    r = exchange(server, client1, flow)
    assert r.status_code == 200
    assert "no-store" in r.headers.get("Cache-Control", "")
    assert r.headers["Content-Type"].startswith("application/json")
    tok = r.json()
    assert tok["token_type"].lower() == "bearer"
    assert set(tok["scope"].split()) == {"openid", "profile", "email"}
    # userinfo also answers POST with a bearer token
    info = requests.post(server.discovery()["userinfo_endpoint"],
                         headers={"Authorization": "Bearer " + tok["access_token"]}, timeout=10)
    assert info.status_code == 200
    assert info.json()["email"] == CLAIMS["email"]


def test_granted_scopes_filter_claims(server, browser, client1):
    """The host grants only `openid profile`: the email claim must not leak."""
    flow = run_flow(server, browser, client1.client_id, claims=CLAIMS, scopes=["openid", "profile"])
    tok = exchange(server, client1, flow).json()
    assert set(tok["scope"].split()) == {"openid", "profile"}
    info = server.userinfo(tok["access_token"]).json()
    assert info["name"] == CLAIMS["name"]
    assert "email" not in info
    jwks = JsonWebKey.import_key_set(server.jwks())
    idt = JsonWebToken(["RS256"]).decode(tok["id_token"], jwks)
    assert "email" not in idt and idt["name"] == CLAIMS["name"]


def test_openid_only_gives_just_the_subject(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id, scope="openid", claims=CLAIMS)
    tok = exchange(server, client1, flow).json()
    info = server.userinfo(tok["access_token"]).json()
    assert info["sub"] == "alice"
    assert "name" not in info and "email" not in info


def test_skip_consent_redirects_straight_to_client(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id, skip_consent=True)
    q = query_of(flow.redirect)
    assert q["iss"] == server.issuer
    assert exchange(server, client1, flow).status_code == 200


def test_first_party_client_skips_consent(server, browser):
    c = server.create_client(name="First Party", first_party=True)
    verifier, challenge = pkce_pair()
    sid = browser.start(c["client_id"], code_challenge=challenge, state="fp")
    r = server.approve(sid, "carol")
    assert r.status_code == 200
    target = r.json()["redirect_uri"]
    assert target.startswith(DEMO_REDIRECT_URI + "?"), target
    q = query_of(target)
    assert q["state"] == "fp" and q["code"] and q["iss"] == server.issuer
    tok = server.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": DEMO_REDIRECT_URI,
                        "code_verifier": verifier}, auth=(c["client_id"], c["client_secret"]))
    assert tok.status_code == 200, tok.text


def test_unknown_scope_is_invalid_scope_redirect(server, browser, client1):
    r = browser.authorize(client1.client_id, scope="openid no-such-scope", state="st1",
                          code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert r.status_code in (302, 303)
    loc = r.headers["Location"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?"), loc
    q = query_of(loc)
    assert q["error"] == "invalid_scope"
    assert q["state"] == "st1" and q["iss"] == server.issuer


def test_host_defined_scopes_from_config(make_server):
    srv = make_server({"CONNECTIVLY_SCOPES": "photos:read=Read your photos;x=y"})
    assert "photos:read" in srv.discovery()["scopes_supported"]
    b = Browser(srv)
    sid = b.start(srv.clients[0].client_id, scope="openid photos:read",
                  code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    info = srv.auth_session(sid).json()
    descs = {s["name"]: s.get("description") for s in info["scopes"]}
    assert descs["photos:read"] == "Read your photos"
    page_url = srv.approve(sid, "dave").json()["redirect_uri"]
    page = b.get(page_url)
    assert page.status_code == 200 and "Read your photos" in page.text


def test_prompt_consent_forces_the_consent_page(server, browser, client1):
    _, challenge = pkce_pair()
    sid = browser.start(client1.client_id, code_challenge=challenge, prompt="consent")
    r = server.approve(sid, "alice", skip_consent=True)
    assert r.status_code == 200
    assert r.json()["redirect_uri"].startswith(server.issuer + "/consent/"), r.json()


def test_prompt_none_when_consent_is_needed_is_consent_required(server, browser, client1):
    _, challenge = pkce_pair()
    sid = browser.start(client1.client_id, code_challenge=challenge, prompt="none", state="pn")
    r = server.approve(sid, "alice")
    assert r.status_code == 200
    loc = r.json()["redirect_uri"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?"), loc
    q = query_of(loc)
    assert q["error"] == "consent_required" and q["state"] == "pn" and q["iss"] == server.issuer
    # ... and with consent skipped by the host, prompt=none completes silently.
    sid = browser.start(client1.client_id, code_challenge=challenge, prompt="none", state="pn2")
    q = query_of(server.approve(sid, "alice", skip_consent=True).json()["redirect_uri"])
    assert q.get("code") and q["state"] == "pn2"


def test_two_flows_in_one_browser_both_complete(server, client1, client2):
    """Two sign-in tabs in the same browser: neither breaks the other; a csrf is per flow."""
    b = Browser(server)
    _, challenge = pkce_pair()
    a = b.start(client1.client_id, code_challenge=challenge, state="tab-a")
    z = b.start(client2.client_id, code_challenge=challenge, state="tab-b")
    # Each /authorize mints a fresh binding value; the cookie keeps the earlier one beside it.
    values = b.s.cookies.get("connectivly_binding").split(".")
    assert len(values) == 2 and len(set(values)) == 2, values
    ua = server.approve(a, "alice").json()["redirect_uri"]
    uz = server.approve(z, "alice").json()["redirect_uri"]
    assert query_of(ua)["ticket"] != query_of(uz)["ticket"]
    csrf_a = parse_consent_form(b.get(ua).text)["inputs"]["csrf"]
    csrf_z = parse_consent_form(b.get(uz).text)["inputs"]["csrf"]
    assert b.post(ua, data={"csrf": csrf_z, "decision": "allow"}).status_code == 403
    ra = b.post(ua, data={"csrf": csrf_a, "decision": "allow"})
    rz = b.post(uz, data={"csrf": csrf_z, "decision": "allow"})
    assert query_of(ra.headers["Location"])["state"] == "tab-a" and "code" in query_of(ra.headers["Location"])
    assert query_of(rz.headers["Location"])["state"] == "tab-b" and "code" in query_of(rz.headers["Location"])
