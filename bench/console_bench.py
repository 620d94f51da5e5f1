"""How fast the staff console answers with a million calls on record.

Not a test: a script that fills a fresh database with demo calls and prints
the server time (in-process, through Flask's test client, so no network) of
the pages support and operations use most, as the median of several runs:
the calls list in each sort order (first page and the next), searches, one
call's page with its webhook inspector, a customer's page, the analytics
page, and the analytics' daily series on their own. The machine's load
average is printed with the figures.

One call is placed through the simulator before measuring (demo calls have
no webhook records), so the inspector has a real call's requests to show.

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
from ivr.console.analytics import daily_series, read_facts  # noqa: E402
from ivr.console.auth import create_user  # noqa: E402
from ivr.console.demo_calls import write_demo_calls  # noqa: E402
from ivr.console.queries import FIRST_ORDER, SORTS  # noqa: E402
from ivr.demo import seed_demo  # noqa: E402
from ivr.models import Call, User  # noqa: E402
from ivr.simulator import simulate_call  # noqa: E402

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
        phone = recent.from_number
        code = db.session().scalar(
            select(Call.confirmation).where(Call.confirmation.is_not(None)).limit(1)
        )
        db.session().close()
    # A real call (Ada declines the offer and cancels): its page has webhooks to inspect.
    sid = simulate_call(app, ["1234", "1", "2"], from_number="+15550100001").call_sid

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
    results.append(("load average (1, 5, 15 min) before", _load()))

    def page(url: str) -> Callable[[], object]:
        def get() -> object:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response.get_data()

        return get

    inspected = client.get(f"/console/calls/{sid}").get_data(as_text=True)
    webhooks = inspected.split('<a href="#inspector">Webhooks (')[1].split(")")[0]
    assert int(webhooks) > 0, "the simulated call has no webhooks to inspect"
    results.append(("webhooks in the inspected call", webhooks))

    def next_page(url: str) -> str:
        html = client.get(url).get_data(as_text=True)
        return html.split('<a rel="next" href="')[1].split('"')[0].replace("&amp;", "&")

    # Each order's first page, and the page after it (keyset: what page 2 costs).
    pages = []
    for key in SORTS:
        url = f"/console/calls?sort={key}&order={FIRST_ORDER[key]}"
        pages.append((f"calls by {key} ({FIRST_ORDER[key]}), first page", url))
        pages.append((f"calls by {key} ({FIRST_ORDER[key]}), next page", next_page(url)))
    pages += [
        (
            "calls, filtered: outcome=abandoned, language=es-US",
            "/console/calls?outcome=abandoned&language=es-US",
        ),
        (
            "calls, filtered: reason + offer + 7 days",
            f"/console/calls?reason=too_expensive&offer=discount_50_3m&date_from={week}",
        ),
        ("calls, search by phone number", f"/console/calls?q={phone}"),
        ("calls, search by name (Lovelace)", "/console/calls?q=Lovelace"),
        ("calls, search by confirmation code", f"/console/calls?q={code}"),
        ("call page (timeline and webhook inspector)", f"/console/calls/{sid}"),
        ("customer page (Ada Lovelace, account 100001)", "/console/customers/100001"),
        ("analytics, 30 days (the default)", "/console/analytics"),
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

    def series(days: int) -> Callable[[], object]:
        """The daily series of `days` days and the same number before them."""

        def run_series() -> object:
            with app.app_context():
                s = db.session()
                start = today - dt.timedelta(days=2 * days - 1)
                facts = read_facts(s, start, today)
                return daily_series(s, start, today, facts)

        return run_series

    for days in (30, 90):
        results.append(
            (
                f"daily series, {days} days and the {days} before",
                f"{median_ms(series(days), repeat):.1f} ms",
            )
        )
    results.append(("load average (1, 5, 15 min) after", _load()))
    with app.app_context():
        db.engine().dispose()
    return results


def _load() -> str:
    return ", ".join(f"{n:.1f}" for n in os.getloadavg())


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
