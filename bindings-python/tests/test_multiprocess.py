"""Several processes embedding Provider on one SQLite file (gunicorn workers, a server beside an app)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from connectivly import Provider
from conftest import query

SCRIPT = textwrap.dedent(
    """
    import sys
    from connectivly import Provider
    db, action, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=db)
    if action == "start":
        q = ("response_type=code&client_id=" + arg +
             "&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
        r = p.handle("GET", "/oauth2/authorize", q)
        print(dict(r.headers)["location"].split("token=")[1])
    elif action == "approve":
        print(p.approve(arg, "ann", skip_consent=True))
    elif action == "create":
        print(p.create_client(arg, ["https://client.example.com/cb"]).client_id)
    """
)


def run(db: str, action: str, arg: str) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT, db, action, arg], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_session_started_in_one_process_is_approved_in_another(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path}/shared.db"
    client_id = run(db, "create", "Shared App")
    session_id = run(db, "start", client_id)
    target = run(db, "approve", session_id)
    assert target.startswith("https://client.example.com/cb?code=")
    # And this process sees the outcome too.
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=db)
    assert p.auth_session(session_id).status == "completed"
    assert p.get_client(client_id).name == "Shared App"
    p.close()


def test_processes_opening_a_new_file_at_once(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path}/fresh.db"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, db, "create", f"app-{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        ids.append(out.strip())
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=db)
    assert sorted(c.client_id for c in p.list_clients()) == sorted(ids)
    jwks = p.handle("GET", "/.well-known/jwks.json")
    import json

    assert len(json.loads(jwks.body)["keys"]) == 1, "exactly one signing key for all processes"
    p.close()


def test_forked_worker_reopens_its_own_connections(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path}/fork.db"
    p = Provider("https://id.example.com", "https://app.example.com/connectivly", database=db)
    client = p.create_client("Before Fork", ["https://client.example.com/cb"])
    pid = os.fork()
    if pid == 0:  # the child: a gunicorn worker forked after the master opened the provider
        code = 1
        try:
            r = p.handle("GET", "/oauth2/authorize", "response_type=code&client_id=" + client.client_id +
                         "&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
            sid = query(dict(r.headers)["location"])["token"]
            p.approve(sid, "ann", skip_consent=True)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert p.get_client(client.client_id).name == "Before Fork"
    p.close()
