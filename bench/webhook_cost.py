"""What one webhook costs: CPU time and SQL statements, serially, in one process.

    python bench/webhook_cost.py                   # 300 keypad cancellations on PostgreSQL
    python bench/webhook_cost.py --calls 1000 --profile    # and where the time goes (cProfile)
    python bench/webhook_cost.py --sqlite          # on a SQLite file instead
    python bench/webhook_cost.py --speech          # the same call in words (the understanding runs)

No HTTP and no concurrency: each call is placed by the simulator through
Flask's test client, so the figures are the app's own work per webhook (the
request handling, the flow, the database round trips) without queueing. The
simulator's own work (signing, parsing the TwiML) is measured apart and
taken out. bench/load.py measures the same line under gunicorn and load.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load import (  # noqa: E402  (bench/ is on the path: this script's folder)
    ANSWERS,
    PUBLIC_BASE_URL,
    add_customers,
    bench_database,
    flask_command,
    outcomes,
    phone,
)

from ivr.simulator import CallSimulator, FlaskTransport, ScriptedCaller  # noqa: E402

# The same cancellation as ANSWERS with the reason and the decline in words.
SPOKEN = ("1234", "honestly thirty bucks a month is just too much for me", "no thanks")


class Counted:
    """Wraps the transport: time spent in the app, per webhook."""

    def __init__(self, transport: FlaskTransport):
        self._transport = transport
        self.webhooks = 0
        self.cpu = 0.0
        self.wall = 0.0

    def __call__(self, method, url, form, headers):  # type: ignore[no-untyped-def]
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return self._transport(method, url, form, headers)
        finally:
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall
            self.webhooks += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("IVR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server to create the benchmark's own database on",
    )
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument(
        "--speech",
        action="store_true",
        help="the reason and the offer's answer in words, so the trained understanding runs",
    )
    args = parser.parse_args()

    total = args.warmup + args.calls
    with ExitStack() as stack:
        if args.sqlite:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-cost-"))
            database_url = f"sqlite:///{folder}/line.sqlite3"
        else:
            database_url = stack.enter_context(bench_database(args.postgres, keep=False))
        flask_command(database_url, "init-db")
        flask_command(database_url, "seed-demo")
        add_customers(database_url, total)
        measure(database_url, args)


def measure(database_url: str, args: argparse.Namespace) -> None:
    from sqlalchemy import event

    from ivr import create_app, db

    token = "bench-" + os.urandom(8).hex()
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TWILIO_AUTH_TOKEN": token,
            "SECRET_KEY": os.urandom(16).hex(),
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "IVR_ENV": "production",
        }
    )
    statements: Counter[str] = Counter()
    with app.app_context():
        engine = db.engine()

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements[statement.split(None, 1)[0].upper()] += 1

    call_sids: list[str] = []

    def place(i: int, transport: Counted) -> None:
        transcript = CallSimulator(
            transport,
            base_url=PUBLIC_BASE_URL,
            auth_token=token,
            caller=ScriptedCaller(SPOKEN if args.speech else ANSWERS),
            from_number=phone(i),
        ).run()
        if not transcript.ok:
            raise SystemExit(f"call {i} failed: {transcript.error}")
        call_sids.append(transcript.call_sid)

    warm = Counted(FlaskTransport(app, PUBLIC_BASE_URL))
    for i in range(args.warmup):
        place(i, warm)

    statements.clear()
    counted = Counted(FlaskTransport(app, PUBLIC_BASE_URL))
    profiler = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(args.warmup, args.warmup + args.calls):
        place(i, counted)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall

    n = counted.webhooks
    if database_url.startswith("postgresql"):
        ended = outcomes(database_url, call_sids)
        if ended != {"cancelled": len(call_sids)}:
            raise SystemExit(f"not every call was cancelled: {dict(ended)}")
    kind = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    how = "spoken" if args.speech else "keypad"
    print(f"{args.calls} {how} cancellations on {kind}, {n} webhooks, serially in one process")
    print(
        f"  app, per webhook:      {counted.cpu / n * 1000:6.2f} ms CPU, "
        f"{counted.wall / n * 1000:6.2f} ms wall (CPU + waiting on the database)"
    )
    print(
        f"  simulator, per webhook: {(cpu - counted.cpu) / n * 1000:5.2f} ms CPU "
        "(signing, parsing TwiML; not the app's)"
    )
    print(f"  webhooks a second, one thread: {n / counted.wall:6.0f}")
    print(
        f"  SQL statements per webhook: {sum(statements.values()) / n:.2f}  "
        + ", ".join(f"{k} {v / n:.2f}" for k, v in statements.most_common())
    )
    if profiler:
        print()
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(os.environ.get("IVR_PROFILE_FILTER", ""), 60)
        if os.environ.get("IVR_PROFILE_CALLEES"):
            stats.print_callees(os.environ["IVR_PROFILE_CALLEES"])


if __name__ == "__main__":
    main()
