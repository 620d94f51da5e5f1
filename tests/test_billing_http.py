"""The line with BILLING_BACKEND=http, against the reference billing service
running as a real process, and the job worker started as operations start it
(`flask --app wsgi ivr worker`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billing_servers import (
    BILLING_SECRET,
    BillingService,
    start_billing_service,
    start_worker,
    wait_for,
)
from conftest import Twilio, another_worker
from flask import Flask
from sqlalchemy import select, text

from ivr import db
from ivr.billing import BillingRejected, ChangeRequest
from ivr.billing.http import HttpBilling
from ivr.billing.signing import headers as signed_headers
from ivr.models import BillingChange, Call, CallbackRequest
from ivr.simulator import simulate_call

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("IVR_TEST_POSTGRES_URL"),
        reason="BILLING_BACKEND=http needs PostgreSQL (its changes are jobs in the database); "
        "these tests run in the PostgreSQL pass (IVR_TEST_POSTGRES_URL)",
    ),
]

ADA, GRACE = "+15550100001", "+15550100002"


def settings(service: BillingService) -> dict[str, str]:
    return {
        "BILLING_BACKEND": "http",
        "BILLING_HTTP_URL": service.url,
        "BILLING_HTTP_SECRET": BILLING_SECRET,
        "BILLING_HTTP_TIMEOUT": "1",
        "BILLING_RETRY_FIRST_WAIT": "1",
        "BILLING_RETRY_MAX_WAIT": "2",
        "BILLING_WORKER_HEARTBEAT": "0.5",
        "BILLING_WORKER_STALLED_AFTER": "3",
    }


@pytest.fixture
def billing_service(tmp_path: Path) -> Iterator[BillingService]:
    service = start_billing_service(tmp_path)
    yield service
    service.stop()


@pytest.fixture
def line(app: Flask, migrated: str, tmp_path: Path, billing_service: BillingService):  # type: ignore[no-untyped-def]
    """The line on the http backend (the `app` fixture emptied and seeded the database)."""
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_jobs"))
        conn.execute(text("DELETE FROM procrastinate_workers"))
    with another_worker(migrated, tmp_path / "line", **settings(billing_service)) as line_app:
        yield line_app


@pytest.fixture
def workers(migrated: str, tmp_path: Path, billing_service: BillingService):  # type: ignore[no-untyped-def]
    started = []

    def start(**extra: str):  # type: ignore[no-untyped-def]
        log = tmp_path / f"worker{len(started)}.log"
        worker = start_worker(migrated, log, {**settings(billing_service), **extra})
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def changes(app: Flask, call_sid: str) -> list[BillingChange]:
    with app.app_context():
        s = db.session()
        return list(
            s.scalars(
                select(BillingChange)
                .join(Call)
                .where(Call.call_sid == call_sid)
                .order_by(BillingChange.id)
            )
        )


def applied(app: Flask, call_sid: str) -> list[BillingChange] | None:
    found = changes(app, call_sid)
    return found if found and all(c.state == "applied" for c in found) else None


def test_a_keypad_cancellation_ends_cancelled_in_billing_with_reason_and_words(
    line: Flask, billing_service: BillingService, workers
) -> None:  # type: ignore[no-untyped-def]
    t = simulate_call(line, ["1234", "it is far too expensive for me", "2"], from_number=ADA)
    assert t.outcome == "cancelled"
    code = t.record["confirmation"]
    assert ", ".join(code) in " ".join(t.heard())
    # Decided and recorded, not yet applied: no worker runs.
    [change] = changes(line, t.record["call_sid"])
    assert (change.kind, change.state, change.confirmation) == ("cancel", "pending", code)
    assert billing_service.subscription("sub_100001_1")["status"] == "active"

    workers()
    [change] = wait_for(lambda: applied(line, t.record["call_sid"]))
    assert change.attempts == 1 and change.applied_at is not None
    sub = billing_service.subscription("sub_100001_1")
    assert sub["status"] == "cancelled"
    assert sub["cancel_reason"] == "too_expensive"
    assert sub["cancel_comment"] == "it is far too expensive for me"
    [done] = billing_service.applied("sub_100001_1")
    sent = json.loads(done["request"])
    assert sent["confirmation"] == code and sent["call_sid"] == t.record["call_sid"]
    assert done["idempotency_key"] == change.idempotency_key
    assert change.result == {"ends_on": sub["current_period_end"]}


def test_an_accepted_offer_is_applied_in_billing(
    line: Flask, billing_service: BillingService, workers
) -> None:  # type: ignore[no-untyped-def]
    t = simulate_call(line, ["1234", "1", "1"], from_number=ADA)
    assert t.outcome == "saved" and t.record["offer_accepted"] is True
    workers()
    [change] = wait_for(lambda: applied(line, t.record["call_sid"]))
    assert change.kind == "offer" and change.payload["offer"] == "discount_50_3m"
    sub = billing_service.subscription("sub_100001_1")
    assert sub["status"] == "active"
    assert json.loads(sub["discount"]) == {"percent": 50, "months": 3}
    [done] = billing_service.applied("sub_100001_1")
    assert done["kind"] == "offer"


def test_an_offer_taken_after_cancelling_reinstates_then_applies_in_billing(
    line: Flask, billing_service: BillingService, workers
) -> None:  # type: ignore[no-untyped-def]
    """Minnesota's rules: cancelled first, then the offer on the caller's yes.
    Billing gets the cancellation, the reinstatement and the offer, in that order."""
    answers = ["1234", "1", "1", "1", "1"]
    t = simulate_call(line, answers, from_number=ADA, from_state="MN")
    assert t.outcome == "saved" and t.record["offer_accepted"] is True
    workers()
    done = wait_for(lambda: applied(line, t.record["call_sid"]))
    assert [c.kind for c in done] == ["cancel", "reinstate", "offer"]
    assert len({c.confirmation for c in done}) == 3
    sub = billing_service.subscription("sub_100001_1")
    assert sub["status"] == "active"
    assert json.loads(sub["discount"]) == {"percent": 50, "months": 3}
    assert [a["kind"] for a in billing_service.applied("sub_100001_1")] == [
        "cancel",
        "reinstate",
        "offer",
    ]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_billing_service_checks_signatures_and_idempotency_keys(
    billing_service: BillingService,
) -> None:
    path = "/subscriptions/sub_100004_1/cancel"
    body = json.dumps({"account": "100004", "reason": "other", "comment": "moving"}).encode()
    url = billing_service.url + path
    json_type = {"Content-Type": "application/json", "Idempotency-Key": "key-1"}

    assert _post(url, body, json_type)[0] == 401
    wrong = signed_headers("another secret", "POST", path, body)
    assert _post(url, body, {**json_type, **wrong}) == (401, {"error": "bad signature"})
    stale = signed_headers(BILLING_SECRET, "POST", path, body)
    stale["X-Ivr-Timestamp"] = str(int(stale["X-Ivr-Timestamp"]) - 3600)
    assert _post(url, body, {**json_type, **stale})[1] == {"error": "stale timestamp"}
    tampered = signed_headers(BILLING_SECRET, "POST", path, body)
    assert _post(url, body.replace(b"moving", b"gone"), {**json_type, **tampered})[0] == 401
    assert billing_service.applied("sub_100004_1") == []

    client = HttpBilling(billing_service.url, BILLING_SECRET, 2)
    change = ChangeRequest("cancel", "sub_100004_1", json.loads(body), "key-1")
    first = client.apply(change)
    assert first == {"ends_on": billing_service.subscription("sub_100004_1")["current_period_end"]}
    # The same key again (a retry): the same answer, nothing applied twice.
    assert client.apply(change) == first
    assert len(billing_service.applied("sub_100004_1")) == 1
    # The key reused for a different change: refused.
    with pytest.raises(BillingRejected, match="422"):
        client.apply(ChangeRequest("cancel", "sub_100004_1", {"account": "100004"}, "key-1"))
    # Another key for a change already made: 409, which counts as applied.
    assert client.apply(ChangeRequest("cancel", "sub_100004_1", json.loads(body), "key-2")) == {
        "already_applied": True
    }
    assert len(billing_service.applied("sub_100004_1")) == 1


def test_billing_down_the_caller_hears_the_code_and_the_change_is_applied_once_it_is_back(
    line: Flask, billing_service: BillingService, workers
) -> None:  # type: ignore[no-untyped-def]
    billing_service.faults(mode="down", scope="changes")
    # Streaming Basic; not using it; no to the pause.
    t = simulate_call(line, ["5678", "1", "2", "2"], from_number=GRACE)
    assert t.outcome == "cancelled"
    code = t.record["confirmation"]
    assert ", ".join(code) in " ".join(t.heard())
    workers()

    def retried() -> BillingChange | None:
        [change] = changes(line, t.record["call_sid"])
        return change if change.state == "retrying" and change.attempts >= 2 else None

    change = wait_for(retried)
    assert "503" in (change.last_error or "")
    assert billing_service.subscription("sub_100002_1")["status"] == "active"
    billing_service.faults()
    [change] = wait_for(lambda: applied(line, t.record["call_sid"]))
    assert change.attempts >= 3
    assert billing_service.subscription("sub_100002_1")["status"] == "cancelled"
    # Exactly once, whatever the number of tries.
    assert len(billing_service.applied("sub_100002_1")) == 1
    tries = [r for r in billing_service.admin("state")["received"] if "sub_100002_1" in r["path"]]
    assert len(tries) >= 3 and {r["idempotency_key"] for r in tries} == {change.idempotency_key}


def _job_status(app: Flask) -> set[str]:
    with app.app_context(), db.engine().connect() as conn:
        return set(conn.scalars(text("SELECT status::text FROM procrastinate_jobs")))


def test_a_worker_killed_mid_job_loses_nothing(
    line: Flask, billing_service: BillingService, workers
) -> None:  # type: ignore[no-untyped-def]
    t = simulate_call(line, ["1234", "2", "2"], from_number=ADA)
    assert t.outcome == "cancelled"
    # Billing takes 3 s to answer a change: the first worker is killed meanwhile.
    billing_service.faults(mode="slow", delay=3, scope="changes")
    first = workers(BILLING_HTTP_TIMEOUT="10")
    wait_for(lambda: _job_status(line) == {"doing"})
    first.kill()
    billing_service.faults()
    workers()
    [change] = wait_for(lambda: applied(line, t.record["call_sid"]), timeout=40)
    assert billing_service.subscription("sub_100001_1")["status"] == "cancelled"
    # However far the killed worker's request got, billing applied it once.
    assert len(billing_service.applied("sub_100001_1")) == 1
    assert _job_status(line) == {"succeeded"}


def test_a_look_up_timeout_gives_the_caller_a_way_forward_in_time(
    line: Flask, billing_service: BillingService
) -> None:
    billing_service.faults(mode="slow", delay=5)
    twilio = Twilio(line.test_client(), caller=ADA)
    started = time.monotonic()
    response = twilio.post("/voice/incoming")
    took = time.monotonic() - started
    assert response.status_code == 200
    assert took < 3, f"the webhook waited {took:.1f} s on billing (deadline 1 s)"
    said = response.get_data(as_text=True)
    assert "can't reach your account right now" in said
    assert "Press 0 to speak to a person" in said and "call you back" in said
    with line.app_context():
        call = db.session().scalars(select(Call).where(Call.call_sid == twilio.call_sid)).one()
        events = {e.type: e.detail for e in call.events}
        assert "no answer within 1 s" in events["billing_unreachable"]["error"]
    # The caller asks for a call back.
    turn = 1
    response = twilio.post(f"/voice/gather?step=agent_unavailable&turn={turn}", Digits="1")
    assert response.status_code == 200
    with line.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == twilio.call_sid)).one()
        assert call.outcome == "callback"
        [callback] = s.scalars(select(CallbackRequest).where(CallbackRequest.call_id == call.id))
        assert callback.reason == "billing_unreachable"


def test_mirrored_subscriptions_follow_billing(
    line: Flask, billing_service: BillingService
) -> None:
    t = simulate_call(line, ["1234"], from_number=GRACE)
    assert t.record["customer"] == "100002"
    with line.app_context():
        rows = db.session().execute(
            text(
                "SELECT external_id, plan, status, current_period_end FROM subscriptions s "
                "JOIN customers c ON c.id = s.customer_id WHERE c.account_number = '100002' "
                "ORDER BY s.id"
            )
        )
        by_status: dict[str, list[Any]] = {}
        for external_id, _plan, status, period_end in rows:
            by_status.setdefault(status, []).append(external_id)
            if external_id:
                assert period_end == dt.date.fromisoformat(
                    billing_service.subscription(external_id)["current_period_end"]
                )
    assert sorted(by_status["active"]) == ["sub_100002_1", "sub_100002_2"]
    # The rows seeded before billing was connected are not billing's: not cancellable.
    assert by_status["not_in_billing"] == [None, None]


def test_a_refused_change_fails_and_ops_retry_it_from_the_console(
    line: Flask, billing_service: BillingService, workers
) -> None:  # type: ignore[no-untyped-def]
    from console_helpers import csrf, page, signed_in

    billing_service.faults(mode="reject", scope="changes")
    t = simulate_call(line, ["1234", "2", "2"], from_number=ADA)
    workers()

    def failed() -> BillingChange | None:
        [change] = changes(line, t.record["call_sid"])
        return change if change.state == "failed" else None

    change = wait_for(failed)
    assert change.attempts == 1 and "422" in (change.last_error or "")
    time.sleep(2.5)  # longer than any retry wait: a refusal is not retried
    assert failed() is not None
    billing_service.faults()

    client = signed_in(line, line.test_client(), "ops")
    listed = page(client.get("/console/ops/billing"))
    assert f'id="change-{change.id}"' in listed and "failed" in listed
    no_token = client.post(f"/console/ops/billing/{change.id}/retry")
    assert no_token.status_code in (400, 403)
    response = client.post(
        f"/console/ops/billing/{change.id}/retry", data={"csrf_token": csrf(client)}
    )
    assert response.status_code == 302
    [change] = wait_for(lambda: applied(line, t.record["call_sid"]))
    assert change.attempts == 2
    assert len(billing_service.applied("sub_100001_1")) == 1
