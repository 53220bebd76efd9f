"""Fixtures: embedded providers on real SQLite files, the Flask host example served over real HTTP,
and the standalone server binary for RemoteProvider."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "flask-host"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Served:
    """A WSGI app on a real port, in a thread."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/connectivly.db"


@pytest.fixture
def provider(db_url: str) -> Iterator[Any]:
    from connectivly import Provider

    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=db_url,
                 scopes={"photos:read": "See your photos"})
    yield p
    p.close()


@pytest.fixture
def flask_host(tmp_path: Path) -> Iterator[Served]:
    """examples/flask-host with an embedded provider, served on a free port."""
    from connectivly import Provider

    import app as host  # examples/flask-host/app.py

    port = free_port()
    provider = Provider(f"http://127.0.0.1:{port}/oauth", "/connectivly",
                        database=f"sqlite://{tmp_path}/host.db", scopes={"photos:read": "See your photos"})
    served = Served(host.create_app(provider), port)
    served.provider = provider  # type: ignore[attr-defined]
    yield served
    served.stop()
    provider.close()


class ServerProcess:
    def __init__(self, tmp: Path, login_url: str) -> None:
        binary = os.environ.get("CONNECTIVLY_BIN", str(ROOT / "target" / "debug" / "connectivly"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            CONNECTIVLY_REDIRECT_URL=login_url,
            CONNECTIVLY_PORT=str(self.port),
            CONNECTIVLY_BIND="127.0.0.1",
            CONNECTIVLY_ISSUER=self.url,
            CONNECTIVLY_DATABASE_URL=f"sqlite://{tmp}/server.db",
            CONNECTIVLY_SCOPES="photos:read=See your photos",
            CONNECTIVLY_LOG="warn",
        )
        self.proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        banner = ""
        deadline = time.time() + 30
        while "Secrets are shown once" not in banner:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line and (self.proc.poll() is not None or time.time() > deadline):
                raise RuntimeError(f"server did not start: {banner}")
            banner += line
        m = re.search(r"^API Key: (\S+)$", banner, re.M)
        assert m, banner
        self.api_key = m.group(1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(login_url: str) -> ServerProcess:
        s = ServerProcess(tmp_path, login_url)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def sign_in_through(host_url: str, authorization_url: str, username: str = "ann", password: str = "wonderland",
                    decision: str = "allow") -> str:
    """Plays the user's browser: authorize → host login form → consent page → back at the client.

    Returns the final client redirect URL (with code or error)."""
    browser = requests.Session()
    r = browser.get(authorization_url, allow_redirects=False)
    assert r.status_code == 302, r.text
    # Follow redirects by hand until the client's redirect URI is reached.
    url = r.headers["location"]
    for _ in range(10):
        if url.startswith("/"):
            url = host_url + url
        if url.startswith("http://localhost:8000/callback"):
            return url
        r = browser.get(url, allow_redirects=False)
        if r.status_code == 200 and 'name="password"' in r.text:
            nxt = re.search(r'name="next" value="([^"]*)"', r.text)
            r = browser.post(url.split("?")[0], data={"username": username, "password": password,
                                                      "next": nxt.group(1) if nxt else "/"}, allow_redirects=False)
            assert r.status_code == 302, r.text
        elif r.status_code == 200 and 'name="csrf"' in r.text:
            csrf = re.search(r'name="csrf" value="([^"]+)"', r.text)
            assert csrf
            r = browser.post(url, data={"csrf": csrf.group(1), "decision": decision}, allow_redirects=False)
            assert r.status_code == 302, r.text
        else:
            assert r.status_code in (301, 302, 303), (r.status_code, r.text[:500])
        url = r.headers["location"]
    raise AssertionError("too many redirects")
