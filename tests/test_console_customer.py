"""The customer page has the texts sent and the consents given, with an opt-out."""

from __future__ import annotations

import datetime as dt

from console_helpers import page, signed_in
from flask import Flask
from flask.testing import FlaskClient

from ivr import db
from ivr.models import Consent, SmsMessage, SmsOptOut
from ivr.records import find_call
from ivr.simulator import simulate_call

ADA = "+15550100001"


def test_the_customer_page_lists_texts_consents_and_an_opt_out(
    app: Flask, client: FlaskClient
) -> None:
    t = simulate_call(app, ["1234", "9", "1"], from_number=ADA)
    at = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    with app.app_context():
        s = db.session()
        call = find_call(s, t.call_sid)
        assert call is not None
        s.add_all(
            [
                SmsMessage(
                    call_id=call.id,
                    phone=ADA,
                    kind="confirmation",
                    language="en-US",
                    body="You cancelled Premium. Code 1234 5678.",
                    state="delivered",
                    created_at=at,
                ),
                SmsMessage(
                    call_id=None,
                    phone="+15550100099",
                    kind="winback",
                    language="en-US",
                    body="Someone else's text",
                    state="sent",
                ),
                Consent(
                    call_id=call.id,
                    phone=ADA,
                    words="May we text you an offer later?",
                    answer="1",
                    given_at=at,
                    revoked_at=at + dt.timedelta(days=1),
                ),
                SmsOptOut(phone=ADA, keyword="STOP", at=at + dt.timedelta(days=1)),
            ]
        )
        s.commit()
    support = signed_in(app, client, "support")
    html = page(support.get("/console/customers/100001"))
    texts = html[html.index('id="texts"') : html.index('id="consents"')]
    assert "You cancelled Premium. Code 1234 5678." in texts and "Delivered" in texts
    assert "Someone else's text" not in html
    assert "replied STOP" in texts
    consents = html[html.index('id="consents"') : html.index('id="notes"')]
    assert "answered “1” to “May we text you an offer later?”" in consents
    assert "revoked" in consents
