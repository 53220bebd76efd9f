"""The README's Python snippets, run as written — their own login stand-in included, nothing injected: a snippet
that drifted from the product is a bug. Each flow also reloads the approval URL (the browser's reload, the back
button), which must show the snippet's "sign in again" page (a 4xx), not a 500.

COVERED lists every Python block these tests execute; tests/e2e/test_docs.py fails when the README grows a
Python block that is not in it."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import DEMO_REDIRECT_URI, Browser, parse_consent_form, pkce_pair, query_of

README = Path(__file__).resolve().parents[2] / "README.md"

SERVER_MODE = "#### Flask example"
EMBEDDED = "## Python: the provider inside your Flask app"
# (heading, index of the ```python block after it): every Python block of the README, each run below.
COVERED = [(SERVER_MODE, 0), (EMBEDDED, 0), (EMBEDDED, 1)]

FRIENDLY = "already used or has expired"


@dataclass
class Block:
    """One fenced code block of a Markdown file."""

    file: Path
    line: int  # of the opening fence, 1-based
    lang: str  # the info string's first word, "" when none
    text: str
    headings: tuple[str, ...]  # the headings it is under, outermost first ("## Python: ...", "#### ...")

    @property
    def where(self) -> str:
        try:
            name = str(self.file.relative_to(README.parent))
        except ValueError:
            name = str(self.file)
        return f"{name}:{self.line} ({self.headings[-1] if self.headings else 'top'})"


def blocks_of(path: Path) -> list[Block]:
    """Every fenced block, with the headings it sits under (headings inside blocks do not count)."""
    out: list[Block] = []
    stack: list[str] = []
    fence: tuple[str, int, str, list[str]] | None = None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if fence is None:
            m = re.match(r"^(```+|~~~+)\s*([^`\s]*)", line)
            if m:
                fence = (m.group(1), n, m.group(2), [])
                continue
            h = re.match(r"^(#{1,6}) ", line)
            if h:
                level = len(h.group(1))
                stack = [s for s in stack if len(s.split(" ")[0]) < level] + [line.strip()]
        elif line.strip() == fence[0]:
            out.append(Block(path, fence[1], fence[2], "\n".join(fence[3]) + "\n", tuple(stack)))
            fence = None
        else:
            fence[3].append(line)
    assert fence is None, f"{path}:{fence[1]}: a code block is never closed"
    return out


def snippet(after_heading: str, index: int = 0) -> str:
    """The `index`-th ```python block under the README heading `after_heading`."""
    blocks = [b for b in blocks_of(README) if b.lang == "python" and after_heading in b.headings]
    assert len(blocks) > index, f"no python block #{index} under {after_heading!r}"
    return blocks[index].text


def run_snippet(after_heading: str, index: int = 0, ns: dict | None = None) -> dict:
    ns = {"__name__": "readme_app"} if ns is None else ns
    exec(compile(snippet(after_heading, index), f"README.md ({after_heading} #{index})", "exec"), ns)
    return ns


def path_of(url: str) -> str:
    u = urlsplit(url)
    return f"{u.path}?{u.query}" if u.query else u.path


def sign_in_through_stand_in(host, approval_path: str):
    """The host's login stand-in, as a browser meets it: sent to /login, signs in, comes back; returns the
    response of the approval endpoint."""
    r = host.get(approval_path)
    assert r.status_code == 302 and r.headers["Location"] == "/login", (r.status_code, r.headers.get("Location"))
    # The snippet's own session cookie name, so a client app on another localhost port cannot overwrite it.
    assert host.get_cookie("host_session") is not None and host.get_cookie("session") is None
    form = host.get("/login")
    assert form.status_code == 200 and "<form" in form.get_data(as_text=True)
    r = host.post("/login")
    assert r.status_code == 302 and path_of(r.headers["Location"]) == approval_path, r.headers.get("Location")
    return host.get(approval_path)


def test_readme_curl_call_shape_matches_the_host_api(server):
    text = README.read_text()
    assert "/api/auth_session/$TOKEN/approve" in text and '-d \'{"user": "test@example.com"}\'' in text
    b = Browser(server)
    sid = b.start(server.clients[0].client_id, code_challenge=pkce_pair()[1])
    r = server.approve(sid, "test@example.com")
    assert r.status_code == 200 and set(r.json()) == {"redirect_uri"}


def test_readme_flask_snippet_against_the_server(make_server, monkeypatch):
    pytest.importorskip("flask")
    server = make_server(login_url="http://host.test/connectivly")
    monkeypatch.setenv("CONNECTIVLY_URL", server.issuer)
    monkeypatch.setenv("CONNECTIVLY_API_KEY", server.banner.api_key)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    ns = run_snippet(SERVER_MODE)
    app = ns["app"]
    host = app.test_client()

    client = server.clients[0]
    b = Browser(server)
    _, challenge = pkce_pair()
    r = b.authorize(client.client_id, code_challenge=challenge, state="st")
    login = r.headers["Location"]
    assert login.startswith("http://host.test/connectivly?token=")
    approval_path = path_of(login)
    r = sign_in_through_stand_in(host, approval_path)
    assert r.status_code == 302, (r.status_code, r.get_data(as_text=True)[:300])
    consent = r.headers["Location"]
    r = b.consent(consent, "allow")
    target = r.headers["Location"]
    assert target.startswith(DEMO_REDIRECT_URI) and query_of(target)["state"] == "st"

    # Reload / back button: the session is spent. A friendly 4xx page, not a 500.
    again = host.get(approval_path)
    assert again.status_code == 409 and FRIENDLY in again.get_data(as_text=True)
    unknown = host.get("/connectivly?token=cly_ses_unknown")
    assert unknown.status_code == 404 and FRIENDLY in unknown.get_data(as_text=True)
    # A token that tries to walk the host API's path is one opaque path segment.
    odd = host.get("/connectivly", query_string={"token": "../../clients"})
    assert odd.status_code == 404 and FRIENDLY in odd.get_data(as_text=True)

    # Anything else is still an error: a wrong API key is the host's bug, not the user's.
    ns["API_KEY"] = "cly_ak_wrong-key-wrong-key-wrong"
    sid = b.start(client.client_id, code_challenge=pkce_pair()[1])
    r = host.get(f"/connectivly?token={sid}")
    assert r.status_code == 500


def test_readme_embedded_python_snippet(tmp_path, monkeypatch):
    pytest.importorskip("flask")
    pytest.importorskip("connectivly")
    monkeypatch.chdir(tmp_path)  # the snippet's sqlite://connectivly.db lands here
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    ns = run_snippet(EMBEDDED, 0)
    app, provider = ns["app"], ns["provider"]
    web = app.test_client()
    disc = web.get("/oauth/.well-known/openid-configuration").get_json()
    assert disc["issuer"] == "http://localhost:5000/oauth"

    # The README's registration, as written.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_snippet(EMBEDDED, 1, ns)
    created = ns["created"]
    assert out.getvalue().split() == [created.client_id, created.client_secret]
    assert created.client_id.startswith("cly_ci_") and created.client_secret.startswith("cly_cs_")
    redirect_uri = provider.get_client(created.client_id).redirect_uris[0]
    assert redirect_uri == "http://localhost:8000/callback"

    verifier, challenge = pkce_pair()
    r = web.get("/oauth/oauth2/authorize", query_string={
        "response_type": "code", "client_id": created.client_id, "redirect_uri": redirect_uri,
        "scope": "openid email photos:read", "state": "s", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/connectivly?token=")
    approval_path = r.headers["Location"]
    r = sign_in_through_stand_in(web, approval_path)
    assert r.status_code == 302, (r.status_code, r.get_data(as_text=True)[:300])
    consent = urlsplit(r.headers["Location"])
    page = web.get(f"{consent.path}?{consent.query}")  # the ticket travels in the query
    assert page.status_code == 200
    form = parse_consent_form(page.get_data(as_text=True))
    r = web.post(consent.path, data={**form["inputs"], "decision": "allow"})
    code = query_of(r.headers["Location"])["code"]
    tok = web.post("/oauth/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier, "client_id": created.client_id, "client_secret": created.client_secret}).get_json()
    r = web.get("/api/photos", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 200 and r.get_json() == {"owner": "ann@example.com"}
    assert web.get("/api/photos").status_code == 401

    # Reload / back button after approving, and an unknown link: the friendly page (a 4xx), not a 500.
    again = web.get(approval_path)
    assert again.status_code == 400 and FRIENDLY in again.get_data(as_text=True)
    unknown = web.get("/connectivly?token=cly_ses_unknown")
    assert unknown.status_code == 400 and FRIENDLY in unknown.get_data(as_text=True)
    provider.close()
