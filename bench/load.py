"""Load benchmark: the line under gunicorn on PostgreSQL, against the ceiling of the stack.

    python bench/load.py                     # the full run (about 5 minutes)
    python bench/load.py --quick             # a smoke run (about a minute)
    python bench/load.py --billing http      # the same, with BILLING_BACKEND=http

It creates a PostgreSQL database of its own (on the server --postgres names),
migrates it, seeds the demo data and one synthetic customer per call (each
with one active subscription and PIN 1234), starts gunicorn with
gunicorn.conf.py on 127.0.0.1, and places simulated calls over HTTP with the
call simulator's engine: every request signed as Twilio signs it, every
call a full keypad cancellation (PIN, reason "too expensive", decline the
offer). Then it does the same against bench/bare_app.py (fixed TwiML, no
database) under the same gunicorn settings: the ceiling.

Two load shapes, for both servers:
- max: --callers concurrent callers who answer at once, until --calls calls
  are done (or --duration seconds pass): throughput and errors.
- paced: --seats concurrent calls whose callers think between prompts, so
  that together they send about --rate webhooks a second (a call centre's
  load): latency.

Latency is measured twice: by the client (what Twilio would wait, queueing
included) and by gunicorn (its access log: from request read to response
written). The database is dropped at the end.

With --billing http the line runs with BILLING_BACKEND=http against the
reference billing service (ivr/billing/reference_server.py, a process of its
own with its own SQLite file), which holds the same synthetic customers
(account numbers, phone numbers, one active subscription each); the line's
database keeps only their PINs, keyed by account number, as `ivr
import-pins` leaves them. Every call looks its caller up in billing during
the first webhook, and one job worker (`flask --app wsgi ivr worker`) applies
the cancellations while the calls go on. At the end every cancelled call
must have its change applied in billing or still queued (a job waiting).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.simulator import (  # noqa: E402
    Answer,
    CallSimulator,
    DialAttempt,
    HttpReply,
    HttpTransport,
    Prompt,
    ScriptedCaller,
)

PUBLIC_BASE_URL = "https://line.example.com"
ANSWERS = ("1234", "1", "2")  # PIN, "too expensive", decline the offer
WEBHOOKS_PER_CALL = len(ANSWERS) + 2  # the first request, one per answer, the status callback
FIRST_PHONE = 15552000000  # synthetic customers: +1 555 200 0000 and up


# --- the database -------------------------------------------------------------


@contextmanager
def bench_database(server_url: str, keep: bool) -> Iterator[str]:
    """A database of our own on the server, dropped at the end."""
    import psycopg
    from sqlalchemy import make_url

    admin = make_url(server_url).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    name = f"ivr_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flask_command(database_url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "IVR_ENV": "development"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "ivr", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def add_customers(database_url: str, count: int, subscriptions: bool = True) -> None:
    """One customer per call, each with one active subscription and PIN 1234:
    a subscription can be cancelled only once. Without `subscriptions`, the
    customers' PINs only, by account number (BILLING_BACKEND=http: billing
    has the rest, and the line mirrors it at the call's look-up)."""
    import datetime as dt
    from decimal import Decimal

    from sqlalchemy import create_engine, insert
    from werkzeug.security import generate_password_hash

    from ivr.billing import add_months
    from ivr.demo import PIN_HASH_METHOD
    from ivr.models import Customer, Subscription

    pin_hash = generate_password_hash("1234", method=PIN_HASH_METHOD)
    period_end = add_months(dt.date.today(), 1)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        ids = conn.scalars(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
            [
                {
                    "name": f"Bench Caller {i}" if subscriptions else "",
                    "phone": phone(i) if subscriptions else None,
                    "account_number": account(i),
                    "pin_hash": pin_hash,
                    "language": "en-US",
                }
                for i in range(count)
            ],
        ).all()
        if subscriptions:
            conn.execute(
                insert(Subscription),
                [
                    {
                        "customer_id": customer_id,
                        "plan": "Premium",
                        "price": Decimal("29.99"),
                        "status": "active",
                        "current_period_end": period_end,
                    }
                    for customer_id in ids
                ],
            )
    engine.dispose()


def phone(i: int) -> str:
    return f"+{FIRST_PHONE + i}"


def account(i: int) -> str:
    return f"9{i:07d}"


def outcomes(database_url: str, call_sids: list[str]) -> Counter[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT outcome, count(*) FROM calls WHERE call_sid = ANY(:sids) GROUP BY 1"),
            {"sids": call_sids},
        ).all()
    engine.dispose()
    return Counter({outcome: n for outcome, n in rows})


# --- the servers ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    access_log: Path

    def access_log_size(self) -> int:
        return self.access_log.stat().st_size


@contextmanager
def gunicorn(name: str, app: str, env: dict[str, str], logs: Path) -> Iterator[Server]:
    port = free_port()
    access_log = logs / f"{name}.access.jsonl"
    with access_log.open("wb") as out, (logs / f"{name}.error.jsonl").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
            cwd=ROOT,
            env={**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
            stdout=out,
            stderr=err,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, access_log)
    try:
        wait_healthy(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name}: gunicorn exited; see its error log")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name}: /healthz did not answer within {timeout:g} s")


# --- BILLING_BACKEND=http: the billing service and the worker ---------------------


@dataclass
class BillingService:
    url: str
    secret: str
    db_path: Path
    process: subprocess.Popen[bytes]


def billing_customers(count: int) -> Iterator[Any]:
    """The synthetic customers as billing has them: the same account and
    phone numbers as the line's, one active subscription each."""
    for i in range(count):
        yield (
            account(i),
            f"Bench Caller {i}",
            phone(i),
            "en-US",
            [(f"sub_{account(i)}", "Premium", "29.99", "active")],
        )


@contextmanager
def billing_service(count: int, logs: Path) -> Iterator[BillingService]:
    """The reference billing service on a free port, its SQLite file in a
    temporary folder, seeded with the demo and `count` synthetic customers."""
    from ivr.billing import BillingUnavailable
    from ivr.billing.http import HttpBilling
    from ivr.billing.reference_server import add_customers as add_billing_customers
    from ivr.billing.reference_server import seed_demo

    with tempfile.TemporaryDirectory(prefix="ivr-bench-billing-") as folder:
        db_path = Path(folder) / "billing.sqlite3"
        seed_demo(str(db_path))
        add_billing_customers(str(db_path), billing_customers(count))
        secret = secrets.token_hex(16)
        port = free_port()
        with (logs / "billing.log").open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ivr.billing.reference_server",
                    "--port",
                    str(port),
                    "--db",
                    str(db_path),
                    "--secret",
                    secret,
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = BillingService(f"http://127.0.0.1:{port}", secret, db_path, process)
        try:
            # Ready when a signed look-up finds the last synthetic customer.
            client = HttpBilling(service.url, secret, 2)
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise SystemExit("the billing service exited; see billing.log")
                try:
                    if client.customer(account(count - 1)) is not None:
                        break
                    raise SystemExit("the billing service does not have the customers")
                except BillingUnavailable as exc:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the billing service did not answer: {exc}") from exc
                    time.sleep(0.2)
            yield service
        finally:
            stop(process)


@contextmanager
def job_worker(env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One `flask --app wsgi ivr worker`, as operations start it."""
    with (logs / "worker.log").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "ivr", "worker"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(1)
        if process.poll() is not None:
            raise SystemExit("the job worker exited; see worker.log")
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def billing_changes(database_url: str, call_sids: list[str]) -> dict[str, int]:
    """The calls' cancellations by where they stand in the line's database;
    `lost`: a cancelled call without its change; `unqueued`: a change not yet
    applied without a job waiting to apply it; `unreachable`: calls where the
    look-up in billing failed."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        counts: dict[str, int] = {
            state: n
            for state, n in conn.execute(
                text(
                    "SELECT b.state, count(*) FROM billing_changes b JOIN calls c"
                    " ON c.id = b.call_id WHERE c.call_sid = ANY(:sids) AND b.kind = 'cancel'"
                    " GROUP BY 1"
                ),
                {"sids": call_sids},
            )
        }
        counts["lost"] = conn.scalar(
            text(
                "SELECT count(*) FROM calls c WHERE c.call_sid = ANY(:sids)"
                " AND c.outcome = 'cancelled' AND NOT EXISTS (SELECT 1 FROM billing_changes b"
                " WHERE b.call_id = c.id AND b.kind = 'cancel')"
            ),
            {"sids": call_sids},
        )
        counts["unqueued"] = conn.scalar(
            text(
                "SELECT count(*) FROM billing_changes b JOIN calls c ON c.id = b.call_id"
                " WHERE c.call_sid = ANY(:sids) AND b.state NOT IN ('applied', 'failed')"
                " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j"
                " WHERE j.args->>'change_id' = b.id::text AND j.status IN ('todo', 'doing'))"
            ),
            {"sids": call_sids},
        )
        # All calls' applied cancellations, those that ended in an error included.
        counts["applied_all"] = conn.scalar(
            text("SELECT count(*) FROM billing_changes WHERE kind = 'cancel' AND state = 'applied'")
        )
        counts["unreachable"] = conn.scalar(
            text(
                "SELECT count(DISTINCT c.id) FROM call_events e JOIN calls c ON c.id = e.call_id"
                " WHERE c.call_sid = ANY(:sids) AND e.type = 'billing_unreachable'"
            ),
            {"sids": call_sids},
        )
    engine.dispose()
    return counts


def cancelled_in_billing(service: BillingService) -> tuple[int, int]:
    """Of the synthetic subscriptions: how many billing has cancelled, and how
    many cancellations it applied (more than the first would be a double)."""
    import sqlite3

    conn = sqlite3.connect(service.db_path, timeout=10)
    try:
        cancelled = conn.execute(
            "SELECT count(*) FROM subscriptions WHERE status = 'cancelled' AND account LIKE '9%'"
        ).fetchone()[0]
        applied = conn.execute(
            "SELECT count(*) FROM applied WHERE kind = 'cancel' AND subscription LIKE 'sub_9%'"
        ).fetchone()[0]
    finally:
        conn.close()
    return int(cancelled), int(applied)


def billing_report(
    database_url: str, service: BillingService, call_sids: list[str], drain: float
) -> list[str]:
    """Print where the calls' cancellations stand, at the end of the calls and
    after giving the worker up to `drain` seconds more; the problems found."""
    at_end = billing_changes(database_url, call_sids)
    print(f"\nbilling changes of the line's {len(call_sids)} completed calls:")
    print(f"  when the last call ended: {describe(at_end)}")
    deadline = time.monotonic() + drain
    counts, waited = at_end, 0.0
    started = time.monotonic()
    while counts.get("pending", 0) + counts.get("retrying", 0) and time.monotonic() < deadline:
        time.sleep(1)
        counts = billing_changes(database_url, call_sids)
        waited = time.monotonic() - started
    if counts is not at_end:
        print(f"  after {waited:.0f} s more for the worker: {describe(counts)}")
    cancelled, applied = cancelled_in_billing(service)
    print(
        f"  in billing: {cancelled} synthetic subscriptions cancelled, "
        f"{applied} cancellations applied"
    )
    problems = []
    if counts["lost"]:
        problems.append(f"{counts['lost']} cancelled calls without their billing change")
    if counts["unqueued"]:
        problems.append(f"{counts['unqueued']} changes neither applied nor queued")
    if counts.get("failed"):
        problems.append(f"{counts['failed']} changes refused by billing")
    if counts["unreachable"]:
        problems.append(f"{counts['unreachable']} calls could not reach billing for the look-up")
    if counts["applied_all"] != applied:
        problems.append(
            f"{counts['applied_all']} changes applied by the line, {applied} in billing"
        )
    if applied != cancelled:
        problems.append(f"{applied} cancellations applied in billing for {cancelled} cancelled")
    return problems


def describe(counts: dict[str, int]) -> str:
    states = ("applied", "pending", "retrying", "failed")
    shown = [f"{counts.get(state, 0)} {state}" for state in states]
    shown += [f"{counts[k]} {k}" for k in ("lost", "unqueued", "unreachable") if counts.get(k)]
    return ", ".join(shown)


def server_latencies(server: Server, start: int, window: tuple[float, float]) -> list[float]:
    """Webhook durations (ms) from gunicorn's access log, from byte `start` on,
    of requests answered within the time window."""
    durations = []
    with server.access_log.open("rb") as f:
        f.seek(start)
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("method") != "POST" or "duration_ms" not in line:
                continue
            if window[0] <= dt.datetime.fromisoformat(line["time"]).timestamp() <= window[1]:
                durations.append(float(line["duration_ms"]))
    return durations


# --- the callers ------------------------------------------------------------------


class ThinkingCaller:
    """Answers like ScriptedCaller, after thinking (listening to the prompt)."""

    def __init__(self, answers: tuple[str, ...], think: float, stop: threading.Event):
        self._script = ScriptedCaller(answers)
        self._think = think
        self._stop = stop

    def answer(self, prompt: Prompt) -> Answer:
        self._stop.wait(random.uniform(0.5, 1.5) * self._think)
        return self._script.answer(prompt)

    def agent(self, dial: DialAttempt) -> str:
        return self._script.agent(dial)


class TimedTransport:
    """Notes when each request was sent and how long its answer took."""

    def __init__(self, transport: HttpTransport):
        self._transport = transport
        self._timings: list[tuple[float, float]] = []

    def __call__(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        sent, started = time.time(), time.perf_counter()
        try:
            return self._transport(method, url, form, headers)
        finally:
            self._timings.append((sent, (time.perf_counter() - started) * 1000))

    def take(self) -> list[tuple[float, float]]:
        timings, self._timings = self._timings, []
        return timings


@dataclass
class ClientJob:
    server_url: str
    auth_token: str
    first_customer: int
    calls: int
    threads: int
    duration: float
    think: float = 0.0
    # All client processes start together at this time.
    start_at: float = 0.0


@dataclass
class ClientResult:
    # (when it was sent, latency in ms) of every request
    requests: list[tuple[float, float]] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    webhooks: int = 0
    first_start: float = float("inf")
    last_end: float = 0.0
    # CPU seconds this client process spent placing the calls
    cpu: float = 0.0


def run_clients(job: ClientJob) -> ClientResult:
    """One client process: `threads` callers placing up to `calls` calls."""
    result = ClientResult()
    lock = threading.Lock()
    next_call = iter(range(job.calls))
    stop = threading.Event()
    time.sleep(max(0.0, job.start_at - time.time()))
    deadline = job.start_at + job.duration
    cpu_at_start = time.process_time()

    def take() -> int | None:
        with lock:
            return next(next_call, None)

    def caller_thread(seat: int) -> None:
        if job.think:
            # Seats start spread over one call's length, as a busy line would.
            stop.wait(random.uniform(0, job.think * (len(ANSWERS) + 1)))
        transport = TimedTransport(HttpTransport(job.server_url, PUBLIC_BASE_URL))
        while time.time() < deadline and not stop.is_set():
            n = take()
            if n is None:
                return
            caller = (
                ThinkingCaller(ANSWERS, job.think, stop) if job.think else ScriptedCaller(ANSWERS)
            )
            started = time.time()
            simulator = CallSimulator(
                transport,
                base_url=PUBLIC_BASE_URL,
                auth_token=job.auth_token,
                caller=caller,
                from_number=phone(job.first_customer + n),
                lookup=None,
            )
            transcript = simulator.run()
            ended = time.time()
            requests = transcript.requests()
            failed = [r for r in requests if not 200 <= r["status"] < 300]
            with lock:
                result.first_start = min(result.first_start, started)
                result.last_end = max(result.last_end, ended)
                result.webhooks += len(requests)
                result.requests.extend(transport.take())
                if transcript.error or failed or len(requests) != WEBHOOKS_PER_CALL:
                    why = transcript.error or (
                        f"HTTP {failed[0]['status']} from {failed[0]['url']}"
                        if failed
                        else f"{len(requests)} requests instead of {WEBHOOKS_PER_CALL}"
                    )
                    result.errors.append(f"{transcript.call_sid}: {why}")
                else:
                    result.completed.append(transcript.call_sid)
            if job.think:
                stop.wait(random.uniform(0.5, 1.5) * job.think)

    threads = [threading.Thread(target=caller_thread, args=(i,)) for i in range(job.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.cpu = time.process_time() - cpu_at_start
    return result


# --- where the CPU goes ----------------------------------------------------------------


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system, all threads) the processes have used; 0 off Linux."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_pids(server: Server) -> list[int]:
    """gunicorn's master and its workers."""
    pid = server.process.pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *map(int, children)]


def database_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark's database (on this machine)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("postgres: ") and f" {database} " in cmdline:
            pids.append(int(entry.name))
    return pids


@dataclass
class PhaseResult:
    server: str
    shape: str
    callers: int
    completed: int
    errors: list[str]
    calls_seconds: float
    # Webhooks sent within the measured window, and its length.
    webhooks: int
    seconds: float
    client_ms: list[float]
    server_ms: list[float]
    # CPU seconds of the phase: gunicorn, PostgreSQL's backends, the load generator
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    all_webhooks: int = 0

    def cpu_ms_per_webhook(self, part: str) -> float | None:
        if not self.all_webhooks or part not in self.cpu_seconds:
            return None
        return round(self.cpu_seconds[part] * 1000 / self.all_webhooks, 2)

    @property
    def calls_per_second(self) -> float:
        return self.completed / self.calls_seconds

    @property
    def webhooks_per_second(self) -> float:
        return self.webhooks / self.seconds if self.seconds else 0.0


def run_phase(
    server: Server,
    shape: str,
    auth_token: str,
    first_customer: int,
    calls: int,
    callers: int,
    duration: float,
    think: float,
    processes: int,
    database: str = "",
    also_watch: Mapping[str, list[int]] | None = None,
) -> tuple[PhaseResult, list[str]]:
    """Place the calls from `processes` client processes (one Python process
    cannot drive hundreds of callers without its own lock skewing the figures)."""
    processes = max(1, min(processes, callers))
    start_at = time.time() + 3  # time for the client processes to start
    per_process_calls = -(-calls // processes)
    jobs = [
        ClientJob(
            server.url,
            auth_token,
            first_customer + i * per_process_calls,
            min(per_process_calls, calls - i * per_process_calls),
            callers // processes + (1 if i < callers % processes else 0),
            duration,
            think,
            start_at,
        )
        for i in range(processes)
    ]
    log_start = server.access_log_size()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        # The backends are the pool's, opened at the warm-up and kept.
        watched = {
            "server": server_pids(server),
            "postgres": database_pids(database),
            **(also_watch or {}),
        }
        cpu_before = {name: process_cpu(pids) for name, pids in watched.items()}
        results = pool.map(run_clients, jobs)
        cpu = {name: process_cpu(pids) - cpu_before[name] for name, pids in watched.items()}
    cpu["client"] = sum(r.cpu for r in results)
    time.sleep(0.5)  # the access log is written after the response
    first = min(r.first_start for r in results)
    last = max(r.last_end for r in results)
    # Paced callers start spread over one call's length: measure the steady
    # load after that, until new calls stop.
    ramp = min(think * (len(ANSWERS) + 1), duration / 2)
    window = (start_at + ramp, start_at + duration) if think else (first, last)
    timings = [(sent, ms) for r in results for sent, ms in r.requests]
    in_window = [ms for sent, ms in timings if window[0] <= sent <= window[1]]
    phase = PhaseResult(
        server=server.name,
        shape=shape,
        callers=callers,
        completed=sum(len(r.completed) for r in results),
        errors=[e for r in results for e in r.errors],
        calls_seconds=max(last - first, 1e-9),
        webhooks=len(in_window),
        seconds=max(window[1] - window[0], 1e-9),
        client_ms=in_window,
        server_ms=server_latencies(server, log_start, window),
        cpu_seconds=cpu,
        all_webhooks=sum(r.webhooks for r in results),
    )
    return phase, [sid for r in results for sid in r.completed]


# --- the report --------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def row(r: PhaseResult, ceiling: PhaseResult | None, round_: int = 1) -> dict[str, Any]:
    share = (
        r.calls_per_second / ceiling.calls_per_second
        if ceiling and ceiling.calls_per_second
        else None
    )
    return {
        "server": r.server,
        "shape": r.shape,
        "round": round_,
        "callers": r.callers,
        "calls": r.completed,
        "errors": len(r.errors),
        "seconds": round(r.calls_seconds, 1),
        "calls_per_s": round(r.calls_per_second, 1),
        "webhooks_per_s": round(r.webhooks_per_second, 1),
        **{f"client_p{p}_ms": round(percentile(r.client_ms, p), 1) for p in (50, 95, 99)},
        **{f"server_p{p}_ms": round(percentile(r.server_ms, p), 1) for p in (50, 95, 99)},
        "share_of_ceiling": round(share, 2) if share is not None else None,
        **{f"cpu_ms_{part}": r.cpu_ms_per_webhook(part) for part in CPU_PARTS},
        **{
            f"cpu_ms_{part}": r.cpu_ms_per_webhook(part)
            for part in HTTP_BILLING_PARTS
            if part in r.cpu_seconds
        },
    }


# CPU per webhook, by whom: the app server, the database, the load generator.
CPU_PARTS = ("server", "postgres", "client")
# With --billing http, besides: the billing service and the job worker.
HTTP_BILLING_PARTS = ("billing", "worker")


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = [
        ("server", "server"),
        ("shape", "load"),
        ("round", "round"),
        ("callers", "callers"),
        ("calls", "calls"),
        ("errors", "errors"),
        ("calls_per_s", "calls/s"),
        ("webhooks_per_s", "webhooks/s"),
        ("client_p50_ms", "p50 ms"),
        ("client_p95_ms", "p95 ms"),
        ("client_p99_ms", "p99 ms"),
        ("server_p50_ms", "srv p50"),
        ("server_p95_ms", "srv p95"),
        ("server_p99_ms", "srv p99"),
        ("share_of_ceiling", "of ceiling"),
        ("cpu_ms_server", "cpu app"),
        ("cpu_ms_postgres", "cpu pg"),
        ("cpu_ms_client", "cpu client"),
    ]
    cells = [[h for _, h in columns]] + [
        [
            "" if r[k] is None else f"{r[k]:.0%}" if k == "share_of_ceiling" else str(r[k])
            for k, _ in columns
        ]
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    for i, line in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if j > 1 else c.ljust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server to create the benchmark's database on (default: %(default)s)",
    )
    parser.add_argument("--callers", type=int, default=200, help="max load: concurrent callers")
    parser.add_argument("--calls", type=int, default=2000, help="max load: calls per server")
    parser.add_argument(
        "--duration", type=float, default=120, help="max load: at most this many seconds"
    )
    parser.add_argument("--seats", type=int, default=500, help="paced load: concurrent calls")
    parser.add_argument(
        "--rate", type=float, default=100, help="paced load: webhooks a second, all seats together"
    )
    parser.add_argument(
        "--paced-duration", type=float, default=60, help="paced load: seconds of new calls"
    )
    parser.add_argument(
        "--client-processes", type=int, default=4, help="processes placing the calls"
    )
    parser.add_argument("--warmup", type=int, default=40, help="calls placed before measuring")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="max load: rounds, line and bare in turn; the share of the ceiling is their median",
    )
    parser.add_argument("--only", choices=["max", "paced"], help="run one load shape only")
    parser.add_argument(
        "--billing",
        choices=["embedded", "http"],
        default="embedded",
        help="the line's BILLING_BACKEND: embedded (its own tables), or http against the "
        "reference billing service with one job worker (default: %(default)s)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=120,
        help="--billing http: at most this many seconds after the calls for the worker to "
        "apply the changes still queued (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--logs", metavar="DIR", help="keep gunicorn's logs in DIR")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.duration, args.paced_duration, args.warmup = 300, 30, 30, 20
        args.rounds = 1
        args.seats = min(args.seats, 200)
        args.rate = min(args.rate, 40)

    think = args.seats * WEBHOOKS_PER_CALL / (args.rate * (len(ANSWERS) + 1))
    shapes = [s for s in ("max", "paced") if args.only in (None, s)]
    paced_calls = int(args.seats * (args.paced_duration / (think * (len(ANSWERS) + 1)) + 2))
    needed = args.warmup + (args.calls * args.rounds if "max" in shapes else 0)
    needed += paced_calls if "paced" in shapes else 0
    auth_token = secrets.token_hex(16)
    logs = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    settings = gunicorn_settings()
    print(
        f"gunicorn: {settings['workers']} workers x {settings['threads']} threads "
        f"({settings['worker_class']}), {os.cpu_count()} CPUs; client: "
        f"{args.client_processes} processes"
    )
    print(
        "billing: embedded (the line's own tables, changed in the webhook's transaction)"
        if args.billing == "embedded"
        else "billing: http (BILLING_BACKEND=http: the reference billing service, "
        "ivr/billing/reference_server.py, with its own SQLite file; look-ups during the call, "
        f"deadline BILLING_HTTP_TIMEOUT={os.environ.get('BILLING_HTTP_TIMEOUT', '2')} s; "
        "one job worker applies the cancellations)"
    )

    rows: list[dict[str, Any]] = []
    billing_problems: list[str] = []
    try:
        with bench_database(args.postgres, args.keep_db) as database_url:
            t = time.monotonic()
            flask_command(database_url, "init-db")
            flask_command(database_url, "seed-demo")
            http = args.billing == "http"
            # With http billing the line keeps the PINs; billing has the rest.
            add_customers(database_url, needed, subscriptions=not http)
            print(f"database ready: {needed} synthetic customers ({time.monotonic() - t:.1f} s)")
            env = {
                "DATABASE_URL": database_url,
                "TWILIO_AUTH_TOKEN": auth_token,
                "SECRET_KEY": secrets.token_hex(16),
                "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                "AGENT_NUMBER": "+15550109000",
                "IVR_ENV": "production",
            }
            from sqlalchemy import make_url

            database = make_url(database_url).database or ""
            results: dict[tuple[str, str], list[PhaseResult]] = {}
            line_sids: list[str] = []
            with ExitStack() as running:
                also_watch: dict[str, list[int]] = {}
                if http:
                    t = time.monotonic()
                    service = running.enter_context(billing_service(needed, logs))
                    print(
                        f"billing service ready: {needed} synthetic customers "
                        f"({time.monotonic() - t:.1f} s)"
                    )
                    env.update(
                        {
                            "BILLING_BACKEND": "http",
                            "BILLING_HTTP_URL": service.url,
                            "BILLING_HTTP_SECRET": service.secret,
                        }
                    )
                    worker = running.enter_context(job_worker(env, logs))
                    also_watch = {"billing": [service.process.pid], "worker": [worker.pid]}
                # Both servers run throughout; each is measured in turn, so a
                # machine that slows down or speeds up affects both alike.
                servers = {
                    name: running.enter_context(gunicorn(name, app, env, logs))
                    for name, app in (("line", "wsgi:app"), ("bare", "bench.bare_app:app"))
                }
                # Warm-up: every worker imports, connects and loads its prompts.
                for name, server in servers.items():
                    _, sids = run_phase(server, "warmup", auth_token, 0, args.warmup, 20, 60, 0, 1)
                    if name == "line":
                        line_sids += sids
                customer = args.warmup
                for shape in shapes:
                    calls, callers, duration, pause = (
                        (args.calls, args.callers, args.duration, 0.0)
                        if shape == "max"
                        else (paced_calls, args.seats, args.paced_duration, think)
                    )
                    for round_ in range(1, (args.rounds if shape == "max" else 1) + 1):
                        for name, server in servers.items():
                            phase, sids = run_phase(
                                server,
                                shape,
                                auth_token,
                                customer,
                                calls,
                                callers,
                                duration,
                                pause,
                                args.client_processes,
                                database,
                                also_watch if name == "line" else None,
                            )
                            if name == "line":
                                verify_outcomes(database_url, sids, phase)
                                line_sids += sids
                            results.setdefault((name, shape), []).append(phase)
                            print(
                                f"  {name} {shape} {round_}: {phase.completed} calls, "
                                f"{len(phase.errors)} errors, {phase.calls_seconds:.1f} s"
                            )
                        customer += calls
                if http:
                    billing_problems = billing_report(database_url, service, line_sids, args.drain)
            for shape in shapes:
                for i, (line, bare) in enumerate(
                    zip(results[("line", shape)], results[("bare", shape)], strict=True)
                ):
                    # Under paced load both servers get the same offered load: no share.
                    rows.append(row(line, bare if shape == "max" else None, i + 1))
                    rows.append(row(bare, None, i + 1))
    finally:
        if not args.logs:
            shutil.rmtree(logs, ignore_errors=True)

    print()
    print_table(rows)
    shares = sorted(r["share_of_ceiling"] for r in rows if r["share_of_ceiling"] is not None)
    if shares:
        print(
            f"\nmax load, the line's share of the bare ceiling: median {median(shares):.0%} "
            f"of {len(shares)} round(s) ({', '.join(f'{x:.0%}' for x in shares)})"
        )
    print(
        "cpu columns: ms of CPU per webhook, by the app server (gunicorn), PostgreSQL's "
        "backends and the load generator"
    )
    if args.billing == "http":
        print(
            "billing: http. The line's cpu pg includes the job worker's backends; "
            "besides, ms of CPU per webhook of the billing service and the worker:"
        )
        for r in rows:
            if "cpu_ms_billing" in r:
                print(
                    f"  line {r['shape']} {r['round']}: billing service {r['cpu_ms_billing']}, "
                    f"worker {r['cpu_ms_worker']}"
                )
        for problem in billing_problems:
            print(f"error (billing): {problem}")
    if "paced" in shapes:
        print(
            f"\n(paced load: {args.seats} concurrent calls, callers think {think:.1f} s on "
            f"average before each answer, for about {args.rate:g} webhooks/s)"
        )
    for (name, shape), phases in results.items():
        for phase in phases:
            for error in phase.errors[:5]:
                print(f"error ({name} {shape}): {error}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "settings": {**settings, "billing": args.billing},
                    "rows": rows,
                    "shares": shares,
                    "billing_problems": billing_problems,
                },
                indent=2,
            )
        )
    return 1 if any(r["errors"] for r in rows) or billing_problems else 0


def verify_outcomes(database_url: str, call_sids: list[str], phase: PhaseResult) -> None:
    """Every call the simulator finished must be on record as cancelled."""
    found = outcomes(database_url, call_sids)
    wrong = len(call_sids) - found.get("cancelled", 0)
    if wrong:
        phase.errors.append(f"{wrong} calls not on record as cancelled: {dict(found)}")
        phase.completed -= wrong


def gunicorn_settings() -> dict[str, Any]:
    """What gunicorn.conf.py gives, read in a child so its side effects stay there."""
    code = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "c['on_exit'](None); "
        "print(json.dumps({k: c[k] for k in ('workers', 'threads', 'worker_class', 'timeout')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


if __name__ == "__main__":
    sys.exit(main())
