"""The line over real HTTP: gunicorn serves it, the simulator calls it with
signed requests, on the same database the tests use (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AUTH_TOKEN
from flask import Flask

from ivr.simulator import CallSimulator, HttpTransport, ScriptedCaller, record_lookup

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": migrated,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SECRET_KEY": "test-secret-key",
        "AGENT_NUMBER": "+15550109000",
        "IVR_ENV": "test",
    }
    env.pop("PUBLIC_BASE_URL", None)
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "2",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/voice/incoming", timeout=1)
            except urllib.error.HTTPError:
                break  # answering (405 for GET): up
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start:\n" + log.read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


SCENARIOS = [
    ("+15550100001", ["1234", "1", "2"], "answers", "cancelled"),
    ("+15550100001", ["one two three four", "I never use it", "yes"], "answers", "saved"),
    ("+15550100002", ["5678", "streaming basic", "9"], "answers", "cancelled"),
    ("+15550100003", ["4321"], "answers", "no_subscription"),
    ("+15550100004", ["2468", "es muy caro", "no gracias"], "answers", "cancelled"),
    ("+15550107777", ["100001#", "1234", "5"], "answers", "cancelled"),
    ("+15550100001", ["1111", "2222", "3333", ""], "answers", "unverified"),
    ("+15550100001", ["1234", "representative"], "answers", "agent"),
    ("+15550100001", ["0", "1"], "no-answer", "callback"),
    ("+15550100001", ["1234", "", "", "", ""], "answers", "abandoned"),
    ("+15550100001", ["1234", "1", "hangup"], "answers", "abandoned"),
]


@pytest.mark.parametrize("caller, answers, agent, outcome", SCENARIOS)
def test_caller_paths_over_http(
    app: Flask, server: str, caller: str, answers: list[str], agent: str, outcome: str
) -> None:
    t = CallSimulator(
        HttpTransport(server),
        base_url=server,
        auth_token=AUTH_TOKEN,
        caller=ScriptedCaller(answers, agent),
        from_number=caller,
        lookup=record_lookup(app),
    ).run()
    assert t.ok, t.error
    assert t.outcome == outcome
    assert all(r["status"] == 200 for r in t.requests())
