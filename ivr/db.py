"""The database: one engine per app, one session per request or command.

The request (or CLI command) owns the transaction: models and services
never commit; the edge that called them does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import Flask, current_app, g
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger("ivr.db")
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Indexes on an expression written differently for each database (the UTC
# day of calls.started_at): migration 0009 makes them, the models cannot
# describe them, so comparing the models with the database leaves them out.
EXPRESSION_INDEXES = frozenset({"ix_calls_day_groups", "ix_calls_day_lengths"})


def ours(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """Whether Alembic compares a table or an index with the models: the job
    engine's tables (procrastinate_*) are procrastinate's own, applied by
    `ivr init-db` (ivr/billing/schema.py); EXPRESSION_INDEXES are migration 0009's."""
    if type_ == "index" and name in EXPRESSION_INDEXES:
        return False
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def make_engine(
    url: str, pool_size: int = 5, max_overflow: int = 5, ping_after_idle: float = 10.0
) -> Engine:
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
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=2,
        # Nothing may outlast Twilio's 15 s: a stuck query or lock wait fails
        # fast, and the caller hears the apology with a way forward. The
        # server ends a statement or lock wait; the client gives up on a
        # connect, on unacknowledged data (tcp_user_timeout) and on a silent
        # peer (keepalives). A server that accepts a query and then says
        # nothing is caught by the webhook's deadline (`transaction`).
        connect_args={
            "connect_timeout": 3,
            "tcp_user_timeout": 3000,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "options": "-c statement_timeout=3000 -c lock_timeout=2000",
        },
    )
    _ping_idle_connections(engine, ping_after_idle)
    return engine


def _ping_idle_connections(engine: Engine, after_seconds: float) -> None:
    """Check a pooled connection with a round trip before use, only if it sat
    idle longer than `after_seconds` (a database restart, a failover or a
    firewall may have dropped it meanwhile). A busy line reuses connections
    within milliseconds and pays no round trip; a connection dropped while
    busy is caught by `transaction` below, which tries once more."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= after_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool replaces the connection (up to three tries) and goes on.
            raise DisconnectionError("a pooled connection was dropped while idle") from exc


def init_app(app: Flask) -> None:
    engine = make_engine(
        app.config["DATABASE_URL"],
        int(app.config["DB_POOL_SIZE"]),
        int(app.config["DB_MAX_OVERFLOW"]),
        float(app.config["DB_PING_AFTER_IDLE"]),
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


class DeadlinePassed(Exception):
    """The work did not finish in time: its connection was cut, so the
    database rolled the transaction back."""


class CommitInDoubt(Exception):
    """The commit was sent but not confirmed: it may or may not have been made."""


class _Watchdog:
    """Cuts a connection's socket when the deadline passes. The server then
    rolls the transaction back, and the thread waiting on the socket gets an
    error at once, whatever the server (or the network) is doing."""

    def __init__(self, dbapi_connection: object, seconds: float):
        self.fired = False
        self._fd = _socket_fd(dbapi_connection)
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        if self._fd is not None:
            self._timer.start()

    def _cut(self) -> None:
        with self._lock:
            if self._done or self._fd is None:
                return
            self.fired = True
            try:
                # A duplicate of the descriptor: shutting it down shuts the
                # connection's socket; closing it leaves the descriptor to psycopg.
                with socket.socket(fileno=os.dup(self._fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def _socket_fd(dbapi_connection: object) -> int | None:
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None or getattr(dbapi_connection, "pgconn", None) is None:
        return None  # SQLite: a file, with its own busy timeout
    try:
        return int(fileno())
    except Exception:  # noqa: BLE001 - a closed connection has no socket to cut
        return None


def transaction(work: Callable[[Session], T], deadline: float | None = None) -> T:
    """Run `work` in the request's session as one write transaction
    (`begin_for_write`), and commit.

    With a `deadline` (seconds, PostgreSQL), a transaction still running
    then is cut off and rolled back: DeadlinePassed, and no retry. A commit
    that fails is CommitInDoubt: the caller must not be told nothing changed.

    If the database dropped the connection under it (a restart, a failover),
    the work runs once more on a new connection. That is safe for the voice
    webhooks: if the first try did commit, the second is recognised as a
    repeated request and given the same answer (docs/decisions/0002). A
    database that is down fails at once, for the caller's apology.
    """
    ends = time.monotonic() + deadline if deadline is not None else None
    for attempt in (1, 2):
        s = session()
        watchdog: _Watchdog | None = None
        committing = False
        try:
            begin_for_write(s)
            if ends is not None:
                remaining = ends - time.monotonic()
                if remaining <= 0:
                    raise DeadlinePassed("no time left for the database")
                raw = s.connection().connection.dbapi_connection
                watchdog = _Watchdog(raw, remaining)
            result = work(s)
            committing = True
            s.commit()
            return result
        except DBAPIError as exc:
            if committing:
                raise CommitInDoubt(str(exc)) from exc
            if watchdog is not None and watchdog.fired:
                raise DeadlinePassed(f"the database took longer than {deadline} s") from exc
            if attempt == 2 or not exc.connection_invalidated:
                raise
            log.warning("the database dropped a connection; trying once more on a new one")
            discard_session()
        finally:
            if watchdog is not None:
                watchdog.stop()
    raise AssertionError("unreachable")


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
