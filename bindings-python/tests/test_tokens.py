"""Refresh, client_credentials, revocation, grants and keys through the Python API."""

from __future__ import annotations

import json
from typing import Any

import pytest

import connectivly
from conftest import query
from test_provider import REDIRECT, start


def token_request(provider: Any, client: Any, **form: str) -> tuple[int, dict[str, Any]]:
    from urllib.parse import urlencode

    form.update(client_id=client.client_id, client_secret=client.client_secret)
    if form.get("grant_type") == "authorization_code":
        form.setdefault("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")  # the challenge test_provider.start sends
    r = provider.handle("POST", "/oauth2/token", "", [("content-type", "application/x-www-form-urlencoded")],
                        urlencode(form).encode())
    return r.status, json.loads(r.body)


def code_for(provider: Any, client: Any, scope: str, user: str = "ann", **approve: Any) -> str:
    sid = start(provider, client.client_id, scope)
    target = provider.approve(sid, user, skip_consent=True, **approve)
    return query(target)["code"]


def test_client_credentials_introspect_revoke(provider: Any) -> None:
    svc = provider.create_client("Backend", [REDIRECT], allowed_scopes=["photos:read"])
    assert svc.client.allowed_scopes == ["photos:read"]
    status, t = token_request(provider, svc, grant_type="client_credentials", scope="photos:read")
    assert status == 200, t
    at = t["access_token"]
    intro = provider.introspect(at)
    assert intro.active and intro.scope == "photos:read" and intro.client_id == svc.client_id
    assert provider.verify_access_token(at, ["photos:read"]).sub == svc.client_id
    provider.revoke(at)
    assert provider.introspect(at).active is False
    with pytest.raises(connectivly.InvalidToken):
        provider.verify_access_token(at)


def test_refresh_rotation_and_replay(provider: Any) -> None:
    client = provider.create_client("App", [REDIRECT])
    code = code_for(provider, client, "openid offline_access")
    status, t = token_request(provider, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert status == 200 and t["refresh_token"].startswith("cly_rt_")
    status, t2 = token_request(provider, client, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert status == 200
    status, err = token_request(provider, client, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert (status, err["error"]) == (400, "invalid_grant")
    status, _ = token_request(provider, client, grant_type="refresh_token", refresh_token=t2["refresh_token"])
    assert status == 400, "replaying the old token killed the new one too"
    with pytest.raises(connectivly.InvalidToken):
        provider.verify_access_token(t2["access_token"])


def test_grants_and_user_revocation(provider: Any) -> None:
    client = provider.create_client("App", [REDIRECT])
    code = code_for(provider, client, "openid email", remember=True)
    grants = provider.list_grants("ann")
    assert [(g.client_id, g.client_name, g.scopes) for g in grants] == [(client.client_id, "App", ["openid", "email"])]
    assert isinstance(grants[0], connectivly.Grant)
    status, t = token_request(provider, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert status == 200
    provider.revoke_grant("ann", client.client_id)
    assert provider.list_grants("ann") == []
    with pytest.raises(connectivly.InvalidToken):
        provider.verify_access_token(t["access_token"])
    with pytest.raises(connectivly.NotFound):
        provider.revoke_grant("ann", client.client_id)
    code = code_for(provider, client, "openid")
    _, t = token_request(provider, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert provider.revoke_user("ann") >= 1
    assert provider.introspect(t["access_token"]).active is False


def test_key_rotation(provider: Any) -> None:
    client = provider.create_client("App", [REDIRECT])
    code = code_for(provider, client, "openid")
    _, before = token_request(provider, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    old = {k.kid for k in provider.signing_keys()}
    new = provider.rotate_keys()
    assert len(new) == 1 and isinstance(new[0], connectivly.KeyInfo) and new[0].kid not in old
    assert provider.verify_access_token(before["access_token"]).sub == "ann"
    retired = [k for k in provider.signing_keys() if k.kid in old]
    assert retired and all(k.retired_at is not None for k in retired)


def test_keys_sealed_with_secret(tmp_path: Any) -> None:
    db = f"sqlite://{tmp_path}/sealed.db"
    with connectivly.Provider("https://id.example.com", "/login", database=db, secret="s" * 32):
        pass
    with pytest.raises(connectivly.ConfigError):
        connectivly.Provider("https://id.example.com", "/login", database=db)
