"""The call flow as pure decisions: no Flask, no database, a fake World."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import pytest

from ivr.config import PROJECT_ROOT
from ivr.flow.steps import STEPS, decide
from ivr.flow.types import (
    Answer,
    ApplyOffer,
    CallState,
    Cancel,
    CustomerFacts,
    Decision,
    Hangup,
    Listen,
    OfferFacts,
    RequestCallback,
    Say,
    SubscriptionFacts,
    Transfer,
)
from ivr.flow.understand import Vocabulary
from ivr.prompts import load_baseline

PACKS = load_baseline(PROJECT_ROOT / "voice_prompts")
END = dt.date(2026, 12, 23)


@dataclass
class FakeWorld:
    company_name: str = "Acme"
    speech_threshold: float = 0.45
    open_: bool = True
    customers: dict[int, CustomerFacts] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)
    pins: dict[int, str] = field(default_factory=dict)
    subs: dict[int, list[SubscriptionFacts]] = field(default_factory=dict)
    offers: dict[str, OfferFacts] = field(default_factory=dict)

    def vocabulary(self, language: str) -> Vocabulary:
        return PACKS[language].vocabulary

    def customer(self, customer_id: int) -> CustomerFacts | None:
        return self.customers.get(customer_id)

    def customer_by_phone(self, phone: str) -> CustomerFacts | None:
        cid = self.phones.get(phone)
        return self.customers.get(cid) if cid else None

    def customer_by_account(self, account_number: str) -> CustomerFacts | None:
        return next(
            (c for c in self.customers.values() if c.account_number == account_number), None
        )

    def pin_matches(self, customer_id: int, pin: str) -> bool:
        return self.pins.get(customer_id) == pin

    def active_subscriptions(self, customer_id: int) -> Sequence[SubscriptionFacts]:
        return self.subs.get(customer_id, [])

    def subscription(self, subscription_id: int) -> SubscriptionFacts | None:
        return next(
            (s for subs in self.subs.values() for s in subs if s.id == subscription_id), None
        )

    def offer_for(self, reason_code: str) -> OfferFacts | None:
        return self.offers.get(reason_code)

    def offer(self, offer_id: int) -> OfferFacts | None:
        return next((o for o in self.offers.values() if o.id == offer_id), None)

    def agents(self) -> Literal["open", "closed"]:
        return "open" if self.open_ else "closed"


def world() -> FakeWorld:
    w = FakeWorld()
    w.customers = {
        1: CustomerFacts(1, "Ada Lovelace", "100001", "en-US"),
        2: CustomerFacts(2, "Grace Hopper", "100002", "en-US"),
        3: CustomerFacts(3, "Alan Turing", "100003", "en-US"),
        4: CustomerFacts(4, "Juana Ramirez", "100004", "es-US"),
    }
    w.phones = {"+15550100001": 1, "+15550100002": 2, "+15550100003": 3, "+15550100004": 4}
    w.pins = {1: "1234", 2: "5678", 3: "4321", 4: "2468"}
    w.subs = {
        1: [SubscriptionFacts(11, "Premium", Decimal("29.99"), END)],
        2: [
            SubscriptionFacts(21, "Streaming Basic", Decimal("9.99"), END),
            SubscriptionFacts(22, "Cloud Storage 1 TB", Decimal("4.99"), END),
        ],
        4: [SubscriptionFacts(41, "Premium", Decimal("29.99"), END)],
    }
    w.offers = {
        "too_expensive": OfferFacts(
            7,
            "discount_50_3m",
            "too_expensive",
            "discount",
            {"percent": 50, "months": 3},
            {"en-US": "How about {percent} percent off?"},
        ),
        "unused": OfferFacts(8, "pause_3m", "unused", "pause", {"months": 3}, {"en-US": "Pause?"}),
    }
    return w


def keys(digits: str) -> Answer:
    return Answer("digits", digits=digits)


def said(words: str, confidence: float = 0.9) -> Answer:
    return Answer("speech", speech=words, confidence=confidence)


SILENCE = Answer("silence")


def keys_of(decision: Decision) -> list[str | None]:
    return [line.key for line in decision.lines]


class Call:
    """Drives decide() turn by turn, as the service would."""

    def __init__(self, caller: str | None = "+15550100001", w: FakeWorld | None = None):
        self.world = w or world()
        self.decision = decide(CallState(caller=caller), Answer("start"), self.world)

    @property
    def state(self) -> CallState:
        return self.decision.state

    def __call__(self, answer: Answer) -> Decision:
        self.decision = decide(self.state, answer, self.world)
        return self.decision


def test_known_caller_is_greeted_and_asked_for_the_pin_at_once() -> None:
    call = Call()
    assert keys_of(call.decision) == ["greeting", "language_option", "ask_pin"]
    assert call.decision.then == Listen("verify")
    assert call.state.customer_id == 1


def test_unknown_caller_is_asked_for_the_account_number() -> None:
    call = Call("+15559999999")
    assert keys_of(call.decision)[-1] == "ask_account"
    assert call.state.step == "identify"
    call(keys("100002"))
    assert call.state.step == "verify" and call.state.customer_id == 2


def test_spoken_account_number_identifies_the_caller() -> None:
    call = Call(None)
    call(said("one oh oh oh oh two"))
    assert call.state.customer_id == 2


def test_saved_language_greets_in_spanish() -> None:
    call = Call("+15550100004")
    assert call.state.language == "es-US"


@pytest.mark.parametrize("answer", [keys("2"), said("español"), said("Spanish please")])
def test_caller_switches_to_spanish_at_the_first_question(answer: Answer) -> None:
    call = Call()
    call(answer)
    assert call.state.language == "es-US"
    assert call.state.step == "verify"
    assert call.state.pin_tries == 0
    assert keys_of(call.decision) == ["ask_pin"]


def test_keypad_cancellation_with_declined_offer() -> None:
    call = Call()
    call(keys("1234"))
    assert call.state.verified and call.state.step == "reason"
    call(keys("1"))
    assert call.state.step == "offer" and call.state.offer_id == 7
    d = call(keys("2"))
    assert d.state.outcome == "cancelled"
    assert d.effects == (Cancel(11, "too_expensive", None),)
    assert d.then == Hangup()
    assert keys_of(d) == ["cancelled"]
    assert d.state.offer_accepted is False


def test_accepting_the_offer_saves_the_subscription() -> None:
    call = Call()
    call(keys("1234"))
    call(said("I'm not really using it"))
    assert call.state.reason_code == "unused"
    assert call.state.reason_text == "I'm not really using it"
    d = call(said("yes please"))
    assert d.state.outcome == "saved" and d.state.offer_accepted is True
    assert d.effects == (ApplyOffer(11, 8),)
    saved = d.lines[0]
    assert saved.key == "saved" and saved.params["change"].key == "saved_pause"


def test_no_offer_for_the_reason_cancels_straight_away() -> None:
    call = Call()
    call(keys("1234"))
    d = call(said("I'm moving away"))
    assert d.state.outcome == "cancelled" and d.state.reason_code == "other"
    assert d.state.offer_id is None


def test_skipping_the_reason_cancels_without_an_offer() -> None:
    call = Call()
    call(keys("1234"))
    d = call(keys("9"))
    assert d.state.outcome == "cancelled"
    assert d.state.reason_code is None and d.state.offer_id is None


def test_own_words_without_a_category_are_kept_as_other() -> None:
    call = Call()
    call(keys("1234"))
    d = call(said("my dog chewed the remote"))
    assert d.state.reason_code == "other"
    assert d.state.reason_text == "my dog chewed the remote"


def test_caller_who_changes_their_mind_keeps_the_subscription() -> None:
    call = Call()
    call(keys("1234"))
    d = call(said("actually I don't want to cancel"))
    assert d.state.outcome == "saved" and not d.effects
    assert keys_of(d) == ["kept"]


def test_never_a_second_offer_or_are_you_sure() -> None:
    call = Call()
    call(keys("1234"))
    call(keys("1"))
    d = call(said("no thanks"))
    assert d.state.outcome == "cancelled" and d.then == Hangup()


def test_three_wrong_pins_never_cancel() -> None:
    call = Call()
    for _ in range(2):
        d = call(keys("0000"))
        assert keys_of(d) == ["pin_wrong", "ask_pin"]
    d = call(keys("9999"))
    assert d.state.outcome == "unverified"
    assert keys_of(d) == ["unverified"]
    assert d.state.step == "last_chance"
    assert not d.state.verified
    d = call(SILENCE)
    assert d.then == Hangup() and d.state.outcome == "unverified"


def test_unverified_caller_can_still_press_0_for_a_person() -> None:
    call = Call()
    for pin in ("0001", "0002", "0003"):
        call(keys(pin))
    d = call(keys("0"))
    assert isinstance(d.then, Transfer)


def test_three_unknown_account_numbers_end_unverified() -> None:
    call = Call(None)
    call(keys("999999"))
    call(keys("888888"))
    d = call(keys("777777"))
    assert d.state.outcome == "unverified"


def test_nothing_active_is_said_plainly() -> None:
    call = Call("+15550100003")
    d = call(keys("4321"))
    assert d.state.outcome == "no_subscription"
    assert keys_of(d) == ["no_subscription"] and d.then == Hangup()


def test_several_subscriptions_are_chosen_by_key_or_name() -> None:
    call = Call("+15550100002")
    d = call(keys("5678"))
    assert d.state.step == "choose"
    options = d.lines[0].params["options"]
    assert [o.params["plan"] for o in options] == ["Streaming Basic", "Cloud Storage 1 TB"]
    call(keys("2"))
    assert call.state.subscription_id == 22

    call = Call("+15550100002")
    call(keys("5678"))
    call(said("the cloud storage one"))
    assert call.state.subscription_id == 21 + 1 and call.state.step == "reason"


def test_unclear_choice_is_asked_again() -> None:
    call = Call("+15550100002")
    call(keys("5678"))
    d = call(keys("7"))
    assert d.state.step == "choose" and keys_of(d)[0] == "not_understood"


def test_low_confidence_reason_is_confirmed() -> None:
    call = Call()
    call(keys("1234"))
    d = call(said("too expensive", confidence=0.2))
    assert d.state.step == "confirm"
    assert d.lines[0].params["heard"] == Say("label:reasons.too_expensive")
    d = call(keys("1"))
    assert d.state.reason_code == "too_expensive" and d.state.step == "offer"


def test_denied_confirmation_asks_the_question_again() -> None:
    call = Call()
    call(keys("1234"))
    call(said("too expensive", confidence=0.2))
    d = call(said("no"))
    assert d.state.step == "reason" and d.state.reason_code is None
    assert keys_of(d) == ["try_again", "ask_reason"]


@pytest.mark.parametrize("step_answers", [[], [keys("1234")], [keys("1234"), keys("1")]])
@pytest.mark.parametrize("ask", [keys("0"), said("agent"), said("can I talk to a real person")])
def test_a_person_at_any_prompt(step_answers: list[Answer], ask: Answer) -> None:
    call = Call()
    for a in step_answers:
        call(a)
    before = call.state.step
    d = call(ask)
    assert isinstance(d.then, Transfer)
    assert keys_of(d) == ["transfer"]
    assert d.state.agent_requested and d.state.return_step == before


def test_nobody_answers_offers_a_call_back_or_going_on() -> None:
    call = Call()
    call(keys("1234"))
    call(keys("0"))
    d = call(Answer("dial", dial_status="no-answer"))
    assert d.state.step == "agent_unavailable" and keys_of(d) == ["agent_unavailable"]
    d = call(keys("1"))
    assert d.state.outcome == "callback"
    assert d.effects == (RequestCallback("no-answer"),)


def test_going_on_returns_to_the_same_question_and_never_transfers_twice() -> None:
    call = Call()
    call(keys("1234"))
    call(keys("0"))
    call(Answer("dial", dial_status="busy"))
    d = call(keys("2"))
    assert d.state.step == "reason" and keys_of(d) == ["ask_reason"]
    d = call(keys("0"))
    assert not isinstance(d.then, Transfer)
    assert d.state.step == "agent_unavailable"


def test_answered_transfer_ends_with_the_agent() -> None:
    call = Call()
    call(keys("0"))
    d = call(Answer("dial", dial_status="completed"))
    assert d.state.outcome == "agent" and d.then == Hangup()


def test_outside_hours_offers_a_call_back_without_ringing() -> None:
    w = world()
    w.open_ = False
    call = Call(w=w)
    d = call(keys("0"))
    assert not isinstance(d.then, Transfer)
    assert keys_of(d) == ["agent_closed"]


def test_silence_reprompts_shorter_twice_then_ends_politely() -> None:
    call = Call()
    call(keys("1234"))
    for _ in range(2):
        d = call(SILENCE)
        assert d.state.step == "reason"
        assert d.lines[-1] == Say("ask_reason", short=True)
    d = call(SILENCE)
    assert keys_of(d) == ["give_up"]
    assert d.state.outcome == "abandoned" and d.state.outcome_step == "reason"
    d = call(SILENCE)
    assert d.then == Hangup()


def test_not_understood_counts_like_silence() -> None:
    call = Call()
    call(keys("1234"))
    call(keys("1"))
    for _ in range(2):
        d = call(said("purple elephant"))
        assert keys_of(d) == ["not_understood", "offer_question"]
    d = call(said("purple elephant"))
    assert keys_of(d) == ["give_up"]


@pytest.mark.parametrize("ask", [keys("*"), said("repeat"), said("can you say that again")])
def test_repeat_asks_the_full_question_again_without_counting(ask: Answer) -> None:
    call = Call()
    call(keys("1234"))
    d = call(ask)
    assert d.lines == (Say("ask_reason"),)
    assert d.state.misses == 0


def test_whisper_tells_the_agent_who_and_why() -> None:
    from ivr.flow.steps import whisper

    call = Call()
    call(keys("1234"))
    call(said("it's too expensive"))
    call(keys("0"))
    [line] = whisper(call.state, call.world)
    assert line.key == "whisper"
    who = line.params["who"]
    assert who.params["name"] == "Ada Lovelace" and who.params["account"] == "100001"
    assert line.params["subscription"].params["plan"] == "Premium"
    assert line.params["reason"].params["words"] == "it's too expensive"


def test_every_step_is_reachable_and_listens_for_keys() -> None:
    for name, step in STEPS.items():
        assert step.name == name
        assert step.listening.timeout >= 1
