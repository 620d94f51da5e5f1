"""Every caller path of the line, end to end: the simulator places real
calls (signed webhooks, TwiML executed as Twilio would) on the app."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from flask import Flask
from sqlalchemy import select

from ivr import db
from ivr.models import Call, CallbackRequest, Subscription
from ivr.simulator import simulate_call

ADA, GRACE, ALAN, JUANA = "+15550100001", "+15550100002", "+15550100003", "+15550100004"
STRANGER = "+15550107777"


def subscription(app: Flask, plan: str, account: str) -> Subscription:
    from ivr.models import Customer

    with app.app_context():
        return (
            db.session()
            .scalars(
                select(Subscription)
                .join(Customer)
                .where(Customer.account_number == account, Subscription.plan == plan)
            )
            .one()
        )


def heard(t) -> str:  # type: ignore[no-untyped-def]
    return " ".join(t.heard())


def test_keypad_caller_cancels_in_under_a_minute(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    assert t.ok and t.ended
    assert t.outcome == "cancelled"
    record = t.record
    assert record["customer"] == "100001" and record["verified"] is True
    assert record["reason"] == "too_expensive" and record["offer"] == "discount_50_3m"
    assert record["offer_accepted"] is False
    code = record["confirmation"]
    assert code and len(code) == 8
    # The code is read digit by digit, with the end date and the promise.
    said = heard(t)
    assert ", ".join(code) in said
    sub = subscription(app, "Premium", "100001")
    assert sub.status == "cancelled" and sub.cancel_at == sub.current_period_end
    assert sub.cancellation_reason == "too_expensive"
    assert f"{sub.cancel_at:%B} {sub.cancel_at.day}, {sub.cancel_at.year}" in said
    assert "no further charges" in said and "welcome back" in said.lower()
    # The promise of the greeting: about a minute, everything included.
    assert t.caller_seconds < 60


def test_speaking_caller_cancels_by_voice(app: Flask) -> None:
    t = simulate_call(
        app, ["one two three four", "honestly it costs too much", "no thanks"], from_number=ADA
    )
    assert t.outcome == "cancelled"
    assert t.record["reason"] == "too_expensive"
    assert t.record["reason_text"] == "honestly it costs too much"


def test_accepting_the_offer_saves_and_applies_it(app: Flask) -> None:
    t = simulate_call(app, ["1234", "I don't use it anymore", "yes"], from_number=ADA)
    assert t.outcome == "saved" and t.record["offer_accepted"] is True
    assert t.record["offer"] == "pause_3m" and t.record["confirmation"]
    sub = subscription(app, "Premium", "100001")
    assert sub.status == "paused" and sub.paused_until is not None
    assert sub.paused_until > sub.current_period_end
    assert "paused until" in heard(t)


def test_caller_with_two_subscriptions_picks_one_by_name(app: Flask) -> None:
    t = simulate_call(app, ["5678", "cloud storage", "9", "1"], from_number=GRACE)
    assert t.outcome == "cancelled"
    assert t.record["subscription"] == "Cloud Storage 1 TB"
    assert subscription(app, "Streaming Basic", "100002").status == "active"
    assert subscription(app, "Cloud Storage 1 TB", "100002").status == "cancelled"


def test_caller_with_two_subscriptions_picks_one_by_key(app: Flask) -> None:
    t = simulate_call(app, ["5678", "1", "5", "1"], from_number=GRACE)
    assert t.outcome == "cancelled" and t.record["subscription"] == "Streaming Basic"
    assert "For Streaming Basic, press 1" in heard(t)


def test_nothing_active_is_said_plainly(app: Flask) -> None:
    t = simulate_call(app, ["4321"], from_number=ALAN)
    assert t.outcome == "no_subscription"
    assert "no active subscriptions" in heard(t)


def test_unknown_number_identifies_by_account_number(app: Flask) -> None:
    t = simulate_call(app, ["100001#", "1234", "9", "1"], from_number=STRANGER)
    assert t.outcome == "cancelled" and t.record["customer"] == "100001"


def test_spoken_account_number(app: Flask) -> None:
    t = simulate_call(app, ["one oh oh oh oh one", "1234", "9", "cancel"], from_number=STRANGER)
    assert t.outcome == "cancelled"


def test_three_wrong_pins_cancel_nothing(app: Flask) -> None:
    t = simulate_call(app, ["1111", "2222", "3333", ""], from_number=ADA)
    assert t.outcome == "unverified"
    assert "couldn't verify" in heard(t) and "press 0" in heard(t)
    assert subscription(app, "Premium", "100001").status == "active"
    # The PIN is never written into the record.
    events = json.dumps(t.record["events"])
    assert "1111" not in events and "2222" not in events


def test_spanish_customer_is_served_in_spanish(app: Flask) -> None:
    t = simulate_call(app, ["dos cuatro seis ocho", "es muy caro", "no gracias"], from_number=JUANA)
    assert t.outcome == "cancelled" and t.record["language"] == "es-US"
    said = heard(t)
    assert "Gracias por llamar" in said and "Su código es" in said
    assert "de 20" in said  # the date, in Spanish: "23 de diciembre de 2026"


def test_english_caller_chooses_spanish_at_the_greeting(app: Flask) -> None:
    t = simulate_call(app, ["2", "1234", "1", "2"], from_number=ADA)
    assert t.outcome == "cancelled" and t.record["language"] == "es-US"
    assert "Su PIN de 4 dígitos" in heard(t)


def test_a_person_on_request_hears_who_is_calling(app: Flask) -> None:
    t = simulate_call(app, ["1234", "too expensive", "agent"], from_number=ADA, agent="answers")
    assert t.outcome == "agent"
    whisper = " ".join(e["text"] for e in t.of_type("agent_hears"))
    assert "Ada Lovelace" in whisper and "100001" in whisper and "too expensive" in whisper
    assert t.record["agent_result"] == "completed"
    assert subscription(app, "Premium", "100001").status == "active"


def test_nobody_answers_so_the_caller_asks_for_a_call_back(app: Flask) -> None:
    t = simulate_call(app, ["0", "1"], from_number=ADA, agent="no-answer")
    assert t.outcome == "callback"
    with app.app_context():
        callbacks = db.session().scalars(select(CallbackRequest)).all()
    assert [c.phone for c in callbacks] == [ADA]


def test_busy_agent_then_going_on_finishes_the_cancellation(app: Flask) -> None:
    t = simulate_call(app, ["1234", "0", "2", "1", "2"], from_number=ADA, agent="busy")
    assert t.outcome == "cancelled"
    assert len(t.of_type("dial")) == 1


def test_outside_business_hours_no_one_is_rung(app: Flask) -> None:
    app.config["AGENT_HOURS"] = "sun 00:00-00:01"
    t = simulate_call(app, ["0", "1"], from_number=ADA)
    assert not t.of_type("dial")
    assert t.outcome == "callback"
    assert "away right now" in heard(t)


def test_silence_is_reprompted_twice_then_the_call_ends_politely(app: Flask) -> None:
    t = simulate_call(app, ["1234", "", "", "", ""], from_number=ADA)
    assert t.outcome == "abandoned"
    assert t.record["outcome_step"] == "reason"
    said = t.heard()
    assert said.count("Say why you're cancelling, or press 1 to 5. 9 skips.") == 2
    assert "call us back" in said[-2] and said[-1] == "Goodbye."


def test_star_repeats_the_question(app: Flask) -> None:
    t = simulate_call(app, ["1234", "*", "1", "2"], from_number=ADA)
    assert t.outcome == "cancelled"
    assert sum("Why are you cancelling" in s for s in t.heard()) == 2


def test_caller_who_hangs_up_is_abandoned_at_that_step(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "hangup"], from_number=ADA)
    assert t.outcome == "abandoned"
    assert t.record["outcome_step"] == "offer"
    assert t.record["duration_seconds"] is not None
    assert subscription(app, "Premium", "100001").status == "active"


def test_show_call_prints_the_record(app: Flask) -> None:
    t = simulate_call(app, ["1234", "it's too expensive", "2"], from_number=ADA)
    result = app.test_cli_runner().invoke(args=["ivr", "show-call", t.call_sid])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    for field in (
        "call_sid",
        "from",
        "language",
        "customer",
        "outcome",
        "reason",
        "reason_text",
        "offer",
        "offer_accepted",
        "confirmation",
        "events",
    ):
        assert field in record
    assert record["from"] == ADA and record["outcome"] == "cancelled"
    types = [e["type"] for e in record["events"]]
    assert "prompt" in types and "input" in types and "status" in types
    speech = [e for e in record["events"] if e["type"] == "input" and "speech" in e["detail"]]
    assert speech[0]["detail"] == {"speech": "it's too expensive", "confidence": 0.9}
    assert all({"at", "type", "detail"} <= set(e) for e in record["events"])


def test_show_call_for_an_unknown_call_says_so(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["ivr", "show-call", "CAnope"])
    assert result.exit_code == 1 and "No call" in result.output


def test_every_prompt_and_input_is_on_the_record(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    with app.app_context():
        call = db.session().scalars(select(Call).where(Call.call_sid == t.call_sid)).one()
        prompts = [e.detail["text"] for e in call.events if e.type == "prompt"]
        inputs = [e.detail for e in call.events if e.type == "input"]
        times = [e.at for e in call.events]
        started = call.started_at
    assert prompts == t.heard()
    # In the order they happened, in UTC, within the call.
    assert times == sorted(times) and started <= times[0]
    assert times[-1] <= dt.datetime.now(dt.UTC)
    assert inputs == [{"digits": "****"}, {"digits": "1"}, {"digits": "2"}]


def test_cancellation_ends_at_the_end_of_the_paid_period(app: Flask) -> None:
    before = subscription(app, "Premium", "100001")
    simulate_call(app, ["1234", "9", "1"], from_number=ADA)
    after = subscription(app, "Premium", "100001")
    assert after.cancel_at == before.current_period_end
    assert after.cancelled_at is not None
    assert after.cancelled_at <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("answers", [["1234", "1", "2"], ["1234", "purple", "purple", "9", "1"]])
def test_confirmation_codes_are_unique(app: Flask, answers: list[str]) -> None:
    from werkzeug.security import generate_password_hash

    from ivr.models import Customer

    with app.app_context():
        s = db.session()
        for i in range(3):
            c = Customer(
                name=f"C{i}",
                phone=f"+1555020000{i}",
                account_number=f"20000{i}",
                pin_hash=generate_password_hash("1234"),
                language="en-US",
            )
            s.add(c)
            s.add(
                Subscription(
                    customer=c,
                    plan="Premium",
                    price=10,
                    status="active",
                    current_period_end=dt.date(2027, 1, 1),
                )
            )
        s.commit()
    codes = {
        simulate_call(app, answers, from_number=f"+1555020000{i}").record["confirmation"]
        for i in range(3)
    }
    assert len(codes) == 3 and None not in codes


# --- nobody loses a subscription they did not clearly give up ------------------


def understood(t) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e["detail"] for e in t.record["events"] if e["type"] == "understood"]


def test_hesitation_and_questions_at_the_reason_never_cancel(app: Flask) -> None:
    t = simulate_call(
        app,
        ["1234", "wait, hold on a second", "can you tell me what I'm paying", "hangup"],
        from_number=ADA,
    )
    assert t.outcome == "abandoned" and t.record["reason"] is None
    assert subscription(app, "Premium", "100001").status == "active"
    assert "Take your time." in t.heard()
    assert "Premium is 29 dollars 99 a month." in t.heard()
    assert understood(t)[-2:] == [
        # Not placed: the caller's words are kept, for operations to teach.
        {"meaning": "not_an_answer", "heard_as": "hesitation", "words": "wait, hold on a second"},
        {"meaning": "question", "about": "ask_price"},
    ]


def test_a_spanish_caller_answering_in_english_is_not_cancelled(app: Flask) -> None:
    t = simulate_call(app, ["2468", "it's too expensive", "hangup"], from_number=JUANA)
    assert t.outcome == "abandoned"
    assert subscription(app, "Premium", "100004").status == "active"
    assert understood(t)[-1] == {
        "meaning": "not_an_answer",
        "heard_as": "other_language",
        "words": "it's too expensive",
    }


@pytest.mark.parametrize("unsure", ["not really sure", "I'm not sure"])
def test_not_sure_at_the_offer_never_cancels(app: Flask, unsure: str) -> None:
    t = simulate_call(app, ["1234", "1", unsure, "hangup"], from_number=ADA)
    assert t.outcome == "abandoned" and t.record["offer_accepted"] is None
    assert subscription(app, "Premium", "100001").status == "active"


def test_the_offer_says_the_price_and_what_follows(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "how much would that cost?", "2"], from_number=ADA)
    said = t.heard()
    assert said.count("That's 15 dollars a month, then 29 dollars 99.") == 2
    assert t.outcome == "cancelled"


def test_without_an_offer_the_cancellation_waits_for_an_explicit_cancel(app: Flask) -> None:
    t = simulate_call(app, ["1234", "5", "hangup"], from_number=ADA)
    assert "To cancel Premium now, press 1 or say cancel. To keep it, press 2." in t.heard()
    assert t.outcome == "abandoned"
    assert subscription(app, "Premium", "100001").status == "active"
    t = simulate_call(app, ["1234", "5", "cancel"], from_number=ADA)
    assert t.outcome == "cancelled" and t.record["reason"] == "other"


def test_both_cancels_every_subscription_with_a_code_for_each(app: Flask) -> None:
    t = simulate_call(app, ["5678", "both", "1", "2"], from_number=GRACE)
    assert t.outcome == "cancelled"
    assert subscription(app, "Streaming Basic", "100002").status == "cancelled"
    assert subscription(app, "Cloud Storage 1 TB", "100002").status == "cancelled"
    confirmations = t.record["confirmations"]
    assert [c["subscription"] for c in confirmations] == ["Streaming Basic", "Cloud Storage 1 TB"]
    codes = [c["code"] for c in confirmations]
    assert len(set(codes)) == 2 and t.record["confirmation"] == codes[0]
    said = heard(t)
    assert all(", ".join(code) in said for code in codes)
    # One reason and one offer for both: the price of both together.
    assert "That's 7 dollars 49 a month, then 14 dollars 98." in t.heard()


def test_star_after_the_confirmation_repeats_it_once_then_goodbye(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "2", "*"], from_number=ADA)
    code = ", ".join(t.record["confirmation"])
    said = t.heard()
    assert said[-3] == "To hear that again, press star."
    assert sum(code in line for line in said) == 2 and said[-1] == "Goodbye."
    assert t.ended == "the line hung up"


def test_silence_after_the_confirmation_says_goodbye(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "2", ""], from_number=ADA)
    assert t.heard()[-1] == "Goodbye." and t.outcome == "cancelled"


def test_no_person_then_going_on_after_three_wrong_pins_ends_with_words(app: Flask) -> None:
    app.config["AGENT_NUMBER"] = None
    t = simulate_call(app, ["1111", "2222", "3333", "0", "2", ""], from_number=ADA)
    said = t.heard()
    assert said[-2] == "For a call back, press 0 now, or call us any time."
    assert said[-1] == "Goodbye." and t.ended == "the line hung up"
    assert t.outcome == "unverified"


@pytest.mark.parametrize(
    "answers, caller, help_text",
    [
        (["I forgot my PIN"], ADA, "Your PIN is on your bill"),
        (["I don't know my account number"], STRANGER, "Your account number is on your bill"),
        (["no me acuerdo"], JUANA, "Su PIN está en su factura"),
    ],
)
def test_a_caller_without_pin_or_account_hears_where_to_find_it(
    app: Flask, answers: list[str], caller: str, help_text: str
) -> None:
    t = simulate_call(app, [*answers, "hangup"], from_number=caller)
    assert any(line.startswith(help_text) for line in t.heard())
    assert understood(t)[-1] == {"meaning": "forgot"}


@pytest.mark.parametrize(
    "answers",
    [
        [],
        ["1234"],
        ["1234", "1"],
        ["1234", "9"],
        ["1234", "too expensive"],
        ["1234", "1", "2"],
        ["1111", "2222", "3333"],
        ["1234", "", "", ""],
    ],
)
def test_hanging_up_at_any_step_changes_nothing_not_yet_confirmed(
    app: Flask, answers: list[str]
) -> None:
    t = simulate_call(app, [*answers, "hangup"], from_number=ADA)
    assert t.ended == "caller hung up"
    cancelled = t.outcome == "cancelled"
    assert cancelled == (answers == ["1234", "1", "2"]), t.outcome
    status = subscription(app, "Premium", "100001").status
    assert status == ("cancelled" if cancelled else "active")


@pytest.mark.parametrize(
    ("caller", "pin", "account", "sentence"),
    [
        (ADA, "1234", "100001", "it's been snowing since Monday"),
        (JUANA, "2468", "100004", "el portero atajó tres penales"),
    ],
)
def test_off_topic_words_at_the_offer_change_nothing(
    app: Flask, caller: str, pin: str, account: str, sentence: str
) -> None:
    # Said three times at the offer (words the line never learnt): asked
    # again each time, then the line gives up; the subscription is untouched.
    t = simulate_call(app, [pin, "1", sentence, sentence, sentence], from_number=caller)
    assert t.outcome not in ("cancelled", "saved")
    assert t.record["offer_accepted"] is None
    assert subscription(app, "Premium", account).status == "active"
