"""The calls list's sort orders (keyset on (key, id) across pages), saved
views, and finding a call by any confirmation code it gave."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from console_helpers import TOKEN, page, signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db
from ivr.console.queries import CallFilters, Cursor, calls_page
from ivr.models import AuditLog, BillingChange, Call, SavedView
from ivr.simulator import simulate_call

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def support(app: Flask, client: FlaskClient) -> FlaskClient:
    return signed_in(app, client, "support")


def add(app: Flask, **fields: Any) -> str:
    values: dict[str, Any] = {
        "call_sid": "CA" + uuid.uuid4().hex,
        "from_number": "+12125550150",
        "language": "en-US",
        "outcome": "cancelled",
        "started_at": T0,
    }
    values.update(fields)
    with app.app_context():
        s = db.session()
        s.add(Call(**values))
        s.commit()
    return str(values["call_sid"])


def sids(html: str) -> list[str]:
    return re.findall(r'href="/console/calls/(CA[0-9a-f]{32})"', html)


# Ties on the key are the hard case: the id breaks them, across pages too.
ACCOUNTS = ["100002", None, "100001", "100002", "100003", None, "100002", "100001"]
OUTCOMES = ["saved", "cancelled", "abandoned", "saved", "cancelled", "agent", "saved", "saved"]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    ("sort", "keys"), [("account", ACCOUNTS), ("outcome", OUTCOMES)], ids=["account", "outcome"]
)
def test_each_sort_walks_every_call_once_in_order_across_pages(
    app: Flask, support: FlaskClient, sort: str, keys: list[str | None], order: str
) -> None:
    made = [
        add(
            app,
            started_at=T0 + dt.timedelta(minutes=i),
            **({"account_number": k} if sort == "account" else {"outcome": k}),
        )
        for i, k in enumerate(keys)
    ]
    # Calls with a key in the asked order, ties by creation (id) the same
    # way; calls without one last.
    keyed = sorted(((k, i) for i, k in enumerate(keys) if k is not None), reverse=order == "desc")
    unkeyed = sorted((i for i, k in enumerate(keys) if k is None), reverse=order == "desc")
    expected = [made[i] for _, i in keyed] + [made[i] for i in unkeyed]

    with app.app_context():
        s = db.session()
        filters = CallFilters.from_args({"sort": sort, "order": order})
        seen: list[str] = []
        after = None
        while True:
            result = calls_page(s, filters, after, size=3)
            seen += [r.call_sid for r in result.rows]
            if result.next_cursor is None:
                break
            after = Cursor.decode(result.next_cursor.encode(), sort)
    assert seen == expected

    # The same through the page's own links (50 a page: one page here).
    html = page(support.get(f"/console/calls?sort={sort}&order={order}"))
    assert sids(html) == expected
    assert 'aria-sort="{}"'.format("ascending" if order == "asc" else "descending") in html


def test_the_pages_next_link_keeps_the_sort(app: Flask, support: FlaskClient) -> None:
    made = [
        add(app, account_number=f"{200000 + i % 7}", started_at=T0 + dt.timedelta(seconds=i))
        for i in range(60)
    ]
    seen: list[str] = []
    url = "/console/calls?sort=account&order=asc"
    while url:
        html = page(support.get(url))
        seen += sids(html)
        more = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = more.group(1) if more else ""
        if more:
            assert "sort=account" in url and "order=asc" in url
    assert sorted(seen) == sorted(made) and len(seen) == 60
    with app.app_context():
        accounts = dict(db.session().execute(select(Call.call_sid, Call.account_number)).all())
    assert [accounts[sid] for sid in seen] == sorted(accounts[sid] for sid in seen)


def test_a_cursor_of_one_sort_is_refused_by_another() -> None:
    token = Cursor("100002", 7, "account").encode()
    assert Cursor.decode(token, "account") == Cursor("100002", 7, "account")
    assert Cursor.decode(token, "outcome") is None
    assert Cursor.decode(Cursor(None, 9, "account").encode(), "account") == Cursor(
        None, 9, "account"
    )


def test_an_unknown_sort_is_reported_and_the_list_is_newest_first(
    app: Flask, support: FlaskClient
) -> None:
    old = add(app, started_at=T0)
    new = add(app, started_at=T0 + dt.timedelta(hours=1))
    html = page(support.get("/console/calls?sort=secret_column"))
    assert "unknown sort 'secret_column'" in html
    assert sids(html) == [new, old]


def test_the_count_says_over_the_cap(
    app: Flask, support: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ivr.console.queries as queries

    for i in range(4):
        add(app, started_at=T0 + dt.timedelta(minutes=i))
    monkeypatch.setattr(queries.count_calls, "__defaults__", (3,))
    html = page(support.get("/console/calls"))
    assert re.search(r'id="call-count">over 3</strong> calls match', html)


def test_a_saved_view_is_listed_opens_the_same_filters_and_can_be_deleted(
    app: Flask, support: FlaskClient
) -> None:
    saved = add(app, outcome="saved")
    add(app, outcome="cancelled")
    filters = {"outcome": "saved", "sort": "duration", "order": "asc"}
    response = support.post(
        "/console/calls/views", data={**filters, "name": "Saved, shortest", "csrf_token": TOKEN}
    )
    assert response.status_code == 302
    html = page(support.get(response.headers["Location"]))
    assert "Saved “Saved, shortest”" in html
    link = re.search(r'<a href="(/console/calls\?[^"]+)">Saved, shortest</a>', html)
    assert link is not None
    assert parse_qs(urlsplit(link.group(1)).query) == {k: [v] for k, v in filters.items()}
    assert sids(page(support.get(link.group(1)))) == [saved]

    # The same name again replaces what it shows.
    support.post(
        "/console/calls/views",
        data={"outcome": "cancelled", "name": "Saved, shortest", "csrf_token": TOKEN},
    )
    with app.app_context():
        views = db.session().scalars(select(SavedView)).all()
        assert [(v.name, v.query) for v in views] == [("Saved, shortest", "outcome=cancelled")]
        view_id = views[0].id

    response = support.post(f"/console/calls/views/{view_id}/delete", data={"csrf_token": TOKEN})
    assert response.status_code == 302
    assert "Saved, shortest</a>" not in page(support.get("/console/calls"))
    with app.app_context():
        actions = db.session().scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
        assert actions[-3:] == ["save_view", "save_view", "delete_view"]


def test_views_are_personal_and_need_a_name(app: Flask, client: FlaskClient) -> None:
    support = signed_in(app, client, "support", "admin")
    assert "Give the view a name" in page(
        support.post(
            "/console/calls/views", data={"name": " ", "csrf_token": TOKEN}, follow_redirects=True
        )
    )
    support.post("/console/calls/views", data={"name": "Mine", "csrf_token": TOKEN})
    with app.app_context():
        view_id = db.session().scalars(select(SavedView.id)).one()
    other = app.test_client()
    signed_in_as_admin = other.post(
        "/console/login",
        data={
            "email": "admin@example.com",
            "password": "correct horse battery",
            "csrf_token": _token(other),
        },
    )
    assert signed_in_as_admin.status_code == 302
    with other.session_transaction() as session:
        session["csrf_token"] = TOKEN
    assert "Mine</a>" not in page(other.get("/console/calls"))
    refused = other.post(f"/console/calls/views/{view_id}/delete", data={"csrf_token": TOKEN})
    assert refused.status_code == 404
    with app.app_context():
        assert db.session().scalars(select(SavedView.name)).all() == ["Mine"]
    # The audit log says it in words.
    assert "Saved a view of the calls list" in page(other.get("/console/audit"))


def _token(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        session["csrf_token"] = TOKEN
    return TOKEN


def test_any_confirmation_code_of_a_call_finds_it(app: Flask, support: FlaskClient) -> None:
    # Grace cancels both subscriptions: one code each, the call keeps the first.
    t = simulate_call(app, ["5678", "3", "9", "1"], from_number="+15550100002")
    simulate_call(app, ["1234", "9", "1"], from_number="+15550100001")
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == t.call_sid)).one()
        codes = s.scalars(
            select(BillingChange.confirmation).where(BillingChange.call_id == call.id)
        ).all()
        later = [c for c in codes if c != call.confirmation]
    assert len(codes) == 2 and len(later) == 1
    assert sids(page(support.get(f"/console/calls?q={later[0]}"))) == [t.call_sid]
    assert sids(page(support.get(f"/console/calls?q={call.confirmation}"))) == [t.call_sid]
