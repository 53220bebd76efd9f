#!/usr/bin/env python3
"""Per-call figures of the Python package: native `approve` and `verify_access_token` against the same
operations over HTTP to a `connectivly` server (issue 9).

Measured, each call timed on its own with time.perf_counter_ns after a warm-up:

  approve, native     embedded Provider (SQLite file in a temp dir), approve(sid, user=..., skip_consent=True);
                      every call gets its own pending session, made before the timing starts through the
                      provider's own GET /oauth2/authorize (Provider.handle)
  approve, HTTP       RemoteProvider.approve against a spawned server; sessions made with HTTP GET
                      /oauth2/authorize (the session id is the `token` of the Location header)
  verify, seen        verify_access_token of one token, again and again
  verify, new         verify_access_token of a token this provider has never verified (each used once); the
                      tokens (client_credentials) are minted beforehand by a *second* Provider instance on the
                      same SQLite file (embedded), so no in-process state of the verifier knows them
  raw verify          the signature check alone for the token's algorithm, in Python with `cryptography`

Benchmarks only: the exit status says whether everything *worked*, never whether a target was met.

    .venv/bin/python bench/python/bench_native.py [--alg RS256|ES256|EdDSA] [--quick] [--seconds S]
        [--iterations N] [--warmup W] [--server-bin PATH] [--no-server] [--store sqlite|memory] [--json FILE]
"""

from __future__ import annotations

import argparse
import base64
import gc
import http.client
import json
import mmap
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
REDIRECT = "https://client.example.com/cb"
SCOPES = {"photos:read": "See your photos"}
ALGS = ("RS256", "ES256", "EdDSA")


# ----------------------------------------------------------------------------------------------- settings


@dataclass
class Settings:
    seconds: float  # target duration of one timed loop
    iterations: Optional[int]  # fixed N for every measurement (overrides seconds)
    warmup: int
    min_n: int
    max_n: int
    prep_budget: float  # seconds allowed for preparing sessions / tokens of one measurement


def settings_from(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(seconds=args.seconds or 0.15, iterations=args.iterations, warmup=3, min_n=20, max_n=20_000,
                        prep_budget=0.6)
    seconds = args.seconds or 3.0
    return Settings(seconds=seconds, iterations=args.iterations, warmup=args.warmup, min_n=200, max_n=2_000_000,
                    prep_budget=max(4.0, 3 * seconds))


# ----------------------------------------------------------------------------------------------- measuring


@dataclass
class Result:
    name: str
    n: int
    mean_us: float
    p50_us: float
    p99_us: float
    note: str = ""


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_ns) - 1, int(round(q / 100 * len(sorted_ns) + 0.5)) - 1))
    return float(sorted_ns[k])


def measure(name: str, call: Callable[[Any], Any], prepare: Callable[[int, Optional[float]], list[Any]],
            cfg: Settings, check: Optional[Callable[[list[Any]], None]] = None, note: str = "") -> Result:
    """Warm up (which also estimates the cost per call), prepare N arguments, then time each call alone."""
    pc = time.perf_counter_ns
    warm = prepare(cfg.warmup, None)
    t0 = pc()
    for a in warm:
        call(a)
    per_call = max(1, (pc() - t0) // max(1, len(warm)))
    if cfg.iterations:
        n, budget = cfg.iterations, None
    else:
        n = int(min(cfg.max_n, max(cfg.min_n, cfg.seconds * 1e9 / per_call)))
        budget = cfg.prep_budget
    args = prepare(n, budget)
    if len(args) < n:
        note = (note + "; " if note else "") + f"N capped by the {budget:g} s preparation budget"
    n = len(args)
    samples = [0] * n
    results: list[Any] = [None] * n
    gc.collect()
    gc.disable()
    try:
        for i, a in enumerate(args):
            t = pc()
            r = call(a)
            samples[i] = pc() - t
            results[i] = r
    finally:
        gc.enable()
    if check:
        check(results)
    s = sorted(samples)
    res = Result(name, n, statistics.fmean(samples) / 1000, percentile(s, 50) / 1000, percentile(s, 99) / 1000, note)
    print(f"  {name}: n={n} mean={res.mean_us:.1f} µs", file=sys.stderr, flush=True)
    return res


def collect(make_one: Callable[[], Any]) -> Callable[[int, Optional[float]], list[Any]]:
    """A `prepare` that calls make_one() n times, stopping early when the time budget is spent."""

    def prepare(n: int, budget: Optional[float]) -> list[Any]:
        out: list[Any] = []
        deadline = time.monotonic() + budget if budget else None
        for _ in range(n):
            out.append(make_one())
            if deadline and time.monotonic() > deadline and len(out) >= 20:
                break
        return out

    return prepare


def same(value: Any) -> Callable[[int, Optional[float]], list[Any]]:
    return lambda n, _budget: [value] * n


# ----------------------------------------------------------------------------------------------- builds


def build_profile(path: Path) -> str:
    """Release or dev build of a Rust binary: dev builds keep overflow checks, whose panic messages a release
    build (overflow-checks off) does not contain."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            dev = m.find(b"attempt to add with overflow") != -1
    except (OSError, ValueError):
        return "unknown profile"
    return "DEV build (overflow checks on): figures NOT representative" if dev else "release build"


def describe(path: Path) -> str:
    st = path.stat()
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    return f"{path} ({st.st_size / 1e6:.0f} MB, {when}; {build_profile(path)})"


def server_binary(flag: Optional[str]) -> Path:
    for cand in (flag, os.environ.get("CONNECTIVLY_BIN"), str(ROOT / "target" / "release" / "connectivly"),
                 str(ROOT / "target" / "debug" / "connectivly")):
        if cand and os.access(cand, os.X_OK):
            p = Path(cand).resolve()
            # Someone may be rewriting it right now (cargo build): wait until it has been still for a moment.
            deadline = time.time() + 120
            while time.time() - p.stat().st_mtime < 2 and time.time() < deadline:
                time.sleep(0.5)
            return p
        if cand == flag and flag:
            sys.exit(f"--server-bin {flag}: not an executable file")
    sys.exit("no server binary: pass --server-bin, set CONNECTIVLY_BIN or build target/{release,debug}/connectivly")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ----------------------------------------------------------------------------------------------- tokens


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def raw_verifier(token: str, jwks: dict[str, Any]) -> tuple[str, Callable[[Any], None]]:
    """The bare signature check of `token` with `cryptography` (key parsed and signature re-encoded once)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    h64, p64, s64 = token.split(".")
    header = json.loads(b64d(h64))
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    data = f"{h64}.{p64}".encode()
    sig = b64d(s64)
    alg = header["alg"]
    if alg == "RS256":
        rkey = rsa.RSAPublicNumbers(int.from_bytes(b64d(jwk["e"]), "big"),
                                    int.from_bytes(b64d(jwk["n"]), "big")).public_key()
        pad, sha = padding.PKCS1v15(), hashes.SHA256()
        return alg, lambda _: rkey.verify(sig, data, pad, sha)
    if alg == "ES256":
        ekey = ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(jwk["x"]), "big"),
                                             int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1()).public_key()
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        ecdsa = ec.ECDSA(hashes.SHA256())
        return alg, lambda _: ekey.verify(der, data, ecdsa)
    if alg == "EdDSA":
        okey = ed25519.Ed25519PublicKey.from_public_bytes(b64d(jwk["x"]))
        return alg, lambda _: okey.verify(sig, data)
    raise SystemExit(f"unexpected token alg {alg}")


def authorize_query(client_id: str, i: int) -> str:
    return urlencode(dict(response_type="code", client_id=client_id, redirect_uri=REDIRECT,
                          scope="openid profile email", state=f"s{i}", nonce=f"n{i}",
                          code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method="S256"))


def session_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["token"][0]


def check_codes(results: list[Any]) -> None:
    bad = [r for r in results if not (isinstance(r, str) and r.startswith(REDIRECT) and "code=" in r)]
    if bad:
        raise SystemExit(f"approve did not return a redirect with a code: {bad[0]!r}")


def check_sub(sub: str) -> Callable[[list[Any]], None]:
    def check(results: list[Any]) -> None:
        if any(r.sub != sub for r in results):
            raise SystemExit("verify_access_token returned a wrong subject")

    return check


# ----------------------------------------------------------------------------------------------- embedded


def bench_native(cfg: Settings, alg: str, tmp: Path, store: str) -> tuple[list[Result], str, dict[str, Any]]:
    from connectivly import Provider

    db = f"sqlite://{tmp}/embedded.db" if store == "sqlite" else "memory:"
    issuer = "https://id.example.com"
    p = Provider(issuer, "https://app.example.com/connectivly", database=db, scopes=SCOPES, signing_alg=alg)
    # A second instance on the same file mints the "new" tokens: nothing in `p`'s memory has seen them. A memory
    # store cannot be shared: there the provider mints its own.
    minter = Provider(issuer, "https://app.example.com/connectivly", database=db, scopes=SCOPES,
                      signing_alg=alg) if store == "sqlite" else p
    label = "SQLite" if store == "sqlite" else "memory store"
    web = p.create_client("Bench web", [REDIRECT], first_party=True)
    svc = p.create_client("Bench service", [REDIRECT], allowed_scopes=["photos:read"])
    form = urlencode(dict(grant_type="client_credentials", scope="photos:read", client_id=svc.client_id,
                          client_secret=svc.client_secret)).encode()
    ctype = [("content-type", "application/x-www-form-urlencoded")]
    counter = iter(range(10**9))

    def new_session() -> str:
        r = p.handle("GET", "/oauth2/authorize", authorize_query(web.client_id, next(counter)))
        if r.status not in (302, 303):
            raise SystemExit(f"authorize: {r.status} {r.body[:300]!r}")
        return session_of(dict(r.headers)["location"])

    def new_token() -> str:
        r = minter.handle("POST", "/oauth2/token", "", ctype, form)
        if r.status != 200:
            raise SystemExit(f"client_credentials: {r.status} {r.body[:300]!r}")
        return str(json.loads(r.body)["access_token"])

    out = []
    out.append(measure(f"approve, native (embedded Provider, {label})",
                       lambda sid: p.approve(sid, user="ann", skip_consent=True), collect(new_session), cfg,
                       check_codes))
    seen = new_token()
    p.verify_access_token(seen)
    out.append(measure("verify_access_token, native, seen token", p.verify_access_token, same(seen), cfg,
                       check_sub(svc.client_id)))
    out.append(measure("verify_access_token, native, new token", p.verify_access_token, collect(new_token), cfg,
                       check_sub(svc.client_id),
                       note="minted by a 2nd Provider on the same file" if minter is not p else "minted by the same Provider"))
    jwks = json.loads(p.handle("GET", "/.well-known/jwks.json").body)
    real_alg, raw = raw_verifier(seen, jwks)
    out.append(measure(f"raw {real_alg} signature verify (cryptography)", raw, same(None), cfg))
    if minter is not p:
        minter.close()
    p.close()
    return out, real_alg, jwks


# ----------------------------------------------------------------------------------------------- server


class Server:
    """One `connectivly` process on a free loopback port with a temp SQLite file."""

    def __init__(self, binary: Path, tmp: Path, alg: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTIVLY_")}
        env.update(
            CONNECTIVLY_REDIRECT_URL="http://127.0.0.1:9/connectivly",
            CONNECTIVLY_PORT=str(self.port),
            CONNECTIVLY_BIND="127.0.0.1",
            CONNECTIVLY_ISSUER=self.url,
            CONNECTIVLY_DATABASE_URL=f"sqlite://{tmp}/server.db",
            CONNECTIVLY_SCOPES=";".join(f"{k}={v}" for k, v in SCOPES.items()),
            CONNECTIVLY_SIGNING_ALG=alg,
            CONNECTIVLY_LOG="warn",
        )
        self.stderr = open(tmp / "server.stderr", "w+")
        self.proc = subprocess.Popen([str(binary)], env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True)
        banner = ""
        deadline = time.time() + 60
        assert self.proc.stdout
        while "Secrets are shown once" not in banner:
            line = self.proc.stdout.readline()
            if not line and (self.proc.poll() is not None or time.time() > deadline):
                self.stderr.seek(0)
                err = self.stderr.read()[-2000:]
                self.stop()
                raise SystemExit(f"server {binary} did not start:\n{banner}{err}")
            banner += line
        self.api_key = next(line.split(": ", 1)[1].strip() for line in banner.splitlines()
                            if line.startswith("API Key: "))
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout or ()], daemon=True).start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def bench_remote(cfg: Settings, alg: str, server: Server) -> list[Result]:
    from connectivly import RemoteProvider

    remote = RemoteProvider(server.url, api_key=server.api_key)
    web = remote.create_client("Bench web", [REDIRECT], first_party=True)
    svc = remote.create_client("Bench service", [REDIRECT], allowed_scopes=["photos:read"])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    form = urlencode(dict(grant_type="client_credentials", scope="photos:read", client_id=svc.client_id,
                          client_secret=svc.client_secret))
    counter = iter(range(10**9))

    def request(method: str, target: str, body: Optional[str] = None,
                headers: Optional[dict[str, str]] = None) -> http.client.HTTPResponse:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        r.read()
        return r

    def new_session() -> str:
        r = request("GET", "/oauth2/authorize?" + authorize_query(web.client_id, next(counter)))
        if r.status not in (302, 303):
            raise SystemExit(f"authorize over HTTP: {r.status}")
        return session_of(r.headers["location"])

    def new_token() -> str:
        conn.request("POST", "/oauth2/token", body=form,
                     headers={"content-type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"client_credentials over HTTP: {r.status} {body[:300]!r}")
        return str(json.loads(body)["access_token"])

    out = []
    out.append(measure("approve, HTTP (RemoteProvider -> server)",
                       lambda sid: remote.approve(sid, user="ann", skip_consent=True), collect(new_session), cfg,
                       check_codes))
    seen = new_token()
    remote.verify_access_token(seen)
    out.append(measure("verify_access_token, HTTP, seen token", remote.verify_access_token, same(seen), cfg,
                       check_sub(svc.client_id)))
    out.append(measure("verify_access_token, HTTP, new token", remote.verify_access_token, collect(new_token), cfg,
                       check_sub(svc.client_id), note="minted and verified by the same server"))
    conn.close()
    remote.close()
    return out


# ----------------------------------------------------------------------------------------------- report


def table(results: list[Result]) -> str:
    w = max(len(r.name) for r in results)
    lines = [f"{'operation':<{w}}  {'n':>9}  {'mean µs':>10}  {'p50 µs':>10}  {'p99 µs':>10}  note",
             "-" * (w + 50)]
    for r in results:
        lines.append(f"{r.name:<{w}}  {r.n:>9}  {r.mean_us:>10.1f}  {r.p50_us:>10.1f}  {r.p99_us:>10.1f}  {r.note}")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alg", choices=ALGS, default="RS256", help="signing algorithm (default RS256)")
    ap.add_argument("--quick", action="store_true", help="smoke run: a few seconds in total")
    ap.add_argument("--seconds", type=float, help="target duration of each timed loop (default 3; --quick 0.15)")
    ap.add_argument("-n", "--iterations", type=int, help="fixed N per measurement instead of --seconds")
    ap.add_argument("--warmup", type=int, default=50, help="warm-up calls per measurement (default 50; --quick 3)")
    ap.add_argument("--server-bin", help="server binary (default $CONNECTIVLY_BIN, target/release/connectivly, "
                                         "then target/debug/connectivly)")
    ap.add_argument("--no-server", action="store_true", help="embedded measurements only")
    ap.add_argument("--store", choices=("sqlite", "memory"), default="sqlite",
                    help="the embedded provider's store (default sqlite: a file in a temp dir; memory: no database "
                         "cost, to see what the store adds)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the `finally` below stops the server this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = settings_from(args)
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]

    import connectivly

    native = Path(connectivly._native.__file__)
    binary = None if args.no_server else server_binary(args.server_bin)
    print(f"connectivly Python bench: {args.alg}{' (--quick)' if args.quick else ''}")
    print(f"  python     {platform.python_version()} on {cpu_model()}, {os.cpu_count()} CPUs, "
          f"load average {load_at_start:.2f}")
    print(f"  package    connectivly {connectivly.__version__}: {describe(native)}")
    if binary:
        print(f"  server     {describe(binary)}")
    sys.stdout.flush()

    with tempfile.TemporaryDirectory(prefix="connectivly-bench-") as tmpdir:
        tmp = Path(tmpdir)
        results, real_alg, _ = bench_native(cfg, args.alg, tmp, args.store)
        if binary:
            server = Server(binary, tmp, args.alg)
            try:
                results += bench_remote(cfg, args.alg, server)
            finally:
                server.stop()

    by = {r.name.split(" (")[0]: r for r in results}
    print()
    print(table(results))
    print()
    seen = by["verify_access_token, native, seen token"]
    new = by["verify_access_token, native, new token"]
    raw = next(r for r in results if r.name.startswith("raw "))
    ratios: dict[str, float] = {"verify_new_over_raw": new.mean_us / raw.mean_us,
                                "verify_new_over_raw_p50": new.p50_us / raw.p50_us}
    print(f"native verify, seen token:            {seen.mean_us:8.1f} µs  (p50 {seen.p50_us:.1f} µs; target ≤ 10 µs: "
          f"{verdict(seen.mean_us <= 10)})")
    print(f"native verify new / raw {real_alg:<5} verify:  {ratios['verify_new_over_raw']:8.2f}×   "
          f"(means {new.mean_us:.1f} / {raw.mean_us:.1f} µs; by p50 {ratios['verify_new_over_raw_p50']:.2f}×; "
          f"target ≤ 1.2×: {verdict(ratios['verify_new_over_raw'] <= 1.2)})")
    if binary:
        http_ap = by["approve, HTTP"]
        nat_ap = by["approve, native"]
        ratios["approve_http_over_native"] = http_ap.mean_us / nat_ap.mean_us
        ratios["approve_http_over_native_p50"] = http_ap.p50_us / nat_ap.p50_us
        http_seen = by["verify_access_token, HTTP, seen token"]
        ratios["verify_seen_http_over_native"] = http_seen.mean_us / seen.mean_us
        print(f"approve HTTP / native:                {ratios['approve_http_over_native']:8.2f}×   "
              f"(means {http_ap.mean_us:.1f} / {nat_ap.mean_us:.1f} µs; by p50 "
              f"{ratios['approve_http_over_native_p50']:.2f}×; target ≥ 10×: "
              f"{verdict(ratios['approve_http_over_native'] >= 10)})")
        print(f"verify (seen) HTTP / native:          {ratios['verify_seen_http_over_native']:8.2f}×   "
              f"(means {http_seen.mean_us:.1f} / {seen.mean_us:.1f} µs)")
    print("raw verify is OpenSSL through `cryptography` (+ a Python call); the core verifies with its own crypto.")
    if load_at_start > 0.5 * (os.cpu_count() or 1):
        print(f"NOTE: load average {load_at_start:.2f} on {os.cpu_count()} CPUs before the run: other work competed "
              "for the CPU; rerun on an idle machine.")
    if "DEV build" in build_profile(native) or (binary and "DEV build" in build_profile(binary)):
        print("WARNING: a dev build was measured (see above); its figures are not representative.")
    elapsed = time.monotonic() - started
    print(f"total {elapsed:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "package": "python", "alg": args.alg, "quick": args.quick, "native_module": str(native),
            "native_build": build_profile(native), "server": str(binary) if binary else None,
            "server_build": build_profile(binary) if binary else None,
            "results": [asdict(r) for r in results], "ratios": ratios, "seconds": elapsed,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
