"""The reference billing service's own state (ivr/billing/reference_server.py),
through its signed API in-process: what seeding writes is what a look-up
answers. (tests/test_billing_http.py runs it as a process, with the line.)"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from ivr.billing import add_months
from ivr.billing.reference_server import add_customers, create_app, seed_demo
from ivr.billing.signing import headers as signed_headers

SECRET = "reference-test-secret"
TODAY = dt.date(2026, 1, 31)


def client(db_path: Path) -> FlaskClient:
    return create_app(str(db_path), SECRET).test_client()


def get(c: FlaskClient, target: str) -> tuple[int, Any]:
    response = c.get(target, headers=signed_headers(SECRET, "GET", target, b""))
    return response.status_code, response.get_json()


def cancel(c: FlaskClient, sub_id: str, account: str, key: str) -> int:
    path = f"/subscriptions/{sub_id}/cancel"
    body = json.dumps({"account": account, "reason": None, "comment": None}).encode()
    headers = {
        **signed_headers(SECRET, "POST", path, body),
        "Idempotency-Key": key,
        "Content-Type": "application/json",
    }
    return c.post(path, data=body, headers=headers).status_code


def test_bulk_seeded_customers_are_found_by_phone_and_account(tmp_path: Path) -> None:
    db_path = tmp_path / "billing.sqlite3"
    many = [
        (
            f"9{i:07d}",
            f"Caller {i}",
            f"+1555200{i:04d}",
            "en-US",
            [(f"sub_{i}", "Premium", "29.99", "active")],
        )
        for i in range(500)
    ]
    assert add_customers(str(db_path), many, TODAY) == 500
    c = client(db_path)

    status, found = get(c, "/customers?phone=%2B15552000321")
    assert status == 200
    [customer] = found["customers"]
    assert customer == {
        "account": "90000321",
        "name": "Caller 321",
        "phone": "+15552000321",
        "language": "en-US",
        "subscriptions": [
            {
                "id": "sub_321",
                "plan": "Premium",
                "price": "29.99",
                "currency": "USD",
                "status": "active",
                "current_period_end": add_months(TODAY, 1).isoformat(),
            }
        ],
    }
    assert get(c, "/customers/90000499")[1]["phone"] == "+15552000499"
    assert get(c, "/customers?phone=%2B15552000500") == (200, {"customers": []})
    assert get(c, "/customers/90000500")[0] == 404


def test_seeding_again_leaves_what_billing_changed(tmp_path: Path) -> None:
    db_path = tmp_path / "billing.sqlite3"
    one = [("500", "Someone", "+15550150000", "en-US", [("sub_500", "Premium", "29.99", "active")])]
    add_customers(str(db_path), one, TODAY)
    c = client(db_path)
    assert cancel(c, "sub_500", "500", "key-1") == 200
    add_customers(str(db_path), one, TODAY)
    [sub] = get(c, "/customers/500")[1]["subscriptions"]
    assert sub["status"] == "cancelled"


def test_the_demo_customers(tmp_path: Path) -> None:
    db_path = tmp_path / "billing.sqlite3"
    seed_demo(str(db_path), TODAY)
    seed_demo(str(db_path), TODAY)
    c = client(db_path)
    statuses = {
        account: [s["status"] for s in get(c, f"/customers/{account}")[1]["subscriptions"]]
        for account in ("100001", "100002", "100003", "100004")
    }
    assert statuses == {
        "100001": ["active"],
        "100002": ["active", "active"],
        "100003": ["cancelled"],
        "100004": ["active"],
    }
    assert get(c, "/customers/100004")[1]["language"] == "es-US"
