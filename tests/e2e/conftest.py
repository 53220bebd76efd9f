"""Black-box end-to-end fixtures for the `connectivly` server binary.

Every test talks to a real `connectivly` process over loopback HTTP. Nothing in
here knows about the server's internals: it starts the binary with env vars,
parses the first-run banner (the labels `API Key:`, `Client ID:`,
`Client Secret:` are part of the contract), and then behaves like the three
parties of an OAuth flow would:

* a *browser* (a `requests.Session`, so the binding cookie flows),
* a *host app* (calls the host API with `X-API-KEY`),
* an *OAuth client* (authlib, or raw requests for negative tests).
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import warnings

import pytest
import requests

import authlib.deprecate  # noqa: E402  (installs its own "always" filter on import)

with warnings.catch_warnings():
    # authlib 1.x announces joserfc on import; the API used here is still supported.
    warnings.simplefilter("ignore")
    import authlib.jose  # noqa: F401  (pyflakes: import for its side effect)

BIN = os.environ.get("CONNECTIVLY_BIN", "/work/main/target/debug/connectivly")
DEMO_REDIRECT_URI = "http://localhost:5000/auth"
HTTP_TIMEOUT = 15


# --------------------------------------------------------------------------- utils


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_binary(timeout: float = 300.0) -> str:
    """The binary may briefly vanish or be rewritten while someone rebuilds it: wait until it exists
    and has not changed for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            st = os.stat(BIN)
            if os.access(BIN, os.X_OK) and st.st_size > 0 and time.time() - st.st_mtime > 2.0:
                return BIN
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server binary {BIN} not available")
        time.sleep(0.5)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(url: str) -> dict[str, str]:
    """Query parameters of a URL (single-valued)."""
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def without_query(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, "", ""))


def basic_auth(client_id: str, secret: str) -> str:
    # RFC 6749 2.3.1: form-urlencode both parts before base64.
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": (a.get("method") or "get").lower(), "inputs": {}, "buttons": []})
        elif tag == "input" and self.forms:
            # As a browser does: an unchecked checkbox is not submitted.
            unchecked = a.get("type") in ("checkbox", "radio") and "checked" not in a
            if a.get("name") and not unchecked:
                self.forms[-1]["inputs"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append((a.get("name"), a.get("value")))


def parse_consent_form(page: str) -> dict:
    p = _FormParser()
    p.feed(page)
    assert p.forms, f"no <form> on the consent page: {page[:500]!r}"
    return p.forms[0]


def assert_frame_proof_html(headers, what: str = "") -> None:
    """docs/security.md: every HTML page forbids framing (CSP frame-ancestors 'none' and X-Frame-Options:
    DENY) and runs no script (default-src 'none'). `headers` is any case-insensitive mapping."""
    ctype = headers.get("Content-Type", "")
    assert ctype.startswith("text/html"), (what, ctype)
    assert headers.get("X-Frame-Options", "").strip().upper() == "DENY", (what, dict(headers))
    csp = [d.strip() for d in headers.get("Content-Security-Policy", "").split(";")]
    assert "frame-ancestors 'none'" in csp, (what, csp)
    assert "default-src 'none'" in csp, (what, csp)
    assert not any(d.startswith("script-src") for d in csp), (what, csp)
    assert headers.get("X-Content-Type-Options", "").lower() == "nosniff", (what, dict(headers))


# --------------------------------------------------------------------------- server


@dataclass
class Client:
    name: str
    client_id: str
    secret: str | None


@dataclass
class Banner:
    text: str
    issuer: str | None = None
    api_key: str | None = None
    reusing: bool = False
    clients: list[Client] = field(default_factory=list)


def parse_banner(text: str) -> Banner:
    b = Banner(text=text)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Listening... "):
            b.issuer = line[len("Listening... "):].strip()
        elif line.startswith("API Key: "):
            b.api_key = line[len("API Key: "):].strip()
        elif line.startswith("Reusing "):
            b.reusing = True
        elif line.startswith("Client ID: "):
            name = lines[i - 1].strip() if i > 0 else ""
            b.clients.append(Client(name=name, client_id=line[len("Client ID: "):].strip(), secret=None))
        elif line.startswith("Client Secret: "):
            assert b.clients, "Client Secret line before any Client ID line"
            b.clients[-1].secret = line[len("Client Secret: "):].strip()
    return b


class Server:
    """One `connectivly` process on a free loopback port with its own SQLite file."""

    def __init__(self, workdir: Path, login_url: str, extra_env: dict | None = None, port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_url = f"sqlite://{self.workdir / 'c.db'}"
        self.login_url = login_url
        self.port = port or free_port()
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self.banner: Banner | None = None
        self.first_banner: Banner | None = None
        self.api_key: str | None = None
        self.clients: list[Client] = []
        self._out: list[str] = []
        self._stderr_file = None
        self.exit_codes: list[int] = []

    # -- environment ------------------------------------------------------
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTIVLY_")}
        env.update(
            CONNECTIVLY_REDIRECT_URL=self.login_url,
            CONNECTIVLY_PORT=str(self.port),
            CONNECTIVLY_BIND="127.0.0.1",
            CONNECTIVLY_DATABASE_URL=self.db_url,
            CONNECTIVLY_DEMO_REDIRECT_URI=DEMO_REDIRECT_URI,
            CONNECTIVLY_LOG="warn",
            # Every test request comes from 127.0.0.1 and many fail on purpose: brute-force limits
            # (tested in core/tests/robustness.rs and test_security.py) would turn them into 429s.
            CONNECTIVLY_FAILED_AUTH_LIMIT_PER_CLIENT="0",
            CONNECTIVLY_FAILED_LIMIT_PER_ADDRESS="0",
        )
        env.update(self.extra_env)
        return env

    @property
    def issuer(self) -> str:
        return self.env().get("CONNECTIVLY_ISSUER") or f"http://localhost:{self.port}"

    def url(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    def run_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        wait_for_binary()
        cp = subprocess.run([BIN, *args], env=self.env(), cwd=self.workdir, capture_output=True, text=True, timeout=60)
        if check:
            assert cp.returncode == 0, f"{args}: rc={cp.returncode}\nstdout={cp.stdout}\nstderr={cp.stderr}"
        return cp

    # -- lifecycle ----------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        wait_for_binary()
        self._out = []
        self._stderr_file = open(self.workdir / "stderr.log", "ab")
        self.proc = subprocess.Popen(
            [BIN],
            env=self.env(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
        )
        t = threading.Thread(target=self._pump, args=(self.proc,), daemon=True)
        t.start()
        self._wait_ready(timeout)
        self.banner = parse_banner("".join(self._out))
        if self.first_banner is None:
            self.first_banner = self.banner
        if self.banner.api_key:
            self.api_key = self.banner.api_key
        if self.extra_env.get("CONNECTIVLY_API_KEY") and not self.api_key:
            self.api_key = self.extra_env["CONNECTIVLY_API_KEY"]
        # Secrets are only printed on the first run; keep them across restarts.
        known = {c.client_id: c for c in self.clients}
        merged = []
        for c in self.banner.clients:
            old = known.get(c.client_id)
            merged.append(Client(c.name, c.client_id, c.secret or (old.secret if old else None)))
        # Keep the first run's order (Client 1, Client 2, ...) so indexes stay meaningful across restarts.
        order = {c.client_id: i for i, c in enumerate(self.clients)}
        merged.sort(key=lambda c: order.get(c.client_id, len(order)))
        self.clients = merged
        return self

    def _pump(self, proc: subprocess.Popen) -> None:
        for raw in iter(proc.stdout.readline, b""):
            self._out.append(raw.decode("utf-8", "replace"))
        proc.stdout.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/.well-known/openid-configuration"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"connectivly exited with {self.proc.returncode} during startup\n"
                    f"stdout:\n{''.join(self._out)}\nstderr:\n{self.stderr_text()}"
                )
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"connectivly did not become ready; stdout:\n{''.join(self._out)}")
            time.sleep(0.05)
        # The banner is printed around the time the socket opens; wait until stdout is quiet.
        quiet_since, seen = time.monotonic(), len(self._out)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            text = "".join(self._out)
            if "Secrets are shown once" in text:
                break
            if len(self._out) != seen:
                seen, quiet_since = len(self._out), time.monotonic()
            elif time.monotonic() - quiet_since > 0.4 and "Client ID:" in text:
                break
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.exit_codes.append(rc)
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None
        return rc

    def restart(self) -> "Server":
        self.stop()
        return self.start()

    def stderr_text(self) -> str:
        try:
            return (self.workdir / "stderr.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- HTTP helpers --------------------------------------------------------
    def discovery(self) -> dict:
        r = requests.get(self.url("/.well-known/openid-configuration"), timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def jwks(self) -> dict:
        r = requests.get(self.discovery()["jwks_uri"], timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r.json()

    def host(self, method: str, path: str, api_key: str | None = "__default__", **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if api_key == "__default__":
            api_key = self.api_key
        if api_key is not None:
            headers["X-API-KEY"] = api_key
        return requests.request(method, self.url(path), headers=headers, timeout=HTTP_TIMEOUT, **kw)

    def approve(self, sid: str, user: str = "alice", **body) -> requests.Response:
        return self.host("POST", f"/api/auth_session/{sid}/approve", json={"user": user, **body})

    def deny(self, sid: str, body: dict | None = None) -> requests.Response:
        if body is None:
            return self.host("POST", f"/api/auth_session/{sid}/deny")
        return self.host("POST", f"/api/auth_session/{sid}/deny", json=body)

    def auth_session(self, sid: str) -> requests.Response:
        return self.host("GET", f"/api/auth_session/{sid}")

    def create_client(self, name: str = "Test App", redirect_uris=(DEMO_REDIRECT_URI,), public: bool = False,
                      first_party: bool = False, owner: str = "owner-1", **more) -> dict:
        body = {"name": name, "owner": owner, "redirect_uris": list(redirect_uris), "public": public,
                "first_party": first_party, **more}
        r = self.host("POST", "/api/clients", json=body)
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()

    def token(self, data: dict, auth: tuple[str, str] | None = None, headers: dict | None = None) -> requests.Response:
        h = dict(headers or {})
        if auth:
            h["Authorization"] = basic_auth(*auth)
        return requests.post(self.discovery()["token_endpoint"], data=data, headers=h, timeout=HTTP_TIMEOUT)

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(self.discovery()["userinfo_endpoint"],
                            headers={"Authorization": f"Bearer {access_token}"}, timeout=HTTP_TIMEOUT)


# --------------------------------------------------------------------------- browser


class Browser:
    """A user agent: keeps cookies, never follows redirects on its own."""

    def __init__(self, server: Server):
        self.server = server
        self.s = requests.Session()

    def get(self, url: str, **kw) -> requests.Response:
        return self.s.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT, **kw)

    def post(self, url: str, **kw) -> requests.Response:
        return self.s.post(url, allow_redirects=False, timeout=HTTP_TIMEOUT, **kw)

    def authorize(self, client_id: str, redirect_uri: str = DEMO_REDIRECT_URI, scope: str = "openid profile email",
                  state: str | None = None, nonce: str | None = None, code_challenge: str | None = None,
                  method: str | None = "S256", **extra) -> requests.Response:
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                  "state": state or secrets.token_urlsafe(8), "nonce": nonce or secrets.token_urlsafe(8)}
        if code_challenge:
            params["code_challenge"] = code_challenge
            if method:
                params["code_challenge_method"] = method
        params.update(extra)
        return self.get(self.server.discovery()["authorization_endpoint"], params=params)

    def start(self, client_id: str, **kw) -> str:
        """Authorize and return the session id the server hands to the host's login URL."""
        r = self.authorize(client_id, **kw)
        assert r.status_code in (302, 303), (r.status_code, r.text[:500])
        loc = r.headers["Location"]
        assert without_query(loc) == without_query(self.server.login_url), loc
        return query_of(loc)["token"]

    def consent_page(self, url: str) -> requests.Response:
        return self.get(url)

    def consent(self, url: str, decision: str = "allow") -> requests.Response:
        page = self.get(url)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        form = parse_consent_form(page.text)
        action = urllib.parse.urljoin(url, form["action"] or url)
        data = dict(form["inputs"])
        data["decision"] = decision
        return self.post(action, data=data)


@dataclass
class FlowResult:
    code: str
    state: str
    nonce: str
    verifier: str
    redirect: str
    session_id: str


def run_flow(server: Server, browser: Browser, client_id: str, redirect_uri: str = DEMO_REDIRECT_URI,
             scope: str = "openid profile email", user: str = "alice", claims: dict | None = None,
             skip_consent: bool = False, scopes: list | None = None) -> FlowResult:
    """authorize → host approve → consent allow → the client redirect carrying the code."""
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    sid = browser.start(client_id, redirect_uri=redirect_uri, scope=scope, state=state, nonce=nonce,
                        code_challenge=challenge)
    body = {"claims": claims or {"name": "Alice Example", "email": "alice@example.com"}}
    if skip_consent:
        body["skip_consent"] = True
    if scopes is not None:
        body["scopes"] = scopes
    r = server.approve(sid, user, **body)
    assert r.status_code == 200, (r.status_code, r.text)
    target = r.json()["redirect_uri"]
    if not target.startswith(redirect_uri):
        resp = browser.consent(target, "allow")
        assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
        target = resp.headers["Location"]
    assert target.startswith(redirect_uri), target
    q = query_of(target)
    assert "code" in q, target
    assert q.get("state") == state, target
    return FlowResult(code=q["code"], state=state, nonce=nonce, verifier=verifier, redirect=target, session_id=sid)


def exchange(server: Server, client: Client, flow: FlowResult, redirect_uri: str = DEMO_REDIRECT_URI) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": flow.code, "redirect_uri": redirect_uri,
            "code_verifier": flow.verifier}
    if client.secret:
        return server.token(data, auth=(client.client_id, client.secret))
    data["client_id"] = client.client_id
    return server.token(data)


# --------------------------------------------------------------------------- fake host app


class FakeHost:
    """The host app's login endpoint (CONNECTIVLY_REDIRECT_URL): the user is 'logged in' already,
    so it approves the session over the host API and redirects the browser, exactly like the
    README's Flask snippet."""

    def __init__(self):
        self.server: Server | None = None
        self.user = "alice"
        self.claims: dict = {}
        self.scopes: list | None = None
        self.seen_tokens: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                q = query_of(self.path)
                token = q.get("token")
                outer.seen_tokens.append(token)
                if not token or outer.server is None:
                    self.send_response(400)
                    self.end_headers()
                    return
                body = {"claims": outer.claims}
                if outer.scopes is not None:
                    body["scopes"] = outer.scopes
                r = outer.server.approve(token, outer.user, **body)
                if r.status_code != 200:
                    self.send_response(502)
                    self.end_headers()
                    self.wfile.write(r.content)
                    return
                self.send_response(302)
                self.send_header("Location", r.json()["redirect_uri"])
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.login_url = f"http://127.0.0.1:{self.port}/connectivly"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def make_server(tmp_path_factory):
    """Factory: make_server(**extra_env) -> started Server; all are stopped at module end."""
    started: list[Server] = []
    hosts: list[FakeHost] = []

    def factory(extra_env: dict | None = None, with_host: bool = False, login_url: str | None = None,
                start: bool = True, port: int | None = None) -> Server:
        workdir = tmp_path_factory.mktemp("connectivly")
        host = None
        if with_host:
            host = FakeHost()
            hosts.append(host)
            login_url = host.login_url
        srv = Server(workdir, login_url or "http://127.0.0.1:9/connectivly", extra_env, port=port)
        srv.fake_host = host
        started.append(srv)
        if start:
            srv.start()
        if host:
            host.server = srv
        return srv

    yield factory
    for srv in started:
        try:
            srv.stop()
        except Exception:
            if srv.proc and srv.proc.poll() is None:
                srv.proc.kill()
    for h in hosts:
        h.close()


@pytest.fixture(scope="module")
def server(make_server) -> Server:
    """One shared server per test module, with a fake host app as its login URL."""
    return make_server(with_host=True)


@pytest.fixture
def browser(server) -> Browser:
    return Browser(server)


@pytest.fixture
def client1(server) -> Client:
    return server.clients[0]


@pytest.fixture
def client2(server) -> Client:
    return server.clients[1]
