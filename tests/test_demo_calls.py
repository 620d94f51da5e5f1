"""`ivr demo-calls`: realistic records in bulk, the same for the same seed."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from flask import Flask
from sqlalchemy import delete, func, select

from ivr import db
from ivr.console.demo_calls import write_demo_calls
from ivr.models import Call, CallbackRequest, CallEvent, utcnow

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _snapshot(app: Flask) -> list[tuple[object, ...]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session().execute(
                select(Call.call_sid, Call.outcome, Call.reason_code, Call.started_at).order_by(
                    Call.id
                )
            )
        ]


def test_demo_calls_writes_realistic_calls_with_a_progress_bar(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["ivr", "demo-calls", "--count", "400", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "400 calls written" in result.output
    with app.app_context():
        s = db.session()
        calls = s.scalars(select(Call)).all()
        assert len(calls) == 400
        assert len({c.call_sid for c in calls}) == 400
        assert all(c.call_sid.startswith("CA") and len(c.call_sid) == 34 for c in calls)
        outcomes = Counter(c.outcome for c in calls)
        assert {"cancelled", "saved", "abandoned", "agent"} <= set(outcomes)
        assert outcomes["cancelled"] > outcomes["saved"] > 0
        assert Counter(c.language for c in calls)["es-US"] > 0
        now = utcnow()
        assert all(now - dt.timedelta(days=90, minutes=1) <= c.started_at <= now for c in calls)
        # Codes only where something was changed, and never twice.
        codes = [c.confirmation for c in calls if c.confirmation]
        assert len(codes) == len(set(codes)) == outcomes["cancelled"] + outcomes["saved"]
        assert all(len(code) == 8 and code.isdigit() for code in codes)
        assert all(c.offer_accepted for c in calls if c.outcome == "saved")
        assert all(c.outcome_step for c in calls if c.outcome == "abandoned")
        # Every call has a timeline that starts with the call and ends with its status.
        per_call = dict(
            s.execute(select(CallEvent.call_id, func.count()).group_by(CallEvent.call_id)).all()
        )
        assert set(per_call) == {c.id for c in calls}
        assert min(per_call.values()) >= 4
        first = calls[0]
        kinds = [e.type for e in first.events]
        assert kinds[0] == "call_started" and kinds[-1] == "status" and "prompt" in kinds
        assert all(e.at >= first.started_at for e in first.events)
        waiting = s.scalar(select(func.count()).select_from(CallbackRequest))
        assert waiting == outcomes["callback"]


def test_same_seed_same_calls_and_a_second_run_adds_new_ones(app: Flask) -> None:
    with app.app_context():
        engine = db.engine()
        prompts = app.config["VOICE_PROMPTS_DIR"]
        write_demo_calls(engine, 50, prompts, seed=3, now=NOW)
    first = _snapshot(app)
    with app.app_context():
        s = db.session()
        s.execute(delete(CallEvent))
        s.execute(delete(CallbackRequest))
        s.execute(delete(Call))
        s.commit()
        write_demo_calls(db.engine(), 50, prompts, seed=3, now=NOW)
    assert _snapshot(app) == first
    with app.app_context():
        write_demo_calls(db.engine(), 50, prompts, seed=3, now=NOW)
    both = _snapshot(app)
    assert len(both) == 100 and len({row[0] for row in both}) == 100


def test_the_line_keeps_writing_calls_after_demo_data(app: Flask) -> None:
    """Ids were handed out by demo-calls: new rows from the line must not collide
    (PostgreSQL's sequences are moved past them)."""
    with app.app_context():
        write_demo_calls(db.engine(), 30, app.config["VOICE_PROMPTS_DIR"], seed=1)
        s = db.session()
        call = Call(call_sid="CA" + "f" * 32, started_at=utcnow())
        s.add(call)
        s.flush()
        s.add(CallEvent(call=call, type="call_started", detail={}))
        s.commit()
        assert call.id > 30


def test_a_demo_call_has_a_readable_page(app: Flask, client) -> None:  # type: ignore[no-untyped-def]
    from ivr.console.auth import create_user

    with app.app_context():
        write_demo_calls(db.engine(), 20, app.config["VOICE_PROMPTS_DIR"], seed=2)
        s = db.session()
        create_user(s, "support@example.com", "support", "correct horse battery")
        s.commit()
        sid = s.scalars(select(Call.call_sid).where(Call.outcome == "cancelled")).first()
    with client.session_transaction() as session:
        session["csrf_token"] = "t"
    client.post(
        "/console/login",
        data={
            "email": "support@example.com",
            "password": "correct horse battery",
            "csrf_token": "t",
        },
    )
    html = client.get(f"/console/calls/{sid}").get_data(as_text=True)
    assert "Call started from +1" in html
    assert "Line said [greeting]" in html
    assert "Cancelled" in html  # the outcome, in words
