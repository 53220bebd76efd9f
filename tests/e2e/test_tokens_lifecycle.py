"""Refresh, client_credentials, revocation, introspection, key rotation — through authlib, the way a
real client and a real resource server use them."""

from __future__ import annotations

import warnings

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client import OAuthError as OAuth2Error

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, JsonWebToken

from conftest import DEMO_REDIRECT_URI, HTTP_TIMEOUT, Browser, Client, run_flow


def session_for(server, client: Client, scope: str) -> tuple[OAuth2Session, dict]:
    """A signed-in authlib session (code + PKCE), tokens fetched through the library."""
    disc = server.discovery()
    flow = run_flow(server, Browser(server), client.client_id, scope=scope)
    oauth = OAuth2Session(client.client_id, client.secret, scope=scope, redirect_uri=DEMO_REDIRECT_URI)
    token = oauth.fetch_token(disc["token_endpoint"], code=flow.code, code_verifier=flow.verifier)
    return oauth, dict(token)


def test_refresh_rotates_and_replay_kills_the_family(server, client1):
    disc = server.discovery()
    assert {"refresh_token", "client_credentials"} <= set(disc["grant_types_supported"])
    oauth, first = session_for(server, client1, "openid email offline_access")
    assert first["refresh_token"].startswith("cly_rt_")

    second = dict(oauth.refresh_token(disc["token_endpoint"], refresh_token=first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    assert server.userinfo(second["access_token"]).status_code == 200

    # The old refresh token again: refused, and the family (the new tokens included) is revoked.
    with pytest.raises(OAuth2Error) as e:
        oauth.refresh_token(disc["token_endpoint"], refresh_token=first["refresh_token"])
    assert e.value.error == "invalid_grant"
    with pytest.raises(OAuth2Error):
        oauth.refresh_token(disc["token_endpoint"], refresh_token=second["refresh_token"])
    assert server.userinfo(second["access_token"]).status_code == 401


def test_client_credentials_introspection_and_revocation(server):
    body = server.create_client("Reporting Job", owner="ops")
    # No allowed scopes: client_credentials gets a token with no scope at all.
    disc = server.discovery()
    cc = OAuth2Session(body["client_id"], body["client_secret"])
    token = cc.fetch_token(disc["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "" and "refresh_token" not in token

    resource = OAuth2Session(body["client_id"], body["client_secret"])
    r = resource.introspect_token(disc["introspection_endpoint"], token=token["access_token"])
    info = r.json()
    assert info["active"] is True and info["client_id"] == body["client_id"] and info["sub"] == body["client_id"]

    r = cc.revoke_token(disc["revocation_endpoint"], token=token["access_token"])
    assert r.status_code == 200
    assert resource.introspect_token(disc["introspection_endpoint"], token=token["access_token"]).json() == {"active": False}
    r = server.host("POST", "/api/introspect", json={"token": token["access_token"]})
    assert r.json() == {"active": False}


def test_key_rotation_old_tokens_verify_via_jwks(server, client1):
    _, before = session_for(server, client1, "openid")
    r = server.host("POST", "/api/keys/rotate")
    assert r.status_code == 200, r.text
    new_kid = r.json()[0]["kid"]
    _, after = session_for(server, client1, "openid")

    jwks = JsonWebKey.import_key_set(requests.get(server.discovery()["jwks_uri"], timeout=HTTP_TIMEOUT).json())
    jwt = JsonWebToken(["RS256"])
    for tok in (before, after):
        claims = jwt.decode(tok["id_token"], jwks)
        claims.validate()
        assert claims["aud"] == client1.client_id
    header_kid = jwt.decode(after["id_token"], jwks).header["kid"]
    assert header_kid == new_kid
    assert jwt.decode(before["id_token"], jwks).header["kid"] != new_kid
    assert server.userinfo(before["access_token"]).status_code == 200
