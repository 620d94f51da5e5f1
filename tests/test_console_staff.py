"""The console as staff live in it: words for codes, times in their own
zone, counted and sorted call lists, search by name, the customer page,
the webhook inspector, styled errors, safe forms and the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from typing import Any

import pytest
from console_helpers import csrf, page, signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db
from ivr.console.queries import CallFilters, Cursor, calls_page, count_calls
from ivr.models import AuditLog, Call, Customer
from ivr.simulator import simulate_call

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def support(app: Flask, client: FlaskClient) -> FlaskClient:
    return signed_in(app, client, "support")


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    return signed_in(app, client, "admin", "support")


def add(app: Flask, **fields: Any) -> str:
    values: dict[str, Any] = {
        "call_sid": "CA" + uuid.uuid4().hex,
        "from_number": "+12125550150",
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


def test_the_list_reads_in_words_with_name_and_plan(app: Flask, support: FlaskClient) -> None:
    with app.app_context():
        ada = (
            db.session().scalars(select(Customer).where(Customer.account_number == "100001")).one()
        )
        customer_id, subscription_id = ada.id, ada.subscriptions[0].id
    add(
        app,
        customer_id=customer_id,
        subscription_id=subscription_id,
        account_number="100001",
        reason_code="too_expensive",
        offer_code="discount_50_3m",
        offer_accepted=False,
        outcome="abandoned",
    )
    html = page(support.get("/console/calls"))
    row = html[html.index("<tbody>") :]
    for text in ("Ada Lovelace", "Premium", "Too expensive", "50% off for 3 months", "Hung up"):
        assert text in row, text
    for code in ("too_expensive", "discount_50_3m", ">abandoned<"):
        assert code not in row, code
    assert 'href="/console/customers/100001"' in row


def test_times_show_in_the_users_zone_and_it_can_be_changed(
    app: Flask, support: FlaskClient
) -> None:
    add(app, started_at=T0)  # 12:00 UTC on March 10, 2026: EDT is UTC-4
    assert "Mar 10, 2026 08:00 EDT" in page(support.get("/console/calls"))
    response = support.post(
        "/console/settings", data={"timezone": "Europe/Madrid", "csrf_token": csrf(support)}
    )
    assert response.status_code == 302
    assert "Mar 10, 2026 13:00 CET" in page(support.get("/console/calls"))
    refused = support.post(
        "/console/settings", data={"timezone": "Mars/Olympus", "csrf_token": csrf(support)}
    )
    assert "is not a time zone" in page(support.get(refused.headers["Location"]))
    assert "13:00 CET" in page(support.get("/console/calls"))


def test_a_recent_call_reads_as_minutes_ago(app: Flask, support: FlaskClient) -> None:
    add(app, started_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3, seconds=5))
    assert "3 min ago" in page(support.get("/console/calls"))


def test_the_count_is_exact_up_to_the_cap(app: Flask, support: FlaskClient) -> None:
    for n in range(4):
        add(app, started_at=T0 + dt.timedelta(minutes=n), outcome="saved" if n else "cancelled")
    with app.app_context():
        s = db.session()
        assert count_calls(s, CallFilters.from_args({})) == (4, False)
        assert count_calls(s, CallFilters.from_args({"outcome": "saved"})) == (3, False)
        assert count_calls(s, CallFilters.from_args({}), cap=2) == (2, True)
    assert re.search(
        r'id="call-count">3</strong> calls match', page(support.get("/console/calls?outcome=saved"))
    )


def test_sorting_by_length_walks_every_call_once_with_untimed_last(
    app: Flask, support: FlaskClient
) -> None:
    lengths = [40, None, 75, 40, 12, None, 300]
    made = [
        add(app, duration_seconds=n, started_at=T0 + dt.timedelta(minutes=i))
        for i, n in enumerate(lengths)
    ]
    with app.app_context():
        s = db.session()
        for order in ("desc", "asc"):
            filters = CallFilters.from_args({"sort": "duration", "order": order})
            seen: list[str] = []
            after = None
            while True:
                result = calls_page(s, filters, after, size=2)
                seen += [r.call_sid for r in result.rows]
                if result.next_cursor is None:
                    break
                after = Cursor.decode(result.next_cursor.encode(), "duration")
            timed = sorted(
                ((n, i) for i, n in enumerate(lengths) if n is not None),
                reverse=order == "desc",
            )
            untimed = sorted(
                (i for i, n in enumerate(lengths) if n is None), reverse=order == "desc"
            )
            assert seen == [made[i] for _, i in timed] + [made[i] for i in untimed]
    html = page(support.get("/console/calls?sort=duration&order=desc"))
    assert sids(html)[0] == made[6]
    assert "Longest first" in html


def test_a_cursor_of_another_order_starts_at_the_top() -> None:
    token = Cursor(T0, 5).encode()
    assert Cursor.decode(token, "duration") is None
    assert Cursor.decode(Cursor(30, 5, "duration").encode(), "duration") == Cursor(
        30, 5, "duration"
    )


def test_search_finds_a_customer_by_part_of_the_name(app: Flask, support: FlaskClient) -> None:
    with app.app_context():
        grace = db.session().scalars(select(Customer).where(Customer.name == "Grace Hopper")).one()
        grace_id = grace.id
    theirs = add(app, customer_id=grace_id, account_number="100002")
    add(app)
    html = page(support.get("/console/calls?q=hopper"))
    assert sids(html) == [theirs]
    assert sids(page(support.get("/console/calls?q=nobody%20by%20that%20name"))) == []


def test_the_customer_page_has_subscriptions_calls_and_notes(
    app: Flask, support: FlaskClient
) -> None:
    t = simulate_call(app, ["1234", "9", "1"], from_number="+15550100001")
    sid = t.record["call_sid"]
    support.post(
        f"/console/calls/{sid}/notes",
        data={"text": "Asked about refunds", "csrf_token": csrf(support)},
    )
    html = page(support.get("/console/customers/100001"))
    assert "<h1>Ada Lovelace" in html
    assert "Premium, 29.99 USD a month" in html
    assert "Cancelled" in html
    assert t.record["confirmation"] in html
    assert sid in html
    assert "Asked about refunds" in html
    assert support.get("/console/customers/999999").status_code == 404
    assert 'href="/console/customers/100001"' in page(support.get(f"/console/calls/{sid}"))


def test_the_inspector_shows_each_webhook_with_the_pin_masked(
    app: Flask, support: FlaskClient
) -> None:
    t = simulate_call(app, ["1234", "9", "1"], from_number="+15550100001")
    html = page(support.get(f"/console/calls/{t.record['call_sid']}"))
    inspector = html[html.index('id="inspector"') : html.index('id="notes-title"')]
    assert inspector.count("<details") >= 4
    assert "POST /voice/incoming" in inspector
    assert "POST /voice/status" in inspector
    assert re.search(r'<th scope="row">Digits</th><td><code>\*\*\*\*</code>', inspector)
    assert not re.search(r"<code>1234</code>", inspector)
    assert "&lt;Gather" in html.split('id="inspector"')[1] or "<Gather" in inspector
    assert re.search(r"· [0-9.]+ ms", inspector)
    assert "Webhook" not in html[html.index('id="timeline"') : html.index('id="inspector"')]


def test_error_pages_are_the_consoles_with_a_way_back(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client, "ops")
    forbidden = client.get("/console/calls")
    assert forbidden.status_code == 403
    assert "This page is not open to your role" in page(forbidden)
    assert "Console home" in page(forbidden)
    missing = client.get("/console/calls/CA" + "0" * 32)
    assert missing.status_code == 403  # ops may not open calls at all
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404 and "Nothing here" in page(missing)
    voice = client.get("/voice/no-such-page")
    assert voice.status_code == 404 and "Console home" not in page(voice)


def test_the_new_user_form_has_no_default_role(app: Flask, admin: FlaskClient) -> None:
    html = page(admin.get("/console/users"))
    form = html[html.index('id="new-role"') :]
    select_html = form[: form.index("</select>")]
    assert '<option value="" selected disabled>Choose a role</option>' in select_html
    assert select_html.count("selected") == 1
    response = admin.post(
        "/console/users",
        data={"email": "x@example.com", "password": "long enough pw", "csrf_token": csrf(admin)},
    )
    assert "User not added" in page(admin.get(response.headers["Location"]))


def test_risky_buttons_ask_first(admin: FlaskClient) -> None:
    html = page(admin.get("/console/users"))
    assert 'data-confirm-title="Turn off access for support@example.com?"' in html
    assert "console.js" in html


def test_the_audit_log_filters_and_exports(app: Flask, admin: FlaskClient) -> None:
    sid = add(app)
    admin.post(f"/console/calls/{sid}/notes", data={"text": "hi", "csrf_token": csrf(admin)})
    html = page(admin.get("/console/audit?action=add_note"))
    assert "Added a note" in html and "Signed in" not in html.split("<tbody>")[1]
    everything = page(admin.get("/console/audit"))
    assert "Signed in" in everything and "admin@example.com" in everything
    response = admin.get("/console/audit.csv?actor=admin@example.com")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["at", "actor", "action", "detail"]
    # The export itself is on record before the first row is sent.
    assert {r[2] for r in rows[1:]} == {"sign_in", "add_note", "export_audit_csv"}
    with app.app_context():
        exported = (
            db.session()
            .scalars(select(AuditLog).where(AuditLog.action == "export_audit_csv"))
            .all()
        )
        assert len(exported) == 1


def test_only_admins_see_the_audit_log(app: Flask, support: FlaskClient) -> None:
    assert support.get("/console/audit").status_code == 403
    assert support.get("/console/audit.csv").status_code == 403
