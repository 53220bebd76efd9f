"""The attacks the original connectivly fell to, and the RFC 6749 / OAuth 2.1 rules that stop them."""

import base64
import http.client
import secrets
import urllib.parse

import pytest
import requests

from conftest import DEMO_REDIRECT_URI, Browser, Client, assert_frame_proof_html, basic_auth, exchange, \
    parse_consent_form, pkce_pair, query_of, run_flow

CHALLENGE = pkce_pair()[1]


def assert_html_400_no_redirect(r: requests.Response):
    assert r.status_code == 400, (r.status_code, r.headers, r.text[:300])
    assert "Location" not in r.headers, r.headers.get("Location")
    assert r.headers.get("Content-Type", "").startswith("text/html"), r.headers
    assert "connectivly_binding" not in r.headers.get("Set-Cookie", "")


def assert_oauth_error(r: requests.Response, status: int, error: str):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["error"] == error, body
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers


# ----------------------------------------------------------------------------- /authorize checks


def test_unknown_client_is_html_400_without_redirect(server, browser):
    assert_html_400_no_redirect(browser.authorize("cly_ci_doesnotexist", code_challenge=CHALLENGE))


def test_missing_client_id_is_html_400_without_redirect(server, browser):
    r = browser.get(server.discovery()["authorization_endpoint"],
                    params={"response_type": "code", "redirect_uri": DEMO_REDIRECT_URI, "scope": "openid"})
    assert_html_400_no_redirect(r)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://LOCALHOST:5000/auth",  # case change in host
        "http://localhost:5000/AUTH",  # case change in path
        "http://localhost:5000/Auth",
        "HTTP://localhost:5000/auth",  # case change in scheme
        "http://localhost:5000/auth/",  # trailing slash
        "http://localhost:5000/auth?x=1",  # extra query
        "http://localhost:5000/auth?",  # empty query
        "http://localhost:5000/auth#frag",  # fragment
        "http://localhost:5000/auth#",
        "http://localhost:5001/auth",  # other port
        "http://localhost:80/auth",
        "http://localhost/auth",  # port dropped
        "https://localhost:5000/auth",  # other scheme
        "http://localhost:5000/auth/../auth",
        "http://localhost:5000/authx",  # prefix match
        "http://localhost:5000/au",
        "http://localhost:5000",
        "http://localhost:5000/auth%20",
        "http://localhost:5000/auth ",
        "http://localhost:5000@evil.example/auth",
        "http://evil.example/auth",
        "http://localhost:5000.evil.example/auth",
        "//evil.example/auth",
        "javascript:alert(1)",
        "http://lоcalhost:5000/auth",  # IDN look-alike: Cyrillic "о"
        "http://xn--lcalhost-ohc:5000/auth",  # the same look-alike, punycoded
        "http://localhost:5000/аuth",  # Cyrillic "а" in the path
        "http://localhost:5000/auth%00",  # NUL injection
        "http://localhost:5000/auth%0d%0aSet-Cookie:x=1",  # header injection
        "",
    ],
)
def test_unregistered_redirect_uri_is_html_400_without_redirect(server, browser, client1, redirect_uri):
    r = browser.authorize(client1.client_id, redirect_uri=redirect_uri, code_challenge=CHALLENGE)
    assert_html_400_no_redirect(r)
    # The page must not be a trampoline to the attacker's URL either.
    low = r.text.lower()
    assert 'http-equiv="refresh"' not in low and "http-equiv=refresh" not in low
    assert 'href="http://evil' not in low and "window.location" not in low


def test_invalid_redirect_uri_wins_over_other_errors(server, browser, client1):
    """Even with other errors present, an unverified redirect_uri is never redirected to."""
    r = browser.authorize(client1.client_id, redirect_uri="http://evil.example/cb", response_type="token",
                          scope="bogus", code_challenge="x", method="plain")
    assert_html_400_no_redirect(r)


def test_later_errors_redirect_to_verified_uri_with_state_and_iss(server, browser, client1):
    r = browser.authorize(client1.client_id, response_type="token", state="st-9", code_challenge=CHALLENGE)
    assert r.status_code in (302, 303)
    loc = r.headers["Location"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?")
    q = query_of(loc)
    assert q["error"] == "unsupported_response_type"
    assert q["state"] == "st-9" and q["iss"] == server.issuer


def test_state_with_special_characters_round_trips_encoded(server, browser, client1):
    state = "a b&c=d#e?f/g%41+ü"
    _, challenge = pkce_pair()
    sid = browser.start(client1.client_id, state=state, code_challenge=challenge)
    target = server.approve(sid, skip_consent=True).json()["redirect_uri"]
    parts = urllib.parse.urlsplit(target)
    assert parts.fragment == "", target
    assert urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) == DEMO_REDIRECT_URI
    q = urllib.parse.parse_qs(parts.query)
    assert q["state"] == [state]
    assert set(q) == {"code", "state", "iss"}


def test_mass_assignment_has_no_effect(server, browser, client1):
    """The original's /authorize?...&approved=true&userid=victim minted a pre-approved session."""
    r = browser.authorize(client1.client_id, code_challenge=CHALLENGE, approved="true", userid="victim",
                          user="victim", user_id="victim", sub="victim", status="approved", skip_consent="true",
                          consent="true")
    assert r.status_code in (302, 303)
    loc = r.headers["Location"]
    assert loc.startswith(server.login_url + "?"), loc
    q = query_of(loc)
    assert set(q) == {"token"}, q
    assert "code" not in loc
    info = server.auth_session(q["token"])
    assert info.status_code == 200
    body = info.json()
    assert body["status"] == "pending"
    assert body["user"] is None
    assert "victim" not in info.text


def test_login_url_gets_only_the_session_token(server, browser, client1):
    r = browser.authorize(client1.client_id, code_challenge=CHALLENGE)
    cookie = r.headers.get("Set-Cookie", "")
    assert "connectivly_binding=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert r.headers.get("Cache-Control", "").find("no-store") >= 0


# ----------------------------------------------------------------------------- /token checks


def test_code_is_single_use_and_reuse_revokes_tokens(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    first = exchange(server, client1, flow)
    assert first.status_code == 200, first.text
    at = first.json()["access_token"]
    assert server.userinfo(at).status_code == 200

    second = exchange(server, client1, flow)
    assert_oauth_error(second, 400, "invalid_grant")
    # Reuse revokes everything issued from the code.
    after = server.userinfo(at)
    assert after.status_code == 401, (after.status_code, after.text)
    assert "Bearer" in after.headers.get("WWW-Authenticate", "")


def test_code_bound_to_client(server, browser, client1, client2):
    flow = run_flow(server, browser, client1.client_id)
    stolen = exchange(server, client2, flow)
    assert_oauth_error(stolen, 400, "invalid_grant")


def test_code_bound_to_redirect_uri(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    r = exchange(server, client1, flow, redirect_uri="http://localhost:5000/other")
    assert_oauth_error(r, 400, "invalid_grant")


def test_code_bound_to_redirect_uri_among_registered_ones(server, browser):
    a, b = "http://localhost:5000/a", "http://localhost:5000/b"
    c = server.create_client(name="Two URIs", redirect_uris=[a, b])
    client = Client(c["name"], c["client_id"], c["client_secret"])
    flow = run_flow(server, browser, client.client_id, redirect_uri=a)
    assert_oauth_error(exchange(server, client, flow, redirect_uri=b), 400, "invalid_grant")


def test_missing_redirect_uri_at_token_is_rejected(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    r = server.token({"grant_type": "authorization_code", "code": flow.code, "code_verifier": flow.verifier},
                     auth=(client1.client_id, client1.secret))
    assert r.status_code == 400, r.text
    assert r.json()["error"] in ("invalid_grant", "invalid_request")


def test_unknown_code_is_invalid_grant(server, client1):
    r = server.token({"grant_type": "authorization_code", "code": "cly_co_" + secrets.token_urlsafe(32),
                      "redirect_uri": DEMO_REDIRECT_URI, "code_verifier": pkce_pair()[0]},
                     auth=(client1.client_id, client1.secret))
    assert_oauth_error(r, 400, "invalid_grant")


def test_wrong_secret_basic_is_401_invalid_client(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    r = server.token({"grant_type": "authorization_code", "code": flow.code, "redirect_uri": DEMO_REDIRECT_URI,
                      "code_verifier": flow.verifier}, auth=(client1.client_id, client1.secret + "x"))
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic")


def test_wrong_secret_post_is_401_invalid_client(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    r = server.token({"grant_type": "authorization_code", "code": flow.code, "redirect_uri": DEMO_REDIRECT_URI,
                      "code_verifier": flow.verifier, "client_id": client1.client_id,
                      "client_secret": "cly_cs_wrong"})
    assert_oauth_error(r, 401, "invalid_client")


def test_secret_of_other_client_is_invalid_client(server, browser, client1, client2):
    flow = run_flow(server, browser, client1.client_id)
    r = server.token({"grant_type": "authorization_code", "code": flow.code, "redirect_uri": DEMO_REDIRECT_URI,
                      "code_verifier": flow.verifier}, auth=(client1.client_id, client2.secret))
    assert_oauth_error(r, 401, "invalid_client")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


MALFORMED_AUTH = [
    "Basic !!!",
    "Basic " + _b64(b"no-colon-here"),
    "Basic " + _b64(b"\xff\xfe\xfd:\xff\xfe"),
    "Basic " + _b64(b"cly_ci_x:\xc3\x28"),
    "Basic " + _b64(b":"),
    "Basic " + _b64(b"%zz:%zz"),
    "Basic " + _b64(b"%ff%fe:%c3%28"),
    "Basic",
    "Basic ",
    "Basic ====",
    "Basic " + "A" * 10000,
    "Bearer x",
    "Digest username=x",
    "x",
    "",
]


@pytest.mark.parametrize("header", MALFORMED_AUTH, ids=range(len(MALFORMED_AUTH)))
def test_malformed_authorization_header_is_401(server, browser, client1, header):
    r = server.token({"grant_type": "authorization_code", "code": "cly_co_x", "redirect_uri": DEMO_REDIRECT_URI,
                      "code_verifier": pkce_pair()[0]}, headers={"Authorization": header})
    if header == "":
        # An empty header is "no client authentication": a request without a client at all.
        assert r.status_code in (400, 401), r.text
    else:
        assert_oauth_error(r, 401, "invalid_client")
    assert server.alive()
    assert requests.get(server.url("/.well-known/openid-configuration"), timeout=5).status_code == 200


def test_raw_non_utf8_authorization_header_bytes(server):
    """Bytes that are not even valid header text must not crash the process."""
    u = urllib.parse.urlsplit(server.discovery()["token_endpoint"])
    for value in (b"Basic \xff\xfe\xfd", b"\xc3\x28 \xa0\xa1", b"Basic " + _b64(b"a:b").encode() + b"\x80"):
        conn = http.client.HTTPConnection("127.0.0.1", u.port, timeout=10)
        body = b"grant_type=authorization_code&code=x&redirect_uri=x"
        conn.putrequest("POST", u.path)
        conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Authorization", value)
        conn.endheaders(body)
        resp = conn.getresponse()
        resp.read()
        assert resp.status in (400, 401), resp.status
        conn.close()
    assert server.alive()
    assert requests.get(server.url("/.well-known/openid-configuration"), timeout=5).status_code == 200


def test_every_token_response_is_no_store(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    good = exchange(server, client1, flow)
    responses = [
        good,
        exchange(server, client1, flow),  # reuse
        server.token({"grant_type": "authorization_code"}, auth=(client1.client_id, client1.secret)),
        server.token({"grant_type": "password", "username": "a", "password": "b"},
                     auth=(client1.client_id, client1.secret)),
        server.token({}, auth=(client1.client_id, client1.secret)),
        server.token({"grant_type": "authorization_code", "code": "x"}),
        server.token({"grant_type": "authorization_code", "code": "x"}, auth=(client1.client_id, "bad")),
        server.token({"grant_type": "authorization_code", "code": "x"}, headers={"Authorization": "Basic !!!"}),
        server.token({"grant_type": "refresh_token", "refresh_token": "cly_rt_nope"},
                     auth=(client1.client_id, client1.secret)),
    ]
    assert good.status_code == 200
    for r in responses:
        assert "no-store" in r.headers.get("Cache-Control", ""), (r.status_code, r.headers)
        if r.status_code != 200:
            assert r.status_code in (400, 401), (r.status_code, r.text)
            body = r.json()
            assert isinstance(body.get("error"), str) and body["error"], body
            assert set(body) <= {"error", "error_description", "error_uri"}, body


def test_unsupported_grant_type(server, client1):
    r = server.token({"grant_type": "password", "username": "a", "password": "b"},
                     auth=(client1.client_id, client1.secret))
    assert_oauth_error(r, 400, "unsupported_grant_type")


def test_missing_grant_type_is_invalid_request(server, client1):
    r = server.token({"code": "x"}, auth=(client1.client_id, client1.secret))
    assert_oauth_error(r, 400, "invalid_request")


def test_invalid_refresh_token_is_not_200(server, client1):
    r = server.token({"grant_type": "refresh_token", "refresh_token": "cly_rt_nope"},
                     auth=(client1.client_id, client1.secret))
    assert r.status_code == 400, r.text
    assert r.json()["error"] in ("invalid_grant", "unsupported_grant_type")


def test_userinfo_rejects_bad_tokens(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    at = exchange(server, client1, flow).json()["access_token"]
    h, p, s = at.split(".")
    tampered_payload = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(p + "==").replace(b'"alice"', b'"mallory"')).rstrip(b"=").decode()
    for bad in ("", "garbage", "a.b.c", f"{h}.{tampered_payload}.{s}", f"{h}.{p}.", at[:-4] + "AAAA"):
        r = requests.get(server.discovery()["userinfo_endpoint"], headers={"Authorization": f"Bearer {bad}"},
                         timeout=10)
        assert r.status_code == 401, (bad[:20], r.status_code, r.text)
    r = requests.get(server.discovery()["userinfo_endpoint"], timeout=10)
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_userinfo_requires_openid_scope(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id, scope="profile")
    tok = exchange(server, client1, flow)
    assert tok.status_code == 200, tok.text
    assert "id_token" not in tok.json()
    r = server.userinfo(tok.json()["access_token"])
    assert r.status_code in (401, 403), (r.status_code, r.text)


# ----------------------------------------------------------------------------- consent page


def _approved(server, browser, client_id, state="st"):
    sid = browser.start(client_id, state=state, code_challenge=CHALLENGE)
    r = server.approve(sid, "alice", claims={"name": "A"})
    assert r.status_code == 200
    url = r.json()["redirect_uri"]
    assert url.startswith(server.issuer + "/consent/"), url
    return sid, url


def test_consent_deny_button_sends_access_denied(server, browser, client1):
    sid, url = _approved(server, browser, client1.client_id, state="deny-me")
    r = browser.consent(url, "deny")
    assert r.status_code in (302, 303)
    loc = r.headers["Location"]
    assert loc.startswith(DEMO_REDIRECT_URI + "?"), loc
    q = query_of(loc)
    assert q["error"] == "access_denied"
    assert q["state"] == "deny-me"
    assert q["iss"] == server.issuer
    assert "code" not in q
    assert server.auth_session(sid).json()["status"] == "denied"


def test_consent_from_another_browser_is_403(server, browser, client1):
    """The consent URL (with its ticket) opened by any browser but the one that started the flow is refused,
    and ends the session: after that not even the right browser can finish it."""
    sid, url = _approved(server, browser, client1.client_id)
    page = browser.get(url)
    assert page.status_code == 200
    csrf = parse_consent_form(page.text)["inputs"]["csrf"]

    attacker = Browser(server)
    p = attacker.post(url, data={"csrf": csrf, "decision": "allow"})
    assert p.status_code == 403, (p.status_code, p.headers)
    assert "Location" not in p.headers
    assert server.auth_session(sid).json()["status"] == "denied"  # ended, not completed
    for r in (attacker.get(url), attacker.post(url, data={"csrf": csrf, "decision": "allow"}),
              browser.post(url, data={"csrf": csrf, "decision": "allow"})):
        assert r.status_code == 409, r.status_code
        assert "Location" not in r.headers

    # A GET in another browser: 403, no form, no csrf, and the session is ended too.
    sid, url = _approved(server, browser, client1.client_id)
    csrf = parse_consent_form(browser.get(url).text)["inputs"]["csrf"]
    g = Browser(server).get(url)
    assert g.status_code == 403, g.status_code
    assert g.headers.get("Content-Type", "").startswith("text/html")
    assert csrf not in g.text and "decision" not in g.text
    assert server.auth_session(sid).json()["status"] == "denied"
    assert browser.get(url).status_code == 409

    # A binding cookie from a *different* flow is no better.
    sid, url = _approved(server, browser, client1.client_id)
    other = Browser(server)
    other.start(client1.client_id, code_challenge=CHALLENGE)
    assert other.post(url, data={"csrf": csrf, "decision": "allow"}).status_code == 403
    assert other.get(url).status_code == 409
    assert server.auth_session(sid).json()["status"] == "denied"


def test_consent_wrong_or_missing_csrf_is_403(server, browser, client1):
    sid, url = _approved(server, browser, client1.client_id)
    page = browser.get(url)
    assert page.status_code == 200
    csrf = parse_consent_form(page.text)["inputs"]["csrf"]
    for data in ({"csrf": csrf[:-2] + "xx", "decision": "allow"},
                 {"csrf": "", "decision": "allow"},
                 {"decision": "allow"}):
        r = browser.post(url, data=data)
        assert r.status_code == 403, (data, r.status_code)
        assert "Location" not in r.headers
    # The right csrf without the consent ticket (URL stripped of its query, no ticket field) is refused too.
    bare = url.split("?", 1)[0]
    r = browser.post(bare, data={"csrf": csrf, "decision": "allow"})
    assert r.status_code == 403 and "Location" not in r.headers, r.status_code
    assert server.auth_session(sid).json()["status"] == "approved"
    # The legitimate browser with the right token still completes.
    ok = browser.post(url, data={"csrf": csrf, "decision": "allow"})
    assert ok.status_code in (302, 303)
    assert "code" in query_of(ok.headers["Location"])


def test_consent_cannot_be_replayed(server, browser, client1):
    sid, url = _approved(server, browser, client1.client_id)
    csrf = parse_consent_form(browser.get(url).text)["inputs"]["csrf"]
    first = browser.post(url, data={"csrf": csrf, "decision": "allow"})
    assert first.status_code in (302, 303)
    again = browser.post(url, data={"csrf": csrf, "decision": "allow"})
    assert again.status_code == 409, again.status_code
    assert "Location" not in again.headers
    # The form's own shape (ticket as a hidden field, posted to the bare consent URL) is no replay either.
    bare = url.split("?", 1)[0]
    again = browser.post(bare, data={"csrf": csrf, "decision": "allow", "ticket": query_of(url)["ticket"]})
    assert again.status_code == 409, again.status_code
    assert "Location" not in again.headers


def test_consent_page_before_approval_is_not_served(server, browser, client1):
    sid = browser.start(client1.client_id, code_challenge=CHALLENGE)
    r = browser.get(server.url(f"/consent/{sid}"))
    assert 400 <= r.status_code < 500, r.status_code
    assert "decision" not in r.text
    r = browser.post(server.url(f"/consent/{sid}"), data={"csrf": "x", "decision": "allow"})
    assert 400 <= r.status_code < 500
    assert server.auth_session(sid).json()["status"] == "pending"


def test_consent_page_escapes_app_name_and_sets_security_headers(server, browser):
    c = server.create_client(name='<script>alert("x")</script>&"', owner="<b>mallory</b>")
    sid = browser.start(c["client_id"], code_challenge=CHALLENGE)
    url = server.approve(sid, '<img src=x onerror=alert(1)>').json()["redirect_uri"]
    page = browser.get(url)
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "<b>mallory" not in page.text
    assert "&lt;script&gt;" in page.text
    assert_frame_proof_html(page.headers, "consent page")


def test_every_html_page_forbids_framing(server, client1):
    """Clickjacking: not only the consent page but every HTML page the server serves (error pages of
    /authorize, of /consent in each of its states, the 404 page, HEAD answers) carries frame-ancestors
    'none' and X-Frame-Options: DENY. (test_malformed.py checks the same on every HTML answer of its table.)"""
    authz = server.discovery()["authorization_endpoint"]
    anon = Browser(server)
    pages: list[tuple[str, int, requests.Response]] = [
        ("root (the landing page)", 200, anon.get(server.url("/"))),
        ("unknown path", 404, anon.get(server.url("/nope/nothing"))),
        ("HEAD unknown path", 404, anon.s.head(server.url("/nope"), timeout=15)),
        ("authorize without parameters", 400, anon.get(authz)),
        ("authorize, unknown client", 400, anon.authorize("cly_ci_doesnotexist", code_challenge=CHALLENGE)),
        ("authorize, unregistered redirect_uri", 400,
         anon.authorize(client1.client_id, redirect_uri="https://evil.example/cb", code_challenge=CHALLENGE)),
        ("authorize, bad percent-encoding", 400, anon.get(authz + "?client_id=%zz")),
        ("authorize POST, not a form", 400,
         anon.post(authz, data=b"{}", headers={"Content-Type": "application/json"})),
        ("consent, unknown session", 404, anon.get(server.url("/consent/cly_ses_" + "x" * 43))),
    ]
    owner = Browser(server)
    pending = owner.start(client1.client_id, code_challenge=CHALLENGE)
    pages.append(("consent before approval", 400, owner.get(server.url(f"/consent/{pending}"))))
    # The right consent URL in another browser (which also ends that sign-in): a session of its own.
    other = owner.start(client1.client_id, code_challenge=CHALLENGE)
    other_url = server.approve(other, "alice").json()["redirect_uri"]
    pages.append(("consent from another browser", 403, Browser(server).get(other_url)))
    pages.append(("consent of a sign-in ended that way", 409, owner.get(other_url)))
    sid = owner.start(client1.client_id, code_challenge=CHALLENGE)
    url = server.approve(sid, "alice").json()["redirect_uri"]
    pages.append(("consent URL without its ticket", 403, owner.get(server.url(f"/consent/{sid}"))))
    pages.append(("consent, HEAD", 200, owner.s.head(url, allow_redirects=False, timeout=15)))
    pages.append(("consent, unsupported method", 405, owner.s.put(url, allow_redirects=False, timeout=15)))
    page = owner.get(url)
    pages.append(("consent page", 200, page))
    form = parse_consent_form(page.text)
    action = urllib.parse.urljoin(url, form["action"] or url)
    pages.append(("consent, stale form", 403, owner.post(action, data={**form["inputs"], "csrf": "x", "decision": "allow"})))
    done = owner.post(action, data={**form["inputs"], "decision": "allow"})
    assert done.status_code == 302, done.status_code
    pages.append(("consent after completion", 409, owner.get(url)))
    for what, status, r in pages:
        assert r.status_code == status, (what, r.status_code, r.text[:300])
        assert_frame_proof_html(r.headers, what)


def test_duplicated_parameters_are_rejected_not_guessed(server, browser, client1):
    """RFC 6749 3.1: parameters must not repeat. A repeated client_id or redirect_uri cannot be
    verified (HTML 400); any other repeated parameter is invalid_request at the verified redirect_uri."""
    base = [("response_type", "code"), ("client_id", client1.client_id), ("redirect_uri", DEMO_REDIRECT_URI),
            ("scope", "openid"), ("state", "dup"), ("nonce", "n"), ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256")]
    authz = server.discovery()["authorization_endpoint"]
    assert_html_400_no_redirect(browser.get(authz, params=base + [("client_id", client1.client_id)]))
    assert_html_400_no_redirect(browser.get(authz, params=base + [("redirect_uri", DEMO_REDIRECT_URI)]))
    for name, values in (("scope", ["openid", "openid email"]), ("code_challenge", [CHALLENGE, CHALLENGE]),
                         ("response_type", ["code", "code"]), ("state", ["dup", "dup"]), ("nonce", ["n", "n"])):
        r = browser.get(authz, params=base + [(name, values[1])])
        assert r.status_code in (302, 303), (name, r.status_code)
        loc = r.headers["Location"]
        assert loc.startswith(DEMO_REDIRECT_URI + "?"), (name, loc)
        q = query_of(loc)
        assert q["error"] == "invalid_request" and q["iss"] == server.issuer, (name, q)
        # With a repeated state there is no single value to echo; otherwise it comes back.
        assert q.get("state") == "dup" or (name == "state" and "state" not in q), (name, q)
        assert "code" not in q


def test_duplicated_parameters_at_token_are_rejected(server, browser, client1):
    flow = run_flow(server, browser, client1.client_id)
    body = (f"grant_type=authorization_code&code={flow.code}&code={flow.code}"
            f"&redirect_uri={urllib.parse.quote(DEMO_REDIRECT_URI, safe='')}&code_verifier={flow.verifier}")
    r = requests.post(server.discovery()["token_endpoint"], data=body,
                      headers={"Content-Type": "application/x-www-form-urlencoded",
                               "Authorization": basic_auth(client1.client_id, client1.secret)},
                      timeout=10)
    assert_oauth_error(r, 400, "invalid_request")


def test_host_claims_cannot_override_registered_claims(server, browser, client1):
    """Claims the host passes are profile data; they never replace sub, iss, aud, nonce, exp...
    The server may refuse such an approval (400) or ignore those claims: either way no forged token."""
    from authlib.jose import JsonWebKey, JsonWebToken

    forged = {"sub": "victim", "iss": "http://evil.example", "aud": "other-client", "azp": "x", "nonce": "forged",
              "exp": 9999999999, "iat": 1, "at_hash": "x", "client_id": "x", "scope": "admin"}
    for name, value in forged.items():
        verifier, challenge = pkce_pair()
        sid = browser.start(client1.client_id, code_challenge=challenge, nonce="real-nonce")
        r = server.approve(sid, "real-user", claims={name: value, "name": "Real Name"}, skip_consent=True)
        if r.status_code == 400:
            assert r.json()["error"] == "invalid_request", r.text
            assert server.auth_session(sid).json()["status"] == "pending"
            continue
        assert r.status_code == 200, r.text
        code = query_of(r.json()["redirect_uri"])["code"]
        tok = server.token({"grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT_URI,
                            "code_verifier": verifier}, auth=(client1.client_id, client1.secret)).json()
        jwks = JsonWebKey.import_key_set(server.jwks())
        idt = JsonWebToken(["RS256", "ES256", "EdDSA"]).decode(tok["id_token"], jwks)
        assert idt["sub"] == "real-user", name
        assert idt["iss"] == server.issuer, name
        assert idt["aud"] in (client1.client_id, [client1.client_id]), name
        assert idt["azp"] == client1.client_id, name
        assert idt["nonce"] == "real-nonce", name
        assert idt["exp"] < 9999999999 and idt["iat"] > 1, name
        at = JsonWebToken(["RS256", "ES256", "EdDSA"]).decode(tok["access_token"], jwks)
        assert at["sub"] == "real-user" and at["client_id"] == client1.client_id, name
        assert "admin" not in at["scope"].split(), name
        assert server.userinfo(tok["access_token"]).json()["sub"] == "real-user", name


def test_error_page_does_not_reflect_markup(server, browser):
    payload = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    r = browser.authorize(payload, redirect_uri=payload, code_challenge=CHALLENGE)
    assert_html_400_no_redirect(r)
    assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text


def test_registered_redirect_uri_with_query_keeps_it(server, browser):
    uri = "http://localhost:5000/cb?tenant=acme&x=1"
    c = server.create_client(name="Query URI", redirect_uris=[uri])
    flow = run_flow(server, browser, c["client_id"], redirect_uri=uri)
    parts = urllib.parse.urlsplit(flow.redirect)
    assert flow.redirect.startswith("http://localhost:5000/cb?")
    q = urllib.parse.parse_qs(parts.query)
    assert q["tenant"] == ["acme"] and q["x"] == ["1"] and q["code"] and q["iss"] == [server.issuer]
    assert flow.redirect.count("?") == 1
    r = exchange(server, Client("q", c["client_id"], c["client_secret"]), flow, redirect_uri=uri)
    assert r.status_code == 200, r.text
    # The same URI with its query parameters reordered is a different string: rejected.
    r = browser.authorize(c["client_id"], redirect_uri="http://localhost:5000/cb?x=1&tenant=acme",
                          code_challenge=CHALLENGE)
    assert_html_400_no_redirect(r)


def test_rate_limit_against_secret_guessing(make_server):
    """With the default limits: 20 wrong secrets for one client lock it out (429) for a minute."""
    server = make_server({"CONNECTIVLY_FAILED_AUTH_LIMIT_PER_CLIENT": "20", "CONNECTIVLY_FAILED_LIMIT_PER_ADDRESS": "60"})
    client = server.clients[0]
    statuses = [server.token({"grant_type": "client_credentials"}, auth=(client.client_id, f"cly_cs_guess{i}")).status_code
                for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429, statuses
    r = server.token({"grant_type": "client_credentials"}, auth=(client.client_id, client.secret))
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
