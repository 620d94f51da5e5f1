"""A reference implementation of the http billing contract
(docs/billing-http.md): a small billing service with its own SQLite state.

It is an example to read and a service the tests run the line against, not
a billing system. It checks every request's signature (401 for a bad or
stale one) and every change's Idempotency-Key (the same key again gets the
same answer and applies nothing; the key reused for another request gets
422). With --admin it also takes test-only orders under /_admin: be down
(503), be slow, and show what it applied.

    python -m ivr.billing.reference_server --port 8081 --db billing.sqlite3 \\
        --secret "$BILLING_HTTP_SECRET" --seed-demo
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from flask import Flask, Response, g, jsonify, request

from .embedded import add_months
from .signing import verify

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    account TEXT PRIMARY KEY, name TEXT, phone TEXT, language TEXT, state TEXT);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY, account TEXT REFERENCES customers(account), plan TEXT, price TEXT,
    currency TEXT, status TEXT, current_period_end TEXT, cancel_reason TEXT,
    cancel_comment TEXT, discount TEXT, paused_until TEXT, free_until TEXT);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, fingerprint TEXT, status INTEGER, body TEXT);
-- Every change actually applied (a replayed key adds nothing here).
CREATE TABLE IF NOT EXISTS applied (
    n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, subscription TEXT, kind TEXT,
    idempotency_key TEXT, request TEXT);
-- Every change request received, replays and refusals included.
CREATE TABLE IF NOT EXISTS received (
    n INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, path TEXT, idempotency_key TEXT,
    status INTEGER);
-- A call's look-up is by phone number; a customer's subscriptions by account.
CREATE INDEX IF NOT EXISTS customers_by_phone ON customers (phone);
CREATE INDEX IF NOT EXISTS subscriptions_by_account ON subscriptions (account);
"""

# (account, name, phone, language, [(subscription id, plan, price, status), ...])
SeedCustomer = tuple[str, str, str | None, str, list[tuple[str, str, str, str]]]

DEMO: list[SeedCustomer] = [
    (
        "100001",
        "Ada Lovelace",
        "+15550100001",
        "en-US",
        [("sub_100001_1", "Premium", "29.99", "active")],
    ),
    (
        "100002",
        "Grace Hopper",
        "+15550100002",
        "en-US",
        [
            ("sub_100002_1", "Streaming Basic", "9.99", "active"),
            ("sub_100002_2", "Cloud Storage 1 TB", "4.99", "active"),
        ],
    ),
    (
        "100003",
        "Alan Turing",
        "+15550100003",
        "en-US",
        [("sub_100003_1", "Premium", "29.99", "cancelled")],
    ),
    (
        "100004",
        "Juana Ramirez",
        "+15550100004",
        "es-US",
        [("sub_100004_1", "Premium", "29.99", "active")],
    ),
]


def create_app(db_path: str, secret: str, admin: bool = False) -> Flask:
    app = Flask(__name__)
    app.config.update(DB_PATH=db_path, SECRET=secret, ADMIN=admin)
    # Test-only faults: {"mode": "ok" | "down" | "reject" | "slow", "delay": seconds,
    # "scope": "all" | "changes" (look-ups answer normally)}
    faults: dict[str, Any] = {"mode": "ok", "delay": 0.0, "scope": "all"}
    lock = threading.Lock()
    with _connected(db_path) as conn:
        conn.executescript(SCHEMA)

    @app.before_request
    def _check() -> Response | None:
        if request.path.startswith("/_admin"):
            return None if admin else _error(404, "not found")
        mode, delay = faults["mode"], float(faults["delay"])
        if faults.get("scope") == "changes" and request.method != "POST":
            mode = "ok"
        if mode == "slow":
            time.sleep(delay)
        elif mode == "down":
            return _error(503, "billing is down (test fault)")
        elif mode == "reject":
            return _error(422, "billing refuses this (test fault)")
        target = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        target = target or request.full_path.rstrip("?")
        why = verify(
            secret,
            request.headers.get("X-Ivr-Timestamp"),
            request.headers.get("X-Ivr-Signature"),
            request.method,
            target,
            request.get_data(),
        )
        if why is not None:
            return _error(401, why)
        g.db = _connect(db_path)
        return None

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    @app.get("/customers")
    def customers_by_phone() -> Response:
        phone = request.args.get("phone", "")
        rows = g.db.execute("SELECT * FROM customers WHERE phone = ? ORDER BY account", (phone,))
        return jsonify({"customers": [_customer(g.db, row) for row in rows.fetchall()]})

    @app.get("/customers/<account>")
    def customer(account: str) -> Response | tuple[Response, int]:
        row = g.db.execute("SELECT * FROM customers WHERE account = ?", (account,)).fetchone()
        if row is None:
            return _error(404, "no such account")
        return jsonify(_customer(g.db, row))

    @app.post("/subscriptions/<sub_id>/cancel")
    def cancel(sub_id: str) -> Response:
        return _change(sub_id, "cancel")

    @app.post("/subscriptions/<sub_id>/offers")
    def offers(sub_id: str) -> Response:
        return _change(sub_id, "offer")

    @app.post("/subscriptions/<sub_id>/reinstate")
    def reinstate(sub_id: str) -> Response:
        return _change(sub_id, "reinstate")

    def _change(sub_id: str, kind: str) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        body = request.get_json(silent=True)
        if not key or not isinstance(body, dict):
            return _json({"error": "an Idempotency-Key and a JSON object are required"}, 400)
        fingerprint = hashlib.sha256(
            request.method.encode() + request.path.encode() + request.get_data()
        ).hexdigest()
        # One change at a time: the key's check and the change are one step.
        with lock, g.db:
            g.db.execute("BEGIN IMMEDIATE")
            response = _check_key_and_apply(g.db, sub_id, kind, body, key, fingerprint)
        return response

    @app.after_request
    def _received(response: Response) -> Response:
        """Every change request is logged, whatever became of it (faults included)."""
        if request.method == "POST" and request.path.startswith("/subscriptions/"):
            with _connected(db_path) as conn:
                conn.execute(
                    "INSERT INTO received (at, path, idempotency_key, status) VALUES (?, ?, ?, ?)",
                    (
                        _now(),
                        request.path,
                        request.headers.get("Idempotency-Key"),
                        response.status_code,
                    ),
                )
        return response

    # --- test-only orders ---------------------------------------------------------

    @app.post("/_admin/faults")
    def set_faults() -> Response:
        faults.update(request.get_json(force=True))
        return jsonify(faults)

    @app.get("/_admin/state")
    def state() -> Response:
        with _connected(db_path) as conn:
            return jsonify(
                {
                    "subscriptions": [dict(r) for r in conn.execute("SELECT * FROM subscriptions")],
                    "applied": [dict(r) for r in conn.execute("SELECT * FROM applied ORDER BY n")],
                    "received": [
                        dict(r) for r in conn.execute("SELECT * FROM received ORDER BY n")
                    ],
                }
            )

    return app


def _check_key_and_apply(
    conn: sqlite3.Connection,
    sub_id: str,
    kind: str,
    body: dict[str, Any],
    key: str,
    fingerprint: str,
) -> Response:
    seen = conn.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchone()
    if seen is not None:
        if seen["fingerprint"] != fingerprint:
            return _json({"error": "Idempotency-Key reused for another request"}, 422)
        replay = Response(seen["body"], seen["status"], mimetype="application/json")
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    status, answer = _apply(conn, sub_id, kind, body, key)
    if status < 500:
        conn.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?)",
            (key, fingerprint, status, json.dumps(answer)),
        )
    return _json(answer, status)


def _apply(
    conn: sqlite3.Connection, sub_id: str, kind: str, body: dict[str, Any], key: str
) -> tuple[int, dict[str, Any]]:
    sub = conn.execute("SELECT * FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
    if sub is None or sub["account"] != str(body.get("account")):
        return 404, {"error": "no such subscription on this account"}
    if kind == "cancel":
        if sub["status"] == "cancelled":
            return 409, {"error": "already cancelled", "ends_on": sub["current_period_end"]}
        conn.execute(
            "UPDATE subscriptions SET status = 'cancelled', cancel_reason = ?, cancel_comment = ?"
            " WHERE id = ?",
            (body.get("reason"), body.get("comment"), sub_id),
        )
        answer: dict[str, Any] = {"ends_on": sub["current_period_end"]}
    elif kind == "reinstate":
        if sub["status"] != "cancelled":
            return 409, {"error": "not cancelled", "status": sub["status"]}
        conn.execute(
            "UPDATE subscriptions SET status = 'active', cancel_reason = NULL,"
            " cancel_comment = NULL WHERE id = ?",
            (sub_id,),
        )
        answer = {"status": "active"}
    else:
        offer_kind, terms = str(body.get("kind")), body.get("terms") or {}
        if sub["status"] == "cancelled":
            return 409, {"error": "cancelled; no offer applies"}
        period_end = dt.date.fromisoformat(sub["current_period_end"])
        months = int(terms.get("months", 1))
        if offer_kind == "discount":
            conn.execute(
                "UPDATE subscriptions SET discount = ? WHERE id = ?",
                (json.dumps({"percent": terms.get("percent"), "months": months}), sub_id),
            )
        elif offer_kind == "pause":
            until = add_months(period_end, months).isoformat()
            conn.execute(
                "UPDATE subscriptions SET status = 'paused', paused_until = ? WHERE id = ?",
                (until, sub_id),
            )
        elif offer_kind == "free_period":
            until = add_months(period_end, months).isoformat()
            conn.execute("UPDATE subscriptions SET free_until = ? WHERE id = ?", (until, sub_id))
        elif offer_kind == "downgrade":
            conn.execute(
                "UPDATE subscriptions SET plan = ?, price = ? WHERE id = ?",
                (str(terms["plan"]), str(Decimal(str(terms["price"]))), sub_id),
            )
        elif offer_kind != "help":
            return 422, {"error": f"unknown offer kind {offer_kind!r}"}
        answer = {"applied": offer_kind, "offer": body.get("offer")}
    conn.execute(
        "INSERT INTO applied (at, subscription, kind, idempotency_key, request)"
        " VALUES (?, ?, ?, ?, ?)",
        (_now(), sub_id, kind, key, json.dumps(body)),
    )
    return 200, answer


def _customer(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    subs = conn.execute(
        "SELECT * FROM subscriptions WHERE account = ? ORDER BY id", (row["account"],)
    ).fetchall()
    optional = {"state": row["state"]} if row["state"] else {}
    return {
        "account": row["account"],
        "name": row["name"],
        "phone": row["phone"],
        "language": row["language"],
        **optional,
        "subscriptions": [
            {
                "id": s["id"],
                "plan": s["plan"],
                "price": s["price"],
                "currency": s["currency"],
                "status": s["status"],
                "current_period_end": s["current_period_end"],
            }
            for s in subs
        ],
    }


def seed_demo(db_path: str, today: dt.date | None = None) -> None:
    """The demo customers of DESIGN.md, with billing's own subscription ids."""
    add_customers(db_path, DEMO, today)


def add_customers(
    db_path: str, customers: Iterable[SeedCustomer], today: dt.date | None = None
) -> int:
    """Write customers and their subscriptions (in USD, paid until a month
    from `today`) in one transaction; rows already there are left as they
    are. How many customers were given."""
    period_end = add_months(today or dt.date.today(), 1).isoformat()
    people, subs = [], []
    for account, name, phone, language, subscriptions in customers:
        people.append((account, name, phone, language))
        subs.extend(
            (sub_id, account, plan, price, status, period_end)
            for sub_id, plan, price, status in subscriptions
        )
    with _connected(db_path) as conn:
        conn.executescript(SCHEMA)
        with conn:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR IGNORE INTO customers (account, name, phone, language)"
                " VALUES (?, ?, ?, ?)",
                people,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO subscriptions (id, account, plan, price, currency,"
                " status, current_period_end) VALUES (?, ?, ?, ?, 'USD', ?, ?)",
                subs,
            )
    return len(people)


@contextmanager
def _connected(db_path: str) -> Iterator[sqlite3.Connection]:
    conn = _connect(db_path)
    try:
        yield conn
    finally:
        conn.close()


def _connect(db_path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _json(data: Any, status: int) -> Response:
    response = jsonify(data)
    response.status_code = status
    return response


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--db", default="billing-reference.sqlite3")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--seed-demo", action="store_true")
    parser.add_argument("--admin", action="store_true", help="test-only /_admin orders")
    args = parser.parse_args()
    if args.seed_demo:
        seed_demo(args.db)
    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, create_app(args.db, args.secret, args.admin), threaded=True)


if __name__ == "__main__":
    main()
