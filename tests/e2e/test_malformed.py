"""Malformed input gets the specific error it should (never a 5xx, never a 200 where an error is due),
and the server stays up.

A table of hostile requests over every endpoint: missing and duplicated parameters, ~100 KB values,
bad percent-encoding and invalid UTF-8 in the query, the form and the path, bad JSON, wrong
content types, unknown methods. Requests are sent over a raw socket so that even bytes no HTTP
library would produce reach the server."""

import base64
import re
import json
import socket
import urllib.parse

import pytest
import requests

from conftest import DEMO_REDIRECT_URI, Browser, assert_frame_proof_html, exchange, parse_consent_form, pkce_pair, \
    query_of, run_flow, without_query

BIG = "A" * 100_000
BIGB = BIG.encode()
CH = pkce_pair()[1]

FORM = b"application/x-www-form-urlencoded"
JSON_CT = b"application/json"


def raw_http(port: int, method: bytes, target: bytes, headers=(), body: bytes | None = None, timeout: float = 20):
    """Send one HTTP/1.1 request as raw bytes; return (status, head, body)."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: localhost:%d" % port, b"Connection: close"]
    names = {h[0].lower() for h in headers}
    for k, v in headers:
        lines.append(k + b": " + v)
    if body is not None and b"content-length" not in names and b"transfer-encoding" not in names:
        lines.append(b"Content-Length: %d" % len(body))
    data = b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (e.g. 413/431) and close before reading everything
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    resp = b"".join(chunks)
    assert resp, "connection closed without any HTTP response"
    head, _, rest = resp.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ")
    assert parts[0].startswith(b"HTTP/1."), status_line
    return int(parts[1]), head, rest


def q(**params) -> bytes:
    return urllib.parse.urlencode(params).encode()


def j(obj) -> bytes:
    return json.dumps(obj).encode()


# Placeholders substituted at run time:
#   {C1} {S1}: demo client 1 id/secret   {C2}: demo client 2 id   {CLIENT}: an API-created client id
#   {FRESH}: a brand-new pending session
#   {APPROVED}: an approved session (consent pending), a new one for each case that names it, so that a
#   case which ends it (the right ticket in the wrong browser) cannot change the next case's answer;
#   {TICKET}: the ticket of its consent URL   {CSRF}: its consent csrf token
#   {COOKIE}: the binding cookie of the browser that started it
#   {AT}: a valid access token            {KEY}: the API key
AUTHZ = b"/oauth2/authorize"
VALID_AUTHZ = (b"response_type=code&client_id={C1}&redirect_uri=" + urllib.parse.quote(DEMO_REDIRECT_URI, safe="").encode()
               + b"&scope=openid&state=s&nonce=n&code_challenge=" + CH.encode() + b"&code_challenge_method=S256")
TOKEN = b"/oauth2/token"
USERINFO = b"/oauth2/userinfo"
BASIC = [(b"Authorization", b"Basic {BASIC1}")]
KEYH = [(b"X-API-KEY", b"{KEY}")]
KEYJ = KEYH + [(b"Content-Type", JSON_CT)]
COOKIE = [(b"Cookie", b"connectivly_binding={COOKIE}")]
COOKIE_FORM = COOKIE + [(b"Content-Type", FORM)]
CONSENT = b"/consent/{APPROVED}?ticket={TICKET}"  # the URL `approve` returned

CASES = [
    # ---- discovery / jwks
    ("disc-bad-query", b"GET", b"/.well-known/openid-configuration?x=%zz&%ff=%fe", [], None),
    ("disc-post", b"POST", b"/.well-known/openid-configuration", [(b"Content-Type", JSON_CT)], b"{"),
    ("as-meta-unknown-method", b"FOO", b"/.well-known/oauth-authorization-server", [], None),
    ("jwks-raw-bytes", b"GET", b"/.well-known/jwks.json?\xff\xfe=\xc3\x28", [], None),
    ("jwks-delete", b"DELETE", b"/.well-known/jwks.json", [], None),
    # ---- authorize
    ("authz-no-params", b"GET", AUTHZ, [], None),
    ("authz-empty-query", b"GET", AUTHZ + b"?", [], None),
    ("authz-junk-separators", b"GET", AUTHZ + b"?&&&==&&=&client_id&;;", [], None),
    ("authz-dup-client-id-same", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&client_id={C1}", [], None),
    ("authz-dup-client-id-diff", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&client_id={C2}", [], None),
    ("authz-dup-redirect-uri", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&redirect_uri=http%3A%2F%2Fevil.example%2F", [], None),
    ("authz-dup-response-type", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&response_type=token", [], None),
    ("authz-dup-state", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&state=t", [], None),
    ("authz-dup-scope", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&scope=email", [], None),
    ("authz-dup-challenge", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&code_challenge=x&code_challenge_method=plain", [], None),
    ("authz-dup-nonce", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&nonce=m", [], None),
    ("authz-huge-client-id", b"GET", AUTHZ + b"?response_type=code&client_id=" + BIGB, [], None),
    ("authz-huge-redirect-uri", b"GET", AUTHZ + b"?response_type=code&client_id={C1}&redirect_uri=http%3A%2F%2Flocalhost%3A5000%2F" + BIGB, [], None),
    ("authz-huge-state", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"state=s", b"state=" + BIGB), [], None),
    ("authz-huge-nonce", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"nonce=n", b"nonce=" + BIGB), [], None),
    ("authz-huge-scope", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"scope=openid", b"scope=openid+" + b"x+" * 30000), [], None),
    ("authz-huge-challenge", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(CH.encode(), BIGB), [], None),
    ("authz-huge-login-hint", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&login_hint=" + BIGB, [], None),
    ("authz-huge-prompt", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&prompt=" + BIGB, [], None),
    ("authz-max-age-huge", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&max_age=" + b"9" * 5000, [], None),
    ("authz-max-age-negative", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&max_age=-1", [], None),
    ("authz-max-age-text", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&max_age=abc", [], None),
    ("authz-prompt-none", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&prompt=none", [], None),
    ("authz-prompt-bogus", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&prompt=none+login+bogus", [], None),
    ("authz-bad-percent-client", b"GET", AUTHZ + b"?response_type=code&client_id=%zz%&redirect_uri=%", [], None),
    ("authz-invalid-utf8-client", b"GET", AUTHZ + b"?response_type=code&client_id=%ff%fe&redirect_uri=%c3%28", [], None),
    ("authz-invalid-utf8-state", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"state=s", b"state=%ff%fe%c0%af"), [], None),
    ("authz-invalid-utf8-scope", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"scope=openid", b"scope=openid%20%ff"), [], None),
    ("authz-raw-bytes", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"state=s", b"state=\xff\xfe\x80"), [], None),
    ("authz-nul", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"state=s", b"state=%00") + b"&nonce=%00", [], None),
    ("authz-nul-client", b"GET", AUTHZ + b"?response_type=code&client_id={C1}%00&redirect_uri=" + urllib.parse.quote(DEMO_REDIRECT_URI, safe="").encode(), [], None),
    ("authz-unicode-scope", b"GET", AUTHZ + b"?" + VALID_AUTHZ.replace(b"scope=openid", b"scope=openid%20%E2%98%83"), [], None),
    ("authz-many-params", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"".join(b"&p%d=%d" % (i, i) for i in range(5000)), [], None),
    ("authz-request-object", b"GET", AUTHZ + b"?" + VALID_AUTHZ + b"&request=eyJ.eyJ.x&request_uri=urn:x", [], None),
    ("authz-post-form", b"POST", AUTHZ, [(b"Content-Type", FORM)], VALID_AUTHZ),
    ("authz-post-garbage", b"POST", AUTHZ, [(b"Content-Type", FORM)], b"%zz\xff\xfe"),
    ("authz-put", b"PUT", AUTHZ + b"?" + VALID_AUTHZ, [], b""),
    ("authz-unknown-method", b"FOO", AUTHZ + b"?" + VALID_AUTHZ, [], None),
    ("authz-bad-cookie", b"GET", AUTHZ + b"?" + VALID_AUTHZ, [(b"Cookie", b"connectivly_binding=\xff\xfe; ;;=;" + BIGB[:4000])], None),
    # ---- token
    ("token-no-body", b"POST", TOKEN, [], None),
    ("token-empty-form", b"POST", TOKEN, [(b"Content-Type", FORM)], b""),
    ("token-junk-form", b"POST", TOKEN, [(b"Content-Type", FORM)], b"====&&&=&grant_type"),
    ("token-dup-grant-same", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&grant_type=authorization_code&code=x&redirect_uri=x"),
    ("token-dup-grant-diff", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&grant_type=client_credentials&code=x"),
    ("token-dup-code", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=a&code=b&redirect_uri=x&code_verifier=y"),
    ("token-dup-client-id", b"POST", TOKEN, [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=a&client_id={C1}&client_id={C2}&client_secret={S1}"),
    ("token-dup-secret", b"POST", TOKEN, [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=a&client_id={C1}&client_secret={S1}&client_secret=x"),
    ("token-basic-and-post", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=a&client_id={C1}&client_secret={S1}"),
    ("token-huge-code", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&redirect_uri=x&code=" + BIGB),
    ("token-huge-verifier", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=x&redirect_uri=x&code_verifier=" + BIGB),
    ("token-huge-client-id", b"POST", TOKEN, [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=x&client_secret=x&client_id=" + BIGB),
    ("token-huge-secret", b"POST", TOKEN, [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=x&client_id={C1}&client_secret=" + BIGB),
    ("token-huge-redirect", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=x&redirect_uri=" + BIGB),
    ("token-huge-grant-type", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=" + BIGB),
    ("token-huge-basic", b"POST", TOKEN, [(b"Authorization", b"Basic " + base64.b64encode(BIGB + b":" + BIGB)[:90000]), (b"Content-Type", FORM)], b"grant_type=authorization_code&code=x"),
    ("token-bad-percent", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=%zz&redirect_uri=%&code_verifier=%4"),
    ("token-invalid-utf8-pct", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=%ff%fe&code=%c3%28&redirect_uri=%c0%af"),
    ("token-invalid-utf8-raw", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=\xff\xfe\x80&redirect_uri=\xc3\x28"),
    ("token-invalid-utf8-client", b"POST", TOKEN, [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=x&client_id=%ff%fe&client_secret=%ff"),
    ("token-nul", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code%00&code=%00&redirect_uri=%00"),
    ("token-json-body", b"POST", TOKEN, BASIC + [(b"Content-Type", JSON_CT)], j({"grant_type": "authorization_code", "code": "x"})),
    ("token-text-plain", b"POST", TOKEN, BASIC + [(b"Content-Type", b"text/plain")], b"grant_type=authorization_code&code=x"),
    ("token-no-content-type", b"POST", TOKEN, BASIC, b"grant_type=authorization_code&code=x"),
    ("token-multipart", b"POST", TOKEN, BASIC + [(b"Content-Type", b"multipart/form-data; boundary=XX")],
     b"--XX\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nauthorization_code\r\n--XX--\r\n"),
    ("token-bogus-charset", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM + b"; charset=bogus-42")], b"grant_type=authorization_code&code=x"),
    ("token-garbage-content-type", b"POST", TOKEN, BASIC + [(b"Content-Type", b"???;;;\xff")], b"grant_type=authorization_code&code=x"),
    ("token-3mb-body", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code&code=" + b"A" * 3_000_000),
    ("token-refresh-garbage", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=refresh_token&refresh_token=%ff" + BIGB[:1000]),
    ("token-client-credentials", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=client_credentials&scope=%ff"),
    ("token-get", b"GET", TOKEN + b"?grant_type=authorization_code&code=x", BASIC, None),
    ("token-put", b"PUT", TOKEN, BASIC + [(b"Content-Type", FORM)], b"grant_type=authorization_code"),
    ("token-delete", b"DELETE", TOKEN, BASIC, None),
    ("token-unknown-method", b"FOO", TOKEN, BASIC, b"x"),
    ("token-bad-chunked", b"POST", TOKEN, BASIC + [(b"Content-Type", FORM), (b"Transfer-Encoding", b"chunked")], b"zz\r\nnot-a-chunk\r\n0\r\n\r\n"),
    # ---- userinfo
    ("userinfo-no-auth", b"GET", USERINFO, [], None),
    ("userinfo-huge-bearer", b"GET", USERINFO, [(b"Authorization", b"Bearer " + BIGB[:90000])], None),
    ("userinfo-raw-bytes-bearer", b"GET", USERINFO, [(b"Authorization", b"Bearer \xff\xfe.\x80\x81.\xc3\x28")], None),
    ("userinfo-bearer-empty", b"GET", USERINFO, [(b"Authorization", b"Bearer")], None),
    ("userinfo-bearer-spaces", b"GET", USERINFO, [(b"Authorization", b"Bearer    ")], None),
    ("userinfo-lower-bearer", b"GET", USERINFO, [(b"Authorization", b"bearer {AT}")], None),
    ("userinfo-basic", b"GET", USERINFO, BASIC, None),
    ("userinfo-jwt-alg-none", b"GET", USERINFO, [(b"Authorization", b"Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.")], None),
    ("userinfo-jwt-junk-header", b"GET", USERINFO, [(b"Authorization", b"Bearer " + base64.urlsafe_b64encode(b"{\"alg\":[1],\"kid\":{}}").rstrip(b"=") + b".e30.AAAA")], None),
    ("userinfo-jwt-bad-b64", b"GET", USERINFO, [(b"Authorization", b"Bearer !!!.???.***")], None),
    ("userinfo-two-auth-headers", b"GET", USERINFO, [(b"Authorization", b"Bearer {AT}"), (b"Authorization", b"Bearer x")], None),
    ("userinfo-post-form-token", b"POST", USERINFO, [(b"Content-Type", FORM)], b"access_token={AT}"),
    ("userinfo-post-header-and-form", b"POST", USERINFO, [(b"Authorization", b"Bearer {AT}"), (b"Content-Type", FORM)], b"access_token={AT}"),
    ("userinfo-post-bad-form", b"POST", USERINFO, [(b"Authorization", b"Bearer {AT}"), (b"Content-Type", FORM)], b"%zz=\xff"),
    ("userinfo-post-json", b"POST", USERINFO, [(b"Authorization", b"Bearer {AT}"), (b"Content-Type", JSON_CT)], b"{"),
    ("userinfo-query-token", b"GET", USERINFO + b"?access_token=%ff%fe", [], None),
    ("userinfo-put", b"PUT", USERINFO, [(b"Authorization", b"Bearer {AT}")], b""),
    ("userinfo-unknown-method", b"FOO", USERINFO, [], None),
    # ---- consent page
    ("consent-empty-id", b"GET", b"/consent/", COOKIE, None),
    ("consent-unknown", b"GET", b"/consent/cly_ses_nope", COOKIE, None),
    ("consent-huge-id", b"GET", b"/consent/" + BIGB, COOKIE, None),
    ("consent-bad-percent-id", b"GET", b"/consent/%zz%ff%fe", COOKIE, None),
    ("consent-raw-bytes-id", b"GET", b"/consent/\xff\xfe\x80", COOKIE, None),
    ("consent-nul-id", b"GET", b"/consent/{APPROVED}%00?ticket={TICKET}", COOKIE, None),
    ("consent-valid", b"GET", CONSENT, COOKIE, None),  # the control: the placeholders open the page
    ("consent-no-ticket", b"GET", b"/consent/{APPROVED}", COOKIE, None),
    ("consent-wrong-ticket", b"GET", b"/consent/{APPROVED}?ticket=cly_ct_" + b"A" * 43, COOKIE, None),
    ("consent-dup-ticket", b"GET", CONSENT + b"&ticket={TICKET}", COOKIE, None),
    ("consent-bad-percent-ticket", b"GET", b"/consent/{APPROVED}?ticket=%zz", COOKIE, None),
    ("consent-garbage-cookie", b"GET", CONSENT, [(b"Cookie", b"connectivly_binding=\xff\xfe\x80; connectivly_binding=;;;")], None),
    ("consent-huge-cookie", b"GET", CONSENT, [(b"Cookie", b"connectivly_binding=" + BIGB[:60000])], None),
    ("consent-dup-cookie", b"GET", CONSENT, [(b"Cookie", b"connectivly_binding=x; connectivly_binding={COOKIE}")], None),
    ("consent-cookie-no-value", b"GET", CONSENT, [(b"Cookie", b"connectivly_binding")], None),
    ("consent-post-no-body", b"POST", CONSENT, COOKIE, None),
    ("consent-post-bad-percent", b"POST", CONSENT, COOKIE_FORM, b"csrf=%zz&decision=%"),
    ("consent-post-invalid-utf8", b"POST", CONSENT, COOKIE_FORM, b"csrf=%ff%fe&decision=\xff\xfe"),
    ("consent-post-huge-csrf", b"POST", CONSENT, COOKIE_FORM, b"decision=allow&csrf=" + BIGB),
    ("consent-post-json", b"POST", CONSENT, COOKIE + [(b"Content-Type", JSON_CT)], j({"csrf": "x", "decision": "allow"})),
    ("consent-post-multipart", b"POST", CONSENT, COOKIE + [(b"Content-Type", b"multipart/form-data; boundary=XX")], b"--XX\r\n\r\n--XX--"),
    ("consent-post-no-ct", b"POST", CONSENT, COOKIE, b"csrf={CSRF}&decision=maybe"),
    ("consent-post-decision-bogus", b"POST", CONSENT, COOKIE_FORM, b"ticket={TICKET}&csrf={CSRF}&decision=maybe"),
    ("consent-post-dup-csrf", b"POST", CONSENT, COOKIE_FORM, b"ticket={TICKET}&csrf=x&csrf={CSRF}&decision=allow"),
    ("consent-post-dup-decision", b"POST", CONSENT, COOKIE_FORM, b"ticket={TICKET}&csrf={CSRF}&decision=deny&decision=allow"),
    ("consent-post-unknown", b"POST", b"/consent/cly_ses_nope", COOKIE_FORM, b"csrf=x&decision=allow"),
    ("consent-post-pending", b"POST", b"/consent/{FRESH}", COOKIE_FORM, b"csrf=x&decision=allow"),
    ("consent-put", b"PUT", CONSENT, COOKIE, b""),
    ("consent-unknown-method", b"FOO", CONSENT, COOKIE, None),
    # ---- host API: auth sessions
    ("session-get-huge-id", b"GET", b"/api/auth_session/" + BIGB, KEYH, None),
    ("session-get-bad-id", b"GET", b"/api/auth_session/%ff%fe%zz", KEYH, None),
    ("session-get-raw-id", b"GET", b"/api/auth_session/\xff\x80", KEYH, None),
    ("session-get-empty-id", b"GET", b"/api/auth_session/", KEYH, None),
    ("session-get-nul-id", b"GET", b"/api/auth_session/%00", KEYH, None),
    ("session-raw-api-key", b"GET", b"/api/auth_session/{FRESH}", [(b"X-API-KEY", b"\xff\xfe\x80")], None),
    ("session-huge-api-key", b"GET", b"/api/auth_session/{FRESH}", [(b"X-API-KEY", BIGB[:60000])], None),
    ("session-two-api-keys", b"GET", b"/api/auth_session/{FRESH}", [(b"X-API-KEY", b"x"), (b"X-API-KEY", b"{KEY}")], None),
    ("approve-truncated-json", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b"{"),
    ("approve-array", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b"[]"),
    ("approve-null", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b"null"),
    ("approve-string", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b'"alice"'),
    ("approve-number", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b"123"),
    ("approve-empty", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b""),
    ("approve-no-body", b"POST", b"/api/auth_session/{FRESH}/approve", KEYH, None),
    ("approve-user-number", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": 123})),
    ("approve-user-null", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": None})),
    ("approve-user-list", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": ["a"]})),
    ("approve-user-object", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": {"id": 1}})),
    ("approve-user-huge", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": BIG})),
    ("approve-user-control-chars", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a\u0000b\r\nc\u202e"})),
    ("approve-claims-string", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "claims": "x"})),
    ("approve-claims-list", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "claims": [1, 2]})),
    ("approve-claims-reserved", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ,
     j({"user": "a", "claims": {"sub": "victim", "iss": "x", "aud": "y", "exp": "never", "nonce": 1, "email_verified": "yes"}})),
    ("approve-claims-huge", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "claims": {"name": BIG}})),
    ("approve-claims-deep", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b'{"user":"a","claims":{"name":' + b"[" * 5000 + b"]" * 5000 + b"}}"),
    ("approve-deep-nesting", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b"[" * 100_000),
    ("approve-scopes-string", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "scopes": "openid"})),
    ("approve-scopes-numbers", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "scopes": [1, None]})),
    ("approve-scopes-unknown", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "scopes": ["admin", "openid"]})),
    ("approve-scopes-empty", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "scopes": []})),
    ("approve-skip-consent-string", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "skip_consent": "yes"})),
    ("approve-remember-number", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, j({"user": "a", "remember": 7})),
    ("approve-big-number", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b'{"user":"a","claims":{"updated_at":1e400}}'),
    ("approve-dup-keys", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b'{"user":"a","user":"b"}'),
    ("approve-bom", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b'\xef\xbb\xbf{"user":"a"}'),
    ("approve-invalid-utf8", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b'{"user":"\xff\xfe\x80"}'),
    ("approve-lone-surrogate", b"POST", b"/api/auth_session/{FRESH}/approve", KEYJ, b'{"user":"\\ud800"}'),
    ("approve-text-plain", b"POST", b"/api/auth_session/{FRESH}/approve", KEYH + [(b"Content-Type", b"text/plain")], j({"user": "a"})),
    ("approve-no-content-type", b"POST", b"/api/auth_session/{FRESH}/approve", KEYH, j({"user": "a"})),
    ("approve-form", b"POST", b"/api/auth_session/{FRESH}/approve", KEYH + [(b"Content-Type", FORM)], b"user=a"),
    ("approve-json-charset", b"POST", b"/api/auth_session/{FRESH}/approve", KEYH + [(b"Content-Type", b"application/json; charset=latin1")], j({"user": "a"})),
    ("approve-unknown-id", b"POST", b"/api/auth_session/cly_ses_nope/approve", KEYJ, j({"user": "a"})),
    ("approve-huge-id", b"POST", b"/api/auth_session/" + BIGB + b"/approve", KEYJ, j({"user": "a"})),
    ("approve-get", b"GET", b"/api/auth_session/{FRESH}/approve", KEYH, None),
    ("approve-unknown-method", b"FOO", b"/api/auth_session/{FRESH}/approve", KEYH, None),
    ("deny-truncated-json", b"POST", b"/api/auth_session/{FRESH}/deny", KEYJ, b"{"),
    ("deny-error-number", b"POST", b"/api/auth_session/{FRESH}/deny", KEYJ, j({"error": 5})),
    ("deny-error-bogus", b"POST", b"/api/auth_session/{FRESH}/deny", KEYJ, j({"error": "not_an_oauth_error"})),
    ("deny-error-crlf", b"POST", b"/api/auth_session/{FRESH}/deny", KEYJ, j({"error": "access_denied\r\nLocation: http://evil"})),
    ("deny-error-huge", b"POST", b"/api/auth_session/{FRESH}/deny", KEYJ, j({"error": BIG, "error_description": BIG})),
    ("deny-array", b"POST", b"/api/auth_session/{FRESH}/deny", KEYJ, b"[1]"),
    ("deny-invalid-utf8", b"POST", b"/api/auth_session/{FRESH}/deny", KEYJ, b'{"error":"\xff"}'),
    ("deny-text-plain", b"POST", b"/api/auth_session/{FRESH}/deny", KEYH + [(b"Content-Type", b"text/plain")], b"hello"),
    ("deny-unknown-method", b"FOO", b"/api/auth_session/{FRESH}/deny", KEYH, None),
    # ---- host API: clients
    ("clients-truncated-json", b"POST", b"/api/clients", KEYJ, b"{"),
    ("clients-array", b"POST", b"/api/clients", KEYJ, b"[]"),
    ("clients-null", b"POST", b"/api/clients", KEYJ, b"null"),
    ("clients-no-body", b"POST", b"/api/clients", KEYH, None),
    ("clients-name-null", b"POST", b"/api/clients", KEYJ, j({"name": None, "redirect_uris": [DEMO_REDIRECT_URI]})),
    ("clients-name-huge", b"POST", b"/api/clients", KEYJ, j({"name": BIG, "redirect_uris": [DEMO_REDIRECT_URI]})),
    ("clients-uri-huge", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": ["http://localhost/" + BIG]})),
    ("clients-many-uris", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": [f"http://localhost/{i}" for i in range(5000)]})),
    ("clients-uris-numbers", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": [1, None]})),
    ("clients-uris-object", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": {"a": 1}})),
    ("clients-uri-weird", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": ["http://[::1", "http://%zz/", "javascript:alert(1)", "data:text/html,x"]})),
    ("clients-public-string", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": [DEMO_REDIRECT_URI], "public": "yes"})),
    ("clients-first-party-number", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": [DEMO_REDIRECT_URI], "first_party": 1})),
    ("clients-logo-js", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": [DEMO_REDIRECT_URI], "logo_uri": "javascript:alert(1)", "client_uri": "\u0000"})),
    ("clients-unknown-fields", b"POST", b"/api/clients", KEYJ, j({"name": "x", "redirect_uris": [DEMO_REDIRECT_URI], "client_id": "chosen", "client_secret": "chosen", "admin": True})),
    ("clients-invalid-utf8", b"POST", b"/api/clients", KEYJ, b'{"name":"\xff\xfe","redirect_uris":["http://localhost:5000/auth"]}'),
    ("clients-deep", b"POST", b"/api/clients", KEYJ, b'{"name":' + b"{\"a\":" * 20000 + b"1" + b"}" * 20000 + b"}"),
    ("clients-text-plain", b"POST", b"/api/clients", KEYH + [(b"Content-Type", b"text/plain")], j({"name": "x", "redirect_uris": [DEMO_REDIRECT_URI]})),
    ("clients-form", b"POST", b"/api/clients", KEYH + [(b"Content-Type", FORM)], b"name=x&redirect_uris=http%3A%2F%2Flocalhost"),
    ("clients-list-bad-owner", b"GET", b"/api/clients?owner=%ff%fe", KEYH, None),
    ("clients-list-dup-owner", b"GET", b"/api/clients?owner=a&owner=b", KEYH, None),
    ("clients-list-huge-owner", b"GET", b"/api/clients?owner=" + BIGB, KEYH, None),
    ("clients-list-raw-owner", b"GET", b"/api/clients?owner=\xff\x80", KEYH, None),
    ("clients-list-bad-percent", b"GET", b"/api/clients?%zz=%&owner", KEYH, None),
    ("clients-put", b"PUT", b"/api/clients", KEYJ, b"{}"),
    ("clients-delete-collection", b"DELETE", b"/api/clients", KEYH, None),
    ("clients-unknown-method", b"FOO", b"/api/clients", KEYH, None),
    ("client-get-huge-id", b"GET", b"/api/clients/" + BIGB, KEYH, None),
    ("client-get-bad-id", b"GET", b"/api/clients/%ff%fe%zz", KEYH, None),
    ("client-get-raw-id", b"GET", b"/api/clients/\xff\x80", KEYH, None),
    ("client-patch-truncated", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, b"{"),
    ("client-patch-array", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, b"[]"),
    ("client-patch-uris-string", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, j({"redirect_uris": "x"})),
    ("client-patch-uris-empty", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, j({"redirect_uris": []})),
    ("client-patch-name-empty", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, j({"name": ""})),
    ("client-patch-name-number", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, j({"name": 5})),
    ("client-patch-public-flip", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, j({"public": "true"})),
    ("client-patch-invalid-utf8", b"PATCH", b"/api/clients/{CLIENT}", KEYJ, b'{"name":"\xff"}'),
    ("client-patch-no-body", b"PATCH", b"/api/clients/{CLIENT}", KEYH, None),
    ("client-patch-text-plain", b"PATCH", b"/api/clients/{CLIENT}", KEYH + [(b"Content-Type", b"text/plain")], b"x"),
    ("client-secret-junk-body", b"POST", b"/api/clients/{CLIENT}/secret", KEYJ, b"{{{"),
    ("client-secret-get", b"GET", b"/api/clients/{CLIENT}/secret", KEYH, None),
    ("client-secret-huge-id", b"POST", b"/api/clients/" + BIGB + b"/secret", KEYH, None),
    ("client-unknown-method", b"FOO", b"/api/clients/{CLIENT}", KEYH, None),
    ("client-delete-huge-id", b"DELETE", b"/api/clients/" + BIGB, KEYH, None),
    # ---- other endpoints of the contract (may or may not exist yet: never a 5xx)
    ("revoke-junk", b"POST", b"/oauth2/revoke", BASIC + [(b"Content-Type", FORM)], b"token=%ff%fe&token_type_hint=" + BIGB[:5000]),
    ("introspect-junk", b"POST", b"/oauth2/introspect", BASIC + [(b"Content-Type", FORM)], b"token=%zz"),
    ("api-introspect-junk", b"POST", b"/api/introspect", KEYJ, b"{"),
    # ---- routing / protocol edge cases
    ("root", b"GET", b"/", [], None),
    ("unknown-path", b"GET", b"/nope", [], None),
    ("bad-percent-path", b"GET", b"/%zz/%ff", [], None),
    ("raw-bytes-path", b"GET", b"/\xff\xfe/\x80", [], None),
    ("double-slash", b"GET", b"//oauth2//authorize", [], None),
    ("dot-dot", b"GET", b"/oauth2/authorize/../token", [], None),
    ("encoded-dot-dot", b"GET", b"/api/clients/%2e%2e/%2e%2e/oauth2/token", KEYH, None),
    ("huge-path", b"GET", b"/" + BIGB, [], None),
    ("absolute-form", b"GET", b"http://evil.example/.well-known/openid-configuration", [], None),
    ("asterisk-options", b"OPTIONS", b"*", [], None),
    ("options-token", b"OPTIONS", TOKEN, [(b"Origin", b"http://evil.example"), (b"Access-Control-Request-Method", b"POST")], None),
    ("trace", b"TRACE", USERINFO, [(b"Authorization", b"Bearer {AT}")], None),
    ("huge-header", b"GET", b"/.well-known/jwks.json", [(b"X-Junk", BIGB)], None),
    ("many-headers", b"GET", b"/.well-known/jwks.json", [(b"X-H%d" % i, b"v") for i in range(2000)], None),
    ("head-discovery", b"HEAD", b"/.well-known/openid-configuration", [], None),
]

assert len({c[0] for c in CASES}) == len(CASES), "duplicate case ids"


class Ctx:
    def __init__(self, server):
        self.server = server
        self.port = server.port
        self.c1, self.c2 = server.clients[0], server.clients[1]
        self.api_client = server.create_client(name="Malformed Target", owner="fuzz")
        b = Browser(server)
        flow = run_flow(server, b, self.c1.client_id)
        self.at = exchange(server, self.c1, flow).json()["access_token"]

    def fresh(self) -> str:
        return Browser(self.server).start(self.c1.client_id, code_challenge=CH)

    def approved(self) -> dict[bytes, bytes]:
        """A new approved session whose consent page is open, as the placeholders of one case."""
        browser = Browser(self.server)
        sid = browser.start(self.c1.client_id, code_challenge=CH)
        url = self.server.approve(sid, "alice").json()["redirect_uri"]
        page = browser.get(url)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        csrf = parse_consent_form(page.text)["inputs"]["csrf"]
        cookie = browser.s.cookies.get("connectivly_binding")
        assert cookie
        ticket = query_of(url).get("ticket", "")
        return {b"{APPROVED}": sid.encode(), b"{TICKET}": ticket.encode(), b"{CSRF}": csrf.encode(),
                b"{COOKIE}": cookie.encode()}

    def case(self, target: bytes, headers, body: bytes | None):
        """The case with its placeholders filled in (one approved session for all its parts)."""
        rep = {
            b"{C1}": self.c1.client_id.encode(),
            b"{C2}": self.c2.client_id.encode(),
            b"{S1}": self.c1.secret.encode(),
            b"{BASIC1}": base64.b64encode(f"{self.c1.client_id}:{self.c1.secret}".encode()),
            b"{CLIENT}": self.api_client["client_id"].encode(),
            b"{AT}": self.at.encode(),
            b"{KEY}": self.server.api_key.encode(),
        }
        parts = [target, body or b""] + [v for _, v in headers]
        if any(b"{APPROVED}" in p for p in parts):
            rep.update(self.approved())

        def subst(data: bytes | None) -> bytes | None:
            if data is None:
                return None
            for k, v in rep.items():
                data = data.replace(k, v)
            while b"{FRESH}" in data:
                data = data.replace(b"{FRESH}", self.fresh().encode(), 1)
            return data

        return subst(target), [(k, subst(v)) for k, v in headers], subst(body)


@pytest.fixture(scope="module")
def ctx(server):
    return Ctx(server)


# What each case must get. Kinds:
#   "json:E"        a JSON body whose `error` is E (RFC 6749 §5.2 / RFC 6750 §3.1 / the host API's codes)
#   "json"          a JSON body without `error` (a success)
#   "html"          an HTML error or consent page (never a redirect), frame-proof like every HTML page
#   "login"         302 to the host's login URL (the request was valid: a session was opened)
#   "redirect:E"    302 to the registered redirect_uri with error=E and iss (RFC 6749 §4.1.2.1, RFC 9207)
#   "http"          refused by the HTTP layer itself (no body of ours: 400 bad request-target, 414, 431)
#   "empty"         no body at all (204 preflight, HEAD)
BUG_CHUNKED = "product bug: a malformed chunked body is answered 413 payload_too_large (server/src/app.rs maps every body error to 413); it should be a 400"
BUG_DUP_JSON = "product bug: a repeated JSON member (\"user\" twice) is silently resolved last-wins instead of refused like a repeated form parameter"
EXPECT: dict[str, tuple[int, str] | tuple[int, str, str]] = {
    # ---- discovery / jwks: unknown query parameters are ignored (RFC 8414 has none); wrong methods are 405
    "disc-bad-query": (200, "json"),
    "disc-post": (405, "json:method_not_allowed"),
    "as-meta-unknown-method": (405, "json:method_not_allowed"),
    "jwks-raw-bytes": (400, "http"),
    "jwks-delete": (405, "json:method_not_allowed"),
    # ---- authorize: until client_id and redirect_uri are verified, an HTML page; after, a redirect
    "authz-no-params": (400, "html"),
    "authz-empty-query": (400, "html"),
    "authz-junk-separators": (400, "html"),
    "authz-dup-client-id-same": (400, "html"),
    "authz-dup-client-id-diff": (400, "html"),
    "authz-dup-redirect-uri": (400, "html"),
    "authz-dup-response-type": (302, "redirect:invalid_request"),
    "authz-dup-state": (302, "redirect:invalid_request"),
    "authz-dup-scope": (302, "redirect:invalid_request"),
    "authz-dup-challenge": (302, "redirect:invalid_request"),
    "authz-dup-nonce": (302, "redirect:invalid_request"),
    "authz-huge-client-id": (414, "http"),
    "authz-huge-redirect-uri": (414, "http"),
    "authz-huge-state": (414, "http"),
    "authz-huge-nonce": (414, "http"),
    "authz-huge-scope": (302, "redirect:invalid_scope"),
    "authz-huge-challenge": (414, "http"),
    "authz-huge-login-hint": (414, "http"),
    "authz-huge-prompt": (414, "http"),
    "authz-max-age-huge": (302, "redirect:invalid_request"),
    "authz-max-age-negative": (302, "redirect:invalid_request"),
    "authz-max-age-text": (302, "redirect:invalid_request"),
    "authz-prompt-none": (302, "login"),  # the host answers silently (approve) or with login_required (deny)
    "authz-prompt-bogus": (302, "redirect:invalid_request"),
    "authz-bad-percent-client": (400, "html"),
    "authz-invalid-utf8-client": (400, "html"),
    "authz-invalid-utf8-state": (400, "html"),
    "authz-invalid-utf8-scope": (400, "html"),
    "authz-raw-bytes": (400, "http"),
    "authz-nul": (302, "redirect:invalid_request"),  # nonce given twice
    "authz-nul-client": (400, "html"),
    "authz-unicode-scope": (302, "redirect:invalid_scope"),
    "authz-many-params": (302, "login"),  # RFC 6749 §3.1: unrecognised parameters are ignored
    "authz-request-object": (302, "redirect:request_not_supported"),  # OIDC Core §6
    "authz-post-form": (302, "login"),  # OIDC Core §3.1.2.1: POST is supported
    "authz-post-garbage": (400, "html"),
    "authz-put": (405, "json:method_not_allowed"),
    "authz-unknown-method": (405, "json:method_not_allowed"),
    "authz-bad-cookie": (302, "login"),  # a garbage binding cookie is replaced, not an error
    # ---- token (RFC 6749 §5.2)
    "token-no-body": (400, "json:invalid_request"),
    "token-empty-form": (400, "json:invalid_request"),
    "token-junk-form": (400, "json:invalid_request"),
    "token-dup-grant-same": (400, "json:invalid_request"),
    "token-dup-grant-diff": (400, "json:invalid_request"),
    "token-dup-code": (400, "json:invalid_request"),
    "token-dup-client-id": (400, "json:invalid_request"),
    "token-dup-secret": (400, "json:invalid_request"),
    "token-basic-and-post": (400, "json:invalid_request"),  # RFC 6749 §2.3: one method per request
    "token-huge-code": (413, "json:payload_too_large"),
    "token-huge-verifier": (413, "json:payload_too_large"),
    "token-huge-client-id": (413, "json:payload_too_large"),
    "token-huge-secret": (413, "json:payload_too_large"),
    "token-huge-redirect": (413, "json:payload_too_large"),
    "token-huge-grant-type": (413, "json:payload_too_large"),
    "token-huge-basic": (401, "json:invalid_client"),
    "token-bad-percent": (400, "json:invalid_request"),
    "token-invalid-utf8-pct": (400, "json:invalid_request"),
    "token-invalid-utf8-raw": (400, "json:invalid_request"),
    "token-invalid-utf8-client": (400, "json:invalid_request"),
    "token-nul": (400, "json:unsupported_grant_type"),
    "token-json-body": (400, "json:invalid_request"),
    "token-text-plain": (400, "json:invalid_request"),
    "token-no-content-type": (400, "json:invalid_request"),
    "token-multipart": (400, "json:invalid_request"),
    "token-bogus-charset": (400, "json:invalid_grant"),  # a form all the same; the code x does not exist
    "token-garbage-content-type": (400, "json:invalid_request"),
    "token-3mb-body": (413, "json:payload_too_large"),
    "token-refresh-garbage": (400, "json:invalid_request"),
    "token-client-credentials": (400, "json:invalid_request"),
    "token-get": (405, "json:method_not_allowed"),
    "token-put": (405, "json:method_not_allowed"),
    "token-delete": (405, "json:method_not_allowed"),
    "token-unknown-method": (405, "json:method_not_allowed"),
    "token-bad-chunked": (400, "any", BUG_CHUNKED),
    # ---- userinfo (RFC 6750 §3.1)
    "userinfo-no-auth": (401, "json:invalid_token"),
    "userinfo-huge-bearer": (401, "json:invalid_token"),
    "userinfo-raw-bytes-bearer": (401, "json:invalid_token"),  # a header that is not text is no header
    "userinfo-bearer-empty": (401, "json:invalid_token"),
    "userinfo-bearer-spaces": (401, "json:invalid_token"),
    "userinfo-lower-bearer": (200, "json"),  # RFC 9110 §11.1: the scheme is case-insensitive
    "userinfo-basic": (401, "json:invalid_token"),
    "userinfo-jwt-alg-none": (401, "json:invalid_token"),
    "userinfo-jwt-junk-header": (401, "json:invalid_token"),
    "userinfo-jwt-bad-b64": (401, "json:invalid_token"),
    "userinfo-two-auth-headers": (400, "json:invalid_request"),
    "userinfo-post-form-token": (200, "json"),  # RFC 6750 §2.2
    "userinfo-post-header-and-form": (400, "json:invalid_request"),  # RFC 6750 §2: one method only
    "userinfo-post-bad-form": (400, "json:invalid_request"),
    "userinfo-post-json": (200, "json"),  # the header's token; a JSON body is not a form and is not read
    "userinfo-query-token": (401, "json:invalid_token"),  # RFC 6750 §2.3 is not supported: no token
    "userinfo-put": (405, "json:method_not_allowed"),
    "userinfo-unknown-method": (405, "json:method_not_allowed"),
    # ---- consent page
    "consent-empty-id": (404, "html"),
    "consent-unknown": (404, "html"),
    "consent-huge-id": (414, "http"),
    "consent-bad-percent-id": (404, "html"),
    "consent-raw-bytes-id": (400, "http"),
    "consent-nul-id": (404, "html"),
    "consent-valid": (200, "html"),
    "consent-no-ticket": (403, "html"),
    "consent-wrong-ticket": (403, "html"),
    "consent-dup-ticket": (400, "html"),
    "consent-bad-percent-ticket": (400, "html"),
    "consent-garbage-cookie": (403, "html"),
    "consent-huge-cookie": (403, "html"),
    "consent-dup-cookie": (200, "html"),  # one of the cookie's values is the binding
    "consent-cookie-no-value": (403, "html"),
    "consent-post-no-body": (400, "html"),
    "consent-post-bad-percent": (400, "html"),
    "consent-post-invalid-utf8": (400, "html"),
    "consent-post-huge-csrf": (413, "json:payload_too_large"),
    "consent-post-json": (400, "html"),
    "consent-post-multipart": (400, "html"),
    "consent-post-no-ct": (400, "html"),
    "consent-post-decision-bogus": (400, "html"),
    "consent-post-dup-csrf": (400, "html"),
    "consent-post-dup-decision": (400, "html"),
    "consent-post-unknown": (404, "html"),
    "consent-post-pending": (400, "html"),
    "consent-put": (405, "html"),
    "consent-unknown-method": (405, "html"),
    # ---- host API: auth sessions
    "session-get-huge-id": (414, "http"),
    "session-get-bad-id": (404, "json:not_found"),
    "session-get-raw-id": (400, "http"),
    "session-get-empty-id": (404, "json:not_found"),
    "session-get-nul-id": (404, "json:not_found"),
    "session-raw-api-key": (401, "json:unauthorized"),
    "session-huge-api-key": (401, "json:unauthorized"),
    "session-two-api-keys": (401, "json:unauthorized"),  # ambiguous credentials are refused
    "approve-truncated-json": (400, "json:invalid_request"),
    "approve-array": (400, "json:invalid_request"),
    "approve-null": (400, "json:invalid_request"),
    "approve-string": (400, "json:invalid_request"),
    "approve-number": (400, "json:invalid_request"),
    "approve-empty": (400, "json:invalid_request"),
    "approve-no-body": (400, "json:invalid_request"),
    "approve-user-number": (400, "json:invalid_request"),
    "approve-user-null": (400, "json:invalid_request"),
    "approve-user-list": (400, "json:invalid_request"),
    "approve-user-object": (400, "json:invalid_request"),
    "approve-user-huge": (413, "json:payload_too_large"),
    "approve-user-control-chars": (400, "json:invalid_request"),
    "approve-claims-string": (400, "json:invalid_request"),
    "approve-claims-list": (400, "json:invalid_request"),
    "approve-claims-reserved": (400, "json:invalid_request"),
    "approve-claims-huge": (413, "json:payload_too_large"),
    "approve-claims-deep": (400, "json:invalid_request"),
    "approve-deep-nesting": (413, "json:payload_too_large"),
    "approve-scopes-string": (400, "json:invalid_request"),
    "approve-scopes-numbers": (400, "json:invalid_request"),
    "approve-scopes-unknown": (400, "json:invalid_scope"),
    "approve-scopes-empty": (200, "json"),  # the host grants none of the requested scopes
    "approve-skip-consent-string": (400, "json:invalid_request"),
    "approve-remember-number": (400, "json:invalid_request"),
    "approve-big-number": (400, "json:invalid_request"),
    "approve-dup-keys": (400, "json:invalid_request", BUG_DUP_JSON),
    "approve-bom": (400, "json:invalid_request"),
    "approve-invalid-utf8": (400, "json:invalid_request"),
    "approve-lone-surrogate": (400, "json:invalid_request"),
    # The host API reads its body as JSON whatever the Content-Type says; it is authenticated by a
    # header no cross-site form can send, so that is leniency, not a CSRF opening.
    "approve-text-plain": (200, "json"),
    "approve-no-content-type": (200, "json"),
    "approve-form": (400, "json:invalid_request"),
    "approve-json-charset": (200, "json"),
    "approve-unknown-id": (404, "json:not_found"),
    "approve-huge-id": (414, "http"),
    "approve-get": (405, "json:method_not_allowed"),
    "approve-unknown-method": (405, "json:method_not_allowed"),
    "deny-truncated-json": (400, "json:invalid_request"),
    "deny-error-number": (400, "json:invalid_request"),
    "deny-error-bogus": (400, "json:invalid_request"),
    "deny-error-crlf": (400, "json:invalid_request"),
    "deny-error-huge": (413, "json:payload_too_large"),
    "deny-array": (400, "json:invalid_request"),
    "deny-invalid-utf8": (400, "json:invalid_request"),
    "deny-text-plain": (400, "json:invalid_request"),
    "deny-unknown-method": (405, "json:method_not_allowed"),
    # ---- host API: clients
    "clients-truncated-json": (400, "json:invalid_request"),
    "clients-array": (400, "json:invalid_request"),
    "clients-null": (400, "json:invalid_request"),
    "clients-no-body": (400, "json:invalid_request"),
    "clients-name-null": (400, "json:invalid_request"),
    "clients-name-huge": (413, "json:payload_too_large"),
    "clients-uri-huge": (413, "json:payload_too_large"),
    "clients-many-uris": (413, "json:payload_too_large"),
    "clients-uris-numbers": (400, "json:invalid_request"),
    "clients-uris-object": (400, "json:invalid_request"),
    "clients-uri-weird": (400, "json:invalid_request"),
    "clients-public-string": (400, "json:invalid_request"),
    "clients-first-party-number": (400, "json:invalid_request"),
    "clients-logo-js": (400, "json:invalid_request"),
    "clients-unknown-fields": (400, "json:invalid_request"),
    "clients-invalid-utf8": (400, "json:invalid_request"),
    "clients-deep": (413, "json:payload_too_large"),
    "clients-text-plain": (201, "json"),  # see approve-text-plain
    "clients-form": (400, "json:invalid_request"),
    "clients-list-bad-owner": (400, "json:invalid_request"),
    "clients-list-dup-owner": (400, "json:invalid_request"),
    "clients-list-huge-owner": (414, "http"),
    "clients-list-raw-owner": (400, "http"),
    "clients-list-bad-percent": (400, "json:invalid_request"),
    "clients-put": (405, "json:method_not_allowed"),
    "clients-delete-collection": (405, "json:method_not_allowed"),
    "clients-unknown-method": (405, "json:method_not_allowed"),
    "client-get-huge-id": (414, "http"),
    "client-get-bad-id": (404, "json:not_found"),
    "client-get-raw-id": (400, "http"),
    "client-patch-truncated": (400, "json:invalid_request"),
    "client-patch-array": (400, "json:invalid_request"),
    "client-patch-uris-string": (400, "json:invalid_request"),
    "client-patch-uris-empty": (400, "json:invalid_request"),
    "client-patch-name-empty": (400, "json:invalid_request"),
    "client-patch-name-number": (400, "json:invalid_request"),
    "client-patch-public-flip": (400, "json:invalid_request"),
    "client-patch-invalid-utf8": (400, "json:invalid_request"),
    "client-patch-no-body": (400, "json:invalid_request"),
    "client-patch-text-plain": (400, "json:invalid_request"),
    "client-secret-junk-body": (200, "json"),  # rotation takes no body; one sent is not read
    "client-secret-get": (405, "json:method_not_allowed"),
    "client-secret-huge-id": (414, "http"),
    "client-unknown-method": (405, "json:method_not_allowed"),
    "client-delete-huge-id": (414, "http"),
    # ---- revocation (RFC 7009 §2.2.1), introspection (RFC 7662 §2.3)
    "revoke-junk": (400, "json:invalid_request"),
    "introspect-junk": (400, "json:invalid_request"),
    "api-introspect-junk": (400, "json:invalid_request"),
    # ---- routing / protocol edge cases
    "root": (200, "html"),  # the landing page: what this is and where its documents are
    "unknown-path": (404, "html"),
    "bad-percent-path": (404, "html"),
    "raw-bytes-path": (400, "http"),
    "double-slash": (404, "json:not_found"),  # no such endpoint under /oauth2/
    "dot-dot": (404, "json:not_found"),
    "encoded-dot-dot": (404, "json:not_found"),
    "huge-path": (414, "http"),
    "absolute-form": (200, "json"),  # RFC 9112 §3.2.2; the document still names only the issuer
    "asterisk-options": (404, "html"),
    "options-token": (204, "empty"),  # a preflight from an unregistered origin: no CORS headers
    "trace": (405, "json:method_not_allowed"),
    "huge-header": (200, "json"),  # 100 KB is within the HTTP layer's head limit
    "many-headers": (431, "http"),  # 2,000 headers: over the 100-header limit
    "head-discovery": (200, "empty"),
}


def test_every_case_has_an_expected_answer():
    assert set(EXPECT) == {c[0] for c in CASES}, set(EXPECT) ^ {c[0] for c in CASES}


def header_map(head: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep:
            out.setdefault(k.strip().decode("latin-1").lower(), v.strip().decode("latin-1"))
    return out


class Headers(dict):
    """Case-insensitive get, for assert_frame_proof_html."""

    def get(self, k, default=None):
        return super().get(k.lower(), default)


def _case_params():
    for c in CASES:
        exp = EXPECT.get(c[0])
        marks = [pytest.mark.xfail(strict=True, reason=exp[2])] if exp and len(exp) > 2 else []
        yield pytest.param(c, id=c[0], marks=marks)


@pytest.mark.parametrize("case", list(_case_params()))
def test_malformed_input_gets_its_specific_error(ctx, case):
    """Each hostile request gets the specific 4xx (and OAuth `error` code, HTML page or error redirect) it
    should: never a 5xx, and never a 200 where an error is due."""
    name, method, target, headers, body = case
    target, headers, body = ctx.case(target, headers, body)
    status, head, rest = raw_http(ctx.port, method, target, headers, body)
    assert ctx.server.alive(), f"{name}: the server process died"
    assert status < 500, f"{name}: {method!r} {target[:120]!r} -> {status}\n{head[:500]!r}"
    hdrs = Headers(header_map(head))
    ctype = hdrs.get("content-type", "")
    if ctype.startswith("text/html"):
        assert_frame_proof_html(hdrs, name)
    want_status, kind = EXPECT[name][:2]
    got = f"{name}: {method!r} {target[:100]!r} -> {status} {ctype}\n{rest[:300]!r}\n{re.findall(rb'<p>(.*?)</p>', rest)[:2]}"
    assert status == want_status, got
    loc = hdrs.get("location")
    if kind.startswith("json"):
        assert ctype.startswith("application/json"), got
        doc = json.loads(rest)
        assert isinstance(doc, dict), got
        if kind == "json":
            assert "error" not in doc, got
        else:
            assert doc.get("error") == kind.split(":", 1)[1], got
            if status in (400, 401) and not name.startswith(("session-", "approve-", "deny-", "client")):
                assert "no-store" in hdrs.get("cache-control", ""), got  # RFC 6749 §5.1
            if kind == "json:invalid_client":
                assert hdrs.get("www-authenticate", "").startswith("Basic"), got  # RFC 6749 §5.2
            if kind == "json:invalid_token":
                assert hdrs.get("www-authenticate", "").startswith("Bearer"), got  # RFC 6750 §3
        assert loc is None, got
    elif kind == "html":
        assert ctype.startswith("text/html"), got
        assert loc is None, got
    elif kind == "login":
        assert loc and without_query(loc) == ctx.server.login_url and list(query_of(loc)) == ["token"], got
    elif kind.startswith("redirect:"):
        assert loc and without_query(loc) == DEMO_REDIRECT_URI, got
        q = query_of(loc)
        assert q.get("error") == kind.split(":", 1)[1], (got, loc)
        assert q.get("iss") == ctx.server.issuer and "code" not in q, (got, loc)
    elif kind == "http":
        assert not ctype.startswith(("application/json", "text/html")), got
    elif kind == "empty":
        assert not rest.strip(), got
    if name == "absolute-form":
        assert b"evil.example" not in rest, got


def test_server_still_fully_works_after_the_table(ctx):
    srv = ctx.server
    assert srv.alive()
    assert requests.get(srv.url("/.well-known/openid-configuration"), timeout=10).status_code == 200
    flow = run_flow(srv, Browser(srv), ctx.c2.client_id)
    r = exchange(srv, ctx.c2, flow)
    assert r.status_code == 200, r.text
    assert srv.userinfo(r.json()["access_token"]).status_code == 200
    assert "panicked" not in srv.stderr_text()


def head_refused(port: int, headers) -> int | None:
    """Sends a GET with `headers`; the status, or None when the server closed or reset the connection
    without a single byte of an answer (a refusal too: it may stop reading an oversized head)."""
    try:
        status, _, _ = raw_http(port, b"GET", b"/.well-known/jwks.json", headers)
    except AssertionError as e:
        assert "without any HTTP response" in str(e), e
        return None
    return status


def test_oversized_headers_and_bodies_are_refused_cleanly(server):
    """Limits in force: 64 KiB bodies (the core), and the HTTP layer's head limits: at most 100 header
    lines (Host and Connection included) and about 400 KiB of head. Beyond them, 413 and 431 (or, for an
    oversized head, a connection closed without an answer); never a 200. The server keeps serving."""
    url = server.url("/oauth2/token")
    r = requests.post(url, data=b"a" * (1024 * 1024), headers={"Content-Type": "application/x-www-form-urlencoded"},
                      timeout=15)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large", r.status_code
    # raw_http sends Host and Connection itself: 98 more is 100 header lines in all, 99 more is 101.
    assert head_refused(server.port, [(b"X-H%d" % i, b"x") for i in range(98)]) == 200, "100 headers are allowed"
    assert head_refused(server.port, [(b"X-H%d" % i, b"x") for i in range(99)]) == 431, "101 headers are refused"
    assert head_refused(server.port, [(b"X-H%d" % i, b"x") for i in range(150)]) == 431, "150 headers are refused"
    assert head_refused(server.port, [(b"X-Big", b"a" * (300 * 1024))]) == 200, "a 300 KiB head is within the limit"
    assert head_refused(server.port, [(b"X-Big", b"a" * (600 * 1024))]) in (431, None), "a 600 KiB head is refused"
    assert requests.get(server.url("/healthz"), timeout=15).status_code == 200
