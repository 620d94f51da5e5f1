"""Connections the database drops (a restart, a failover, a firewall's idle
timeout) must not cost a caller their call. PostgreSQL only: it is where a
server can end a connection under the app."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Twilio, another_worker
from flask import Flask
from sqlalchemy import make_url
from test_voice import action_of, said, twiml

from ivr import db

pytestmark = pytest.mark.skipif(
    not os.environ.get("IVR_TEST_POSTGRES_URL"),
    reason="the PostgreSQL pass only (IVR_TEST_POSTGRES_URL)",
)


# A pool holding a single connection, so we know which one the worker uses.
ONE_CONNECTION = {"DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0}


@pytest.fixture
def worker(app: Flask, migrated: str, tmp_path: Path) -> Iterator[Flask]:
    with another_worker(migrated, tmp_path, **ONE_CONNECTION) as worker:
        yield worker


def drop_pooled_connection(worker: Flask) -> None:
    """What a database restart does to the worker's idle pooled connection."""
    with worker.app_context(), db.engine().connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    url = make_url(worker.config["DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_connection_dropped_between_webhooks_costs_the_caller_nothing(
    worker: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    phone = Twilio(worker.test_client())
    root = twiml(phone.post("/voice/incoming"))
    drop_pooled_connection(worker)
    with caplog.at_level(logging.WARNING, logger="ivr.db"):
        root = twiml(phone.post(action_of(root), Digits="1234"))
    # The PIN was taken on a new connection: the next question, not the apology.
    assert "Why are you cancelling" in said(root)
    assert "dropped a connection" in caplog.text


def test_a_status_callback_on_a_dropped_connection_is_recorded(worker: Flask) -> None:
    phone = Twilio(worker.test_client())
    twiml(phone.post("/voice/incoming"))
    drop_pooled_connection(worker)
    assert phone.post("/voice/status", CallStatus="completed", CallDuration="9").status_code == 200
    with worker.app_context(), db.engine().connect() as conn:
        outcome = conn.exec_driver_sql(
            "SELECT outcome FROM calls WHERE call_sid = %(sid)s", {"sid": phone.call_sid}
        ).scalar()
    assert outcome == "abandoned"


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    app: Flask, migrated: str, tmp_path: Path
) -> None:
    # Every connection counts as idle: it is checked before each use. The
    # health check tries no second time, so it shows the check at work.
    with another_worker(migrated, tmp_path, **ONE_CONNECTION, DB_PING_AFTER_IDLE=0) as worker:
        worker.test_client().get("/healthz")
        drop_pooled_connection(worker)
        assert worker.test_client().get("/healthz").status_code == 200


def test_a_busy_connection_is_not_checked_before_each_use(worker: Flask) -> None:
    # Within DB_PING_AFTER_IDLE (10 s) of its last use, no extra round trip:
    # the dropped connection shows, and the health check says so.
    worker.test_client().get("/healthz")
    drop_pooled_connection(worker)
    assert worker.test_client().get("/healthz").status_code == 503
