"""The line over real HTTP: gunicorn serves it, the simulator calls it with
signed requests, on the same database the tests use (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import AUTH_TOKEN
from flask import Flask
from servers import start_server, wait_healthy

from ivr.simulator import CallSimulator, HttpTransport, ScriptedCaller, record_lookup

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    started = start_server(migrated, tmp_path_factory.mktemp("gunicorn") / "server.log")
    try:
        wait_healthy(started)
        yield started.url
    finally:
        started.stop()


SCENARIOS = [
    ("+15550100001", ["1234", "1", "2"], "answers", "cancelled"),
    ("+15550100001", ["one two three four", "I never use it", "yes"], "answers", "saved"),
    ("+15550100002", ["5678", "streaming basic", "9", "1"], "answers", "cancelled"),
    ("+15550100003", ["4321"], "answers", "no_subscription"),
    ("+15550100004", ["2468", "es muy caro", "no gracias"], "answers", "cancelled"),
    ("+15550107777", ["100001#", "1234", "5", "1"], "answers", "cancelled"),
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
