"""The demo can be played again and again: `seed-demo --reset` restores the
demo customers after calls changed them, and touches nothing else; the
simulator knows which language a demo caller speaks; a simulated call's
record tells one length."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from ivr import db
from ivr.demo import reset_demo, spent_demo_customer
from ivr.models import Call, CallEvent, Customer, Offer, Subscription
from ivr.simulator import cli as simulator_cli
from ivr.simulator import simulate_call

ADA, GRACE, ALAN, JUANA = "+15550100001", "+15550100002", "+15550100003", "+15550100004"
CANCEL_BY_KEYPAD = ["1234", "1", "2"]


def customer(app: Flask, account: str) -> Customer:
    with app.app_context():
        found = db.session().scalars(select(Customer).where(Customer.account_number == account))
        c = found.one()
        _ = c.subscriptions
        return c


def counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        s = db.session()
        return (
            s.scalar(select(func.count()).select_from(Call)) or 0,
            s.scalar(select(func.count()).select_from(CallEvent)) or 0,
            s.scalar(select(func.count()).select_from(Offer)) or 0,
        )


def test_a_second_cancellation_needs_the_reset_and_gets_it(app: Flask) -> None:
    assert simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA).outcome == "cancelled"
    # Her Premium is cancelled but still running: she is offered the way back,
    # leaves it ("2"), and there is nothing else to cancel.
    assert simulate_call(app, ["1234", "2"], from_number=ADA).outcome == "no_subscription"

    with app.app_context():
        restored = reset_demo(db.session(), app.config["VOICE_PROMPTS_DIR"])
        db.session().commit()

    assert restored == ["Ada Lovelace: Premium active"]
    premium = customer(app, "100001").subscriptions[0]
    assert premium.status == "active" and premium.cancel_at is None
    assert premium.cancelled_at is None and premium.cancellation_reason is None
    assert premium.current_period_end > dt.date.today()
    assert simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA).outcome == "cancelled"


def test_reset_restores_pins_languages_and_offers_taken_but_nothing_else(app: Flask) -> None:
    simulate_call(app, ["5678", "1", "1", "1"], from_number=GRACE)  # takes the offer
    with app.app_context():
        s = db.session()
        juana = s.scalars(select(Customer).where(Customer.account_number == "100004")).one()
        juana.language = "en-US"
        juana.pin_hash = generate_password_hash("9999")
        stranger = Customer(
            name="Not A Demo", phone="+15550108888", account_number="200001", pin_hash="x"
        )
        stranger.subscriptions.append(
            Subscription(
                plan="Premium",
                price=Decimal("29.99"),
                status="cancelled",
                current_period_end=dt.date(2020, 1, 1),
            )
        )
        s.add(stranger)
        s.commit()
    before = counts(app)

    with app.app_context():
        restored = reset_demo(db.session(), app.config["VOICE_PROMPTS_DIR"])
        db.session().commit()

    assert sorted(restored) == [
        "Grace Hopper: Streaming Basic active",
        "Juana Ramirez: language, PIN",
    ]
    grace = customer(app, "100002").subscriptions
    assert [(s.plan, s.status, s.discount_percent) for s in grace] == [
        ("Streaming Basic", "active", None),
        ("Cloud Storage 1 TB", "active", None),
    ]
    assert simulate_call(app, ["2468", "1", "2"], from_number=JUANA).outcome == "cancelled"
    assert customer(app, "100004").language == "es-US"
    # Calls, their events and the offers stay; a customer outside the demo too.
    assert counts(app)[2] == before[2]
    assert counts(app)[:2] > before[:2]  # only the new call added to them
    not_demo = customer(app, "200001")
    assert not_demo.subscriptions[0].status == "cancelled"
    assert not_demo.subscriptions[0].current_period_end == dt.date(2020, 1, 1)
    # Alan's Premium was seeded cancelled, and stays so.
    assert customer(app, "100003").subscriptions[0].status == "cancelled"


def test_reset_of_an_untouched_demo_changes_nothing(app: Flask) -> None:
    with app.app_context():
        assert reset_demo(db.session(), app.config["VOICE_PROMPTS_DIR"]) == []


def test_only_a_demo_caller_left_with_nothing_to_cancel_is_spent(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        assert spent_demo_customer(s, ADA) is None
        assert spent_demo_customer(s, ALAN) is None  # seeded with nothing to cancel
        assert spent_demo_customer(s, "+15550107777") is None
    simulate_call(app, ["5678", "1", "1", "2"], from_number=GRACE)
    simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA)
    with app.app_context():
        s = db.session()
        assert spent_demo_customer(s, GRACE) is None  # one of two left
        assert spent_demo_customer(s, ADA) == (
            "Ada Lovelace has nothing left to cancel (Premium cancelled, after earlier calls)."
        )


def test_seed_demo_offers_the_reset_and_without_a_terminal_does_it(app: Flask) -> None:
    runner = app.test_cli_runner()
    untouched = runner.invoke(args=["ivr", "seed-demo", "--offer-reset", ADA])
    assert untouched.exit_code == 0, untouched.output
    assert untouched.output == "Demo data already loaded.\n"

    simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA)
    result = runner.invoke(args=["ivr", "seed-demo", "--offer-reset", ADA])

    assert result.exit_code == 0, result.output
    assert "Ada Lovelace has nothing left to cancel" in result.output
    assert "Yes: nobody to ask (standard input is not a terminal)." in result.output
    assert "Reset Ada Lovelace: Premium active." in result.output
    assert simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA).outcome == "cancelled"


@pytest.mark.parametrize(("answer", "reset"), [("\n", True), ("n\n", False)])
def test_on_a_terminal_seed_demo_asks_before_the_reset(
    app: Flask, monkeypatch: pytest.MonkeyPatch, answer: str, reset: bool
) -> None:
    simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA)
    monkeypatch.setattr("ivr.cli._stdin_is_a_terminal", lambda: True)

    result = app.test_cli_runner().invoke(
        args=["ivr", "seed-demo", "--offer-reset", ADA], input=answer
    )

    assert result.exit_code == 0, result.output
    assert "Reset the demo customers (subscriptions, PINs, languages; nothing else)? [Y/n]" in (
        result.output
    )
    assert ("Reset Ada Lovelace" in result.output) is reset
    outcome = simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA).outcome
    # Without the reset her cancelled Premium is offered back, and "1" keeps it.
    assert outcome == ("cancelled" if reset else "reinstated")


def test_seed_demo_reset_says_what_it_restored(app: Flask) -> None:
    simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA)
    runner = app.test_cli_runner()

    first = runner.invoke(args=["ivr", "seed-demo", "--reset"])
    second = runner.invoke(args=["ivr", "seed-demo", "--reset"])

    assert first.exit_code == 0 and "Reset Ada Lovelace: Premium active." in first.output
    assert second.exit_code == 0
    assert "The demo customers are as seeded: nothing to reset." in second.output


MISHEAR = "Twilio would likely mishear"


def test_the_simulator_takes_the_callers_language_from_the_customer_on_file(app: Flask) -> None:
    runner = app.test_cli_runner()

    juana = runner.invoke(simulator_cli.call_command, ["--from", JUANA, "--answer", "2468"])
    told = runner.invoke(
        simulator_cli.call_command, ["--from", JUANA, "--lang", "en-US", "--answer", "2468"]
    )
    stranger = runner.invoke(simulator_cli.call_command, ["--from", "+15550107777"])

    assert juana.exit_code == 0, juana.output
    assert MISHEAR not in juana.output
    assert "you speak en-US: " + MISHEAR in told.output
    assert stranger.exit_code == 0 and MISHEAR not in stranger.output


def test_speak_without_espeak_says_how_to_install_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulator_cli.shutil, "which", lambda _name: None)

    result = app.test_cli_runner().invoke(
        simulator_cli.call_command, ["--speak", "--answer", "hangup"]
    )

    assert result.exit_code == 0, result.output
    assert "espeak-ng is not installed, so --speak only prints the words" in result.output
    assert "bash scripts/install-system-packages.sh espeak-ng" in result.output


def test_a_simulated_calls_record_ends_its_simulated_duration_after_it_starts(
    app: Flask,
) -> None:
    t = simulate_call(app, CANCEL_BY_KEYPAD, from_number=ADA)

    assert t.call_duration > 30
    record = t.record
    assert record is not None
    started = dt.datetime.fromisoformat(record["started_at"])
    ended = dt.datetime.fromisoformat(record["ended_at"])
    assert record["duration_seconds"] == t.call_duration
    assert (ended - started).total_seconds() == t.call_duration
