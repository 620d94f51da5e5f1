"""Analytics numbers match the ones worked out by hand on a small set of calls."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr import db
from ivr.console.analytics import OfferStats, build_report, frequent_words, percentile
from ivr.console.auth import create_user
from ivr.models import Call

PASSWORD = "correct horse battery"
DAY = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


def call(**fields: Any) -> Call:
    values: dict[str, Any] = {"call_sid": "CA" + uuid.uuid4().hex, "started_at": DAY}
    values.update(fields)
    return Call(**values)


@pytest.fixture
def calls(app: Flask) -> None:
    """Ten calls on 2026-05-04 and two outside the range."""
    rows = [
        call(
            outcome="cancelled",
            reason_code="too_expensive",
            reason_text="Too expensive, the price went up",
            offer_code="discount_50_3m",
            offer_accepted=False,
            duration_seconds=40,
        ),
        call(
            outcome="cancelled",
            reason_code="too_expensive",
            reason_text="the price is too high",
            offer_code="discount_50_3m",
            offer_accepted=False,
            duration_seconds=50,
        ),
        call(
            outcome="saved",
            reason_code="too_expensive",
            offer_code="discount_50_3m",
            offer_accepted=True,
            duration_seconds=70,
        ),
        call(
            outcome="saved",
            reason_code="unused",
            reason_text="I never use it, price aside",
            offer_code="pause_3m",
            offer_accepted=True,
            duration_seconds=65,
        ),
        call(
            outcome="cancelled",
            reason_code="unused",
            offer_code="pause_3m",
            offer_accepted=False,
            duration_seconds=60,
            agent_requested=True,
            agent_result="no-answer",
        ),
        call(
            outcome="cancelled",
            reason_code="other",
            duration_seconds=90,
            language="es-US",
            reason_text="es muy caro el precio",
        ),
        call(outcome="agent", agent_requested=True, agent_result="completed"),
        call(outcome="abandoned", outcome_step="verify"),
        call(outcome="abandoned", outcome_step="verify"),
        call(outcome="abandoned", outcome_step="reason", reason_code=None),
        # Outside the range: the day before and the day after.
        call(outcome="cancelled", duration_seconds=5, started_at=DAY - dt.timedelta(days=1)),
        call(
            outcome="saved",
            offer_code="pause_3m",
            offer_accepted=True,
            started_at=DAY + dt.timedelta(days=1),
        ),
    ]
    with app.app_context():
        s = db.session()
        s.add_all(rows)
        s.commit()


def test_the_report_matches_hand_computed_numbers(app: Flask, calls: None) -> None:
    with app.app_context():
        report = build_report(db.session(), dt.date(2026, 5, 4), dt.date(2026, 5, 4))
    assert report.total == 10
    assert report.outcomes == [("cancelled", 4), ("saved", 2), ("agent", 1), ("abandoned", 3)]
    assert report.reasons == [
        ("(none given)", 4),
        ("too_expensive", 3),
        ("unused", 2),
        ("other", 1),
    ]
    assert report.offers == [OfferStats("discount_50_3m", 3, 1), OfferStats("pause_3m", 2, 1)]
    assert report.offers[0].save_rate == pytest.approx(1 / 3)
    assert report.offers[1].save_rate == pytest.approx(0.5)
    assert report.agent_requested == 2 and report.agent_share == pytest.approx(0.2)
    assert report.hangups == [("verify", 2), ("reason", 1)]
    # Cancelled durations 40, 50, 60, 90: nearest-rank median 50, p90 90.
    assert (report.cancelled_timed, report.median_seconds, report.p90_seconds) == (4, 50, 90)
    # "price" is in three reasons (counted once per call); "too", "the", "is", "es" are stopwords.
    assert report.words[0] == ("price", 3)
    words = dict(report.words)
    assert words["caro"] == 1 and words["precio"] == 1 and words["expensive"] == 1
    assert not {"too", "the", "muy", "es", "it"} & set(words)
    assert report.words_sample == 4


def test_a_wider_range_counts_the_days_around(app: Flask, calls: None) -> None:
    with app.app_context():
        report = build_report(db.session(), dt.date(2026, 5, 3), dt.date(2026, 5, 5))
    assert report.total == 12
    assert {o.code: o.shown for o in report.offers}["pause_3m"] == 3
    assert report.median_seconds == 50 and report.p90_seconds == 90


def test_an_empty_range_has_no_numbers_to_divide_by(app: Flask, calls: None) -> None:
    with app.app_context():
        report = build_report(db.session(), dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    assert report.total == 0 and report.agent_share == 0.0
    assert report.median_seconds is None and report.p90_seconds is None
    assert report.outcomes == [] and report.words == []


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([(7, 1)], 0.9) == 7
    histogram = [
        (10, 1),
        (20, 1),
        (30, 1),
        (40, 1),
        (50, 1),
        (60, 1),
        (70, 1),
        (80, 1),
        (90, 1),
        (100, 1),
    ]
    assert percentile(histogram, 0.5) == 50
    assert percentile(histogram, 0.9) == 90
    assert percentile([(30, 5), (45, 4), (120, 1)], 0.5) == 30
    assert percentile([(30, 5), (45, 4), (120, 1)], 0.9) == 45


def test_frequent_words_drop_stopwords_per_language_and_count_once_per_call() -> None:
    words = frequent_words(
        [
            ("Price price PRICE, it's the price", "en-US"),
            ("Es muy caro; el precio subió", "es-US"),
            ("the app keeps crashing", "en-US"),
        ]
    )
    assert dict(words) == {
        "price": 1,
        "caro": 1,
        "precio": 1,
        "subió": 1,
        "app": 1,
        "keeps": 1,
        "crashing": 1,
    }


def test_the_page_shows_charts_with_the_numbers_beside_them(
    app: Flask, client: FlaskClient, calls: None
) -> None:
    with app.app_context():
        s = db.session()
        create_user(s, "ops@example.com", "ops", PASSWORD)
        s.commit()
    with client.session_transaction() as session:
        session["csrf_token"] = "t"
    client.post(
        "/console/login",
        data={"email": "ops@example.com", "password": PASSWORD, "csrf_token": "t"},
    )
    html = client.get("/console/analytics?date_from=2026-05-04&date_to=2026-05-04").get_data(
        as_text=True
    )
    assert '<strong id="total-calls">10</strong>' in html
    assert html.count("<svg") >= 5
    assert '<title id="c-outcomes-title">Calls by outcome</title>' in html
    # The bars are labelled in words, never codes.
    charts = "".join(re.findall(r"<svg.*?</svg>", html, re.S))
    assert "<title>Too expensive</title>Too expensive</text>" in charts
    for code in ("too_expensive", "discount_50_3m", ">cancelled<", "(none given)"):
        assert code not in charts, code
    assert '<td>50% off for 3 months</td><td class="num">3</td><td class="num">1</td>' in html
    assert "33.3 %" in html
    assert '<strong id="agent-share">20.0 %</strong>' in html
    assert '<td>PIN</td><td class="num">2</td>' in html
    assert '<td class="num">50 s</td>' in html and '<td class="num">90 s</td>' in html
    swapped = client.get("/console/analytics?date_from=2026-05-05&date_to=2026-05-04")
    assert "swapped" in swapped.get_data(as_text=True)
    bad = client.get("/console/analytics?date_from=soon")
    assert bad.status_code == 200 and "is not a date" in bad.get_data(as_text=True)


def test_the_daily_series_counts_each_day_and_compares_with_the_period_before(
    app: Flask, client: FlaskClient
) -> None:
    from console_helpers import signed_in

    from ivr.console.analytics import change, daily_series

    day = dt.date(2026, 3, 10)
    noon = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)

    def call(at: dt.datetime, **fields: object) -> Call:
        return Call(call_sid="CA" + uuid.uuid4().hex, started_at=at, **fields)

    with app.app_context():
        s = db.session()
        s.add_all(
            [
                call(noon, outcome="cancelled", duration_seconds=40),
                call(noon, outcome="cancelled", duration_seconds=60),
                call(noon, outcome="saved", offer_code="discount_50_3m", offer_accepted=True),
                call(noon - dt.timedelta(days=1), outcome="abandoned", agent_requested=True),
                call(noon - dt.timedelta(days=3), outcome="cancelled"),  # the period before
            ]
        )
        s.commit()
        days = daily_series(s, day - dt.timedelta(days=1), day)
    assert [d.day for d in days] == [day - dt.timedelta(days=1), day]
    assert [(d.calls, d.cancelled, d.saved, d.agent) for d in days] == [(1, 0, 0, 1), (3, 2, 1, 0)]
    assert days[1].save_rate == 1.0 and days[1].median_cancel_seconds == 40
    assert change(4, 1) == "+300 %" and change(1, 2) == "−50 %" and change(None, 1) == "—"
    signed_in(app, client, "support")
    html = client.get("/console/analytics?date_from=2026-03-09&date_to=2026-03-10").get_data(
        as_text=True
    )
    assert '<tr><th scope="row">Calls</th><td class="num">4</td><td class="num">1</td>' in html
    assert "+300 %" in html
    assert '<td class="nowrap">2026-03-10</td><td class="num">3</td>' in html
    assert "vendor/uplot/uPlot.iife.min.js" in html


def test_the_series_per_day_and_per_offer_match_a_hand_count_with_the_period_before(
    app: Flask, client: FlaskClient
) -> None:
    """Two days (Mar 9, 10) against the two before (Mar 7, 8), worked out by hand:

    Mar 10: cancelled 30 s, 50 s, 70 s (median 50 s); discount shown 3 times,
            taken once (33.3 %); pause shown once, declined (0 %); one person.
    Mar 9:  one saved by the pause (100 %), 20 s, not counted in time to cancel.
    Mar 8:  (the day before Mar 10) cancelled 100 s and 120 s (median 100 s,
            nearest rank); discount shown twice, taken twice (100 %).
    Mar 7:  nothing.
    Mar 6:  outside both periods.
    """
    from console_helpers import signed_in

    from ivr.console.analytics import daily_series, trend_charts

    def at(day: int) -> dt.datetime:
        return dt.datetime(2026, 3, day, 15, tzinfo=dt.UTC)

    rows = [
        call(
            started_at=at(10),
            outcome="cancelled",
            duration_seconds=30,
            offer_code="discount_50_3m",
            offer_accepted=False,
        ),
        call(
            started_at=at(10),
            outcome="cancelled",
            duration_seconds=50,
            offer_code="discount_50_3m",
            offer_accepted=False,
            agent_requested=True,
        ),
        call(
            started_at=at(10),
            outcome="cancelled",
            duration_seconds=70,
            offer_code="pause_3m",
            offer_accepted=False,
        ),
        call(
            started_at=at(10),
            outcome="saved",
            duration_seconds=80,
            offer_code="discount_50_3m",
            offer_accepted=True,
        ),
        call(
            started_at=at(9),
            outcome="saved",
            duration_seconds=20,
            offer_code="pause_3m",
            offer_accepted=True,
        ),
        call(
            started_at=at(8),
            outcome="cancelled",
            duration_seconds=100,
            offer_code="discount_50_3m",
            offer_accepted=True,
        ),
        call(
            started_at=at(8),
            outcome="cancelled",
            duration_seconds=120,
            offer_code="discount_50_3m",
            offer_accepted=True,
        ),
        call(started_at=at(6), outcome="cancelled", duration_seconds=5),
    ]
    with app.app_context():
        s = db.session()
        s.add_all(rows)
        s.commit()
        both = daily_series(s, dt.date(2026, 3, 7), dt.date(2026, 3, 10))
        previous, days = both[:2], both[2:]
        assert [d.day.day for d in days] == [9, 10] and [d.day.day for d in previous] == [7, 8]
        assert [(d.calls, d.cancelled, d.saved, d.agent) for d in days] == [
            (1, 0, 1, 0),
            (4, 3, 1, 1),
        ]
        assert [d.median_cancel_seconds for d in days] == [None, 50]
        assert [d.median_cancel_seconds for d in previous] == [None, 100]
        assert days[1].offers == {"discount_50_3m": (3, 1), "pause_3m": (1, 0)}
        with app.test_request_context():
            charts = {c.id: c for c in trend_charts(days, previous)}
    counts = {line.label: (line.now, line.before) for line in charts["calls"].lines}
    assert counts == {
        "Calls": ([1, 4], [0, 2]),
        "Cancelled": ([0, 3], [0, 2]),
        "Saved by the offer": ([1, 1], [0, 0]),
        "Asked for a person": ([0, 1], [0, 0]),
    }
    rates = {line.label: (line.now, line.before) for line in charts["offers"].lines}
    assert rates == {
        "50% off for 3 months": ([None, 33.3], [None, 100.0]),
        "Pause for 3 months": ([100.0, 0.0], [None, None]),
    }
    assert charts["time"].lines[0].now == [None, 50]
    assert charts["time"].lines[0].before == [None, 100]

    signed_in(app, client, "support")
    html = client.get("/console/analytics?date_from=2026-03-09&date_to=2026-03-10").get_data(
        as_text=True
    )
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "every id on the page is unique"
    for chart in ("calls", "offers", "time"):
        assert f'data-series="data-{chart}"' in html and f'<table id="t-day-{chart}">' in html
    # The table under the offers chart: Mar 10 against Mar 8, per offer.
    assert (
        '<td class="nowrap">2026-03-10</td><td class="num">33.3 %</td><td class="num">0.0 %</td>'
        '<td class="nowrap">2026-03-08</td><td class="num">100.0 %</td><td class="num">—</td>'
    ) in html
    assert (
        '<td class="nowrap">2026-03-10</td><td class="num">50 s</td>'
        '<td class="nowrap">2026-03-08</td><td class="num">1 min 40 s</td>'
    ) in html
    assert '<th scope="row">Median time to cancel</th><td class="num">50 s</td>' in html
