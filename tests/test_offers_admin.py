"""Operations edit the one offer per reason: kind, terms, wording per
language, on or off; every change is validated, kept in the history and
audited, and the next caller hears it."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr import db, offers_admin
from ivr.admin_errors import NotFound, Refused
from ivr.models import AuditLog, Offer, OfferChange
from ivr.simulator import simulate_call

ADA = "+15550100001"
LANGUAGES = ("en-US", "es-US")


def update(app: Flask, code: str, **changes: Any) -> Offer:
    with app.app_context():
        s = db.session()
        offer = offers_admin.update_offer(
            s, code, "ops@example.com", languages=LANGUAGES, **changes
        )
        s.commit()
        return offer


def heard(t) -> str:  # type: ignore[no-untyped-def]
    return " ".join(t.heard())


def test_new_terms_and_wording_are_heard_and_applied_on_the_next_call(app: Flask) -> None:
    update(
        app,
        "discount_50_3m",
        terms={"percent": 30, "months": 6},
        wording={"en-US": "Stay, and {plan} is {percent} percent off for {months} months."},
    )
    t = simulate_call(app, ["1234", "1", "1"], from_number=ADA)
    assert "Stay, and Premium is 30 percent off for 6 months." in heard(t)
    assert t.outcome == "saved"
    with app.app_context():
        from ivr.models import Subscription

        sub = db.session().scalars(select(Subscription).where(Subscription.plan == "Premium"))
        assert 30 in {s.discount_percent for s in sub}


def test_an_offer_switched_off_is_not_made(app: Flask) -> None:
    update(app, "discount_50_3m", active=False)
    t = simulate_call(app, ["1234", "1", "1"], from_number=ADA)
    assert t.outcome == "cancelled" and t.record["offer"] is None


def test_the_kind_can_change_with_terms_for_the_new_kind(app: Flask) -> None:
    offer = update(
        app,
        "discount_50_3m",
        kind="downgrade",
        terms={"plan": "Streaming Basic", "price": "9.99"},
        wording={
            "en-US": "You could move to {plan} at {price} dollars a month.",
            "es-US": "Puede pasarse a {plan} por {price} dólares al mes.",
        },
    )
    assert offer.kind == "downgrade" and offer.terms == {"plan": "Streaming Basic", "price": "9.99"}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kind": "bribe"}, "kind 'bribe' is not one of discount, pause"),
        ({"terms": {"percent": 101, "months": 3}}, "percent must be a whole number from 1 to 100"),
        ({"terms": {"percent": 50, "months": 0}}, "months must be a whole number from 1 to 36"),
        ({"terms": {"percent": True, "months": 3}}, "percent must be a whole number"),
        ({"terms": {"percent": 50}}, "a discount offer needs the term 'months'"),
        ({"terms": {"percent": 50, "months": 3, "weeks": 2}}, "has no term 'weeks'"),
        ({"kind": "pause"}, "a pause offer needs the term 'months'"),
        ({"kind": "help", "terms": {"months": 1}}, "a help offer has no term 'months'"),
        (
            {"kind": "downgrade", "terms": {"plan": "Basic", "price": "free"}},
            "price must be an amount like 9.99",
        ),
        (
            {"wording": {"en-US": "Take {percent}% off for {weeks} weeks."}},
            "en-US wording: unknown placeholder {weeks}",
        ),
        ({"wording": {"en-US": "  "}}, "en-US wording is empty"),
        ({"wording": {"es-US": ""}}, "es-US wording is empty"),
        ({"wording": {"fr-FR": "Restez!"}}, "wording for fr-FR: the line does not speak it"),
        ({"wording": {"en-US": "Half off <foo>now</foo>."}}, "unknown tag <foo>"),
    ],
)
def test_a_bad_offer_edit_is_refused_with_its_reason(
    app: Flask, changes: dict[str, Any], reason: str
) -> None:
    with app.app_context():
        s = db.session()
        with pytest.raises(Refused) as refused:
            offers_admin.update_offer(
                s, "discount_50_3m", "ops@example.com", languages=LANGUAGES, **changes
            )
        assert reason in str(refused.value)
        s.rollback()
        offer = s.scalars(select(Offer).where(Offer.code == "discount_50_3m")).one()
        assert offer.terms == {"percent": 50, "months": 3} and offer.kind == "discount"
        assert s.scalars(select(OfferChange)).first() is None


def test_terms_typed_in_a_form_are_stored_as_numbers(app: Flask) -> None:
    offer = update(app, "pause_3m", terms={"months": " 2 "})
    assert offer.terms == {"months": 2}


def test_every_change_is_in_the_history_and_the_audit_log(app: Flask) -> None:
    update(app, "pause_3m", terms={"months": 2})
    update(app, "pause_3m", wording={"es-US": "Puede pausar {plan} {months} meses, sin costo."})
    update(app, "pause_3m", active=False)
    with app.app_context():
        s = db.session()
        entries = offers_admin.offer_history(s, "pause_3m")
        assert [e.changes for e in entries] == [
            [("terms", {"months": 3}, {"months": 2})],
            [
                (
                    "wording es-US",
                    "En lugar de cancelar, puede pausar {plan} durante {months} meses sin costo.",
                    "Puede pausar {plan} {months} meses, sin costo.",
                )
            ],
            [("active", True, False)],
        ]
        assert all(e.changed_by == "ops@example.com" for e in entries)
        assert entries[0].before is not None and entries[0].before["terms"] == {"months": 3}
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "offer.update")).all()
        assert [a.detail["changed"] for a in audit] == [["terms"], ["wording"], ["active"]]


def test_an_edit_that_changes_nothing_is_refused(app: Flask) -> None:
    with app.app_context(), pytest.raises(Refused, match="nothing changed"):
        offers_admin.update_offer(
            db.session(), "pause_3m", "ops@example.com", terms={"months": 3}, languages=LANGUAGES
        )


def test_one_active_offer_per_reason(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        offer = offers_admin.create_offer(
            s,
            "discount_20_2m",
            "too_expensive",
            "discount",
            {"percent": 20, "months": 2},
            {
                "en-US": "{percent} percent off for {months} months?",
                "es-US": "¿{percent} por ciento?",
            },
            "ops@example.com",
            active=False,
            languages=LANGUAGES,
        )
        s.commit()
        assert not offer.active
        with pytest.raises(Refused, match="discount_50_3m is already the active offer"):
            offers_admin.update_offer(
                s, "discount_20_2m", "ops@example.com", active=True, languages=LANGUAGES
            )
        s.rollback()
    update(app, "discount_50_3m", active=False)
    update(app, "discount_20_2m", active=True)
    t = simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    assert "20 percent off for 2 months?" in heard(t)
    assert t.record["offer"] == "discount_20_2m"


def test_a_reason_without_an_offer_can_get_one(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        offers_admin.create_offer(
            s,
            "free_month_other",
            "other",
            "free_period",
            {"months": 1},
            {
                "en-US": "Your next month of {plan} can be free.",
                "es-US": "Su próximo mes de {plan} puede ser gratis.",
            },
            "ops@example.com",
            languages=LANGUAGES,
        )
        s.commit()
        history = offers_admin.offer_history(s, "free_month_other")
        assert history[0].before is None and history[0].after["kind"] == "free_period"
    t = simulate_call(app, ["1234", "5", "2"], from_number=ADA)
    assert "Your next month of Premium can be free." in heard(t)


def test_unknown_offer_is_not_found(app: Flask) -> None:
    with app.app_context(), pytest.raises(NotFound, match="no offer 'nope'"):
        offers_admin.update_offer(db.session(), "nope", "ops@example.com", active=False)
