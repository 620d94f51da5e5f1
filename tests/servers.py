"""Real servers for the tests that need them: gunicorn with gunicorn.conf.py,
on a free port on 127.0.0.1, against the test run's database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conftest import AUTH_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def gunicorn_command(bind: str) -> list[str]:
    """The line under gunicorn, as production starts it (gunicorn.conf.py)."""
    return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app", "--bind", bind]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def start_server(database_url: str, log: Path, port: int | None = None, **settings: str) -> Server:
    """Start gunicorn (2 workers, 2 threads) with the test secrets and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    env.pop("PUBLIC_BASE_URL", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "test-secret-key",
            "AGENT_NUMBER": "+15550109000",
            "IVR_ENV": "test",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "2",
            "GUNICORN_ACCESS_LOG": "off",
            **settings,
        }
    )
    port = port or free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            gunicorn_command(f"127.0.0.1:{port}"),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


def wait_healthy(server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not become healthy:\n" + server.log.read_text())
        time.sleep(0.1)


@contextmanager
def servers_on_one_database(
    database_url: str, logs: Path, count: int = 2, **settings: str
) -> Iterator[list[Server]]:
    """`count` gunicorn servers on the same database, healthy, stopped after."""
    started = [
        start_server(database_url, logs / f"server-{i}.log", **settings)
        for i in range(1, count + 1)
    ]
    try:
        for server in started:
            wait_healthy(server)
        yield started
    finally:
        for server in started:
            server.stop()
