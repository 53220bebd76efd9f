"""The embedded Provider's Python API: typed results, typed exceptions, threads, closing."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

import connectivly
from connectivly import (
    AlreadyUsed,
    ConfigError,
    ConnectivlyError,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    NotFound,
    Provider,
    ProviderClosed,
    SessionAlreadyUsed,
    SessionNotFound,
)
from conftest import query

REDIRECT = "https://client.example.com/cb"


def start(provider: Any, client_id: str, scope: str = "openid profile email", **extra: str) -> str:
    q = f"response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb" \
        f"&scope={scope.replace(' ', '%20')}&state=s1&nonce=n1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    for k, v in extra.items():
        q += f"&{k}={v}"
    r = provider.handle("GET", "/oauth2/authorize", q)
    assert r.status == 302, r.body
    return query(dict(r.headers)["location"])["token"]


def test_results_are_typed_objects(provider: Any) -> None:
    created = provider.create_client("Photo Printer", [REDIRECT], owner="user-1")
    assert isinstance(created, connectivly.CreatedClient)
    assert created.client_secret and created.client_secret.startswith("cly_cs_")
    assert "cly_cs_" not in repr(created)
    client = provider.get_client(created.client_id)
    assert isinstance(client, connectivly.Client)
    assert client == created.client
    assert client.redirect_uris == [REDIRECT] and client.owner == "user-1" and client.public is False
    assert [c.client_id for c in provider.list_clients(owner="user-1")] == [created.client_id]
    assert provider.list_clients(owner="someone-else") == []

    sid = start(provider, created.client_id, login_hint="ann")
    s = provider.auth_session(sid)
    assert isinstance(s, connectivly.AuthSession)
    assert s.status == "pending" and s.user is None and s.login_hint == "ann"
    assert s.client.name == "Photo Printer"
    assert [(x.name, x.description) for x in s.scopes][0] == ("openid", "Confirm your identity")

    target = provider.approve(sid, "ann", claims={"name": "Ann"}, skip_consent=True)
    assert target.startswith(REDIRECT + "?code=")
    code = query(target)["code"]
    r = provider.handle("POST", "/oauth2/token", "", [
        ("content-type", "application/x-www-form-urlencoded"),
    ], f"grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
       f"&client_id={created.client_id}&client_secret={created.client_secret}".encode())
    assert r.status == 200, r.body
    assert ("cache-control", "no-store") in r.headers
    import json

    tokens = json.loads(r.body)
    info = provider.verify_access_token(tokens["access_token"], ["openid"])
    assert isinstance(info, connectivly.TokenInfo)
    assert info.sub == "ann" and info.client_id == created.client_id and info.has_scope("email")
    assert info.claims["iss"] == "https://id.example.com"
    # Built on first access, then the same dict every time.
    assert type(info.claims) is dict and info.claims is info.claims
    assert info.claims["jti"] == info.jti and info.claims["exp"] == info.exp
    again = provider.verify_access_token(tokens["access_token"])
    assert again.claims == info.claims and again.claims is not info.claims
    intro = provider.introspect(tokens["access_token"])
    assert intro.active and intro.sub == "ann" and intro.token_type == "Bearer"
    assert provider.introspect("garbage").active is False
    with pytest.raises(connectivly.InsufficientScope):
        provider.verify_access_token(tokens["access_token"], ["photos:read"])


def test_errors_are_typed_with_codes(provider: Any) -> None:
    created = provider.create_client("A", [REDIRECT])
    sid = start(provider, created.client_id)
    with pytest.raises(SessionNotFound) as e:
        provider.auth_session("cly_ses_nope")
    assert e.value.code == "not_found" and isinstance(e.value, ConnectivlyError)
    assert SessionNotFound is NotFound
    with pytest.raises(InvalidScope):
        provider.approve(sid, "ann", scopes=["photos:read"])
    with pytest.raises(InvalidRequest) as e2:
        provider.approve(sid, "ann", claims={"sub": "someone-else"})
    assert e2.value.code == "invalid_request"
    provider.approve(sid, "ann")
    with pytest.raises(SessionAlreadyUsed) as e3:
        provider.approve(sid, "ann")
    assert e3.value.code == "already_used" and SessionAlreadyUsed is AlreadyUsed
    with pytest.raises(AlreadyUsed):
        provider.deny(sid)
    with pytest.raises(InvalidToken):
        provider.verify_access_token("not.a.token")
    with pytest.raises(NotFound):
        provider.get_client("cly_ci_missing")
    with pytest.raises(InvalidRequest):
        provider.create_client("Bad", ["javascript:alert(1)"])
    with pytest.raises(InvalidRequest):
        provider.deny(start(provider, created.client_id), error="made_up")


def test_wrong_argument_types_raise_type_error(provider: Any) -> None:
    created = provider.create_client("A", [REDIRECT])
    sid = start(provider, created.client_id)
    with pytest.raises(TypeError):
        provider.approve(sid, 42)
    with pytest.raises(TypeError):
        provider.approve(sid, "ann", claims=["not", "a", "dict"])
    with pytest.raises(TypeError):
        provider.approve(sid, "ann", claims={"when": object()})
    with pytest.raises(TypeError):
        provider.create_client("A", "https://not-a-list.example/cb")
    with pytest.raises(TypeError):
        provider.auth_session(None)
    # None of that consumed the session.
    assert provider.auth_session(sid).status == "pending"


def test_bad_configuration_raises_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError):
        Provider("not a url", "/login", database="memory:")
    with pytest.raises(ConfigError):
        Provider("https://id.example.com", "/login", database="memory:", signing_alg="HS256")
    with pytest.raises(ConfigError):
        Provider("https://id.example.com", "/login", database="memory:", access_token_signing_alg="HS256")
    with pytest.raises(ConfigError):
        Provider("https://id.example.com", "/login", database="mysql://x")
    with pytest.raises(ConfigError):
        Provider("https://id.example.com", "/login", database="memory:", code_ttl=0)
    with pytest.raises(ConfigError):
        Provider("https://id.example.com", "/login", database="memory:", accent_color="red")
    with pytest.raises(ConfigError):
        Provider("https://id.example.com", "/login", database="memory:", provider_logo_uri="https://cdn.example/l.png")
    # Pool settings: a Python int may be negative or huge; neither wraps around into a valid size.
    for bad in (0, -1, 2**32):
        with pytest.raises(ConfigError, match="database_max_connections"):
            Provider("https://id.example.com", "/login", database="memory:", database_max_connections=bad)
    with pytest.raises(ConfigError, match="database_max_connections"):  # beyond 64 bits: still named
        Provider("https://id.example.com", "/login", database="memory:", database_max_connections=2**70)
    for bad in (0, -5):
        with pytest.raises(ConfigError, match="database_acquire_timeout"):
            Provider("https://id.example.com", "/login", database="memory:", database_acquire_timeout=bad)
    branded = Provider("https://id.example.com", "/login", database="memory:", accent_color="#0F7B6C",
                       provider_logo_uri="data:image/png;base64,iVBORw0KGgo=")
    branded.close()


def test_closed_provider_raises(db_url: str) -> None:
    p = Provider("https://id.example.com", "/login", database=db_url)
    with p:
        p.list_clients()
    with pytest.raises(ProviderClosed) as e:
        p.list_clients()
    assert e.value.code == "closed"
    with pytest.raises(ProviderClosed):
        p.handle("GET", "/.well-known/jwks.json")
    p.close()  # closing twice is fine


def test_many_threads_share_one_provider(provider: Any) -> None:
    created = provider.create_client("A", [REDIRECT])
    sids = [start(provider, created.client_id) for _ in range(64)]

    def approve(sid: str) -> str:
        return str(provider.approve(sid, "ann", skip_consent=True))

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        targets = list(pool.map(approve, sids))
    assert len({query(t)["code"] for t in targets}) == 64

    # Racing approvals of one session: exactly one wins.
    sid = start(provider, created.client_id)
    results: list[str] = []

    def race(_: int) -> None:
        try:
            provider.approve(sid, "ann", skip_consent=True)
            results.append("ok")
        except AlreadyUsed:
            results.append("lost")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(race, range(16)))
    assert results.count("ok") == 1 and results.count("lost") == 15


def test_access_tokens_can_have_their_own_algorithm(db_url: str) -> None:
    import base64
    import json

    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=db_url,
                 access_token_signing_alg="EdDSA")
    try:
        created = p.create_client("Photo Printer", [REDIRECT])
        code = query(p.approve(start(p, created.client_id), "ann", skip_consent=True))["code"]
        r = p.handle("POST", "/oauth2/token", "", [("content-type", "application/x-www-form-urlencoded")],
                     f"grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
                     f"&client_id={created.client_id}&client_secret={created.client_secret}".encode())
        tokens = json.loads(r.body)

        def alg(jwt: str) -> str:
            head = jwt.split(".")[0]
            return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["alg"])

        assert alg(tokens["access_token"]) == "EdDSA" and alg(tokens["id_token"]) == "RS256"
        assert p.verify_access_token(tokens["access_token"]).sub == "ann"
    finally:
        p.close()


def test_setting_errors_name_the_keyword_and_suggest_the_nearest() -> None:
    base: dict[str, Any] = {"database": "memory:"}
    issuer, login = "https://id.example.com", "/login"
    with pytest.raises(TypeError, match=r'unknown option "acess_token_ttl"; did you mean "access_token_ttl"\?'):
        Provider(issuer, login, acess_token_ttl=60, **base)
    with pytest.raises(TypeError, match=r'did you mean "login_url"\?'):
        Provider(issuer, login, redirect_url="/x", **base)
    with pytest.raises(TypeError, match=r'did you mean "access_token_ttl"\?'):
        Provider(issuer, login, accessTokenTtl=60, **base)
    with pytest.raises(TypeError, match=r"standalone server \(CONNECTIVLY_PORT\)"):
        Provider(issuer, login, port=3000, **base)
    with pytest.raises(TypeError, match="session_ttl must be a number of seconds, not a string"):
        Provider(issuer, login, session_ttl="900", **base)
    with pytest.raises(TypeError, match="NaN or infinite"):  # not quietly "the default"
        Provider(issuer, login, session_ttl=float("nan"), **base)
    with pytest.raises(ConfigError, match="^api_key must be at least 16 characters$"):
        Provider(issuer, login, api_key="short", **base)
    with pytest.raises(ConfigError, match=r'^login_url: "localhost:4481/connectivly" is not an absolute http\(s\) URL'):
        Provider(issuer, "localhost:4481/connectivly", **base)
    with pytest.raises(ConfigError, match=r'^scopes: "openid" is built in'):
        Provider(issuer, login, scopes={"openid": "Sign in"}, **base)
    with pytest.raises(ConfigError, match="needs a description"):
        Provider(issuer, login, scopes={"photos:read": " "}, **base)
    # The rate limits are settings of the embedded provider too; algorithms are read in any case;
    # None is "the default", as for any optional keyword.
    p = Provider(issuer, login, signing_alg="es256", failed_auth_limit_per_client=5, failed_limit_per_address=0,
                 secret=None, **base)
    assert sorted(p.discovery()["id_token_signing_alg_values_supported"]) == ["ES256", "RS256"]
    p.close()


def test_the_stubs_list_every_setting_of_the_core() -> None:
    import ast
    from pathlib import Path

    from connectivly import _native

    stub = ast.parse((Path(_native.__file__).parent / "_native.pyi").read_text())
    cls = next(n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == "Provider")
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    stubbed = {a.arg for a in init.args.args + init.args.kwonlyargs} - {"self"}
    assert stubbed == set(_native._setting_names()), stubbed ^ set(_native._setting_names())
    # And every one is accepted (None meaning the default).
    names = set(_native._setting_names()) - {"issuer", "login_url", "database"}
    Provider("https://id.example.com", "/login", database="memory:", **{n: None for n in names}).close()
