"""Crash durability and log hygiene of the real server process.

* SIGKILL under load, restart on the same SQLite file: every token handed out before the kill still
  introspects active, every approved-but-unredeemed code still redeems exactly once.
* A full flow with verbose logging: no secret, code or token appears anywhere in the logs.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import DEMO_REDIRECT_URI, HTTP_TIMEOUT, Browser, exchange, pkce_pair, query_of, run_flow


def one_flow(server, client, redeem: bool):
    """authorize → approve (skip consent) → maybe token. Returns ('token', at) or ('code', flow)."""
    flow = run_flow(server, Browser(server), client.client_id, skip_consent=True)
    if not redeem:
        return ("code", flow)
    r = exchange(server, client, flow)
    assert r.status_code == 200, r.text
    return ("token", r.json()["access_token"])


def test_sigkill_under_load_loses_nothing_acknowledged(make_server):
    server = make_server(with_host=True)
    client = server.clients[0]
    results: list = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    killed = threading.Event()  # set before SIGKILL is sent: only later failures are the kill's

    def worker(i: int) -> None:
        for n in range(40):  # bounded
            if stop.is_set():
                return
            try:
                got = one_flow(server, client, redeem=(n % 3 != 0))
            except requests.RequestException as e:
                if killed.is_set():
                    return  # the kill landed mid-request: nothing was acknowledged for this one
                with lock:
                    errors.append(f"worker {i}, flow {n}, before the kill: {e!r}")
                stop.set()
                return
            except Exception as e:  # a wrong answer (an assertion in the flow) fails the test, kill or not
                with lock:
                    errors.append(f"worker {i}, flow {n}{' after the kill' if killed.is_set() else ''}: {e!r}")
                stop.set()
                return
            with lock:
                results.append(got)
                if len(results) >= 60:
                    stop.set()

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(worker, i) for i in range(4)]
        stop.wait(timeout=120)
        killed.set()
        server.proc.send_signal(signal.SIGKILL)  # no graceful anything
        for f in futures:
            f.result(timeout=60)
    assert not errors, errors[:5]
    server.proc.wait(10)
    server.start()  # same SQLite file

    tokens = [v for kind, v in results if kind == "token"]
    codes = [v for kind, v in results if kind == "code"]
    assert tokens and codes, (len(tokens), len(codes))
    for at in tokens:
        r = server.host("POST", "/api/introspect", json={"token": at})
        assert r.json()["active"] is True, r.text
    for flow in codes:
        first = exchange(server, client, flow)
        assert first.status_code == 200, first.text
        again = exchange(server, client, flow)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_logs_never_contain_secrets(make_server):
    server = make_server({"CONNECTIVLY_LOG": "trace,hyper=trace"}, with_host=True)
    client = server.clients[0]
    secrets_seen = [server.api_key, client.secret]
    # A public client too, and a refresh token.
    flow = run_flow(server, Browser(server), client.client_id, scope="openid email offline_access")
    secrets_seen += [flow.code, flow.verifier, flow.session_id]
    tok = exchange(server, client, flow).json()
    secrets_seen += [tok["access_token"], tok["id_token"], tok["refresh_token"]]
    r = server.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
                     auth=(client.client_id, client.secret))
    secrets_seen += [r.json()["access_token"], r.json()["refresh_token"]]
    server.userinfo(tok["access_token"])
    created = server.create_client("Logged App")
    secrets_seen.append(created["client_secret"])
    rotated = server.host("POST", f"/api/clients/{created['client_id']}/secret").json()
    secrets_seen.append(rotated["client_secret"])
    # Failures log too: a wrong secret, a bad code.
    server.token({"grant_type": "authorization_code", "code": "cly_ac_" + "x" * 43, "redirect_uri": DEMO_REDIRECT_URI},
                 auth=(client.client_id, "cly_cs_wrong-secret-guess"))
    b = Browser(server)
    b.get(server.url("/oauth2/authorize?client_id=nope&redirect_uri=x"))
    server.stop()
    # stdout is the first-run banner, which shows the API key and the demo clients' secrets once, each on its
    # own labelled line: exactly those lines are allowed to carry them; everything else on stdout is scanned.
    stdout_lines = "".join(server._out).splitlines(keepends=True)
    allowed = {f"API Key: {server.api_key}", *(f"Client Secret: {c.secret}" for c in server.clients if c.secret)}
    kept = [line for line in stdout_lines if line.strip() not in allowed]
    assert len(stdout_lines) - len(kept) == len(allowed), "each banner secret is printed once, on its own line"
    stdout_rest = "".join(kept)
    assert "Client ID:" in stdout_rest, "the rest of the banner is scanned too"
    logs = server.stderr_text() + stdout_rest
    assert len(server.stderr_text()) > 1000, "verbose logging produced output"
    for s in secrets_seen:
        assert s and s not in logs, f"a secret ({s[:10]}…) appears in the logs"
        # Not even a recognisable part of one.
        assert s[-20:] not in logs
    assert "cly_cs_wrong-secret-guess" not in logs
