"""A newcomer's first hour with an embedded provider at /oauth: the mount's root is a landing page, and
RFC 8414 / MCP clients find the metadata at the app's root (``/.well-known/oauth-authorization-server/oauth``),
which ``Connectivly(app, provider)`` registers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url
from flask import Flask

from connectivly import Provider
from connectivly.flask import Connectivly

ISSUER = "http://localhost:5000/oauth"


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Provider]:
    p = Provider(ISSUER, "/connectivly", database=f"sqlite://{tmp_path}/p.db", provider_name="Photo Host")
    yield p
    p.close()


@pytest.fixture
def client(embedded: Provider) -> Any:
    app = Flask(__name__)

    @app.route("/.well-known/security.txt")
    def security() -> str:
        return "Contact: mailto:sec@example.com\n"

    Connectivly(app, embedded)
    return app.test_client()


def test_the_mount_root_is_a_landing_page_with_the_discovery_link(client: Any) -> None:
    r = client.get("/oauth/")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert f'href="{ISSUER}/.well-known/openid-configuration"' in page
    assert f'href="{ISSUER}/.well-known/jwks.json"' in page
    assert "<strong>Photo Host</strong>" in page and "X-API-KEY" in page
    assert "<script" not in page
    assert r.headers["Vary"] == "Accept"
    # Without the slash, Werkzeug's usual redirect to it.
    r = client.get("/oauth")
    assert r.status_code == 308 and r.headers["Location"].endswith("/oauth/")
    assert client.get("/oauth", follow_redirects=True).get_data() == page.encode()
    assert client.head("/oauth/").status_code == 200
    r = client.get("/oauth/", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.get_json() == {
        "issuer": ISSUER,
        "openid_configuration": f"{ISSUER}/.well-known/openid-configuration",
        "oauth_authorization_server": f"{ISSUER}/.well-known/oauth-authorization-server",
        "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
    }


def test_the_rfc_8414_path_form_is_served_at_the_app_root(client: Any) -> None:
    for path in ("/.well-known/oauth-authorization-server/oauth", "/.well-known/openid-configuration/oauth"):
        r = client.get(path)
        assert r.status_code == 200, path
        doc = r.get_json()
        assert doc["issuer"] == ISSUER
        assert doc["token_endpoint"] == f"{ISSUER}/oauth2/token"
        assert client.head(path).status_code == 200
        assert client.post(path).status_code == 405
        assert client.get(path + "/").status_code == 404
    # The app keeps the rest of its root, /.well-known included.
    assert client.get("/.well-known/security.txt").get_data(as_text=True) == "Contact: mailto:sec@example.com\n"
    assert client.get("/.well-known/oauth-authorization-server/other").status_code == 404
    assert client.get("/.well-known/oauth-authorization-server").status_code == 404
    assert client.get("/").status_code == 404


def test_an_issuer_at_the_root_leaves_the_apps_root_alone(tmp_path: Path) -> None:
    p = Provider("http://localhost:5000", "/connectivly", database=f"sqlite://{tmp_path}/r.db")
    try:
        app = Flask(__name__)

        @app.route("/")
        def home() -> str:
            return "the app's home"

        Connectivly(app, p)
        c = app.test_client()
        assert c.get("/").get_data(as_text=True) == "the app's home"
        assert c.get("/.well-known/oauth-authorization-server").get_json()["issuer"] == "http://localhost:5000"
    finally:
        p.close()


def test_authlib_fetches_the_path_form_from_the_flask_host(flask_host: Any) -> None:
    """What an RFC 8414 client does with only the issuer: derive the well-known URL (authlib's own
    §3.1 rule), fetch it, and check the document names that issuer."""
    issuer = f"{flask_host.url}/oauth"
    for suffix in ("oauth-authorization-server", "openid-configuration"):
        url = get_well_known_url(issuer, external=True, suffix=suffix)
        assert url == f"{flask_host.url}/.well-known/{suffix}/oauth"
        with OAuth2Session("some-client") as session:
            r = session.get(url, timeout=10, withhold_token=True)
        assert r.status_code == 200, (url, r.text)
        metadata = AuthorizationServerMetadata(r.json())
        metadata.validate()
        assert metadata["issuer"] == issuer
    with OAuth2Session("some-client") as session:
        r = session.get(f"{flask_host.url}/oauth/", timeout=10, withhold_token=True)
    assert r.status_code == 200
    assert f'href="{issuer}/.well-known/openid-configuration"' in r.text
