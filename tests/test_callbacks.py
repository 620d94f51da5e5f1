"""Call backs that are kept: a due time from AGENT_HOURS and
CALLBACK_TARGET_DAYS, said to the caller in words, and a queue support staff
work through (overdue first, claim, tries, close)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from console_helpers import csrf, page, signed_in
from flask import Flask
from sqlalchemy import select

from ivr import db
from ivr.config import PROJECT_ROOT
from ivr.flow.types import DueBy
from ivr.hours import callback_due, parse_hours
from ivr.models import Call, CallbackRequest, utcnow
from ivr.prompts import Catalog, load_baseline
from ivr.simulator import simulate_call

NY = "America/New_York"
WEEKDAYS = parse_hours("mon-fri 09:00-17:00")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(NY))


@pytest.mark.parametrize(
    "asked, due",
    [
        ("2026-11-30 10:00", "2026-12-01 17:00"),  # Monday -> Tuesday's close
        ("2026-11-30 20:00", "2026-12-01 17:00"),  # after hours, the same
        ("2026-12-04 16:00", "2026-12-07 17:00"),  # Friday -> Monday
        ("2026-12-05 11:00", "2026-12-07 17:00"),  # Saturday -> Monday
    ],
)
def test_one_business_day_is_the_close_of_the_next_business_day(asked: str, due: str) -> None:
    assert callback_due(WEEKDAYS, at(asked), NY, 1) == at(due)


def test_two_business_days_and_always_open() -> None:
    assert callback_due(WEEKDAYS, at("2026-12-03 10:00"), NY, 2) == at("2026-12-07 17:00")
    assert callback_due([], at("2026-12-03 10:00"), NY, 1) == at("2026-12-04 10:00")


def test_the_due_time_is_said_as_people_say_it() -> None:
    catalog = Catalog(load_baseline(PROJECT_ROOT / "voice_prompts"))
    today = dt.date(2026, 11, 30)
    assert catalog.value("en-US", DueBy(at("2026-12-01 17:00"), today)) == "by 5 PM tomorrow"
    assert catalog.value("en-US", DueBy(at("2026-11-30 09:30"), today)) == "by 9:30 AM today"
    assert (
        catalog.value("en-US", DueBy(at("2026-12-07 17:00"), today))
        == "by 5 PM on Monday, December 7, 2026"
    )
    assert (
        catalog.value("es-US", DueBy(at("2026-12-01 17:00"), today)) == "mañana antes de las 17:00"
    )


def test_the_caller_hears_when_and_the_call_back_is_booked_for_then(app: Flask) -> None:
    app.config["AGENT_HOURS"] = "mon-sun 00:00-23:59"
    t = simulate_call(app, ["0", "1"], from_number="+15550100001", agent="no-answer")
    assert t.outcome == "callback"
    said = " ".join(t.heard())
    assert "We'll call you back at this number by 11:59 PM tomorrow." in said
    with app.app_context():
        callback = db.session().scalars(select(CallbackRequest)).one()
        local = callback.due_at.astimezone(ZoneInfo(NY))
        assert local.date() == utcnow().astimezone(ZoneInfo(NY)).date() + dt.timedelta(days=1)
        assert (local.hour, local.minute) == (23, 59)


def test_the_queue_puts_overdue_first_and_tracks_tries(app: Flask) -> None:
    support = signed_in(app, app.test_client(), "support")
    now = utcnow()
    with app.app_context():
        s = db.session()
        ids = {}
        for phone, due in (("+15550100001", 3), ("+15550100002", -2), ("+15550100003", 1)):
            call = Call(call_sid="CA" + phone[-4:] * 8, from_number=phone, outcome="callback")
            s.add(call)
            callback = CallbackRequest(
                call=call, phone=phone, due_at=now + dt.timedelta(hours=due), attempts=[]
            )
            s.add(callback)
            s.flush()
            ids[phone] = callback.id
        s.commit()
    html = page(support.get("/console/callbacks"))
    assert "3 waiting" in html and "1 overdue" in html
    order = [html.index(p) for p in ("+15550100002", "+15550100003", "+15550100001")]
    assert order == sorted(order)  # overdue, then by due time
    assert "2 h late" in html

    late = ids["+15550100002"]
    token = csrf(support)
    support.post(f"/console/callbacks/{late}/claim", data={"csrf_token": token})
    support.post(
        f"/console/callbacks/{late}/attempt", data={"csrf_token": token, "result": "voicemail"}
    )
    refused = support.post(
        f"/console/callbacks/{late}/attempt",
        data={"csrf_token": token, "result": "shrug"},
        follow_redirects=True,
    )
    assert "Say how the try went" in page(refused)
    support.post(f"/console/callbacks/{late}/done", data={"csrf_token": token, "outcome": "kept"})
    with app.app_context():
        callback = db.session().get(CallbackRequest, late)
        assert callback.assignee == "support@example.com"
        assert [a["result"] for a in callback.attempts] == ["voicemail"]
        assert callback.outcome == "kept" and callback.done_at is not None
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "ivr_callbacks_waiting 2.0" in metrics and "ivr_callbacks_overdue 0.0" in metrics


def test_taking_a_help_offer_says_when_and_books_the_call_back_for_then(app: Flask) -> None:
    app.config["AGENT_HOURS"] = "mon-sun 00:00-23:59"
    t = simulate_call(app, ["1234", "the app keeps crashing", "yes"], from_number="+15550100001")
    assert t.outcome == "saved" and t.record["offer"] == "help_quality"
    said = " ".join(t.heard())
    assert "a specialist will call you back at this number by 11:59 PM tomorrow" in said
    assert "business day" not in said
    with app.app_context():
        callback = db.session().scalars(select(CallbackRequest)).one()
        assert callback.reason == "offer_help"
        local = callback.due_at.astimezone(ZoneInfo(NY))
        assert local.date() == utcnow().astimezone(ZoneInfo(NY)).date() + dt.timedelta(days=1)
        assert (local.hour, local.minute) == (23, 59)
