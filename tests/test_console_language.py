"""A staff member who chose Spanish reads the codes' labels, dates and
relative times in Spanish; everyone else keeps English."""

from __future__ import annotations

import datetime as dt
import uuid

from console_helpers import TOKEN, page, signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db
from ivr.models import AuditLog, Call, Customer, User
from ivr.simulator import simulate_call

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def add_call(app: Flask) -> str:
    sid = "CA" + uuid.uuid4().hex
    with app.app_context():
        s = db.session()
        ada = s.scalars(select(Customer).where(Customer.account_number == "100001")).one()
        s.add(
            Call(
                call_sid=sid,
                started_at=T0,
                customer_id=ada.id,
                account_number="100001",
                outcome="cancelled",
                reason_code="too_expensive",
                offer_code="discount_50_3m",
                offer_accepted=False,
                outcome_step="offer",
            )
        )
        s.commit()
    return sid


def choose(client: FlaskClient, language: str) -> None:
    response = client.post(
        "/console/settings", data={"timezone": "", "language": language, "csrf_token": TOKEN}
    )
    assert response.status_code == 302


def test_a_user_who_chose_spanish_reads_the_labels_in_spanish(
    app: Flask, client: FlaskClient
) -> None:
    add_call(app)
    support = signed_in(app, client, "support")
    english = page(support.get("/console/calls"))
    assert "Too expensive" in english and "Mar 10, 2026 08:00 EDT" in english

    choose(support, "es")
    html = page(support.get("/console/calls"))
    row = html[html.index("<tbody>") :]
    for text in (
        "Cancelada",
        "Demasiado caro",
        "50 % de descuento durante 3 meses",
        "10 mar 2026 08:00 EDT",
    ):
        assert text in row, text
    for text in ("Cancelled", "Too expensive", "50% off"):
        assert text not in row, text
    # The filters' choices too, and the analytics' tables.
    assert ">Colgó</option>" in html and ">Sin motivo</option>" in html
    analytics = page(support.get("/console/analytics?date_from=2026-03-10&date_to=2026-03-10"))
    assert "<td>Cancelada</td>" in analytics and "<td>Demasiado caro</td>" in analytics
    with app.app_context():
        assert db.session().scalars(
            select(AuditLog.detail).where(AuditLog.action == "change_console_language")
        ).all() == [{"from": "en", "to": "es"}]


def test_the_call_page_timeline_says_steps_and_outcomes_in_spanish(
    app: Flask, client: FlaskClient
) -> None:
    t = simulate_call(app, ["1234", "9", "1"], from_number="+15550100001")
    support = signed_in(app, client, "support")
    choose(support, "es")
    html = page(support.get(f"/console/calls/{t.call_sid}"))
    assert "Cancelada" in html and "Motivo" in html and "PIN" in html
    assert "hace" in html or "ahora mismo" in html  # the call was just now


def test_another_users_choice_changes_nothing_for_me(app: Flask, client: FlaskClient) -> None:
    add_call(app)
    support = signed_in(app, client, "support", "admin")
    with app.app_context():
        s = db.session()
        s.scalars(
            select(User).where(User.email == "admin@example.com")
        ).one().console_language = "es"
        s.commit()
    assert "Too expensive" in page(support.get("/console/calls"))


def test_an_unknown_console_language_is_refused(app: Flask, client: FlaskClient) -> None:
    support = signed_in(app, client, "support")
    response = support.post(
        "/console/settings", data={"timezone": "", "language": "fr", "csrf_token": TOKEN}
    )
    assert "fr is not a console language" in page(support.get(response.headers["Location"]))
    with app.app_context():
        user = db.session().scalars(select(User).where(User.email == "support@example.com")).one()
        assert user.console_language == "en"
