"""The database: one engine per app, one session per request or command.

The request (or CLI command) owns the transaction: models and services
never commit; the edge that called them does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 8})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # We emit BEGIN ourselves (below), so a webhook can take the write
            # lock up front instead of failing to upgrade a read lock later.
            dbapi_connection.isolation_level = None
            # WAL lets readers (the console) work while a webhook writes;
            # foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN " + conn.get_execution_options().get("sqlite_begin", ""))

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_timeout=5,
        # Nothing may outlast Twilio's 15 s: a stuck query or lock wait fails
        # fast, and the caller hears the apology with a way forward.
        connect_args={
            "connect_timeout": 5,
            "options": "-c statement_timeout=5000 -c lock_timeout=3000",
        },
    )


def init_app(app: Flask) -> None:
    engine = make_engine(
        app.config["DATABASE_URL"],
        int(app.config["DB_POOL_SIZE"]),
        int(app.config["DB_MAX_OVERFLOW"]),
    )
    app.extensions["ivr.engine"] = engine
    app.extensions["ivr.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["ivr.engine"]  # type: ignore[no-any-return]


def session() -> Session:
    """The session of the current request or command (created on first use)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["ivr.sessionmaker"]()
    return g.db_session  # type: ignore[no-any-return]


def begin_for_write(s: Session) -> None:
    """Start the session's transaction as a writer.

    On SQLite this is BEGIN IMMEDIATE: concurrent webhooks queue for the
    write lock instead of failing mid-transaction. PostgreSQL locks rows
    (SELECT ... FOR UPDATE) and ignores the option.
    """
    s.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


@contextmanager
def new_session() -> Iterator[Session]:
    """A session of its own, for work outside the request's transaction."""
    s: Session = current_app.extensions["ivr.sessionmaker"]()
    try:
        yield s
    finally:
        s.close()


def discard_session() -> None:
    """Throw away the request's session after a failure (its connection may be dead)."""
    s = g.pop("db_session", None)
    if s is not None:
        try:
            s.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; closing is what matters
            pass
        s.close()


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()
