"""Public clients (no secret) must use PKCE S256; anything weaker fails."""

import secrets

import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from conftest import DEMO_REDIRECT_URI, Browser, pkce_pair, query_of


@pytest.fixture(scope="module")
def public_client(server):
    c = server.create_client(name="Public SPA", public=True, redirect_uris=[DEMO_REDIRECT_URI])
    assert c["client_secret"] is None
    assert c["client_id"]
    return c


def _code_for(server, client_id, challenge=None, method="S256", **extra):
    b = Browser(server)
    state = secrets.token_urlsafe(6)
    sid = b.start(client_id, code_challenge=challenge, method=method, state=state, **extra)
    r = server.approve(sid, "pat", skip_consent=True)
    assert r.status_code == 200, r.text
    q = query_of(r.json()["redirect_uri"])
    assert q["state"] == state
    return q["code"]


def _token(server, client_id, code, verifier=None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT_URI,
            "client_id": client_id}
    if verifier is not None:
        data["code_verifier"] = verifier
    return server.token(data)


def test_public_client_with_authlib_and_pkce_s256(server, public_client):
    meta = server.discovery()
    oauth = OAuth2Session(public_client["client_id"], None, scope="openid profile",
                          redirect_uri=DEMO_REDIRECT_URI, code_challenge_method="S256",
                          token_endpoint_auth_method="none")
    verifier, nonce = generate_token(48), generate_token(12)
    uri, state = oauth.create_authorization_url(meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier)
    browser = Browser(server)
    r = browser.get(uri)
    assert r.status_code == 302
    sid = query_of(r.headers["Location"])["token"]
    consent_url = server.approve(sid, "pat", claims={"name": "Pat"}).json()["redirect_uri"]
    done = browser.consent(consent_url, "allow")
    assert done.status_code in (302, 303)
    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=done.headers["Location"],
                              state=state, code_verifier=verifier)
    assert token["access_token"] and token["id_token"]
    info = oauth.get(meta["userinfo_endpoint"]).json()
    assert info == {"sub": "pat", "name": "Pat"} or (info["sub"] == "pat" and info["name"] == "Pat")


def test_public_client_without_code_challenge_is_rejected_at_authorize(server, public_client):
    r = Browser(server).authorize(public_client["client_id"], state="nochal")
    assert r.status_code in (302, 303), r.text[:300]
    q = query_of(r.headers["Location"])
    assert r.headers["Location"].startswith(DEMO_REDIRECT_URI)
    assert q["error"] == "invalid_request" and q["state"] == "nochal" and q["iss"] == server.issuer


def test_plain_method_is_rejected_at_authorize(server, public_client):
    verifier = generate_token(48)
    r = Browser(server).authorize(public_client["client_id"], code_challenge=verifier, method="plain", state="pl")
    assert r.status_code in (302, 303), r.text[:300]
    loc = r.headers["Location"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?"), loc
    q = query_of(loc)
    assert q["error"] == "invalid_request"
    assert q["state"] == "pl" and q["iss"] == server.issuer
    assert "code" not in q


def test_plain_method_is_rejected_for_confidential_clients_too(server):
    r = Browser(server).authorize(server.clients[0].client_id, code_challenge=generate_token(48), method="plain",
                                  state="pl2")
    q = query_of(r.headers["Location"])
    assert q.get("error") == "invalid_request" and "token" not in q


def test_missing_verifier_is_invalid_grant(server, public_client):
    verifier, challenge = pkce_pair()
    code = _code_for(server, public_client["client_id"], challenge)
    r = _token(server, public_client["client_id"], code, None)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"


def test_wrong_verifier_is_invalid_grant(server, public_client):
    verifier, challenge = pkce_pair()
    code = _code_for(server, public_client["client_id"], challenge)
    r = _token(server, public_client["client_id"], code, pkce_pair()[0])
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"
    # The code is burnt by the failed attempt or at least still needs the right verifier;
    # a later correct attempt must not let a wrong-verifier attacker win either way.


def test_verifier_of_wrong_length_is_rejected(server, public_client):
    verifier, challenge = pkce_pair()
    code = _code_for(server, public_client["client_id"], challenge)
    r = _token(server, public_client["client_id"], code, "short")
    assert r.status_code == 400
    assert r.json()["error"] in ("invalid_grant", "invalid_request")


def test_public_client_correct_verifier_works(server, public_client):
    verifier, challenge = pkce_pair()
    code = _code_for(server, public_client["client_id"], challenge)
    r = _token(server, public_client["client_id"], code, verifier)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("Cache-Control", "")


def test_public_client_cannot_authenticate_with_a_made_up_secret(server, public_client):
    verifier, challenge = pkce_pair()
    code = _code_for(server, public_client["client_id"], challenge)
    r = server.token({"grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT_URI,
                      "code_verifier": verifier}, auth=(public_client["client_id"], "cly_cs_madeup"))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_confidential_client_cannot_skip_authentication(server):
    """A confidential client presenting only client_id (auth method none) is invalid_client."""
    c = server.clients[0]
    verifier, challenge = pkce_pair()
    code = _code_for(server, c.client_id, challenge)
    r = _token(server, c.client_id, code, verifier)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"


def test_code_challenge_without_method_is_rejected(server, public_client):
    """RFC 7636 4.3: a missing code_challenge_method means plain, which is not supported."""
    verifier, challenge = pkce_pair()
    r = Browser(server).authorize(public_client["client_id"], code_challenge=challenge, method=None, state="nm")
    assert r.status_code in (302, 303)
    loc = r.headers["Location"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?"), loc
    q = query_of(loc)
    assert q["error"] == "invalid_request" and q["state"] == "nm" and q["iss"] == server.issuer


def test_malformed_code_challenge_is_rejected(server, public_client):
    for bad in ("abc", "!" * 43, "A" * 44):
        r = Browser(server).authorize(public_client["client_id"], code_challenge=bad, state="mc")
        q = query_of(r.headers.get("Location", ""))
        assert q.get("error") == "invalid_request", (bad, r.status_code, r.headers.get("Location"))
