"""The job engine's schema (procrastinate's tables and functions), applied
by `ivr init-db` on PostgreSQL, in the same transaction as the migrations.

A fresh database gets procrastinate's schema.sql. Upgrading procrastinate
later means applying its migrations (its docs, 'Migrations'); docs/operations.md
says how.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Connection, text


def apply_job_schema(conn: Connection) -> bool:
    """Apply procrastinate's schema where it is missing; whether it was."""
    if conn.dialect.name != "postgresql":
        return False
    if conn.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is not None:
        return False
    schema = resources.files("procrastinate.sql").joinpath("schema.sql").read_text()
    # On psycopg itself, without parameters: the SQL has '%' signs of its own.
    conn.connection.driver_connection.execute(schema)  # type: ignore[union-attr]
    return True
