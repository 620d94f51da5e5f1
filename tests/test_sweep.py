"""Calls whose status callback never came: `ivr sweep-calls` (and the
worker, periodically) closes them with the outcome they had reached."""

from __future__ import annotations

import asyncio
import datetime as dt
import xml.etree.ElementTree as ET

from conftest import Twilio
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db
from ivr.billing.jobs import sweep_calls_periodically
from ivr.models import Call, CallEvent


def _action(response) -> str:  # type: ignore[no-untyped-def]
    root = ET.fromstring(response.data)
    gather = root.find("Gather")
    assert gather is not None, response.data
    return gather.attrib["action"]


def _age(app: Flask, call_sid: str, hours: float) -> None:
    """Move the call and its record back in time."""
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == call_sid)).one()
        back = dt.timedelta(hours=hours)
        call.started_at = call.started_at - back
        for e in s.scalars(select(CallEvent).where(CallEvent.call_id == call.id)):
            e.at = e.at - back
        s.commit()


def _call(app: Flask, call_sid: str) -> Call:
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == call_sid)).one()
        s.expunge(call)
        return call


def _at_reason(client: FlaskClient) -> Twilio:
    phone = Twilio(client)
    action = _action(phone.post("/voice/incoming"))
    _action(phone.post(action, Digits="1234"))
    return phone


def _transferred(client: FlaskClient) -> tuple[Twilio, str]:
    phone = _at_reason(client)
    call_xml = ET.fromstring(phone.post("/voice/gather?turn=2&step=reason", Digits="0").data)
    dial = call_xml.find("Dial")
    assert dial is not None
    return phone, dial.attrib["action"]


def test_a_call_left_in_progress_is_abandoned_at_its_step(app: Flask, client: FlaskClient) -> None:
    phone = _at_reason(client)
    _age(app, phone.call_sid, 3)
    result = app.test_cli_runner().invoke(args=["ivr", "sweep-calls"])
    assert result.exit_code == 0, result.output
    assert f"{phone.call_sid} abandoned" in result.output
    call = _call(app, phone.call_sid)
    assert call.outcome == "abandoned" and call.outcome_step == "reason"
    assert call.completed_at is not None and call.step == "done"
    with app.app_context():
        s = db.session()
        types = s.scalars(
            select(CallEvent.type).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
        ).all()
        last_heard = max(
            s.scalars(
                select(CallEvent.at).where(
                    CallEvent.call_id == call.id, CallEvent.type.not_in(("swept", "outcome"))
                )
            )
        )
    assert types[-2:] == ["swept", "outcome"]
    # It ended when it was last heard from (its last webhook), not when the sweep ran.
    assert call.ended_at == last_heard


def test_a_call_put_through_to_a_person_ends_as_agent(app: Flask, client: FlaskClient) -> None:
    phone, _ = _transferred(client)
    _age(app, phone.call_sid, 3)
    result = app.test_cli_runner().invoke(args=["ivr", "sweep-calls"])
    assert f"{phone.call_sid} agent" in result.output
    call = _call(app, phone.call_sid)
    assert call.outcome == "agent" and call.outcome_step == "agent"


def test_a_transfer_nobody_answered_is_not_counted_as_agent(
    app: Flask, client: FlaskClient
) -> None:
    phone, dial_action = _transferred(client)
    phone.post(dial_action, DialCallStatus="no-answer")
    _age(app, phone.call_sid, 3)
    app.test_cli_runner().invoke(args=["ivr", "sweep-calls"])
    call = _call(app, phone.call_sid)
    assert call.outcome == "abandoned" and call.outcome_step == "agent_unavailable"


def test_recent_and_finished_calls_are_left_alone(app: Flask, client: FlaskClient) -> None:
    recent = _at_reason(client)
    _age(app, recent.call_sid, 1)  # under the default two hours
    finished = _at_reason(client)
    finished.post("/voice/status", CallStatus="completed", CallDuration="30")
    _age(app, finished.call_sid, 3)
    before = _call(app, finished.call_sid)
    result = app.test_cli_runner().invoke(args=["ivr", "sweep-calls"])
    assert "Closed 0 calls" in result.output
    assert _call(app, recent.call_sid).outcome == "in_progress"
    after = _call(app, finished.call_sid)
    assert (after.outcome, after.completed_at) == (before.outcome, before.completed_at)


def test_how_long_a_call_may_stay_silent_is_a_setting(app: Flask, client: FlaskClient) -> None:
    phone = _at_reason(client)
    _age(app, phone.call_sid, 1)
    app.config["STALE_CALL_MINUTES"] = 30
    app.test_cli_runner().invoke(args=["ivr", "sweep-calls"])
    assert _call(app, phone.call_sid).outcome == "abandoned"


def test_the_worker_sweeps_periodically(app: Flask, client: FlaskClient) -> None:
    phone = _at_reason(client)
    _age(app, phone.call_sid, 3)

    async def run_until_closed() -> None:
        sweeper = asyncio.create_task(sweep_calls_periodically(app, 0.05))
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                if await asyncio.to_thread(lambda: _call(app, phone.call_sid).outcome) != (
                    "in_progress"
                ):
                    return
        finally:
            sweeper.cancel()

    asyncio.run(run_until_closed())
    assert _call(app, phone.call_sid).outcome == "abandoned"
