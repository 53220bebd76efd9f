"""A newcomer's first hour with the binary: the banner says which redirect URI the demo clients take,
a mistake in the configuration is named as it was written (with the nearest real setting), and a
refused sign-in link says what was received — on the page and in the log."""

from __future__ import annotations

import requests

from conftest import DEMO_REDIRECT_URI, HTTP_TIMEOUT, pkce_pair


def fails_to_start(make_server, env: dict) -> str:
    """Starts the server with `env` and returns its error output; it must exit 2 (configuration)."""
    srv = make_server(env, start=False)
    cp = srv.run_cli("serve", check=False)
    assert cp.returncode == 2, (cp.returncode, cp.stdout, cp.stderr)
    return cp.stderr


def test_banner_names_the_demo_redirect_uri_and_its_setting(make_server):
    srv = make_server()
    text = srv.first_banner.text
    assert (f"Both demo clients accept only the redirect URI {DEMO_REDIRECT_URI} "
            "(CONNECTIVLY_DEMO_REDIRECT_URI, read on the first run only).") in text
    # The same value on a later start is no news; a new one is said to change nothing.
    srv.restart()
    assert "already exist" not in srv.banner.text
    srv.extra_env["CONNECTIVLY_DEMO_REDIRECT_URI"] = "http://localhost:8000/callback"
    srv.restart()
    assert ("CONNECTIVLY_DEMO_REDIRECT_URI is set, but the demo clients already exist: it only applies on the "
            "first run.") in srv.banner.text
    assert "connectivly clients create" in srv.banner.text


def test_a_scheme_less_redirect_url_is_refused_at_start(make_server):
    err = fails_to_start(make_server, {"CONNECTIVLY_REDIRECT_URL": "localhost:4481/connectivly"})
    assert 'CONNECTIVLY_REDIRECT_URL: "localhost:4481/connectivly" is not an absolute http(s) URL' in err, err
    err = fails_to_start(make_server, {"CONNECTIVLY_REDIRECT_URL": "/connectivly"})
    assert "CONNECTIVLY_REDIRECT_URL must be an absolute URL of your app's login endpoint" in err, err


def test_environment_errors_name_the_variable(make_server):
    err = fails_to_start(make_server, {"CONNECTIVLY_API_KEY": "short"})
    assert "CONNECTIVLY_API_KEY must be at least 16 characters" in err, err
    err = fails_to_start(make_server, {"CONNECTIVLY_SCOPES": "photos:read"})
    assert 'CONNECTIVLY_SCOPES: entry "photos:read" has no description' in err, err
    err = fails_to_start(make_server, {"CONNECTIVLY_SCOPES": "openid=Sign in"})
    assert 'CONNECTIVLY_SCOPES: "openid" is built in' in err, err
    err = fails_to_start(make_server, {"CONNECTIVLY_SESSION_TTL": "15m"})
    assert 'CONNECTIVLY_SESSION_TTL must be a whole number of seconds, not "15m"' in err, err


def test_file_errors_name_the_key_and_suggest_the_nearest(make_server, tmp_path):
    cfg = tmp_path / "connectivly.toml"
    cfg.write_text("acess_token_ttl = 60\n")
    err = fails_to_start(make_server, {"CONNECTIVLY_CONFIG": str(cfg)})
    assert f'unknown setting "acess_token_ttl" in {cfg}; did you mean "access_token_ttl"?' in err, err
    cfg.write_text('api_key = "short"\n')
    err = fails_to_start(make_server, {"CONNECTIVLY_CONFIG": str(cfg)})
    assert f"api_key in {cfg} must be at least 16 characters" in err, err
    cfg.write_text("code_ttl = -1\n")
    err = fails_to_start(make_server, {"CONNECTIVLY_CONFIG": str(cfg)})
    assert f"code_ttl in {cfg} must be a positive number of seconds" in err, err


def test_signing_algorithms_in_any_case_and_a_misspelt_variable_is_named(make_server):
    srv = make_server({"CONNECTIVLY_SIGNING_ALG": "es256", "CONNECTIVLY_ACESS_TOKEN_TTL": "60",
                       "CONNECTIVLY_LOG": "warn"})
    assert "ES256" in srv.discovery()["id_token_signing_alg_values_supported"]
    log = srv.stderr_text()
    assert "CONNECTIVLY_ACESS_TOKEN_TTL is not a setting and is ignored; did you mean CONNECTIVLY_ACCESS_TOKEN_TTL?" in log


def test_an_unregistered_redirect_uri_is_shown_on_the_page_and_named_in_the_log(make_server):
    srv = make_server({"CONNECTIVLY_LOG": "info"})
    wrong = 'http://localhost:5001/auth?x="<b>'
    r = requests.get(srv.url("/oauth2/authorize"), params={
        "response_type": "code", "client_id": srv.clients[0].client_id, "redirect_uri": wrong,
        "scope": "openid", "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"},
        allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400 and "location" not in r.headers
    # As received, escaped, and in the identifier's own case (not "Redirect_uri").
    shown = "redirect_uri &quot;http://localhost:5001/auth?x=&quot;&lt;b&gt;&quot; is not registered for this client."
    assert shown in r.text, r.text
    log = srv.stderr_text()
    line = next(ln for ln in log.splitlines() if "status=400" in ln)
    assert "reason=" in line and "is not registered for this client" in line, line
    assert 'http://localhost:5001/auth?x=\\"<b>' in line, "the URI as received, quoted so it cannot forge a line"


def test_an_issuer_with_a_path_serves_its_endpoints_under_it(make_server):
    from conftest import Browser, exchange, free_port, run_flow

    port = free_port()
    srv = make_server({"CONNECTIVLY_ISSUER": f"http://localhost:{port}/auth"}, port=port, with_host=True)
    disc = requests.get(f"http://localhost:{port}/auth/.well-known/openid-configuration", timeout=HTTP_TIMEOUT).json()
    assert disc["issuer"] == f"http://localhost:{port}/auth"
    assert disc["token_endpoint"] == f"http://localhost:{port}/auth/oauth2/token"
    # The whole flow at the URLs discovery names, the consent cookie scoped to the issuer's path.
    client = srv.clients[0]
    flow = run_flow(srv, Browser(srv), client.client_id)
    r = exchange(srv, client, flow)
    assert r.status_code == 200, r.text
    assert srv.userinfo(r.json()["access_token"]).status_code == 200
