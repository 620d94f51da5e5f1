"""The operations pages of the console: prompts by step, edit with preview,
publish, history and rollback, listen, offers; for ops and admin only."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from console_helpers import PASSWORD, TOKEN, errors, page, signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from ivr import db
from ivr.models import AuditLog, Offer, PromptVersion


@pytest.fixture
def ops(app: Flask, client: FlaskClient) -> FlaskClient:
    """A client signed in as an operations user (a support user exists too)."""
    return signed_in(app, client, "ops", "support")


def incoming_call_says(app: Flask) -> str:
    """A new call, signed as Twilio signs it; what the line says first."""
    params = {"CallSid": "CA" + "7" * 32, "From": "+15550107777", "To": "+15550109999"}
    token = app.config["TWILIO_AUTH_TOKEN"]
    signature = RequestValidator(token).compute_signature("http://localhost/voice/incoming", params)
    r = app.test_client().post(
        "/voice/incoming", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert r.status_code == 200
    return " ".join(el.text or "" for el in ET.fromstring(r.data).iter("Say"))


OPS_PAGES = [
    "/console/prompts",
    "/console/prompts/cancelled/en-US",
    "/console/prompts/cancelled/en-US/history",
    "/console/offers",
    "/console/offers/pause_3m",
    "/console/offers/pause_3m/history",
]


@pytest.mark.parametrize("url", OPS_PAGES)
def test_ops_pages_need_sign_in(client: FlaskClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 302 and "/console/login" in r.location


@pytest.mark.parametrize("url", OPS_PAGES)
def test_support_staff_cannot_open_ops_pages(ops: FlaskClient, url: str) -> None:
    ops.post("/console/logout", data={"csrf_token": TOKEN})
    with ops.session_transaction() as session:
        session["csrf_token"] = TOKEN
    ops.post(
        "/console/login",
        data={"email": "support@example.com", "password": PASSWORD, "csrf_token": TOKEN},
    )
    assert ops.get(url).status_code == 403


@pytest.mark.parametrize("url", OPS_PAGES)
def test_ops_can_open_every_ops_page(ops: FlaskClient, url: str) -> None:
    assert ops.get(url).status_code == 200


def test_prompts_are_listed_by_step_in_both_languages(ops: FlaskClient) -> None:
    html = page(ops.get("/console/prompts"))
    assert html.index('id="step-greeting"') < html.index('id="step-verify"')
    assert "/console/prompts/ask_pin/en-US" in html and "/console/prompts/ask_pin/es-US" in html
    assert "Marque o diga su PIN" in html or "PIN de 4 dígitos" in html


def test_the_edit_page_previews_the_twiml_and_the_duration(ops: FlaskClient) -> None:
    html = page(ops.get("/console/prompts/cancelled/es-US"))
    twiml = re.search(r'id="twiml">(.*?)</code>', html, re.S)
    assert twiml is not None
    say = ET.fromstring(twiml.group(1)).find("Say")
    assert say is not None and say.attrib["voice"] == "Polly.Lupe-Neural"
    assert "4, 8, 2, 9, 1, 7, 3, 5" in (say.text or "")  # the sample code, read digit by digit
    assert re.search(r'id="duration">\d+\.\d s', html)
    assert "{code}</code> (required)" in html
    assert 'name="csrf_token"' in html


def test_publishing_from_the_console_changes_the_next_call(app: Flask, ops: FlaskClient) -> None:
    r = ops.post(
        "/console/prompts/greeting/en-US",
        data={
            "text": "Hi, this is {company}. Calls are recorded.",
            "note": "shorter greeting",
            "action": "publish",
            "csrf_token": TOKEN,
        },
    )
    assert r.status_code == 302
    assert "Published greeting (en-US) version 1" in page(ops.get(r.location))
    said = incoming_call_says(app)
    assert "Hi, this is Acme Streaming. Calls are recorded." in said
    with app.app_context():
        s = db.session()
        row = s.scalars(select(PromptVersion)).one()
        assert (row.created_by, row.note) == ("ops@example.com", "shorter greeting")
        actions = s.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
        assert "prompt.publish" in actions


def test_an_invalid_edit_is_refused_inline_and_nothing_is_published(
    app: Flask, ops: FlaskClient
) -> None:
    r = ops.post(
        "/console/prompts/cancelled/en-US",
        data={"text": "Cancelled {plan} on {dat}.", "action": "publish", "csrf_token": TOKEN},
    )
    assert r.status_code == 422
    html = page(r)
    reasons = errors(html)
    assert any("unknown placeholder {dat}" in e for e in reasons)
    assert any("missing placeholder {code}, {end_date}" in e for e in reasons)
    assert "Cancelled {plan} on {dat}." in html  # the draft is kept for fixing
    with app.app_context():
        assert db.session().scalars(select(PromptVersion)).first() is None


def test_preview_shows_a_draft_without_publishing(app: Flask, ops: FlaskClient) -> None:
    r = ops.post(
        "/console/prompts/goodbye/en-US",
        data={"text": "See you soon, {plan} fan.", "action": "preview", "csrf_token": TOKEN},
    )
    assert r.status_code == 200
    html = page(r)
    assert any("unknown placeholder {plan}" in e for e in errors(html))
    r = ops.post(
        "/console/prompts/goodbye/en-US",
        data={"text": "See you soon.", "action": "preview", "csrf_token": TOKEN},
    )
    assert 'id="preview-text">See you soon.</p>' in page(r) and not errors(page(r))
    with app.app_context():
        assert db.session().scalars(select(PromptVersion)).first() is None


def test_a_form_without_the_csrf_token_is_refused(app: Flask, ops: FlaskClient) -> None:
    r = ops.post("/console/prompts/goodbye/en-US", data={"text": "Bye.", "action": "publish"})
    assert r.status_code == 400
    with app.app_context():
        assert db.session().scalars(select(PromptVersion)).first() is None


def test_history_shows_the_diff_and_rollback_restores(app: Flask, ops: FlaskClient) -> None:
    for text in ("Bye now.", "Farewell."):
        ops.post(
            "/console/prompts/goodbye/en-US",
            data={"text": text, "action": "publish", "csrf_token": TOKEN},
        )
    html = page(ops.get("/console/prompts/goodbye/en-US/history"))
    assert "-text: Bye now." in html and "+text: Farewell." in html
    assert html.index('id="version-2"') < html.index('id="version-0"')  # newest first
    r = ops.post(
        "/console/prompts/goodbye/en-US/rollback", data={"version": "0", "csrf_token": TOKEN}
    )
    assert r.status_code == 302
    assert "Version 0 is live again (as version 3)" in page(ops.get(r.location))
    with app.app_context():
        from ivr import prompts

        assert prompts.live_catalog(db.session()).prompt("en-US", "goodbye").text == "Goodbye."


def test_unknown_prompt_or_language_is_404(ops: FlaskClient) -> None:
    assert ops.get("/console/prompts/nope/en-US").status_code == 404
    assert ops.get("/console/prompts/goodbye/fr-FR").status_code == 404


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_listen_returns_a_wav(ops: FlaskClient) -> None:
    r = ops.get("/console/prompts/cancelled/en-US/audio.wav", query_string={"text": "Code {code}."})
    assert r.status_code == 200 and r.mimetype == "audio/wav" and r.data[:4] == b"RIFF"
    assert ops.get("/console/prompts/cancelled/en-US/audio.wav").status_code == 400


def test_the_edit_page_offers_the_browsers_voice_too(ops: FlaskClient) -> None:
    html = page(ops.get("/console/prompts/goodbye/es-US"))
    assert 'id="speak"' in html and 'data-lang="es-US"' in html
    # The button's script is a file of our own: the Content-Security-Policy allows no inline script.
    assert "/static/prompt_listen.js" in html and "<script>" not in html
    script = ops.get("/static/prompt_listen.js")
    try:
        assert "speechSynthesis" in script.get_data(as_text=True)
    finally:
        script.close()
    assert "/console/prompts/goodbye/es-US/audio.wav?text=" in html


# --- offers -----------------------------------------------------------------------------


def test_offers_are_listed_with_their_reason(ops: FlaskClient) -> None:
    html = page(ops.get("/console/offers"))
    assert 'id="offer-discount_50_3m"' in html and "too_expensive" in html


def test_editing_an_offer_saves_and_records_it(app: Flask, ops: FlaskClient) -> None:
    r = ops.post(
        "/console/offers/pause_3m",
        data={
            "kind": "pause",
            "term_months": "2",
            "term_percent": "99",  # belongs to another kind: ignored
            "wording_en-US": "You can pause {plan} for {months} months instead.",
            "wording_es-US": "Puede pausar {plan} durante {months} meses.",
            "active": "on",
            "csrf_token": TOKEN,
        },
    )
    assert r.status_code == 302
    with app.app_context():
        offer = db.session().scalars(select(Offer).where(Offer.code == "pause_3m")).one()
        assert offer.terms == {"months": 2} and offer.active
    history = page(ops.get("/console/offers/pause_3m/history"))
    assert "ops@example.com" in history and "wording en-US" in history


def test_switching_an_offer_off(app: Flask, ops: FlaskClient) -> None:
    data = {
        "kind": "pause",
        "term_months": "3",
        "wording_en-US": "Instead of cancelling, you can pause {plan} for {months} months"
        " at no charge.",
        "wording_es-US": "En lugar de cancelar, puede pausar {plan} durante {months} meses"
        " sin costo.",
        "csrf_token": TOKEN,
    }
    assert ops.post("/console/offers/pause_3m", data=data).status_code == 302
    with app.app_context():
        assert not db.session().scalars(select(Offer).where(Offer.code == "pause_3m")).one().active


def test_a_bad_offer_is_refused_inline(app: Flask, ops: FlaskClient) -> None:
    r = ops.post(
        "/console/offers/discount_50_3m",
        data={
            "kind": "discount",
            "term_percent": "150",
            "term_months": "3",
            "wording_en-US": "{percent} off for {weeks} weeks",
            "wording_es-US": "",
            "active": "on",
            "csrf_token": TOKEN,
        },
    )
    assert r.status_code == 422
    reasons = errors(page(r))
    assert any("percent must be a whole number from 1 to 100" in e for e in reasons)
    assert any("unknown placeholder {weeks}" in e for e in reasons)
    assert any("es-US wording is empty" in e for e in reasons)
    with app.app_context():
        offer = db.session().scalars(select(Offer).where(Offer.code == "discount_50_3m")).one()
        assert offer.terms == {"percent": 50, "months": 3}
