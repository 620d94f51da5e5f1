"""scripts/test.sh names a wrong IVR_TEST_POSTGRES_URL precisely, and before
the SQLite pass rather than minutes after it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from servers import free_port
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent


def check_postgres(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/check_postgres.py"],
        cwd=ROOT,
        env={**os.environ, "IVR_TEST_POSTGRES_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_server_nobody_listens_on_is_unreachable() -> None:
    port = free_port()

    result = check_postgres(f"postgresql://postgres@127.0.0.1:{port}/test")

    assert result.returncode == 1
    assert result.stderr.startswith(f"PostgreSQL server unreachable at 127.0.0.1:{port}: ")


def test_a_database_that_does_not_exist_is_named() -> None:
    server = os.environ.get("IVR_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("needs a PostgreSQL server: runs in the PostgreSQL pass")
    missing = f"ivr_missing_{uuid.uuid4().hex[:8]}"

    result = check_postgres(make_url(server).set(database=missing).render_as_string(False))

    assert result.returncode == 1
    assert result.stderr.startswith(f'Database "{missing}" does not exist on the PostgreSQL server')
    assert f" {missing}).\n" in result.stderr  # in the createdb command it suggests
    assert check_postgres(server).returncode == 0


@pytest.mark.slow
def test_test_sh_stops_at_a_wrong_postgres_url_before_any_test() -> None:
    port = free_port()
    env = {**os.environ, "IVR_TEST_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{port}/test"}

    result = subprocess.run(
        ["bash", "scripts/test.sh", "tests/test_test_setup.py"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"PostgreSQL server unreachable at 127.0.0.1:{port}" in result.stderr
    assert "== prompts check" not in result.stdout
    assert "== tests on SQLite" not in result.stdout
