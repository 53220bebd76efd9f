"""Two processes embedding Provider on one PostgreSQL database (several app servers behind a load
balancer) see each other's clients and sessions.

Skipped unless CONNECTIVLY_TEST_POSTGRES_URL names a server (`tests/pg-cluster start` runs a private
one); each test creates a database of its own on it with psql.
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
    pytest.mark.skipif(shutil.which("psql") is None, reason="psql is needed to create a test database"),
]

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
                 "&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&scope=openid&state=s")
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
