"""The line with BILLING_BACKEND=stripe, against localstripe (a stateful fake
Stripe server, tests/localstripe_patched.py) running as a real process, the
line under gunicorn receiving localstripe's signed webhooks, and the job
worker started as operations start it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billing_servers import start_worker, wait_for
from conftest import another_worker
from flask import Flask
from servers import start_server, wait_healthy
from sqlalchemy import select, text
from stripe_servers import (
    API_KEY,
    WEBHOOK_SECRET,
    Localstripe,
    make_customer,
    make_plan,
    start_localstripe,
)

from ivr import db
from ivr.models import BillingChange, Call, Customer, Subscription
from ivr.simulator import simulate_call

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("IVR_TEST_POSTGRES_URL"),
        reason="BILLING_BACKEND=stripe needs PostgreSQL (its changes are jobs in the database); "
        "these tests run in the PostgreSQL pass (IVR_TEST_POSTGRES_URL)",
    ),
]

ADA = "+15550100001"


def settings(stripe_server: Localstripe) -> dict[str, str]:
    return {
        "BILLING_BACKEND": "stripe",
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_server.url,
        "STRIPE_TIMEOUT": "1",
        "BILLING_RETRY_FIRST_WAIT": "1",
        "BILLING_RETRY_MAX_WAIT": "2",
        "BILLING_WORKER_HEARTBEAT": "0.5",
        "BILLING_WORKER_STALLED_AFTER": "3",
    }


@pytest.fixture
def localstripe(tmp_path: Path) -> Iterator[Localstripe]:
    server = start_localstripe(tmp_path)
    yield server
    server.thaw()
    server.stop()


@pytest.fixture
def line(app: Flask, migrated: str, tmp_path: Path, localstripe: Localstripe) -> Iterator[Flask]:
    """The line on the Stripe backend (the `app` fixture emptied and seeded the
    database: the demo customers' PINs are there)."""
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_jobs"))
        conn.execute(text("DELETE FROM procrastinate_workers"))
    with another_worker(migrated, tmp_path / "line", **settings(localstripe)) as line_app:
        yield line_app


@pytest.fixture
def workers(migrated: str, tmp_path: Path, localstripe: Localstripe):  # type: ignore[no-untyped-def]
    started = []

    def start():  # type: ignore[no-untyped-def]
        log = tmp_path / f"worker{len(started)}.log"
        worker = start_worker(migrated, log, settings(localstripe))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def premium(localstripe: Localstripe) -> str:
    return make_plan(localstripe.client(), "Premium", 2999)


def ivr(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["ivr", *args])
    assert result.exit_code == 0, result.output
    return result.output


def mirrored(app: Flask, account: str) -> tuple[Customer, list[Subscription]] | None:
    with app.app_context():
        s = db.session()
        customer = s.scalars(select(Customer).where(Customer.account_number == account)).first()
        if customer is None:
            return None
        subs = list(
            s.scalars(
                select(Subscription)
                .where(Subscription.customer_id == customer.id)
                .order_by(Subscription.id)
            )
        )
        s.expunge_all()
        return customer, subs


def changes(app: Flask, call_sid: str) -> list[BillingChange]:
    with app.app_context():
        s = db.session()
        found = list(
            s.scalars(
                select(BillingChange)
                .join(Call)
                .where(Call.call_sid == call_sid)
                .order_by(BillingChange.id)
            )
        )
        s.expunge_all()
        return found


def test_sync_mirrors_stripe_customers_and_their_subscriptions(
    line: Flask, localstripe: Localstripe, premium: str
) -> None:
    client = localstripe.client()
    _, ada_sub = make_customer(
        client, account="100001", phone="+1 (555) 010-0001", name="Ada Lovelace", plan=premium
    )
    make_customer(
        client,
        account="300004",
        phone="+15550100044",
        name="Juana Ramirez",
        locales=["es-419", "en"],
        plan=premium,
    )
    make_customer(client, account=None, phone="+15550100099", name="No Account", plan=premium)

    out = ivr(line, "billing", "sync")
    assert "2 customers, 2 subscriptions mirrored from Stripe." in out

    found = mirrored(line, "100001")
    assert found is not None
    ada, subs = found
    assert (ada.name, ada.phone, ada.language) == ("Ada Lovelace", ADA, "en-US")
    # The demo's own row is not in Stripe: it can no longer be cancelled.
    by_id = {s.external_id: s for s in subs}
    assert by_id[None].status == "not_in_billing"
    stripe_sub = by_id[ada_sub]
    assert (stripe_sub.plan, str(stripe_sub.price), stripe_sub.currency) == (
        "Premium",
        "29.99",
        "USD",
    )
    assert stripe_sub.status == "active"
    juana = mirrored(line, "300004")
    assert juana is not None and juana[0].language == "es-US"
    with line.app_context():
        assert (
            db.session().scalar(select(Customer.id).where(Customer.phone == "+15550100099")) is None
        )


def test_a_keypad_cancellation_lands_in_stripe_once_even_when_stripe_was_down(
    line: Flask, localstripe: Localstripe, premium: str, workers
) -> None:  # type: ignore[no-untyped-def]
    client = localstripe.client()
    _, sub_id = make_customer(
        client, account="100001", phone=ADA, name="Ada Lovelace", plan=premium
    )
    ivr(line, "billing", "sync")
    assert sub_id is not None

    # Stripe stops answering: the call does not notice (it reads the mirror).
    localstripe.freeze()
    started = time.monotonic()
    t = simulate_call(line, ["1234", "it is far too expensive for me", "2"], from_number=ADA)
    assert time.monotonic() - started < 10
    assert t.outcome == "cancelled"
    code = t.record["confirmation"]
    call_sid = t.record["call_sid"]
    [change] = changes(line, call_sid)
    assert (change.kind, change.state, change.confirmation) == ("cancel", "pending", code)

    # The worker's tries time out and are retried...
    workers()
    wait_for(lambda: changes(line, call_sid)[0].state == "retrying", timeout=30)
    assert "Stripe" in (changes(line, call_sid)[0].last_error or "")
    # ...until Stripe answers again.
    localstripe.thaw()
    wait_for(lambda: changes(line, call_sid)[0].state == "applied", timeout=60)

    [change] = changes(line, call_sid)
    assert change.attempts >= 2
    sub = client.v1.subscriptions.retrieve(sub_id).to_dict()
    assert sub["cancel_at_period_end"] is True
    assert sub["status"] == "active"  # until the end of the paid period
    assert sub["metadata"]["ivr_cancel_call_sid"] == call_sid
    assert sub["metadata"]["ivr_cancel_confirmation"] == code
    # Kept by tests/localstripe_patched.py as Stripe documents it.
    assert sub["cancellation_details"]["feedback"] == "too_expensive"
    assert sub["cancellation_details"]["comment"] == "it is far too expensive for me"
    ends = time.strftime("%Y-%m-%d", time.gmtime(sub["current_period_end"]))
    assert change.result == {"ends_on": ends}
    # Once: one change, one job, applied; the job queue has nothing left.
    with line.app_context():
        jobs = (
            db.session()
            .execute(text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status"))
            .all()
        )
    assert dict(jobs) == {"succeeded": 1}


def test_a_customer_made_in_stripe_after_sync_can_call_and_one_deleted_cannot(
    line: Flask, localstripe: Localstripe, premium: str, migrated: str, tmp_path: Path
) -> None:
    ivr(line, "billing", "sync")
    server = start_server(migrated, tmp_path / "gunicorn.log", **settings(localstripe))
    try:
        wait_healthy(server)
        localstripe.send_webhooks_to(server.url + "/billing/stripe/webhook")
        client = localstripe.client()
        customer_id, sub_id = make_customer(
            client, account="200001", phone="+15550100077", name="Mary Jackson", plan=premium
        )
        ivr(line, "set-pin", "--account", "200001", "--pin", "2222")
        # customer.created, then customer.subscription.created, delivered by localstripe.
        wait_for(
            lambda: (
                (found := mirrored(line, "200001"))
                and found[0].phone == "+15550100077"
                and [s.external_id for s in found[1]] == [sub_id]
            ),
            timeout=30,
        )
        t = simulate_call(line, ["2222", "2", "2"], from_number="+15550100077")
        assert t.record["customer"] == "200001"
        assert t.outcome == "cancelled"

        client.v1.customers.delete(customer_id)
        wait_for(lambda: mirrored(line, "200001")[0].phone is None, timeout=30)  # type: ignore[index]
        customer, subs = mirrored(line, "200001")  # type: ignore[misc]
        assert customer.pin_hash is None
        assert {s.status for s in subs} == {"not_in_billing"}
        t = simulate_call(line, [], from_number="+15550100077")
        assert t.record["customer"] is None
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text()


def _signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _event(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": "evt_test_1",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()


def test_the_webhook_wants_stripes_signature_and_a_repeated_event_changes_nothing(
    line: Flask, localstripe: Localstripe, premium: str
) -> None:
    client = localstripe.client()
    customer_id, _ = make_customer(
        client, account="200002", phone="+15550100078", name="Dorothy Vaughan", plan=premium
    )
    web = line.test_client()
    url = "/billing/stripe/webhook"
    # A stale copy of the customer: the line reads Stripe's present state instead.
    payload = _event(
        "customer.updated",
        {"id": customer_id, "object": "customer", "phone": "+15559999999", "metadata": {}},
    )
    headers = {"Content-Type": "application/json"}

    assert web.post(url, data=payload, headers=headers).status_code == 400
    bad = {**headers, "Stripe-Signature": _signed(payload, secret="whsec_not_ours")}
    assert web.post(url, data=payload, headers=bad).status_code == 400
    old = {**headers, "Stripe-Signature": _signed(payload, at=int(time.time()) - 3600)}
    assert web.post(url, data=payload, headers=old).status_code == 400
    assert mirrored(line, "200002") is None

    good = {**headers, "Stripe-Signature": _signed(payload)}
    first = web.post(url, data=payload, headers=good)
    assert first.status_code == 200, first.get_data(as_text=True)
    found = mirrored(line, "200002")
    assert found is not None
    assert (found[0].phone, found[0].name, len(found[1])) == ("+15550100078", "Dorothy Vaughan", 1)

    again = web.post(url, data=payload, headers=good)
    assert again.status_code == 200
    twice = mirrored(line, "200002")
    assert twice is not None
    assert (twice[0].id, twice[0].phone, [(s.id, s.status) for s in twice[1]]) == (
        found[0].id,
        found[0].phone,
        [(s.id, s.status) for s in found[1]],
    )


def test_the_webhook_answers_503_while_stripe_cannot_be_read(
    line: Flask, localstripe: Localstripe, premium: str
) -> None:
    customer_id, _ = make_customer(
        localstripe.client(), account="200003", phone="+15550100079", name="K. Johnson"
    )
    payload = _event("customer.created", {"id": customer_id, "object": "customer"})
    localstripe.freeze()
    answer = line.test_client().post(
        "/billing/stripe/webhook",
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": _signed(payload)},
    )
    assert answer.status_code == 503  # Stripe sends it again later
    assert mirrored(line, "200003") is None
