"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from ivr import db
from ivr.db import Base, ours


# SQLite's reflection cannot read indexes on expressions (ivr.db.EXPRESSION_INDEXES,
# left out of the comparison); test_day_indexes_are_used checks them instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), db.engine().connect() as conn:
        opts = {"compare_type": True, "include_name": ours}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, Base.metadata) == []


def test_init_db_twice_changes_nothing(app: Flask) -> None:
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["ivr", "init-db"])
        assert result.exit_code == 0, result.output
        assert "newest migration" in result.output


def test_seed_demo_twice_changes_nothing(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ivr", "seed-demo"])
    assert result.exit_code == 0 and "already loaded" in result.output


def test_day_indexes_are_used(app: Flask) -> None:
    """Analytics' two GROUP BY queries read migration 0009's day indexes in
    order: on SQLite the plan names the index and sorts nothing."""
    import datetime as dt

    from sqlalchemy import func, select, text

    from ivr.console.analytics import _day_of, _days_between
    from ivr.db import EXPRESSION_INDEXES
    from ivr.models import Call

    with app.app_context():
        s = db.session()
        conn = s.connection()
        if conn.dialect.name == "sqlite":
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        else:
            names = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'calls'"))
        assert EXPRESSION_INDEXES <= set(names.scalars())
        if conn.dialect.name != "sqlite":
            return
        day = _day_of(s)
        groups = (
            select(day, Call.outcome, Call.reason_code, Call.offer_code, func.count())
            .where(*_days_between(s, dt.date(2026, 3, 1), dt.date(2026, 3, 31)))
            .group_by(day, Call.outcome, Call.reason_code, Call.offer_code)
        )
        sql = str(groups.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "ix_calls_day_groups" in plan and "TEMP B-TREE" not in plan, plan
