"""How fast the staff console answers with a million calls on record.

Not a test: a script that fills a fresh database with demo calls and prints
the server time (in-process, through Flask's test client, so no network) of
the pages support and operations use most, as the median of several runs.

    .venv/bin/python bench/console_bench.py                       # SQLite, 1,000,000 calls
    .venv/bin/python bench/console_bench.py --count 100000
    .venv/bin/python bench/console_bench.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

With --postgres it creates a database of its own on that server and drops it afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, make_url, select  # noqa: E402

from ivr import create_app, db  # noqa: E402
from ivr.cli import upgrade_database  # noqa: E402
from ivr.console.auth import create_user  # noqa: E402
from ivr.console.demo_calls import write_demo_calls  # noqa: E402
from ivr.demo import seed_demo  # noqa: E402
from ivr.models import Call, User  # noqa: E402

PASSWORD = "benchmark password"


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="console-bench-") as folder:
        yield "sqlite:///" + str(Path(folder) / "bench.sqlite3")


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    import psycopg

    admin = make_url(server).set(drivername="postgresql")
    name = f"console_bench_{uuid.uuid4().hex[:8]}"
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the caches once, as a running server would have them
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def run(
    database_url: str, count: int, repeat: int, prompts_dir: str | None, fill: bool = True
) -> list[tuple[str, str]]:
    config = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "benchmark",
        "TWILIO_AUTH_TOKEN": "benchmark",
        "IVR_ENV": "test",
    }
    if prompts_dir:
        config["VOICE_PROMPTS_DIR"] = prompts_dir
    app = create_app(config)
    results: list[tuple[str, str]] = []
    with app.app_context():
        upgrade_database()
        s = db.session()
        seed_demo(s, app.config["VOICE_PROMPTS_DIR"])
        if s.scalar(select(User.id).where(User.email == "bench@example.com")) is None:
            create_user(s, "bench@example.com", "admin", PASSWORD)
        s.commit()
        began = time.perf_counter()
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            if done % 100_000 == 0 or done == count:
                print(f"  {done:>9,} calls, {time.perf_counter() - began:6.1f} s", file=sys.stderr)

        if fill:
            write_demo_calls(db.engine(), count, app.config["VOICE_PROMPTS_DIR"], progress=progress)
            results.append(
                (f"demo-calls --count {count:,}", f"{time.perf_counter() - began:.0f} s")
            )
        total = db.session().scalar(select(func.count()).select_from(Call))
        results.append(("calls in the database", f"{total:,}"))
        if db.engine().dialect.name == "postgresql":
            with db.engine().connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        recent = (
            db.session()
            .scalars(select(Call).order_by(Call.started_at.desc(), Call.id.desc()).limit(1))
            .one()
        )
        sid, phone = recent.call_sid, recent.from_number
        db.session().close()

    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf_token"] = "bench"
    signed = client.post(
        "/console/login",
        data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": "bench"},
    )
    assert signed.status_code == 302, signed.status_code
    today = dt.datetime.now(dt.UTC).date()
    ninety = (today - dt.timedelta(days=89)).isoformat()
    week = (today - dt.timedelta(days=6)).isoformat()

    def page(url: str) -> Callable[[], object]:
        def get() -> object:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response.get_data()

        return get

    # One page further down: the second page costs what the first does (keyset).
    first = client.get("/console/calls").get_data(as_text=True)
    older = first.split('<a rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    pages = [
        ("calls, first page", "/console/calls"),
        ("calls, next page (keyset)", older),
        (
            "calls, filtered: outcome=abandoned, language=es-US",
            "/console/calls?outcome=abandoned&language=es-US",
        ),
        (
            "calls, filtered: reason + offer + 7 days",
            f"/console/calls?reason=too_expensive&offer=discount_50_3m&date_from={week}",
        ),
        ("calls, search by phone number", f"/console/calls?q={phone}"),
        ("call page (timeline)", f"/console/calls/{sid}"),
        (
            "analytics, 90 days",
            f"/console/analytics?date_from={ninety}&date_to={today.isoformat()}",
        ),
        (
            "analytics, 7 days",
            f"/console/analytics?date_from={week}",
        ),
        # The newest 5,000 answers at the reason and yes/no questions, grouped.
        ("teach: what callers said, not placed", "/console/teach"),
        ("teach: filtered, es-US reason", "/console/teach?lang=es-US&step=reason"),
    ]
    for name, url in pages:
        results.append((name, f"{median_ms(page(url), repeat):.1f} ms"))
    with app.app_context():
        db.engine().dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9, help="runs per page; the median is shown")
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL server")
    parser.add_argument("--prompts", metavar="DIR", help="VOICE_PROMPTS_DIR, if not the default")
    parser.add_argument(
        "--existing",
        metavar="URL",
        help="measure this already filled database (migrated first) instead of a new one",
    )
    args = parser.parse_args()
    prompts = args.prompts or os.environ.get("VOICE_PROMPTS_DIR")
    if args.existing:
        results = run(args.existing, args.count, args.repeat, prompts, fill=False)
        print(f"\n{args.existing} (median of {args.repeat} runs, server time)\n")
        print("| what | time |\n|---|---|")
        for name, value in results:
            print(f"| {name} | {value} |")
        return
    targets = [("SQLite", sqlite_database())]
    if args.postgres:
        targets.append(("PostgreSQL", postgres_database(args.postgres)))
    for label, database in targets:
        print(f"{label}: writing {args.count:,} calls ...", file=sys.stderr)
        with database as url:
            results = run(url, args.count, args.repeat, prompts)
        print(f"\n{label}, {args.count:,} calls (median of {args.repeat} runs, server time)\n")
        print("| what | time |\n|---|---|")
        for name, value in results:
            print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
