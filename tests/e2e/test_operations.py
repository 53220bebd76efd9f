"""What an operator relies on: health, metrics, JSON logs, CORS, graceful shutdown."""

from __future__ import annotations

import json
import signal
import threading
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import DEMO_REDIRECT_URI, HTTP_TIMEOUT, Browser, exchange, pkce_pair, run_flow


def metric(text: str, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_health_and_readiness(server):
    assert requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT).status_code == 200
    r = requests.get(server.url("/readyz"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.text.strip() == "ready"


def test_metrics_parse_and_move_with_a_flow(server):
    before = requests.get(server.url("/metrics"), timeout=HTTP_TIMEOUT)
    assert before.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(before.text)}
    for name in ("connectivly_http_requests", "connectivly_http_request_duration_seconds", "connectivly_flows",
                 "connectivly_tokens_issued", "connectivly_refresh_token_reuse",
                 "connectivly_client_authentication_failures", "connectivly_store_errors"):
        assert name in families, name
    client = server.clients[0]
    flow = run_flow(server, Browser(server), client.client_id)
    assert exchange(server, client, flow).status_code == 200
    server.token({"grant_type": "authorization_code", "code": "x"}, auth=(client.client_id, "wrong"))
    after = requests.get(server.url("/metrics"), timeout=HTTP_TIMEOUT).text
    for stage in ("started", "approved", "completed"):
        assert metric(after, "connectivly_flows_total", stage=stage) >= metric(before.text, "connectivly_flows_total", stage=stage) + 1
    assert metric(after, "connectivly_tokens_issued_total", grant_type="authorization_code") >= 1
    assert metric(after, "connectivly_client_authentication_failures_total") >= 1
    assert metric(after, "connectivly_http_requests_total", endpoint="token", status="200") >= 1
    assert metric(after, "connectivly_http_request_duration_seconds_count", endpoint="authorize") >= 1


def test_json_logs_parse_line_by_line_with_request_ids(make_server):
    server = make_server({"CONNECTIVLY_LOG_FORMAT": "json", "CONNECTIVLY_LOG": "info"}, with_host=True)
    client = server.clients[0]
    r = requests.get(server.url("/.well-known/jwks.json"), headers={"X-Request-Id": "trace-me-42"}, timeout=HTTP_TIMEOUT)
    assert r.headers["x-request-id"] == "trace-me-42"
    flow = run_flow(server, Browser(server), client.client_id)
    exchange(server, client, flow)
    server.stop()
    lines = [l for l in server.stderr_text().splitlines() if l.strip()]
    assert len(lines) > 5
    records = [json.loads(l) for l in lines]  # every line is one JSON object
    request_lines = [r for r in records if r.get("span", {}).get("request_id")]
    assert any(r["span"]["request_id"] == "trace-me-42" for r in request_lines)
    # Lines logged inside the core during a request carry the same id as the request line.
    inner = [r for r in request_lines if r.get("target", "").startswith("connectivly::")]
    assert inner, "core log lines carry the request id"


def test_plain_logs_to_a_file_carry_no_colour_codes(make_server):
    server = make_server({"CONNECTIVLY_LOG": "info"})
    r = requests.get(server.url("/.well-known/jwks.json"), timeout=HTTP_TIMEOUT)
    generated = r.headers["x-request-id"]
    assert len(generated) == 16 and all(c in "0123456789abcdef" for c in generated), generated
    server.stop()
    text = server.stderr_text()
    assert "request" in text and generated in text, text[-2000:]
    assert "\x1b[" not in text, "ANSI escapes in a log file"


def test_cors_for_browser_clients_only_on_public_endpoints(server):
    good, evil = "http://localhost:5000", "https://evil.example"
    token_url = server.discovery()["token_endpoint"]
    pre = requests.options(token_url, headers={"Origin": good, "Access-Control-Request-Method": "POST"}, timeout=HTTP_TIMEOUT)
    assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
    r = requests.post(token_url, data={"grant_type": "x"}, headers={"Origin": good}, timeout=HTTP_TIMEOUT)
    assert r.headers["access-control-allow-origin"] == good
    r = requests.post(token_url, data={"grant_type": "x"}, headers={"Origin": evil}, timeout=HTTP_TIMEOUT)
    assert "access-control-allow-origin" not in r.headers
    pre = requests.options(token_url, headers={"Origin": evil, "Access-Control-Request-Method": "POST"}, timeout=HTTP_TIMEOUT)
    assert "access-control-allow-methods" not in pre.headers
    r = requests.get(server.discovery()["jwks_uri"], headers={"Origin": evil}, timeout=HTTP_TIMEOUT)
    assert r.headers["access-control-allow-origin"] == "*"
    r = server.host("GET", "/api/clients", headers={"Origin": good})
    assert "access-control-allow-origin" not in r.headers
    r = requests.options(server.url("/api/clients"), headers={"Origin": good}, timeout=HTTP_TIMEOUT)
    assert "access-control-allow-origin" not in r.headers


def test_sigterm_during_load_loses_no_completed_response(make_server):
    """SIGTERM under load: every answer the server starts is complete and correct. After shutdown begins a
    request may be refused (connection refused, or the connection closed before a single byte of an answer,
    i.e. the request was never taken); a truncated or garbled answer fails the test."""
    import base64
    import http.client
    import urllib.parse

    server = make_server(with_host=True)
    client = server.clients[0]
    completed: list[int] = []
    errors: list[str] = []
    endings: list[str] = []
    lock = threading.Lock()
    sigterm = threading.Event()  # set before the signal is sent: only later refusals are the shutdown's
    deadline = time.monotonic() + 60
    body = urllib.parse.urlencode({"grant_type": "client_credentials"})
    cred = f"{urllib.parse.quote(client.client_id, safe='')}:{urllib.parse.quote(client.secret, safe='')}"
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": "Basic " + base64.b64encode(cred.encode()).decode()}

    def refused(what: str) -> None:
        with lock:
            if sigterm.is_set():
                endings.append(what)  # a clean refusal once shutdown began
            else:
                errors.append(f"before SIGTERM: {what}")

    def load() -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            while time.monotonic() < deadline:  # bounded; normally ends when the server stops taking requests
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
                    try:
                        conn.connect()
                    except ConnectionRefusedError as e:
                        return refused(f"connect: {e!r}")
                try:
                    conn.request("POST", "/oauth2/token", body=body, headers=headers)
                except (BrokenPipeError, ConnectionResetError) as e:
                    return refused(f"send: {e!r}")  # nothing of an answer was read
                try:
                    resp = conn.getresponse()
                except http.client.RemoteDisconnected as e:
                    return refused(f"closed before any answer: {e!r}")  # zero bytes of a status line
                except ConnectionResetError as e:
                    return refused(f"reset before any answer: {e!r}")
                except Exception as e:  # a partial or garbled status line or head
                    with lock:
                        errors.append(f"half answer (head): {e!r}")
                    return
                try:
                    raw = resp.read()  # IncompleteRead when the body is cut short of its Content-Length
                    doc = json.loads(raw)
                except Exception as e:
                    with lock:
                        errors.append(f"half answer (body, status {resp.status}): {e!r}")
                    return
                with lock:
                    completed.append(resp.status)
                    if resp.status != 200 or "access_token" not in doc:
                        errors.append(f"{resp.status} {raw[:100]!r}")
                if resp.will_close:
                    conn.close()
                    conn = None
            with lock:
                errors.append("the load outlived its deadline: the server never stopped taking requests")
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    # Load is flowing before the signal (no fixed sleep: a slow machine only takes longer).
    while len(completed) < 40 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    before = len(completed)
    sigterm.set()
    server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "a load thread hung"
    rc = server.proc.wait(30)
    assert rc == 0, rc
    assert not errors, errors[:3]
    assert before >= 40, before
    assert len(endings) == len(threads), ("every thread was still sending when the server stopped", endings)


def test_config_file_with_env_winning_and_help(make_server, tmp_path):
    cfg = tmp_path / "connectivly.toml"
    cfg.write_text('provider_name = "From TOML"\ncode_ttl = 45\n[scopes]\n"files:read" = "Read your files"\n')
    # The env (set by the fixture) wins for what it sets; the file supplies the rest.
    server = make_server({"CONNECTIVLY_CONFIG": str(cfg), "CONNECTIVLY_PROVIDER_NAME": ""}, with_host=True)
    assert "files:read" in server.discovery()["scopes_supported"]
    b = Browser(server)
    flow_sid = b.start(server.clients[0].client_id, scope="openid files:read", code_challenge=pkce_pair()[1])
    consent = server.approve(flow_sid, "alice").json()["redirect_uri"]
    page = b.consent_page(consent).text
    assert "From TOML" in page and "Read your files" in page
    bad = tmp_path / "bad.toml"
    bad.write_text('redirect_urll = "typo"\n')
    cp = server.run_cli("--config", str(bad), "clients", "list", check=False)
    assert cp.returncode != 0 and "unknown setting" in cp.stderr
    help_text = server.run_cli("--help").stdout
    for word in ("clients", "keys", "rotate-api-key", "--config", "--database-url"):
        assert word in help_text, word


def test_metrics_on_a_separate_admin_port(make_server):
    from conftest import free_port

    admin = free_port()
    server = make_server({"CONNECTIVLY_METRICS_PORT": str(admin)})
    assert requests.get(server.url("/metrics"), timeout=HTTP_TIMEOUT).status_code == 404
    r = requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert any(f.name == "connectivly_flows" for f in text_string_to_metric_families(r.text))
    assert requests.get(f"http://127.0.0.1:{admin}/readyz", timeout=HTTP_TIMEOUT).status_code == 200


def test_postgres_pool_connections_use_tls_when_the_url_requires_it(make_server):
    """The server on PostgreSQL with sslmode=require: every connection of its own pool is encrypted, as
    the database server sees it (pg_stat_ssl of the backends with the pool's application_name on the
    server's database), and the same query sees sslmode=disable connections as plain."""
    import os
    import secrets
    import shutil
    import subprocess
    import urllib.parse

    import pytest

    admin = os.environ.get("CONNECTIVLY_TEST_POSTGRES_URL", "").strip()
    if not admin:
        pytest.skip("CONNECTIVLY_TEST_POSTGRES_URL is not set")
    assert shutil.which("psql"), "CONNECTIVLY_TEST_POSTGRES_URL is set but psql is not installed"

    def psql(sql: str) -> str:
        cp = subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-tAc", sql], capture_output=True, text=True,
                            timeout=60)
        assert cp.returncode == 0, cp.stderr
        return cp.stdout.strip()

    assert psql("SHOW ssl") == "on", "the test server must offer TLS (tests/pg-cluster always enables it)"

    def pool_tls(name: str) -> list[bool]:
        out = psql("SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid "
                   f"WHERE a.datname = '{name}' AND a.application_name = 'connectivly'")
        return [v == "t" for v in out.split()]

    parts = urllib.parse.urlsplit(admin)
    for sslmode, encrypted in (("require", True), ("disable", False)):
        name = "connectivly_e2e_" + secrets.token_hex(6)
        psql(f"CREATE DATABASE {name}")
        try:
            query = "&".join(q for q in (parts.query, f"sslmode={sslmode}") if q)
            url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, query, ""))
            srv = make_server({"CONNECTIVLY_DATABASE_URL": url})
            try:
                c1 = srv.clients[0]
                flow = run_flow(srv, Browser(srv), c1.client_id)
                assert exchange(srv, c1, flow).status_code == 200
                seen = pool_tls(name)
                assert seen, "the server holds no connection to its database"
                assert seen == [encrypted] * len(seen), (sslmode, seen)
            finally:
                srv.stop()
        finally:
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
