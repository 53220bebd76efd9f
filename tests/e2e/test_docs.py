"""Every fenced code block of README.md, docs/*.md and examples/*/README.md, classified and checked for real, so
that a snippet cannot drift from the product unnoticed:

* ```python — compiled here, and run by test_readme.py: each must be listed in its COVERED.
* ```js — `node --check` (as an ES module when it imports), and run by a bindings-node test named by its heading.
* ```toml — written to a file and loaded by the server binary (`--config FILE keys list`); a misspelt key added to
  the same file must then be refused, which proves the file was read.
* ```json — parses; an approve body is POSTed to the live server's host API.
* ```sh / ```console — split into commands. `connectivly …` runs against a temp database and exits 0 (placeholders
  like CLIENT_ID replaced with real values; serving ones start, answer /readyz and stop cleanly on SIGTERM);
  `cargo run --bin X` / `cargo build -p X` / `cargo fuzz run X` name things that exist; `curl` is replayed against
  the live server with its method, headers and body, and checked against the `# {...}` output comment; an app's
  `create-client` runs and prints what its comment says; `cd`, `npm`, `node`, `python`, `pip` lines name files,
  folders, scripts and packages that exist. A console block's output is compared with the real first-run banner.
* unlabeled blocks holding a box diagram — every module file it names exists.

Anything else fails with a message saying to add a check here. Also checked: every repository path and relative
link the documents name exists, and every CONNECTIVLY_* variable a shell block sets is documented."""

from __future__ import annotations

import json
import os
import py_compile
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from conftest import BIN, Browser, free_port, pkce_pair, wait_for_binary
from test_readme import COVERED, Block, blocks_of, snippet

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("examples/*/README.md"))]
BLOCKS = [b for f in DOCS for b in blocks_of(f)]
# Where a document's shell commands start ("in this folder"); the repository root otherwise.
START_DIR = {
    "examples/express-host/README.md": ROOT / "examples/express-host",
    "examples/client-app/README.md": ROOT / "examples/client-app",
}
# Tools a shell block may tell people to install with `cargo install`.
CARGO_TOOLS = {"cargo-fuzz"}
# Placeholder words in the README's command line synopsis, and what stands in for them.
PLACEHOLDERS = {"USER": "user-1", "S": "openid", "NAME": "Some App", "URI": "https://app.example/cb"}
SUBST = "__COMMAND_SUBSTITUTION__"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def classify(block: Block) -> str | None:
    lang = block.lang.lower()
    if lang == "python":
        return "python"
    if lang in ("js", "javascript", "mjs"):
        return "js"
    if lang == "toml":
        return "toml"
    if lang == "json":
        return "json"
    if lang in ("sh", "bash", "shell"):
        return "shell"
    if lang == "console":
        return "console"
    if lang == "" and re.search(r"[│─┌┐└┘├┤┬┴┼▼▲]", block.text):
        return "diagram"
    return None


# --------------------------------------------------------------------------- the workspace


def workspace() -> tuple[set[str], set[str]]:
    """The workspace's package names and binary names."""
    root = tomllib.loads((ROOT / "Cargo.toml").read_text())
    packages, bins = set(), set()
    for member in root["workspace"]["members"]:
        manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        name = manifest["package"]["name"]
        packages.add(name)
        declared = [b["name"] for b in manifest.get("bin", [])]
        bins.update(declared)
        if not declared and (ROOT / member / "src/main.rs").exists():
            bins.add(name)
    return packages, bins


def fuzz_targets() -> set[str]:
    manifest = tomllib.loads((ROOT / "fuzz/Cargo.toml").read_text())
    return {b["name"] for b in manifest.get("bin", [])}


def documented_variables() -> set[str]:
    return set(re.findall(r"`(CONNECTIVLY_[A-Z_]+)`", (ROOT / "docs/configuration.md").read_text())) | {
        "CONNECTIVLY_CONFIG"}


# --------------------------------------------------------------------------- shell parsing


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str]
    line: str  # the logical line it came from
    expected: list[str] = field(default_factory=list)  # `# …` output comments after it


def logical_lines(text: str) -> list[str]:
    out, cur = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        out.append(cur + line)
        cur = ""
    if cur:
        out.append(cur)
    return out


def is_output_comment(line: str) -> bool:
    """`# {"redirect_uri": ...}` or `# CLIENT_ID=cly_ci_…` shows what the command above prints; other comments
    describe the next command."""
    s = line.strip()
    return s.startswith("#") and bool(re.match(r"#\s*(\{|\[|[A-Z_]+=)", s))


def split_commands(line: str) -> list[Command]:
    """One logical line → its commands (split at && || ; & |), `$(...)` as commands of their own."""
    inner = re.findall(r"\$\(([^()]*)\)", line)
    flat = re.sub(r"\$\(([^()]*)\)", SUBST, line)
    cmds: list[Command] = []
    for sub in inner:
        cmds.extend(split_commands(sub))
    lex = shlex.shlex(flat, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    tokens = list(lex)
    current: list[str] = []
    for tok in tokens + [";"]:
        if tok in ("&&", "||", ";", "&", "|"):
            if current:
                env: dict[str, str] = {}
                while current and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", current[0]):
                    k, v = current.pop(0).split("=", 1)
                    env[k] = v
                cmds.append(Command(current, env, line))
            current = []
        else:
            current.append(tok)
    return cmds


def commands_of(block: Block) -> tuple[list[Command], list[str]]:
    """The block's commands and, for a console block, its output lines."""
    text = block.text
    output: list[str] = []
    if classify(block) == "console":
        keep = []
        for line in text.splitlines():
            if line.startswith("$ "):
                keep.append(line[2:])
            else:
                output.append(line)
        text = "\n".join(keep)
    cmds: list[Command] = []
    for line in logical_lines(text):
        if not line.strip():
            continue
        if line.strip().startswith("#"):
            if is_output_comment(line) and cmds:
                cmds[-1].expected.append(line.strip()[1:].strip())
            continue
        cmds.extend(split_commands(line))
    return cmds, output


def wildcard(expected: str, replacements: dict[str, str] | None = None) -> re.Pattern[str]:
    """`…`, `...` and `<…>` in a documented output stand for anything."""
    pattern = re.escape(expected)
    for old, new in (replacements or {}).items():
        pattern = pattern.replace(re.escape(old), new)
    for dots in (re.escape("…"), re.escape("...")):
        pattern = pattern.replace(dots, r".*?")
    return re.compile(pattern)


# --------------------------------------------------------------------------- running the server binary


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTIVLY_")}
    env["CONNECTIVLY_LOG"] = "warn"
    env.update(extra)
    return env


class Cli:
    """`connectivly …` against one temp database (a fresh one for each serving run)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.db = f"sqlite://{tmp / 'cli.db'}"
        self.count = 0

    def run(self, args: list[str], env: dict[str, str] | None = None, db: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        wait_for_binary()
        e = clean_env(CONNECTIVLY_DATABASE_URL=db or self.db, **(env or {}))
        return subprocess.run([BIN, *args], env=e, cwd=cwd or self.tmp, capture_output=True, text=True, timeout=120)

    def new_client_id(self) -> str:
        cp = self.run(["clients", "create", "--name", "Doc App", "--redirect-uri", "https://doc.example/cb"])
        assert cp.returncode == 0, cp.stderr
        return re.search(r"^Client ID: (\S+)$", cp.stdout, re.M).group(1)

    def serve(self, args: list[str], env: dict[str, str]) -> str:
        """Starts a serving `connectivly` on a fresh database; returns its stdout once /readyz answers, after a
        clean SIGTERM stop."""
        wait_for_binary()
        self.count += 1
        port = free_port()
        e = clean_env(CONNECTIVLY_REDIRECT_URL="http://localhost:8080/connectivly")
        e.update(env)
        # The documented values, but on this machine: a fresh SQLite file, a free loopback port.
        e.update(CONNECTIVLY_DATABASE_URL=f"sqlite://{self.tmp / f'serve-{self.count}.db'}",
                 CONNECTIVLY_PORT=str(port), CONNECTIVLY_BIND="127.0.0.1", CONNECTIVLY_LOG="warn")
        out_path, err_path = self.tmp / f"serve-{self.count}.out", self.tmp / f"serve-{self.count}.err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen([BIN, *args], env=e, cwd=self.tmp, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 60
                while True:
                    assert proc.poll() is None, f"exited {proc.returncode}: {err_path.read_text()}"
                    try:
                        if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                            break
                    except requests.RequestException:
                        pass
                    assert time.monotonic() < deadline, f"never ready: {err_path.read_text()}"
                    time.sleep(0.05)
                # The banner is written around the time the socket opens.
                end = time.monotonic() + 5
                while "Secrets are shown once" not in out_path.read_text() and time.monotonic() < end:
                    time.sleep(0.05)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait(5)
        assert rc == 0, f"exit code {rc} after SIGTERM: {err_path.read_text()}"
        return out_path.read_text()


# --------------------------------------------------------------------------- the checks


class Shell:
    """Runs a block's commands: each kind of command has a check; an unknown one fails."""

    def __init__(self, block: Block, request: pytest.FixtureRequest, cli: Cli, tmp: Path):
        self.block, self.request, self.cli, self.tmp = block, request, cli, tmp
        self.cwd = START_DIR.get(rel(block.file), ROOT)
        self.env: dict[str, str] = {}
        self.served: list[str] = []  # stdout of serving runs, for a console block's output

    def fail(self, cmd: Command, why: str) -> None:
        pytest.fail(f"{self.block.where}: `{cmd.line.strip()}`: {why}")

    def path(self, p: str) -> Path:
        return (self.cwd / p).resolve()

    def run(self, cmd: Command) -> None:
        for name in cmd.env:
            if name.startswith("CONNECTIVLY_") and name not in documented_variables():
                self.fail(cmd, f"{name} is not documented in docs/configuration.md")
        if not cmd.argv:  # a bare assignment
            self.env.update(cmd.env)
            return
        prog = cmd.argv[0]
        handler = {
            "connectivly": self.connectivly, "cargo": self.cargo, "curl": self.curl, "export": self.export,
            "cd": self.cd, "npm": self.npm, "node": self.node,
        }.get(prog)
        if handler is None and re.search(r"(^|/)(python3?|pip3?)$", prog):
            handler = self.python
        if handler is None and "/" in prog and self.path(prog).is_file():
            handler = self.script
        if handler is None:
            self.fail(cmd, f"no check for `{prog}` lines: add one to tests/e2e/test_docs.py (Shell.run)")
        handler(cmd)

    # -- the commands ------------------------------------------------------
    def export(self, cmd: Command) -> None:
        for arg in cmd.argv[1:]:
            if arg == SUBST:  # export $(…): the inner command was checked on its own
                continue
            if "=" not in arg:
                self.fail(cmd, f"export of {arg!r}: expected NAME=value")
            k, v = arg.split("=", 1)
            if k.startswith("CONNECTIVLY_") and k not in documented_variables():
                self.fail(cmd, f"{k} is not documented in docs/configuration.md")
            self.env[k] = v

    def cd(self, cmd: Command) -> None:
        target = self.path(cmd.argv[1])
        if not target.is_dir():
            self.fail(cmd, f"no folder {target}")
        self.cwd = target

    def script(self, cmd: Command) -> None:
        if not os.access(self.path(cmd.argv[0]), os.X_OK):
            self.fail(cmd, f"{cmd.argv[0]} is not executable")

    def connectivly(self, cmd: Command, args: list[str] | None = None) -> None:
        args = list(cmd.argv[1:] if args is None else args)
        env = {**self.env, **cmd.env}
        words, skip = [], False  # the subcommand: the first word that is not a global option or its value
        for a in args:
            if skip:
                skip = False
            elif a in ("--config", "--database-url"):
                skip = True
            elif not a.startswith("-"):
                words.append(a)
        if (not words or words[0] == "serve") and not {"--help", "-h", "--version", "-V"} & set(args):
            self.served.append(self.cli.serve(args, env))
            return
        variants = [args]
        if any(a.startswith("[") for a in args):  # a synopsis: [--flag] parts left out, and all put in
            without, with_all, depth = [], [], 0
            for a in args:
                depth += a.startswith("[")
                word = a.strip("[]")
                if word not in ("", "..."):
                    with_all.append(word)
                    if not depth:
                        without.append(word)
                depth -= a.endswith("]")
            variants = [without, with_all]
        for argv in variants:
            argv = [self.cli.new_client_id() if a == "CLIENT_ID" else PLACEHOLDERS.get(a, a) for a in argv]
            leftover = [a for a in argv if re.fullmatch(r"[A-Z][A-Z_]*", a) or a.startswith("$")]
            if leftover:
                self.fail(cmd, f"placeholder {leftover} has no stand-in: add it to PLACEHOLDERS")
            cp = self.cli.run(argv, env={k: v for k, v in env.items() if k != "CONNECTIVLY_DATABASE_URL"})
            if cp.returncode != 0:
                self.fail(cmd, f"connectivly {' '.join(argv)} exited {cp.returncode}: {cp.stderr.strip()}")
            self.check_output(cmd, cp.stdout)

    def cargo(self, cmd: Command) -> None:
        packages, bins = workspace()
        argv = cmd.argv
        sub = argv[1] if len(argv) > 1 else ""
        if sub in ("run", "build", "test"):
            for flag, known in (("--bin", bins), ("-p", packages), ("--package", packages)):
                for i, a in enumerate(argv):
                    if a == flag and argv[i + 1] not in known:
                        self.fail(cmd, f"{flag} {argv[i + 1]}: the workspace has {sorted(known)}")
            if sub == "run":
                if "--bin" not in argv:
                    self.fail(cmd, "`cargo run` without --bin: say which binary")
                name = argv[argv.index("--bin") + 1]
                if name == "connectivly":  # the program it runs, for real
                    rest = argv[argv.index("--") + 1:] if "--" in argv else []
                    self.connectivly(cmd, rest)
            return
        if sub == "install":
            tools = [a for a in argv[2:] if not a.startswith("-")]
            if not set(tools) <= CARGO_TOOLS:
                self.fail(cmd, f"cargo install {tools}: add it to CARGO_TOOLS if it is meant")
            return
        if sub == "fuzz":
            targets = fuzz_targets()
            before = argv[:argv.index("--")] if "--" in argv else argv
            if not (self.cwd == ROOT / "fuzz" and set(before) & targets):
                self.fail(cmd, f"run it in fuzz/ with one of its targets {sorted(targets)}")
            return
        self.fail(cmd, f"no check for `cargo {sub}`: add one to Shell.cargo")

    def curl(self, cmd: Command) -> None:
        server = self.request.getfixturevalue("server")
        method, headers, data, url = "GET", {}, None, None
        it = iter(cmd.argv[1:])
        for a in it:
            if a.startswith("-X"):
                method = a[2:] or next(it)
            elif a in ("-H", "--header"):
                k, v = next(it).split(":", 1)
                headers[k.strip()] = v.strip()
            elif a in ("-d", "--data", "--data-raw"):
                data = next(it)
                method = "POST" if method == "GET" else method
            elif a.startswith("http"):
                url = a
            else:
                self.fail(cmd, f"no check for the curl option {a!r}: add it to Shell.curl")
        assert url, "curl without a URL"
        b = Browser(server)
        values = {"$API_KEY": server.api_key, "$TOKEN": None}

        def sub(s: str) -> str:
            for var in re.findall(r"\$\{?[A-Za-z_]+\}?", s):
                name = "$" + var.strip("${}")
                if name not in values:
                    self.fail(cmd, f"{var} has no stand-in: add it to Shell.curl")
                if values[name] is None:
                    values[name] = b.start(server.clients[0].client_id, code_challenge=pkce_pair()[1])
                s = s.replace(var, values[name])
            return s.replace("http://localhost:3000", server.issuer)

        r = requests.request(method, sub(url), headers={k: sub(v) for k, v in headers.items()},
                             data=sub(data).encode() if data else None, timeout=15, allow_redirects=False)
        if not 200 <= r.status_code < 300:
            self.fail(cmd, f"the live server answered {r.status_code}: {r.text[:300]}")
        for expected in cmd.expected:
            actual = json.dumps(r.json(), separators=(",", ":"))
            pattern = wildcard(expected.replace(" ", ""), {"http://localhost:3000": re.escape(server.issuer)})
            if not pattern.fullmatch(actual):
                self.fail(cmd, f"documented output {expected} but the server answered {actual}")

    def npm(self, cmd: Command) -> None:
        pkg_file = self.cwd / "package.json"
        if not pkg_file.is_file():
            self.fail(cmd, f"no package.json in {self.cwd}")
        scripts = json.loads(pkg_file.read_text()).get("scripts", {})
        sub, rest = cmd.argv[1], cmd.argv[2:]
        if sub == "ci" and not (self.cwd / "package-lock.json").is_file():
            self.fail(cmd, f"npm ci needs a package-lock.json in {self.cwd}")
        elif sub in ("start", "test") and sub not in scripts:
            self.fail(cmd, f"no {sub!r} script in {pkg_file}")
        elif sub == "run" and rest[0] not in scripts:
            self.fail(cmd, f"no {rest[0]!r} script in {pkg_file}")
        elif sub in ("install", "i"):
            for a in rest:
                if a.startswith((".", "/")) and not self.path(a).exists():
                    self.fail(cmd, f"no {a}")
        elif sub not in ("ci", "start", "test", "run", "install", "i", "pack"):
            self.fail(cmd, f"no check for `npm {sub}`: add one to Shell.npm")

    def node(self, cmd: Command) -> None:
        script = self.path(cmd.argv[1])
        if not script.is_file():
            self.fail(cmd, f"no {script}")
        cp = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=60)
        if cp.returncode != 0:
            self.fail(cmd, cp.stderr)
        if cmd.argv[2:3] == ["create-client"]:
            if not (script.parent / "node_modules").is_dir():
                return  # its dependencies are not installed here; bindings-node/test runs it
            self.create_client(cmd, ["node", str(script), *cmd.argv[2:]])

    def python(self, cmd: Command) -> None:
        argv = cmd.argv[1:]
        if re.search(r"pip3?$", cmd.argv[0]) or argv[:2] == ["-m", "pip"]:
            args = argv[1:] if argv[0] == "install" else argv[3:]
            wanted = {re.split(r"[<>=\[]", line.strip())[0].lower()
                      for line in (ROOT / "tests/requirements.txt").read_text().splitlines() if line.strip()}
            for a in args:
                if a.startswith("-"):
                    continue
                if a.startswith((".", "/")):
                    if not self.path(a).exists():
                        self.fail(cmd, f"no {a}")
                elif a.lower() not in wanted | {"requests", "flask"}:
                    self.fail(cmd, f"pip install {a}: not a package of tests/requirements.txt")
            return
        if argv[:2] == ["-m", "venv"]:
            return
        script = self.path(argv[0])
        if not script.is_file():
            self.fail(cmd, f"no {script}")
        py_compile.compile(str(script), doraise=True, cfile=str(self.tmp / "compiled.pyc"))
        if argv[1:2] == ["create-client"]:
            pytest.importorskip("connectivly")
            self.create_client(cmd, [sys.executable, str(script), *argv[1:]])

    def create_client(self, cmd: Command, argv: list[str]) -> None:
        """An example app's `create-client`, for real, on a temp database: it prints what the block says."""
        self.cli.count += 1
        env = clean_env(CONNECTIVLY_DATABASE_URL=f"sqlite://{self.tmp / f'example-{self.cli.count}.db'}")
        cp = subprocess.run(argv, env=env, cwd=self.cwd, capture_output=True, text=True, timeout=120)
        if cp.returncode != 0:
            self.fail(cmd, f"exited {cp.returncode}: {cp.stderr.strip()[-500:]}")
        if not re.fullmatch(r"CLIENT_ID=cly_ci_\S+\nCLIENT_SECRET=cly_cs_\S+\n", cp.stdout):
            self.fail(cmd, f"printed {cp.stdout!r}")
        self.check_output(cmd, cp.stdout)

    def check_output(self, cmd: Command, stdout: str) -> None:
        lines = stdout.splitlines()
        for expected in cmd.expected:
            if not any(wildcard(expected).fullmatch(line) for line in lines):
                self.fail(cmd, f"documented output {expected!r} is not in {stdout!r}")


def check_banner(block: Block, sample: list[str], served: list[str]) -> None:
    """A console block's output is the real banner: every line in order, secrets and ports aside."""
    assert served, f"{block.where}: the block shows output but runs no server"
    real = [line for line in served[-1].splitlines() if line.strip()]
    shown = [line for line in sample if line.strip()]
    assert len(real) == len(shown), f"{block.where}: the banner has {len(real)} lines, the sample {len(shown)}:\n" + \
        "\n".join(real)
    def norm(line: str) -> str:
        line = re.sub(r"cly_([a-z]+)_[A-Za-z0-9_-]+(?:\.\.\.|…)?", r"cly_\1_<secret>", line)
        return re.sub(r"http://localhost:\d+", "http://localhost:<port>", line)

    for want, got in zip(shown, real):
        assert norm(want) == norm(got), f"{block.where}: the sample says {want!r}, the server prints {got!r}"


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    return Cli(tmp_path_factory.mktemp("docs-cli"))


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_block(block: Block, request: pytest.FixtureRequest, cli: Cli, tmp_path: Path) -> None:
    kind = classify(block)
    if kind is None:
        pytest.fail(f"{block.where}: a ```{block.lang} block that tests/e2e/test_docs.py has no check for; add a "
                    f"check there (classify and test_block) or write it as a kind it knows")
    if kind == "python":
        compile(block.text, block.where, "exec")
        runs = [(h, i) for h, i in COVERED if block.file == ROOT / "README.md" and snippet(h, i) == block.text]
        assert runs, f"{block.where}: a Python block that test_readme.py does not run: add it to COVERED and run it"
    elif kind == "js":
        esm = re.search(r"^\s*(import|export)\b", block.text, re.M) is not None
        src = tmp_path / ("snippet.mjs" if esm else "snippet.cjs")
        src.write_text(block.text)
        if shutil.which("node") is None:
            pytest.skip("node is not installed")
        cp = subprocess.run(["node", "--check", str(src)], capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, f"{block.where}: node --check: {cp.stderr}"
        tests = "".join(p.read_text() for p in (ROOT / "bindings-node/test").glob("*.test.mjs"))
        heading = block.headings[-1].lstrip("# ") if block.headings else ""
        assert heading and heading in tests, f"{block.where}: no bindings-node test runs the block under {heading!r}"
    elif kind == "toml":
        config = tmp_path / "connectivly.toml"
        config.write_text(block.text)
        db = f"sqlite://{tmp_path / 'toml.db'}"
        cp = cli.run(["--config", str(config), "keys", "list", "--database-url", db])
        assert cp.returncode == 0, f"{block.where}: the server refuses it: {cp.stderr}"
        assert re.search(r"\tRS256\t", cp.stdout), cp.stdout
        config.write_text(block.text.split("\n[")[0] + "\nacess_token_ttl = 60\n" +
                          ("\n[" + block.text.split("\n[", 1)[1] if "\n[" in block.text else ""))
        cp = cli.run(["--config", str(config), "keys", "list", "--database-url", db])
        assert cp.returncode != 0 and "access_token_ttl" in cp.stderr, f"the file was not read: {cp.stderr}"
    elif kind == "json":
        body = json.loads(block.text)
        if isinstance(body, dict) and "user" in body:  # an approve body: the host API takes it
            server = request.getfixturevalue("server")
            sid = Browser(server).start(server.clients[0].client_id, code_challenge=pkce_pair()[1])
            r = server.host("POST", f"/api/auth_session/{sid}/approve", json=body)
            assert r.status_code == 200, f"{block.where}: {r.status_code} {r.text}"
    elif kind in ("shell", "console"):
        cmds, output = commands_of(block)
        assert cmds, f"{block.where}: a shell block without a command"
        shell = Shell(block, request, cli, tmp_path)
        for cmd in cmds:
            shell.run(cmd)
        if any(line.strip() for line in output):
            check_banner(block, output, shell.served)
    elif kind == "diagram":
        named = set(re.findall(r"\b([a-z_]+\.rs)\b", block.text)) | set(re.findall(r"\b(store)/", block.text))
        assert named, f"{block.where}: a diagram naming no module; add a check for what it shows"
        for name in named:
            assert list((ROOT / "core/src").rglob(name)), f"{block.where}: names {name}, not in core/src"


def test_every_kind_of_block_is_present() -> None:
    """The classifier sees the documents as they are (a parser bug must not make every check vacuous)."""
    kinds = {classify(b) for b in BLOCKS}
    assert {"python", "js", "toml", "json", "shell", "console", "diagram"} <= kinds, kinds
    assert len([b for b in BLOCKS if b.file.name == "README.md" and b.file.parent == ROOT]) >= 10


def test_referenced_paths_and_links_exist() -> None:
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"`((?:core|server|bindings-python|bindings-node|examples|tests|docs|bench|fuzz)/[^`\s]*)`",
                             text):
            ref = m.group(1)
            if "<" in ref:  # fuzz/corpus/<target>: a pattern
                continue
            path, _, test = ref.partition("::")
            if not ((ROOT / path).exists() or (doc.parent / path).exists()):
                missing.append(f"{rel(doc)}: {ref}")
            elif test and f"def {test}(" not in (ROOT / path).read_text():
                missing.append(f"{rel(doc)}: {ref} (no such test)")
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = m.group(1)
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path) if path else doc
            if not file.exists():
                missing.append(f"{rel(doc)}: link {target}")
            elif anchor and file.suffix == ".md":
                slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                         for h in re.findall(r"^#+ (.*)$", file.read_text(), re.M)}
                if anchor not in slugs:
                    missing.append(f"{rel(doc)}: link {target} (no such heading)")
    assert not missing, "documents name things that do not exist:\n" + "\n".join(missing)


def test_flask_host_example_keeps_its_readme_promise(tmp_path: Path) -> None:
    """examples/flask-host/README.md: reloading the approval URL (or a stale or unknown link) shows the "sign in
    again" page with a 400, not a 500, and the session cookie has a name of its own."""
    pytest.importorskip("flask")
    connectivly = pytest.importorskip("connectivly")
    import importlib.util

    readme = (ROOT / "examples/flask-host/README.md").read_text()
    assert "already used or has expired" in readme and "photohost_session" in readme
    spec = importlib.util.spec_from_file_location("flask_host_example", ROOT / "examples/flask-host/app.py")
    assert spec and spec.loader
    host = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(host)
    provider = connectivly.Provider("http://localhost/oauth", "/connectivly", database=f"sqlite://{tmp_path}/h.db",
                                    scopes={"photos:read": "See your photos"})
    try:
        app = host.create_app(provider)
        web = app.test_client()
        created = provider.create_client("Printer", ["http://localhost:8000/callback"])
        r = web.get("/oauth/oauth2/authorize", query_string={
            "response_type": "code", "client_id": created.client_id, "redirect_uri": "http://localhost:8000/callback",
            "scope": "openid", "state": "s", "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"})
        approval = r.headers["Location"]
        assert approval.startswith("/connectivly?token="), approval
        r = web.post("/login", data={"username": "ann", "password": "wonderland", "next": approval})
        assert r.status_code == 302 and r.headers["Location"] == approval
        assert web.get_cookie("photohost_session") is not None and web.get_cookie("session") is None
        assert web.get(approval).status_code == 302
        for url in (approval, "/connectivly?token=cly_ses_unknown"):
            r = web.get(url)
            assert r.status_code == 400, (url, r.status_code)
            page = r.get_data(as_text=True)
            assert "already used or has expired" in page and "sign in again" in page, page
    finally:
        provider.close()
