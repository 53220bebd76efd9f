"""Two processes embedding Provider on one PostgreSQL database (several app servers behind a load
balancer) see each other's clients and sessions.

Skipped unless CONNECTIVLY_TEST_POSTGRES_URL names a server (`tests/pg-cluster start` runs a private
one); each test creates a database of its own on it with psql, so once the URL is set a missing psql
fails every test instead of skipping it. The server must offer TLS (pg-cluster always does).
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from connectivly import Provider

ADMIN_URL = os.environ.get("CONNECTIVLY_TEST_POSTGRES_URL", "").strip()

pytestmark = [
    pytest.mark.skipif(not ADMIN_URL, reason="CONNECTIVLY_TEST_POSTGRES_URL is not set"),
]


def require_psql() -> None:
    # With a PostgreSQL URL set, the tests must run: a missing psql is a broken setup, not a reason to skip.
    assert shutil.which("psql") is not None, (
        "CONNECTIVLY_TEST_POSTGRES_URL is set but psql is not installed (apt-get install postgresql-client)")


def test_psql_is_installed_when_a_postgres_url_is_set() -> None:
    require_psql()

TIMEOUT = 60

# A worker: one embedding process, driven line by line (command in, one JSON line out).
WORKER = textwrap.dedent(
    """
    import json, sys
    from connectivly import Provider
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=sys.argv[1])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "create":
            out = p.create_client(arg, ["https://client.example.com/cb"]).client_id
        elif cmd == "client":
            out = p.get_client(arg).name
        elif cmd == "clients":
            out = sorted(c.client_id for c in p.list_clients())
        elif cmd == "start":
            q = ("response_type=code&client_id=" + arg +
                 "&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
            r = p.handle("GET", "/oauth2/authorize", q)
            out = dict(r.headers)["location"].split("token=")[1]
        elif cmd == "status":
            out = p.auth_session(arg).status
        elif cmd == "approve":
            out = p.approve(arg, "ann", skip_consent=True)
        elif cmd == "jwks":
            out = json.loads(p.handle("GET", "/.well-known/jwks.json").body)
        elif cmd == "quit":
            break
        else:
            out = "unknown command"
        print(json.dumps(out), flush=True)
    p.close()
    """
)


@pytest.fixture
def database() -> Iterator[str]:
    require_psql()
    name = "connectivly_t_" + secrets.token_hex(8)
    subprocess.run(["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"], check=True,
                   timeout=TIMEOUT, capture_output=True)
    parts = urlsplit(ADMIN_URL)
    yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], timeout=TIMEOUT,
                   capture_output=True)


class Worker:
    def __init__(self, db: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, db], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)

    def ready(self) -> "Worker":
        """Waits until the provider is open (processes are started first, so they open at once)."""
        assert self.read() == {"ready": True}
        return self

    def read(self) -> object:
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(TIMEOUT)
        sel.close()
        assert ready, "the worker did not answer in time"
        line = self.proc.stdout.readline()
        if not line:
            assert self.proc.stderr is not None
            raise AssertionError("the worker died: " + self.proc.stderr.read())
        return json.loads(line)

    def ask(self, command: str) -> object:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(TIMEOUT)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


def test_two_processes_see_each_others_clients_and_sessions(database: str) -> None:
    a, b = Worker(database), Worker(database)
    try:
        a.ready()
        b.ready()
        client_id = a.ask("create Shared App")
        assert b.ask(f"client {client_id}") == "Shared App"
        session_id = b.ask(f"start {client_id}")
        assert a.ask(f"status {session_id}") == "pending"
        target = a.ask(f"approve {session_id}")
        assert isinstance(target, str) and target.startswith("https://client.example.com/cb?code=")
        assert b.ask(f"status {session_id}") == "completed"
        other = b.ask("create Second App")
        assert a.ask("clients") == sorted([client_id, other])
        assert a.ask("jwks") == b.ask("jwks"), "one key set for both processes"
    finally:
        a.stop()
        b.stop()
    # And a third process, started later, sees it all too.
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=database)
    assert p.auth_session(session_id).status == "completed"
    assert p.get_client(client_id).name == "Shared App"
    p.close()


def test_processes_opening_an_empty_database_at_once(database: str) -> None:
    workers = [Worker(database) for _ in range(4)]
    try:
        for w in workers:
            w.ready()
        ids = [str(w.ask(f"create app-{i}")) for i, w in enumerate(workers)]
        jwks = [w.ask("jwks") for w in workers]
    finally:
        for w in workers:
            w.stop()
    assert all(j == jwks[0] for j in jwks)
    assert isinstance(jwks[0], dict) and len(jwks[0]["keys"]) == 1, "exactly one signing key for all processes"
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=database)
    assert sorted(c.client_id for c in p.list_clients()) == sorted(ids)
    p.close()


def connections_held(database: str) -> int:
    """The provider's connections to `database` that the server sees (the pool names itself `connectivly`)."""
    name = urlsplit(database).path.lstrip("/")
    out = subprocess.run(
        ["psql", ADMIN_URL, "-tAc",
         f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'connectivly'"],
        check=True, timeout=TIMEOUT, capture_output=True, text=True)
    return int(out.stdout.strip())


def test_pool_settings_bound_the_connections_a_provider_holds(database: str) -> None:
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=database,
                 database_max_connections=2, database_acquire_timeout=30)
    try:
        # Eight threads at once (each call releases the GIL): without the bound the pool grew to its default 10.
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda i: p.create_client(f"App {i}", ["https://client.example.com/cb"]).client_id,
                                range(48)))
        assert len(set(ids)) == 48
        assert len(p.list_clients()) == 48
        assert 1 <= connections_held(database) <= 2
    finally:
        p.close()


def with_query(url: str, extra: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def provider_connections_tls(database: str) -> list[bool]:
    """For each connection the provider's pool holds to `database` (by database and the pool's
    application_name, never psql's own), whether the server sees it encrypted (pg_stat_ssl)."""
    name = urlsplit(database).path.lstrip("/")
    out = subprocess.run(
        ["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-tAc",
         "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid "
         f"WHERE a.datname = '{name}' AND a.application_name = 'connectivly'"],
        check=True, timeout=TIMEOUT, capture_output=True, text=True)
    return [line == "t" for line in out.stdout.split()]


def wait_until_disconnected(database: str) -> None:
    """After close, until the server has ended the provider's backends (so the next check sees only the next pool)."""
    import time

    deadline = time.monotonic() + TIMEOUT
    while provider_connections_tls(database):
        assert time.monotonic() < deadline, "the closed provider's connections did not go away"
        time.sleep(0.1)


def test_the_providers_own_connections_use_tls_when_the_url_requires_it(database: str) -> None:
    """sslmode=require in the database URL: every connection of the provider's pool is encrypted, as the
    server sees it. The same query on a provider opened with sslmode=disable sees plain connections, so
    it can tell the two apart."""
    ssl = subprocess.run(["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-tAc", "SHOW ssl"], check=True,
                         timeout=TIMEOUT, capture_output=True, text=True).stdout.strip()
    assert ssl == "on", "the test server must offer TLS (tests/pg-cluster always enables it)"

    plain = Provider("https://id.example.com", "https://app.example.com/connectivly",
                     database=with_query(database, "sslmode=disable"))
    try:
        plain.create_client("Plain App", ["https://client.example.com/cb"])
        seen = provider_connections_tls(database)
        assert seen and not any(seen), f"sslmode=disable: the check must see plain connections, saw {seen}"
    finally:
        plain.close()
    wait_until_disconnected(database)

    p = Provider("https://id.example.com", "https://app.example.com/connectivly",
                 database=with_query(database, "sslmode=require"), database_max_connections=4)
    try:
        # Several calls at once, so the pool holds more than one connection.
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda i: p.create_client(f"TLS App {i}", ["https://client.example.com/cb"]).client_id,
                                range(16)))
        assert len(set(ids)) == 16
        seen = provider_connections_tls(database)
        assert seen, "the provider holds no connection to its database"
        assert all(seen), f"a connection of the provider's pool is not encrypted: {seen}"
    finally:
        p.close()
