"""Alembic environment. Run through `flask --app wsgi ivr init-db`, which
passes the app's engine; plain `alembic -c db/alembic.ini upgrade head`
builds the app from the environment (DATABASE_URL)."""

from __future__ import annotations

from alembic import context

from ivr import models  # noqa: F401  (registers the tables on Base.metadata)
from ivr.db import Base, ours

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from ivr import create_app, db

    app = create_app()
    with app.app_context(), db.engine().begin() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=ours,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run flask --app wsgi ivr init-db")
run_migrations_online()
