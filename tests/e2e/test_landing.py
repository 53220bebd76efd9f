"""A newcomer opens the server's URL: a landing page (or, asked for JSON, the document URLs) instead of a
404; and for an issuer with a path, RFC 8414 §3.1 / MCP clients find the metadata at the origin's root."""

from __future__ import annotations

import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url

from conftest import HTTP_TIMEOUT, assert_frame_proof_html, free_port


def test_the_root_is_a_landing_page_with_links_that_work(server):
    r = requests.get(server.url("/"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert_frame_proof_html(r.headers, "landing page")
    assert r.headers["Vary"] == "Accept"
    page = r.text
    assert "<script" not in page
    assert f"<code>{server.issuer}</code>" in page
    assert "X-API-KEY" in page and f"{server.issuer}/api/" in page
    for doc in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                "/.well-known/jwks.json"):
        link = server.url(doc)
        assert f'href="{link}"' in page, doc
        assert requests.get(link, timeout=HTTP_TIMEOUT).status_code == 200, link
    head = requests.head(server.url("/"), timeout=HTTP_TIMEOUT)
    assert head.status_code == 200 and not head.content
    post = requests.post(server.url("/"), data={"x": "1"}, timeout=HTTP_TIMEOUT)
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD"


def test_a_client_asking_for_json_gets_the_document_urls(server):
    for accept in ("application/json", "application/json, text/plain, */*"):
        r = requests.get(server.url("/"), headers={"Accept": accept}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {
            "issuer": server.issuer,
            "openid_configuration": server.url("/.well-known/openid-configuration"),
            "oauth_authorization_server": server.url("/.well-known/oauth-authorization-server"),
            "jwks_uri": server.url("/.well-known/jwks.json"),
        }
    # A browser's Accept gets the page.
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = requests.get(server.url("/"), headers={"Accept": browser_accept}, timeout=HTTP_TIMEOUT)
    assert r.headers["Content-Type"].startswith("text/html")


def test_an_unknown_well_known_document_is_404_not_405(server):
    # MCP clients probe /.well-known/oauth-protected-resource first; 404 sends them on to the next candidate.
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server/other"):
        r = requests.get(server.url(path), timeout=HTTP_TIMEOUT)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.json()["error"] == "not_found"


def test_an_issuer_with_a_path_answers_the_rfc_8414_path_form_at_the_root(make_server):
    """The server hands the core every path as received, so the path form at the origin's root is
    answered directly; the other endpoints stay at the root too (a reverse proxy strips the issuer's
    path before them)."""
    port = free_port()
    issuer = f"http://localhost:{port}/auth"
    srv = make_server({"CONNECTIVLY_ISSUER": issuer}, port=port)
    for suffix in ("oauth-authorization-server", "openid-configuration"):
        url = get_well_known_url(issuer, external=True, suffix=suffix)  # authlib's RFC 8414 §3.1 rule
        assert url == f"http://localhost:{port}/.well-known/{suffix}/auth"
        r = requests.get(url, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, (url, r.status_code, r.text)
        metadata = AuthorizationServerMetadata(r.json())
        metadata.validate()
        assert metadata["issuer"] == issuer
        assert metadata["token_endpoint"] == f"{issuer}/oauth2/token"
    r = requests.get(f"http://localhost:{port}/", headers={"Accept": "application/json"}, timeout=HTTP_TIMEOUT)
    assert r.json()["issuer"] == issuer
