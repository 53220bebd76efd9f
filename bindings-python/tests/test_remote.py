"""The same host code against the standalone server, through RemoteProvider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

import connectivly
from connectivly import RemoteProvider
from conftest import Served, free_port
from test_flask import CALLBACK, sign_in


def test_flask_host_with_remote_provider(server_factory: Any, tmp_path: Path) -> None:
    import app as host  # examples/flask-host/app.py

    port = free_port()
    server = server_factory(f"http://127.0.0.1:{port}/connectivly")
    remote = RemoteProvider(server.url, api_key=server.api_key)
    served = Served(host.create_app(remote), port)
    try:
        created = remote.create_client("Photo Printer", [CALLBACK])
        assert isinstance(created, connectivly.CreatedClient)
        result = sign_in(server.url, served.url, created.client_id, created.client_secret,
                         "openid profile email photos:read")
        assert result["claims"]["sub"] == "ann"
        at = result["token"]["access_token"]
        r = requests.get(f"{served.url}/api/photos", headers={"Authorization": f"Bearer {at}"}, timeout=10)
        assert r.status_code == 200 and r.json()["owner"] == "ann"
        assert requests.get(f"{served.url}/api/photos", timeout=10).status_code == 401

        info = remote.verify_access_token(at, ["photos:read"])
        assert isinstance(info, connectivly.TokenInfo) and info.sub == "ann"
        with pytest.raises(connectivly.InsufficientScope):
            remote.verify_access_token(at, ["admin"])
        with pytest.raises(connectivly.InvalidToken):
            remote.verify_access_token("garbage")
    finally:
        served.stop()


def test_remote_errors_match_embedded_ones(server_factory: Any) -> None:
    server = server_factory("http://127.0.0.1:9/connectivly")
    remote = RemoteProvider(server.url, api_key=server.api_key)
    with pytest.raises(connectivly.SessionNotFound) as e:
        remote.auth_session("cly_ses_missing")
    assert e.value.code == "not_found"
    with pytest.raises(connectivly.InvalidRequest):
        remote.create_client("x", ["javascript:alert(1)"])
    with pytest.raises(connectivly.Unauthorized):
        RemoteProvider(server.url, api_key="wrong-key-wrong-key").list_clients()
    with pytest.raises(connectivly.RemoteError):
        RemoteProvider("http://127.0.0.1:9", api_key="k" * 20).list_clients()
    with pytest.raises(connectivly.ConfigError):
        RemoteProvider("not a url", api_key="k")
    c = remote.create_client("x", ["https://x.example/cb"])
    assert remote.get_client(c.client_id) == c.client
    assert remote.update_client(c.client_id, name="y").name == "y"
    assert remote.rotate_client_secret(c.client_id).client_secret != c.client_secret
    remote.delete_client(c.client_id)
    with pytest.raises(connectivly.NotFound):
        remote.get_client(c.client_id)
    remote.close()
    with pytest.raises(connectivly.ProviderClosed):
        remote.list_clients()
