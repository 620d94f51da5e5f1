"""Changes that matter ask once, without JavaScript too: posted from the
page's form (review=1) they show what will change and change nothing; the
confirmation page's own form then makes the change."""

from __future__ import annotations

import re
from html import unescape

import pytest
from console_helpers import TOKEN, page, signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db, lockout
from ivr.language import publish as publishing
from ivr.models import CallbackRequest, Offer, User
from ivr.records import find_call
from ivr.simulator import simulate_call


def confirm_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and fields of the confirmation page's form."""
    form = re.search(
        r'<form method="post" action="([^"]+)" class="buttons">(.*?)</form>', html, re.S
    )
    assert form is not None, html
    fields = {
        unescape(n): unescape(v)
        for n, v in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)
        )
    }
    return form.group(1), fields


def review_then_confirm(client: FlaskClient, url: str, data: dict[str, str]) -> str:
    """Post as the page's form does; return the confirmation page after
    posting its form, so the caller checks the state in between."""
    shown = client.post(url, data={**data, "review": "1", "csrf_token": TOKEN})
    assert shown.status_code == 200
    return page(shown)


def confirm(client: FlaskClient, html: str):  # type: ignore[no-untyped-def]
    action, fields = confirm_form(html)
    assert "review" not in fields
    return client.post(action, data=fields)


def test_publishing_a_prompt_shows_the_change_in_colour_first(
    app: Flask, client: FlaskClient
) -> None:
    ops = signed_in(app, client, "ops")
    edit = page(ops.get("/console/prompts/goodbye/en-US"))
    assert '<input type="hidden" name="review" value="1">' in edit
    with app.app_context():
        _, live = publishing.live_content(db.session(), "goodbye", "en-US")
        before = live.text
    new = (
        before.replace("Goodbye", "Thanks for calling, goodbye")
        if "Goodbye" in before
        else before + " Take care."
    )
    html = review_then_confirm(
        ops, "/console/prompts/goodbye/en-US", {"text": new, "action": "publish", "note": "warmer"}
    )
    assert "Publish goodbye (en-US)?" in html
    assert re.search(r"<ins><span class=\"sr-only\">added: </span>[^<]+</ins>", html)
    assert "rolling back there undoes this" in html
    with app.app_context():
        assert publishing.live_content(db.session(), "goodbye", "en-US")[1].text == before
    done = confirm(ops, html)
    assert done.status_code == 302
    with app.app_context():
        assert publishing.live_content(db.session(), "goodbye", "en-US")[1].text == new


def test_a_refused_prompt_says_why_before_asking(app: Flask, client: FlaskClient) -> None:
    ops = signed_in(app, client, "ops")
    response = ops.post(
        "/console/prompts/goodbye/en-US",
        data={"text": "", "action": "publish", "review": "1", "csrf_token": TOKEN},
    )
    assert response.status_code == 422
    assert '<p id="what">' not in page(response)


def test_rolling_back_shows_what_comes_back(app: Flask, client: FlaskClient) -> None:
    ops = signed_in(app, client, "ops")
    with app.app_context():
        s = db.session()
        _, live = publishing.live_content(s, "goodbye", "en-US")
        original = live.text
        publishing.publish(s, "goodbye", "en-US", "Bye now.", actor="ops@example.com")
        s.commit()
    html = review_then_confirm(ops, "/console/prompts/goodbye/en-US/rollback", {"version": "0"})
    assert "Roll goodbye (en-US) back to version 0?" in html
    assert '<del><span class="sr-only">removed: </span>Bye now.</del>' in html
    with app.app_context():
        assert publishing.live_content(db.session(), "goodbye", "en-US")[1].text == "Bye now."
    assert confirm(ops, html).status_code == 302
    with app.app_context():
        assert publishing.live_content(db.session(), "goodbye", "en-US")[1].text == original


def test_changing_an_offer_lists_each_field_that_changes(app: Flask, client: FlaskClient) -> None:
    ops = signed_in(app, client, "ops")
    with app.app_context():
        offer = db.session().scalars(select(Offer).where(Offer.code == "discount_50_3m")).one()
        wording = dict(offer.wording)
        terms = dict(offer.terms)
    form = {
        "kind": "discount",
        **{f"term_{k}": str(v) for k, v in terms.items()},
        **{f"wording_{lang}": text for lang, text in wording.items()},
    }
    form["term_percent"] = "40"
    html = review_then_confirm(ops, "/console/offers/discount_50_3m", form)
    assert "Save offer discount_50_3m?" in html
    assert '<h2 id="change-1">Terms</h2>' in html and "Made to callers" in html  # switched off
    assert '<ins><span class="sr-only">added: </span>40' in html
    with app.app_context():
        assert db.session().scalars(
            select(Offer.terms).where(Offer.code == "discount_50_3m")
        ).one()["percent"] in (50, "50")
    assert confirm(ops, html).status_code == 302
    with app.app_context():
        offer = db.session().scalars(select(Offer).where(Offer.code == "discount_50_3m")).one()
        assert str(offer.terms["percent"]) == "40" and offer.active is False


def test_turning_off_access_asks_first(app: Flask, client: FlaskClient) -> None:
    admin = signed_in(app, client, "admin", "support")
    with app.app_context():
        uid = db.session().scalars(select(User.id).where(User.email == "support@example.com")).one()
    html = review_then_confirm(admin, f"/console/users/{uid}", {"action": "deactivate"})
    assert "Turn off access for support@example.com?" in html
    assert "Turning access on again undoes this" in html
    with app.app_context():
        assert db.session().get(User, uid).active is True  # type: ignore[union-attr]
    confirm(admin, html)
    with app.app_context():
        assert db.session().get(User, uid).active is False  # type: ignore[union-attr]


def test_a_role_change_shows_from_and_to(app: Flask, client: FlaskClient) -> None:
    admin = signed_in(app, client, "admin", "support")
    with app.app_context():
        uid = db.session().scalars(select(User.id).where(User.email == "support@example.com")).one()
    html = review_then_confirm(admin, f"/console/users/{uid}", {"action": "role", "role": "ops"})
    assert '<del><span class="sr-only">removed: </span>support</del>' in html
    assert '<ins><span class="sr-only">added: </span>ops</ins>' in html
    confirm(admin, html)
    with app.app_context():
        assert db.session().get(User, uid).role == "ops"  # type: ignore[union-attr]


def test_lifting_a_lock_asks_first(app: Flask, client: FlaskClient) -> None:
    support = signed_in(app, client, "support")
    for _ in range(3):
        simulate_call(app, ["0000", "0000", "0000"], from_number="+15550100001")
    with app.app_context():
        locks = lockout.locked_now(db.session().connection())
    if not locks:
        pytest.fail("three calls of wrong PINs should lock the account")
    lock = locks[0]
    html = review_then_confirm(support, f"/console/locks/{lock['id']}", {})
    assert "Lift the lock on" in html and "cannot be undone" in html
    with app.app_context():
        assert len(lockout.locked_now(db.session().connection())) == len(locks)
    confirm(support, html)
    with app.app_context():
        assert len(lockout.locked_now(db.session().connection())) == len(locks) - 1


def test_closing_a_call_back_asks_first(app: Flask, client: FlaskClient) -> None:
    support = signed_in(app, client, "support")
    t = simulate_call(app, ["1234", "9", "1"], from_number="+15550100001")
    with app.app_context():
        s = db.session()
        call = find_call(s, t.call_sid)
        assert call is not None
        callback = CallbackRequest(call_id=call.id, phone="+15550100001", reason="asked")
        s.add(callback)
        s.commit()
    cid = callback.id
    html = review_then_confirm(support, f"/console/callbacks/{cid}/done", {"outcome": "kept"})
    assert "as “kept”?" in html
    with app.app_context():
        assert db.session().get(CallbackRequest, cid).done_at is None  # type: ignore[union-attr]
    confirm(support, html)
    with app.app_context():
        assert db.session().get(CallbackRequest, cid).outcome == "kept"  # type: ignore[union-attr]
