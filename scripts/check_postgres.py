"""Can the tests' PostgreSQL pass use the server IVR_TEST_POSTGRES_URL names?

scripts/test.sh runs this before any test, so a wrong URL is reported at once
and precisely: the server cannot be reached, the database named in the URL
does not exist on it, or the server refused the user. The pass creates (and
drops) a database of its own; the one in the URL is only connected to.
Exit status 0 when the pass can run, 1 with the reason otherwise.
"""

from __future__ import annotations

import os
import sys

import psycopg
from sqlalchemy import make_url


def problem(url: str) -> str | None:
    """Why the PostgreSQL pass cannot use `url`, or None when it can."""
    server = make_url(url).set(drivername="postgresql")
    where = f"{server.host or 'localhost'}:{server.port or 5432}"
    database = server.database or server.username or "postgres"
    try:
        _connect(server).close()
        return None
    except psycopg.Error as exc:
        failure = str(exc).strip()
    # The server answered but refused this database: ask the maintenance
    # database, with the same user, whether it exists at all.
    try:
        with _connect(server.set(database="postgres")) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
    except psycopg.Error:
        if "FATAL" in failure:
            return f"PostgreSQL at {where} refused the connection: {failure}"
        return f"PostgreSQL server unreachable at {where}: {failure}"
    if exists is None:
        return (
            f'Database "{database}" does not exist on the PostgreSQL server at {where}. The '
            "tests create a database of their own there and only connect to this one: name "
            f"one that exists (e.g. {server.set(database='postgres').render_as_string()}) "
            f"or create it (createdb -h {server.host or 'localhost'} -p {server.port or 5432}"
            f"{' -U ' + server.username if server.username else ''} {database})."
        )
    return f"PostgreSQL at {where} refused database {database!r}: {failure}"


def _connect(url) -> psycopg.Connection:  # type: ignore[no-untyped-def]
    return psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=5)


def main() -> int:
    url = os.environ.get("IVR_TEST_POSTGRES_URL")
    if not url:
        print("IVR_TEST_POSTGRES_URL is not set.", file=sys.stderr)
        return 1
    reason = problem(url)
    if reason:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
