"""Fixtures: an app on a fresh database (SQLite by default; PostgreSQL when
IVR_TEST_POSTGRES_URL names a server), a client, and signed Twilio requests.

The PostgreSQL pass creates a database of its own for the run and drops
only that one at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import make_url
from twilio.request_validator import RequestValidator

from ivr import create_app, db
from ivr.cli import upgrade_database
from ivr.db import Base
from ivr.demo import seed_demo

AUTH_TOKEN = "test-auth-token-" + "0" * 16
BASE_URL = "http://localhost"


def _postgres_url() -> str | None:
    return os.environ.get("IVR_TEST_POSTGRES_URL") or None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = _postgres_url()
    if server is None:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "ivr-test.sqlite3")
        return
    import psycopg

    admin = make_url(server).set(drivername="postgresql")
    name = f"ivr_test_{uuid.uuid4().hex[:12]}"
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    app = create_app(_config(database_url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        upgrade_database()
        db.engine().dispose()
    return database_url


def _config(database_url: str, instance: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SECRET_KEY": "test-secret-key",
        "PUBLIC_BASE_URL": None,
        "AGENT_NUMBER": "+15550109000",
        "AGENT_HOURS": "",
        "IVR_ENV": "test",
    }


def empty_tables(app: Flask) -> None:
    with app.app_context():
        engine = db.engine()
        with engine.begin() as conn:
            tables = list(reversed(Base.metadata.sorted_tables))
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(
                    "TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"
                )
            else:
                for table in tables:
                    conn.execute(table.delete())


@pytest.fixture
def app(migrated: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(_config(migrated, tmp_path))
    empty_tables(app)
    with app.app_context():
        s = db.session()
        seed_demo(s, app.config["VOICE_PROMPTS_DIR"])
        s.commit()
    yield app
    with app.app_context():
        db.engine().dispose()


@contextmanager
def another_worker(database_url: str, instance: Path, **settings: Any) -> Iterator[Flask]:
    """Another app instance on the same database, as a second gunicorn worker is."""
    worker = create_app({**_config(database_url, instance), **settings})
    try:
        yield worker
    finally:
        with worker.app_context():
            db.engine().dispose()


@pytest.fixture
def second_worker(app: Flask, migrated: str, tmp_path: Path) -> Iterator[Flask]:
    with another_worker(migrated, tmp_path) as worker:
        yield worker


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


class Twilio:
    """Posts webhooks the way Twilio does: form parameters, signed."""

    def __init__(
        self, client: FlaskClient, call_sid: str | None = None, caller: str = "+15550100001"
    ):
        self.client = client
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.caller = caller

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": "AC" + "0" * 32,
            "CallSid": self.call_sid,
            "From": self.caller,
            "To": "+15550109999",
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "FromState": "NY",  # as Twilio sends for a US number
            "ApiVersion": "2010-04-01",
            **extra,
        }

    def post(self, path: str, **extra: str) -> Any:
        params = self.params(**extra)
        return self.client.post(
            path, data=params, headers={"X-Twilio-Signature": sign(BASE_URL + path, params)}
        )
