"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from ivr import db
from ivr.db import Base, ours


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
