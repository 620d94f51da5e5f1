"""Every command in the README and docs/ works exactly as written.

The slow tests run each ```sh block of README.md and docs/*.md, in the order
a reader meets them, in a fresh copy of the repository (the files git tracks
or would track: what a clone gets once the work in progress is committed, so
the test checks the docs being edited) and in a fresh shell: an environment
with no virtual environment on PATH and nothing of the line's settings, only
what pip needs to find its packages. A block is one shell session: its
`export`s hold for the commands after them, and not for the next block.

Most commands run as written and must exit with 0. The few that cannot are
listed below, each with what is done instead and why; a command given
special treatment that the docs no longer hold fails the test, so the lists
cannot go stale. The fast tests keep the docs to one form of every command.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ALL_MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
CALL_SID = re.compile(r"\bCA[0-9a-f]{32}\b")
COMMAND_TIMEOUT = 300

# Commands a person answers. Their answers are given on standard input, and
# the outcome they lead to is checked.
CANCEL_AS_ADA = "1234\n1\n2\n"
PASSWORD = "a long enough password\n" * 2  # asked for twice
STDIN: dict[str, tuple[str, str | None]] = {
    "bash scripts/try.sh": (CANCEL_AS_ADA, "Outcome: cancelled"),
    "bash scripts/try.sh --from +15550100004 --speak": ("2468\n1\n2\n", "Outcome: cancelled"),
    # Grace, by her account number: her first subscription, too expensive, no offer.
    "bash scripts/try.sh --from +15550107777": ("100002#\n5678\n1\n1\n2\n", "Outcome: cancelled"),
    ".venv/bin/flask --app wsgi ivr call": (CANCEL_AS_ADA, "Outcome: "),
    ".venv/bin/flask --app wsgi ivr create-user --email you@example.com --role admin": (
        PASSWORD,
        "you@example.com can sign in",
    ),
    ".venv/bin/flask --app wsgi ivr create-user --email ana@example.com --role support": (
        PASSWORD,
        "ana@example.com can sign in",
    ),
}

# What a command's output must show, where the docs promise it.
EXPECT: dict[str, str] = {
    # The README resets the demo just before, so Ada has her Premium again.
    ".venv/bin/flask --app wsgi ivr call --answer 1234 --answer 1 --answer 2 --json": (
        '"outcome": "cancelled"'
    ),
    ".venv/bin/flask --app wsgi ivr seed-demo --reset": "Reset Ada Lovelace: Premium active.",
}

# Servers run until stopped: each is started on a free port (8000 may be
# taken), must answer GET /healthz with 200, and must stop cleanly on SIGTERM.
SERVERS = {".venv/bin/gunicorn wsgi:app"}

# Commands that talk to a running server: run while gunicorn serves this copy
# of the line, with the documented address replaced by the server's.
NEEDS_SERVER = {".venv/bin/flask --app wsgi ivr call --url http://127.0.0.1:8000"}
SERVER_ADDRESS = "http://127.0.0.1:8000"

# Commands that run for minutes: arguments are added so that they do
# everything but the long part.
#  - the benchmarks take 1 to 6 minutes and a quiet machine: --help checks
#    that the script imports and takes the documented arguments;
#  - the console's screenshots need Chromium and half a minute, and rewrite
#    docs/console/: --help checks that the script and the pages it imports
#    load; tests/browser/test_console_pages.py opens the same pages;
#  - test.sh runs this very test among the others: --collect-only sets up,
#    checks the prompts, lints, checks PostgreSQL when named and collects the
#    tests, without running them. The README's PostgreSQL example needs the
#    server it names (postgresql://postgres@127.0.0.1:5432/test), as CI has.
ADDED_ARGUMENTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\.venv/bin/python bench/\S+\.py\b"), "--help"),
    (re.compile(r"bash scripts/test\.sh$"), "--collect-only -q"),
    (re.compile(r"^\.venv/bin/python scripts/console_screenshots\.py\b"), "--help"),
]

# Commands that need what this test does not run: PostgreSQL with the http
# billing backend, the reference billing service and a job worker, each
# started in the background. The test named runs the same steps against real
# processes (the service on a free port, a worker it starts and stops, a call).
RUN_BY_OTHER_TESTS: dict[str, str] = {
    command: "tests/test_billing_http.py"
    for command in (
        ".venv/bin/python -m ivr.billing.reference_server --port 8081"
        " --db /tmp/billing.sqlite3 --secret s3cret --seed-demo &",
        "createdb -h 127.0.0.1 -U postgres ivr",
        "export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ivr BILLING_BACKEND=http"
        " BILLING_HTTP_URL=http://127.0.0.1:8081 BILLING_HTTP_SECRET=s3cret",
        ".venv/bin/flask --app wsgi ivr worker &",
        ".venv/bin/flask --app wsgi ivr call --from +15550100001 --answer 1234 --answer 1"
        " --answer 2",
    )
}
# Blocks holding one of those are run there, not here (they share one shell).
SEE_OTHER_TESTS = "run by another test"

# Placeholders and values that only make sense on the reader's side.
#  - CA...: the CallSid of a call; the last one an earlier command printed;
#  - the production database on db-host: a SQLite file of this copy (there is
#    no db-host; PostgreSQL is checked by the tests' own pass);
#  - /tmp/big.sqlite3: a file of this copy, not a shared /tmp path;
#  - a million or 100,000 demo calls take minutes: 300 show the command works.
SUBSTITUTIONS = {
    "postgresql://user:pass@db-host/ivr": "sqlite:///{work}/production.sqlite3",
    "postgresql://ivr:secret@db-host/ivr": "sqlite:///{work}/production.sqlite3",
    "sqlite:////tmp/big.sqlite3": "sqlite:///{work}/big.sqlite3",
    "demo-calls --count 1000000": "demo-calls --count 300",
    "demo-calls --count 100000": "demo-calls --count 300",
}


@dataclass(frozen=True)
class Command:
    doc: str
    line: int
    text: str  # continuation lines joined, the comment dropped

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


@dataclass
class Block:
    doc: str
    line: int
    commands: list[Command] = field(default_factory=list)


FENCE = re.compile(r"^(\s*)```\s*(\w*)\s*$")
SHELL_LANGUAGES = {"sh", "bash", "shell"}


def fenced_blocks(path: Path) -> Iterator[tuple[str, int, list[str]]]:
    """(language, line number, lines) of every fenced block, dedented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, language = len(opening.group(1)), opening.group(2)
        start = i + 1
        i = start
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        yield language, start + 1, [line[indent:] for line in lines[start:i]]
        i += 1


def drop_comment(text: str) -> str:
    """Without its trailing comment: from a # that starts a word, outside quotes."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].strip()
    return text.strip()


def shell_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    doc = str(path.relative_to(root))
    blocks = []
    for language, first_line, lines in fenced_blocks(path):
        if language not in SHELL_LANGUAGES:
            continue
        block = Block(doc, first_line)
        pending: list[str] = []
        for number, line in enumerate(lines, start=first_line):
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending.append(line.strip())
            if line.rstrip().endswith("\\"):
                continue
            joined = " ".join(part.rstrip("\\").strip() for part in pending)
            block.commands.append(Command(doc, number - len(pending) + 1, drop_comment(joined)))
            pending = []
        blocks.append(block)
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in DOCS for block in shell_blocks(path)]


# --- one form of every command (fast) --------------------------------------------

BARE_FORMS = re.compile(
    r"(?<![\w/.-])(flask (--app|ivr)\b|gunicorn wsgi:app|python3? bench/|pip install)"
)


def test_the_docs_write_every_command_in_one_form() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in ALL_MARKDOWN
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if BARE_FORMS.search(line)
    ]
    assert bare == [], (
        "Write commands as they run in any shell after scripts/setup.sh: "
        ".venv/bin/flask --app wsgi ivr ..., .venv/bin/gunicorn, .venv/bin/python bench/...,"
        " bash scripts/setup.sh:\n" + "\n".join(bare)
    )


def test_every_command_block_is_a_shell_block_the_docs_test_runs() -> None:
    hidden = []
    for path in ALL_MARKDOWN:
        for language, line, lines in fenced_blocks(path):
            if language in SHELL_LANGUAGES:
                continue
            hidden += [
                f"{path.relative_to(ROOT)}:{line}: ```{language} holds `{text.strip()}`"
                for text in lines
                if text.lstrip().startswith((".venv/bin/", "bash scripts/"))
            ]
        inside = False
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FENCE.match(text):
                inside = not inside
            elif (
                not inside
                and text.startswith("    ")
                and text.strip().startswith((".venv/bin/", "bash scripts/", "export "))
            ):
                hidden.append(f"{path.relative_to(ROOT)}:{number}: indented `{text.strip()}`")
    assert hidden == [], "Put commands in ```sh blocks:\n" + "\n".join(hidden)


def test_the_parser_reads_commands_as_the_shell_does(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n"
        "```sh\n"
        "# a comment line\n"
        "bash scripts/try.sh --from +1555 --speak   # said aloud\n"
        "\n"
        ".venv/bin/flask --app wsgi ivr offers set x \\\n"
        '    --wording-en "a # b" --active\n'
        "```\n"
        "```\n"
        ".venv/bin/flask not a shell block\n"
        "```\n"
        "1. A list item:\n"
        "   ```sh\n"
        "   export A=1       # why\n"
        "   ```\n"
    )
    blocks = [[(c.line, c.text) for c in b.commands] for b in shell_blocks(doc, tmp_path)]
    assert blocks == [
        [
            (4, "bash scripts/try.sh --from +1555 --speak"),
            (6, '.venv/bin/flask --app wsgi ivr offers set x --wording-en "a # b" --active'),
        ],
        [(14, "export A=1")],
    ]


def test_every_special_treatment_names_a_command_the_docs_hold() -> None:
    commands = {c.text for block in all_blocks() for c in block.commands}
    named = [*STDIN, *EXPECT, *SERVERS, *NEEDS_SERVER, *RUN_BY_OTHER_TESTS]
    assert [text for text in named if text not in commands] == []
    for test_file in set(RUN_BY_OTHER_TESTS.values()):
        assert (ROOT / test_file).is_file(), test_file
    for old in SUBSTITUTIONS:
        assert any(old in text for text in commands), old
    for pattern, _ in ADDED_ARGUMENTS:
        assert any(pattern.search(text) for text in commands), pattern.pattern


# --- running them (slow) ----------------------------------------------------------


def fresh_copy(dest: Path) -> Path:
    """The files of the repository as a clone would have them, working-tree edits
    included: tracked and untracked files, without what .gitignore leaves out."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def fresh_environment() -> dict[str, str]:
    """A new login shell's: no virtual environment, none of the line's settings."""
    path = [
        entry
        for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if not (Path(entry).parent / "pyvenv.cfg").exists()  # a virtual environment's bin
    ]
    keep = {"HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "TERM"}
    proxies = {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
    env = {
        name: value
        for name, value in os.environ.items()
        if name in keep | proxies or name.startswith("PIP_")
    }
    env["PATH"] = os.pathsep.join(path)
    return env


@dataclass
class Reader:
    """One reader following the docs in one copy of the repository."""

    copy: Path
    work: Path
    env: dict[str, str]
    last_call_sid: str | None = None
    log: list[str] = field(default_factory=list)

    def run_block(self, block: Block) -> None:
        elsewhere = [c for c in block.commands if c.text in RUN_BY_OTHER_TESTS]
        if elsewhere:
            where = RUN_BY_OTHER_TESTS[elsewhere[0].text]
            self.log.append(f"  --    {block.doc}:{block.line}: {SEE_OTHER_TESTS} ({where})")
            return
        state = self.work / "block-state.sh"
        state.write_text("")  # a fresh shell for every block
        for command in block.commands:
            self.run(command, state)

    def script(self, text: str, state: Path, keep_state: bool = True) -> str:
        lines = [f"source {state}", f"cd {self.copy}", text]
        if keep_state:
            lines += ["status=$?", f"export -p > {state}", "exit $status"]
        return "\n".join(lines) + "\n"

    def prepared(self, command: Command) -> str:
        text = command.text
        if "CA..." in text:
            assert self.last_call_sid, f"{command}: no earlier command printed a CallSid"
            text = text.replace("CA...", self.last_call_sid)
        for old, new in SUBSTITUTIONS.items():
            text = text.replace(old, new.format(work=self.work))
        for pattern, arguments in ADDED_ARGUMENTS:
            if pattern.search(text):
                text = f"{text} {arguments}"
        return text

    def run(self, command: Command, state: Path) -> None:
        text = self.prepared(command)
        began = time.monotonic()
        if command.text in SERVERS:
            self.serve(command, text, state)
        elif command.text in NEEDS_SERVER:
            with self.gunicorn() as url:
                self.check(command, self.execute(text.replace(SERVER_ADDRESS, url), state))
        else:
            answers = STDIN.get(command.text, (None, None))[0]
            self.check(command, self.execute(text, state, answers))
        self.log.append(f"{time.monotonic() - began:5.1f} s  {command}")

    def execute(
        self, text: str, state: Path, answers: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        # A new session has no terminal: interactive questions read standard input.
        return subprocess.run(
            ["bash", "-c", self.script(text, state)],
            cwd=self.copy,
            env=self.env,
            input=answers or "",
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            start_new_session=True,
        )

    def check(self, command: Command, result: subprocess.CompletedProcess[str]) -> None:
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{command}\nexit status {result.returncode}:\n{output}"
        expected = EXPECT.get(command.text) or STDIN.get(command.text, (None, None))[1]
        if expected:
            assert expected in output, f"{command}\nexpected {expected!r} in:\n{output}"
        sids = CALL_SID.findall(output)
        if sids:
            self.last_call_sid = sids[-1]

    def serve(self, command: Command, text: str, state: Path) -> None:
        port = free_port()
        log = self.work / f"server-{port}.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [
                    "bash",
                    "-c",
                    self.script(
                        f"GUNICORN_BIND=127.0.0.1:{port} exec {text}", state, keep_state=False
                    ),
                ],
                cwd=self.copy,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", server, log)
        finally:
            server.send_signal(signal.SIGTERM)
            status = server.wait(timeout=30)
        assert status == 0, f"{command}\nstopped with {status}:\n{log.read_text()}"

    @contextmanager
    def gunicorn(self) -> Iterator[str]:
        """gunicorn serving this copy, in development settings, on a free port."""
        port = free_port()
        log = self.work / f"server-{port}.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [str(self.copy / ".venv/bin/gunicorn"), "wsgi:app"],
                cwd=self.copy,
                env={**self.env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, server, log)
            yield url
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the server at {url} did not become healthy:\n{log.read_text()}")
        time.sleep(0.2)


# The commands run in a copy of their own, whatever database the tests use:
# once is enough, in the SQLite pass.
once = pytest.mark.skipif(
    bool(os.environ.get("IVR_TEST_POSTGRES_URL")),
    reason="the docs' commands do not use the test database: they run in the SQLite pass",
)


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Reader:
    copy = fresh_copy(tmp_path_factory.mktemp("fresh-clone"))
    return Reader(copy, tmp_path_factory.mktemp("reader"), fresh_environment())


@once
@pytest.mark.slow
def test_every_command_in_the_readme_and_docs_works_as_written(reader: Reader) -> None:
    began = time.monotonic()
    try:
        for block in all_blocks():
            reader.run_block(block)
    finally:
        print(f"\n{len(reader.log)} commands in {time.monotonic() - began:.0f} s:")
        print("\n".join(reader.log))


@once
@pytest.mark.slow
def test_try_sh_cancels_adas_premium_every_time(reader: Reader) -> None:
    """Run three times in a row, as a newcomer would: each call cancels Ada's
    Premium, since try.sh resets the demo once she has nothing left to cancel."""
    state = reader.work / "try-state.sh"
    state.write_text("")
    runs = [reader.execute("bash scripts/try.sh", state, CANCEL_AS_ADA) for _ in range(3)]
    declined = reader.execute("bash scripts/try.sh --no-reset", state, CANCEL_AS_ADA)

    for number, run in enumerate(runs, start=1):
        output = run.stdout + run.stderr
        assert run.returncode == 0, output
        assert "Outcome: cancelled" in output, f"run {number}:\n{output}"
    for run in runs[1:]:
        output = run.stdout + run.stderr
        assert "Ada Lovelace has nothing left to cancel" in output
        assert "Reset Ada Lovelace: Premium active." in output
    # Without the reset she has nothing to cancel, only her cancelled Premium to keep
    # (the way back: "1" keeps it): the reset is what made the cancellations work.
    assert "Outcome: reinstated" in declined.stdout + declined.stderr
