"""After the call: the confirmation in writing, opt-outs, status callbacks,
landlines, win-back texts only with consent (against a local server that
speaks Twilio's Messages API, and the line under gunicorn for the callbacks);
and the way back: a cancellation not yet in effect, kept by phone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billing_servers import Process, start_worker, wait_for
from conftest import AUTH_TOKEN, another_worker, sign
from flask import Flask
from servers import free_port, start_server, wait_healthy
from sqlalchemy import select, text

from ivr import db
from ivr.models import Consent, Customer, SmsMessage, SmsOptOut, Subscription
from ivr.simulator import simulate_call

ADA, GRACE, JUANA = "+15550100001", "+15550100002", "+15550100004"
ACCOUNT = "AC" + "1" * 32
ROOT = Path(__file__).resolve().parent.parent
on_postgres = pytest.mark.skipif(
    not os.environ.get("IVR_TEST_POSTGRES_URL"),
    reason="texts are sent by jobs queued in PostgreSQL; these tests run in the PostgreSQL pass "
    "(IVR_TEST_POSTGRES_URL)",
)


class Twilio(Process):
    url: str

    def state(self) -> dict[str, Any]:
        import json

        with urllib.request.urlopen(self.url + "/_admin/state", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def orders(self, **orders: Any) -> None:
        import json

        req = urllib.request.Request(
            self.url + "/_admin/orders", data=json.dumps(orders).encode(), method="POST"
        )
        urllib.request.urlopen(req, timeout=10).close()


@pytest.fixture
def twilio(tmp_path: Path) -> Iterator[Twilio]:
    port = free_port()
    log = tmp_path / "twilio.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "tests/fake_twilio_messages.py", "--port", str(port),
             "--account", ACCOUNT, "--token", AUTH_TOKEN],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Twilio(process, log)
    server.url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(server.url + "/_admin/state"), timeout=20)
    yield server
    server.stop()


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def texting(app: Flask, migrated: str, tmp_path: Path, twilio: Twilio):  # type: ignore[no-untyped-def]
    """The line with texts set up: gunicorn takes Twilio's callbacks, a worker
    sends, and an app instance on the same database places the calls."""
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_jobs"))
        conn.execute(text("DELETE FROM procrastinate_workers"))
    port = free_port()
    settings = {
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "SMS_FROM": "+15550109999",
        "TWILIO_API_BASE": twilio.url,
        # Where Twilio's status callbacks go: the line under gunicorn.
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BILLING_WORKER_HEARTBEAT": "0.5",
        "BILLING_RETRY_FIRST_WAIT": "1",
        "BILLING_RETRY_MAX_WAIT": "2",
    }
    server = start_server(migrated, tmp_path / "gunicorn.log", port=port, **settings)
    worker = start_worker(migrated, tmp_path / "worker.log", settings)
    try:
        wait_healthy(server)
        with another_worker(migrated, tmp_path / "line", **settings) as line:
            yield line
    finally:
        worker.stop()
        server.stop()


def messages(app: Flask, phone: str | None = None) -> list[SmsMessage]:
    with app.app_context():
        query = select(SmsMessage).order_by(SmsMessage.id)
        if phone:
            query = query.where(SmsMessage.phone == phone)
        found = list(db.session().scalars(query))
        db.session().expunge_all()
        return found


@on_postgres
def test_a_cancellation_is_texted_once_in_the_callers_language(
    texting: Flask, twilio: Twilio
) -> None:
    t = simulate_call(texting, ["1234", "1", "2"], from_number=ADA)
    assert t.outcome == "cancelled"
    assert "We've sent this to your phone." in t.heard()
    code = t.record["confirmation"]
    sent = wait_for(lambda: [m for m in twilio.state()["messages"] if m["to"] == ADA])
    assert len(sent) == 1 and sent[0]["from"] == "+15550109999"
    assert (
        f"Confirmation code {code}" in sent[0]["body"] and "Premium is cancelled" in sent[0]["body"]
    )
    # Twilio's callbacks reach the line: the text is delivered, on the call's record.
    [message] = wait_for(
        lambda: [m for m in messages(texting, ADA) if m.state == "delivered"] or None
    )
    assert message.twilio_sid == sent[0]["sid"] and message.kind == "confirmation"
    with texting.app_context():
        from ivr.records import call_record, find_call

        record = call_record(find_call(db.session(), t.call_sid))
    statuses = [e["detail"]["status"] for e in record["events"] if e["type"] == "sms_status"]
    assert statuses[-1] == "delivered" and "sent" in statuses
    time.sleep(1)
    assert len([m for m in twilio.state()["messages"] if m["to"] == ADA]) == 1

    t = simulate_call(texting, ["2468", "1", "2"], from_number=JUANA)
    juana = wait_for(lambda: [m for m in twilio.state()["messages"] if m["to"] == JUANA])
    assert "quedó cancelada" in juana[0]["body"]


@on_postgres
def test_stop_is_honoured_for_every_later_text(texting: Flask, twilio: Twilio) -> None:
    client = texting.test_client()
    params = {"From": ADA, "To": "+15550109999", "Body": "Stop", "MessageSid": "SM" + "2" * 32}
    url = texting.config["PUBLIC_BASE_URL"] + "/sms/incoming"
    response = client.post(
        "/sms/incoming", data=params, headers={"X-Twilio-Signature": sign(url, params)}
    )
    assert response.status_code == 200
    with texting.app_context():
        assert db.session().get(SmsOptOut, ADA) is not None
    t = simulate_call(texting, ["1234", "1", "2"], from_number=ADA)
    assert t.outcome == "cancelled"
    assert "We've sent this to your phone." not in t.heard()
    assert not any("May we text you" in line for line in t.heard())
    assert messages(texting, ADA) == []
    # Unsigned, it changes nothing.
    forged = client.post("/sms/incoming", data={**params, "Body": "START"})
    assert forged.status_code == 403


@on_postgres
def test_help_answers_with_the_companys_contact_line(texting: Flask) -> None:
    params = {"From": GRACE, "To": "+15550109999", "Body": "help", "MessageSid": "SM" + "3" * 32}
    url = texting.config["PUBLIC_BASE_URL"] + "/sms/incoming"
    response = texting.test_client().post(
        "/sms/incoming", data=params, headers={"X-Twilio-Signature": sign(url, params)}
    )
    assert "<Message>Acme Streaming: to cancel or change your plan" in response.get_data(True)


@on_postgres
def test_a_landline_is_recorded_without_retry_and_not_promised_a_text_again(
    texting: Flask, twilio: Twilio
) -> None:
    twilio.orders(landlines=[GRACE])
    t = simulate_call(texting, ["5678", "1", "1", "2"], from_number=GRACE)
    assert "We've sent this to your phone." in t.heard()
    [message] = wait_for(lambda: [m for m in messages(texting, GRACE) if m.state == "failed"])
    assert message.error_code == 21614 and message.attempts == 1
    time.sleep(2)
    assert messages(texting, GRACE)[0].attempts == 1  # never retried
    assert twilio.state()["messages"] == []
    # Grace again, for her other subscription (her first is cancelled: she leaves it so).
    t = simulate_call(texting, ["5678", "2", "1", "2"], from_number=GRACE)
    assert t.outcome == "cancelled" and t.record["subscription"] == "Cloud Storage 1 TB"
    assert "We've sent this to your phone." not in t.heard()


@on_postgres
def test_twilio_down_is_retried_and_the_text_goes_once(texting: Flask, twilio: Twilio) -> None:
    twilio.orders(down=True)
    simulate_call(texting, ["1234", "1", "2"], from_number=ADA)
    wait_for(lambda: any(m.attempts >= 1 for m in messages(texting, ADA)))
    twilio.orders(down=False)
    wait_for(lambda: [m for m in twilio.state()["messages"] if m["to"] == ADA], timeout=40)
    time.sleep(3)
    assert len([m for m in twilio.state()["messages"] if m["to"] == ADA]) == 1


@on_postgres
def test_a_winback_text_only_with_recorded_consent_and_stop_revokes_it(
    texting: Flask, twilio: Twilio
) -> None:
    t = simulate_call(texting, ["1234", "1", "2", "2"], from_number=ADA)
    assert any("May we text you" in line for line in t.heard())
    with texting.app_context():
        assert db.session().scalars(select(Consent)).all() == []
    assert [m.kind for m in messages(texting, ADA)] == ["confirmation"]

    t = simulate_call(texting, ["5678", "1", "1", "2", "1"], from_number=GRACE)
    assert "Thanks, we'll text you if we do." in t.heard()
    with texting.app_context():
        [consent] = db.session().scalars(select(Consent)).all()
        assert consent.phone == GRACE and consent.answer == "pressed 1"
        assert consent.words.startswith("May we text you if we have a better offer")
    winback = [m for m in messages(texting, GRACE) if m.kind == "winback"]
    assert len(winback) == 1 and winback[0].state == "pending"
    assert (
        winback[0].send_at is not None and (winback[0].send_at - winback[0].created_at).days >= 29
    )
    params = {"From": GRACE, "To": "+15550109999", "Body": "STOP", "MessageSid": "SM" + "4" * 32}
    url = texting.config["PUBLIC_BASE_URL"] + "/sms/incoming"
    texting.test_client().post(
        "/sms/incoming", data=params, headers={"X-Twilio-Signature": sign(url, params)}
    )
    with texting.app_context():
        assert db.session().scalars(select(Consent)).one().revoked_at is not None
    assert [m.state for m in messages(texting, GRACE) if m.kind == "winback"] == ["cancelled"]


def test_no_text_settings_no_text_promised(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    assert t.outcome == "cancelled"
    assert not any("sent this to your phone" in line for line in t.heard())
    assert not any("May we text you" in line for line in t.heard())


def test_texts_need_postgresql(tmp_path: Path) -> None:
    from ivr import create_app

    with pytest.raises(RuntimeError, match="texts are sent by jobs queued in PostgreSQL"):
        create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "SECRET_KEY": "s",
                "TWILIO_ACCOUNT_SID": ACCOUNT,
                "SMS_FROM": "+15550109999",
            }
        )


# --- the way back ------------------------------------------------------------------


def premium(app: Flask) -> Subscription:
    with app.app_context():
        sub = (
            db.session()
            .scalars(select(Subscription).join(Customer).where(Customer.account_number == "100001"))
            .one()
        )
        db.session().expunge(sub)
        return sub


def test_a_cancellation_not_yet_in_effect_can_be_kept_by_phone(app: Flask) -> None:
    simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    ends = premium(app).cancel_at
    assert premium(app).status == "cancelled" and ends is not None
    t = simulate_call(app, ["1234", "1"], from_number=ADA)
    said = " ".join(t.heard())
    assert f"Your Premium ends on {ends:%B} {ends.day}, {ends.year}." in said
    assert "To keep it, press 1" in said
    assert t.outcome == "reinstated"
    code = t.record["confirmation"]
    assert f"Premium continues as before. Code: {', '.join(code)}." in said
    sub = premium(app)
    assert sub.status == "active" and sub.cancel_at is None
    assert [e["type"] for e in t.record["events"]].count("reinstated") == 1


def test_leaving_it_cancelled_changes_nothing(app: Flask) -> None:
    simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    t = simulate_call(app, ["1234", "2"], from_number=ADA)
    assert t.outcome == "no_subscription"
    assert "it stays cancelled" in " ".join(t.heard())
    assert premium(app).status == "cancelled"


def test_a_cancellation_already_in_effect_offers_no_way_back(app: Flask) -> None:
    t = simulate_call(app, ["4321"], from_number="+15550100003")
    assert t.outcome == "no_subscription"
    assert "To keep it" not in " ".join(t.heard())


def test_analytics_count_reinstated_calls(app: Flask) -> None:
    from console_helpers import signed_in

    simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    simulate_call(app, ["1234", "1"], from_number=ADA)
    page = signed_in(app, app.test_client(), "support").get("/console/analytics")
    assert page.status_code == 200
    # The outcome in words (ivr/console/labels.py), one call of the two.
    html = page.get_data(as_text=True)
    assert re.search(r'<td>Kept a cancelled plan</td><td class="num">1</td>', html)


@on_postgres
def test_a_call_back_is_texted_with_its_time(texting: Flask, twilio: Twilio) -> None:
    texting.config["AGENT_NUMBER"] = None  # nobody to put through: a call back
    t = simulate_call(texting, ["0", "1"], from_number=ADA)
    assert t.outcome == "callback"
    said = " ".join(t.heard())
    assert "We'll call you back at this number by " in said and "We've texted you the time." in said
    [sent] = wait_for(lambda: [m for m in twilio.state()["messages"] if m["to"] == ADA])
    assert sent["body"].startswith("Acme Streaming: we'll call you by ")
    assert sent["body"].endswith("from this number, as you asked.")
