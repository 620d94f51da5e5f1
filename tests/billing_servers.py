"""Real processes for the http billing tests: the reference billing service
(ivr/billing/reference_server.py) and the line's job worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import AUTH_TOKEN
from servers import ROOT, free_port

BILLING_SECRET = "test-billing-secret-" + "0" * 12


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process dies at once, mid-job, without cleaning up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class BillingService(Process):
    url: str

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_admin/" + path, data=data)
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read())

    def faults(self, **faults: Any) -> None:
        self.admin("faults", {"mode": "ok", "delay": 0, "scope": "all", **faults})

    def subscription(self, sub_id: str) -> dict[str, Any]:
        return next(s for s in self.admin("state")["subscriptions"] if s["id"] == sub_id)

    def applied(self, sub_id: str) -> list[dict[str, Any]]:
        return [a for a in self.admin("state")["applied"] if a["subscription"] == sub_id]


def start_billing_service(tmp: Path) -> BillingService:
    port = free_port()
    log = tmp / "billing.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ivr.billing.reference_server",
                "--port",
                str(port),
                "--db",
                str(tmp / "billing.sqlite3"),
                "--secret",
                BILLING_SECRET,
                "--seed-demo",
                "--admin",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    service = BillingService(process, log, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 20
    while True:
        try:
            service.admin("state")
            return service
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("billing service did not start:\n" + log.read_text()) from None
            time.sleep(0.1)


def start_worker(database_url: str, log: Path, settings: dict[str, str]) -> Process:
    """`flask --app wsgi ivr worker`, as operations start it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "test-secret-key",
            "IVR_ENV": "test",
            **settings,
        }
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "ivr", "worker", "--concurrency", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Process(process, log)


def wait_for(check, timeout: float = 30, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s")
        time.sleep(every)
