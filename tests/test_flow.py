"""The call flow as pure decisions: no Flask, no database, a fake World."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import pytest

from ivr import jurisdictions
from ivr.config import PROJECT_ROOT
from ivr.flow.steps import REASON_KEYS, STEPS, decide
from ivr.flow.types import (
    Answer,
    ApplyOffer,
    CallState,
    Cancel,
    CustomerFacts,
    Decision,
    DueBy,
    Hangup,
    Listen,
    OfferFacts,
    RecordConsent,
    Reinstate,
    RequestCallback,
    Say,
    SendText,
    SubscriptionFacts,
    Transfer,
)
from ivr.flow.understand import Vocabulary
from ivr.jurisdictions import Jurisdiction
from ivr.prompts import load_baseline

PACKS = load_baseline(PROJECT_ROOT / "voice_prompts")
RULES = jurisdictions.load(PROJECT_ROOT / "voice_prompts")
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
    pending: dict[int, list[SubscriptionFacts]] = field(default_factory=dict)
    textable: set[str] = field(default_factory=set)

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
        every = [*self.subs.values(), *self.pending.values()]
        return next((s for subs in every for s in subs if s.id == subscription_id), None)

    def offer_for(self, reason_code: str) -> OfferFacts | None:
        return self.offers.get(reason_code)

    def offer(self, offer_id: int) -> OfferFacts | None:
        return next((o for o in self.offers.values() if o.id == offer_id), None)

    def agents(self) -> Literal["open", "closed"]:
        return "open" if self.open_ else "closed"

    def jurisdiction(self, on_file: str | None, from_state: str | None) -> Jurisdiction:
        return RULES.resolve(on_file, from_state)

    def pending_cancellations(self, customer_id: int) -> Sequence[SubscriptionFacts]:
        return self.pending.get(customer_id, [])

    def can_text(self, phone: str | None) -> bool:
        return bool(phone) and phone in self.textable

    def callback_due(self) -> DueBy:
        return DueBy(dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC), dt.date(2026, 11, 30))


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

    def __init__(
        self,
        caller: str | None = "+15550100001",
        w: FakeWorld | None = None,
        from_state: str | None = "NY",
    ):
        self.world = w or world()
        state = CallState(caller=caller, from_state=from_state)
        self.decision = decide(state, Answer("start"), self.world)

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
    # The confirmation, then one chance to hear it again before goodbye.
    assert keys_of(d) == ["cancelled", "hear_again"]
    assert d.lines[0].mark == "receipt" and d.lines[0].results_of == 11
    assert d.then == Listen("receipt")
    assert d.state.offer_accepted is False
    d = call(SILENCE)
    assert keys_of(d) == ["goodbye"] and d.then == Hangup()


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


@pytest.mark.parametrize("cancel", [keys("1"), said("cancel"), said("yes, cancel it")])
def test_no_offer_for_the_reason_asks_for_an_explicit_cancel(cancel: Answer) -> None:
    call = Call()
    call(keys("1234"))
    d = call(said("I'm moving away"))
    assert d.state.reason_code == "other" and d.state.offer_id is None
    assert d.state.step == "confirm_cancel" and not d.effects
    assert d.state.outcome == "in_progress"
    assert keys_of(d) == ["confirm_cancel"]
    d = call(cancel)
    assert d.state.outcome == "cancelled"
    assert d.effects == (Cancel(11, "other", "I'm moving away"),)


@pytest.mark.parametrize("keep", [keys("2"), said("keep it"), said("no")])
def test_keeping_it_at_the_explicit_cancel_changes_nothing(keep: Answer) -> None:
    call = Call()
    call(keys("1234"))
    call(keys("9"))
    d = call(keep)
    assert d.state.outcome == "saved" and not d.effects
    assert keys_of(d) == ["kept"]


def test_skipping_the_reason_cancels_without_an_offer_after_one_confirmation() -> None:
    call = Call()
    call(keys("1234"))
    d = call(keys("9"))
    assert d.state.step == "confirm_cancel"
    assert d.state.reason_code is None and d.state.offer_id is None
    d = call(keys("1"))
    assert d.state.outcome == "cancelled" and d.state.step == "receipt"


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
    assert d.state.outcome == "cancelled" and d.state.step == "receipt"
    assert keys_of(d) == ["cancelled", "hear_again"]
    d = call(SILENCE)
    assert keys_of(d) == ["goodbye"] and d.then == Hangup()


def test_three_wrong_pins_never_cancel() -> None:
    call = Call()
    for _ in range(2):
        d = call(keys("0000"))
        assert keys_of(d) == ["pin_wrong", "ask_pin"]
    d = call(keys("9999"))
    assert d.state.outcome == "unverified"
    assert keys_of(d) == ["unverified", "last_chance"]
    assert d.state.step == "last_chance"
    assert not d.state.verified
    d = call(SILENCE)
    assert d.then == Hangup() and d.state.outcome == "unverified"
    assert keys_of(d) == ["goodbye"]


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
    assert [o.params.get("plan") for o in options] == [
        "Streaming Basic",
        "Cloud Storage 1 TB",
        None,
    ]
    assert options[-1] == Say("subscription_all", {"key": "3"})
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
    due = dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC)
    assert d.effects == (RequestCallback("no-answer", due),)
    # The caller hears when: "by 5 PM tomorrow".
    assert d.lines[0] == Say("callback_confirmed", {"due": DueBy(due, dt.date(2026, 11, 30))})
    assert keys_of(d) == ["callback_confirmed", "goodbye"]


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
    assert keys_of(d) == ["give_up", "last_chance"]
    assert d.state.outcome == "abandoned" and d.state.outcome_step == "reason"
    d = call(SILENCE)
    assert d.then == Hangup() and keys_of(d) == ["goodbye"]


def test_not_understood_counts_like_silence() -> None:
    call = Call()
    call(keys("1234"))
    call(keys("1"))
    for _ in range(2):
        d = call(said("purple elephant"))
        assert keys_of(d) == ["not_understood", "offer_question"]
    d = call(said("purple elephant"))
    assert keys_of(d) == ["give_up", "last_chance"]


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
    assert line.params["subscription"].params["plan"] == Say(text="Premium")
    assert line.params["reason"].params["words"] == "it's too expensive"


def test_every_step_is_reachable_and_listens_for_keys() -> None:
    for name, step in STEPS.items():
        assert step.name == name
        assert step.listening.timeout >= 1


# --- nobody loses a subscription they did not clearly give up ------------------


def at_reason(caller: str = "+15550100001", pin: str = "1234") -> Call:
    call = Call(caller)
    call(keys(pin))
    assert call.state.step == "reason"
    return call


NOT_ANSWERS_AT_THE_REASON = [
    ("wait, hold on a second", "hesitation"),
    ("hmm", "hesitation"),
    ("let me think", "hesitation"),
    ("what are my options", "question"),
    ("Is there a family plan?", "question"),
    ("I'm not sure", "unsure"),
    ("I don't know", "unsure"),
]


@pytest.mark.parametrize("words, heard_as", NOT_ANSWERS_AT_THE_REASON)
def test_what_is_not_a_reason_is_asked_again_and_never_cancels(words: str, heard_as: str) -> None:
    call = at_reason()
    d = call(said(words))
    assert d.state.step == "reason" and not d.effects
    assert d.state.outcome == "in_progress" and d.state.reason_code is None
    assert d.understood == {"meaning": "not_an_answer", "heard_as": heard_as}
    # Asked again, shorter, and counted like silence.
    assert d.lines[-1] == Say("ask_reason", short=True) and d.state.misses == 1


def test_words_the_line_cannot_place_are_not_a_reason() -> None:
    call = at_reason()
    d = call(said("banana telephone purple"))
    assert d.state.step == "reason" and d.state.reason_code is None and not d.effects
    assert d.understood == {"meaning": "not_understood"}


def test_a_reason_in_the_other_language_is_not_taken_as_other() -> None:
    call = at_reason("+15550100004", "2468")
    assert call.state.language == "es-US"
    for words in ("it's too expensive", "I don't use it anymore, it is a waste of money"):
        d = call(said(words))
        assert d.state.step == "reason" and d.state.reason_code is None
        assert d.understood == {"meaning": "not_an_answer", "heard_as": "other_language"}


def test_hesitating_three_times_ends_politely_with_nothing_changed() -> None:
    call = at_reason()
    for _ in range(2):
        call(said("hold on"))
    d = call(said("wait"))
    assert keys_of(d) == ["give_up", "last_chance"] and not d.effects
    assert d.state.outcome == "abandoned"


def test_a_question_about_the_price_is_answered_then_asked_again() -> None:
    call = at_reason()
    d = call(said("can you tell me what I'm paying"))
    assert d.understood == {"meaning": "question", "about": "ask_price"}
    price = Say("answer_price", {"plan": Say(text="Premium"), "price": Decimal("29.99")})
    assert d.lines[0] == price
    assert d.lines[-1] == Say("ask_reason", short=True)
    # An answered question is not a miss.
    assert d.state.step == "reason" and d.state.misses == 0 and not d.effects


def test_when_service_would_end_is_answered() -> None:
    call = at_reason()
    d = call(said("when would it end?"))
    assert d.lines[0] == Say("answer_end", {"plan": Say(text="Premium"), "end_date": END})
    assert d.state.step == "reason"


def test_own_words_that_are_a_reason_still_count_as_other() -> None:
    call = at_reason()
    d = call(said("I'm moving abroad next month"))
    assert d.state.reason_code == "other" and d.state.step == "confirm_cancel"


def at_offer() -> Call:
    call = at_reason()
    call(keys("1"))
    assert call.state.step == "offer"
    return call


@pytest.mark.parametrize(
    "words", ["not really sure", "I'm not sure", "hmm let me think", "maybe", "what?"]
)
def test_not_sure_at_the_offer_is_no_answer_and_never_cancels(words: str) -> None:
    call = at_offer()
    d = call(said(words))
    assert d.state.step == "offer" and not d.effects
    assert d.state.outcome == "in_progress" and d.state.offer_accepted is None
    assert d.understood is not None and d.understood["meaning"] == "not_an_answer"
    assert d.lines[-1] == Say("offer_question", short=True)


@pytest.mark.parametrize("decline", [keys("2"), said("no"), said("no thanks, cancel")])
def test_declining_the_offer_is_a_clear_cancel(decline: Answer) -> None:
    call = at_offer()
    d = call(decline)
    assert d.state.outcome == "cancelled" and d.effects == (Cancel(11, "too_expensive", None),)


def test_the_offer_says_what_the_caller_would_pay_and_after() -> None:
    call = at_reason()
    d = call(keys("1"))
    price = Say(
        "offer_price_discount",
        {"price": Decimal("29.99"), "months": 3, "offer_price": Decimal("15.00")},
    )
    assert price in d.lines
    assert d.lines.index(price) < keys_of(d).index("offer_question")


@pytest.mark.parametrize(
    "question", ["how much would that cost?", "How much would I pay?", "and after that?"]
)
def test_the_price_with_the_offer_is_answered_at_the_offer(question: str) -> None:
    call = at_offer()
    d = call(said(question))
    assert d.lines[0].key == "offer_price_discount"
    assert d.lines[0].params["offer_price"] == Decimal("15.00")
    assert d.state.step == "offer" and not d.effects


def test_the_pause_offer_says_until_when_nothing_is_paid() -> None:
    call = at_reason()
    d = call(keys("2"))
    assert (
        Say(
            "offer_price_pause",
            {"price": Decimal("29.99"), "months": 3, "until": dt.date(2027, 3, 23)},
        )
        in d.lines
    )


REASON_KEYS_BY_CODE = {code: key for key, code in REASON_KEYS.items()}


@pytest.mark.parametrize(
    "words, code",
    [
        ("two", "unused"),
        ("press three", "low_quality"),
        ("uh, option 4", "switched_service"),
        ("number five please", "other"),
        ("nine, nine", "skip"),
    ],
)
def test_a_key_said_aloud_at_the_reason_is_that_key(words: str, code: str) -> None:
    call = at_reason()
    keyed = at_reason()(keys(REASON_KEYS_BY_CODE[code]))
    d = call(said(words))
    assert d.state.reason_code == keyed.state.reason_code == (None if code == "skip" else code)
    assert d.state.step == keyed.state.step
    assert d.understood is not None and d.understood["key_said"] == REASON_KEYS_BY_CODE[code]


@pytest.mark.parametrize(
    "words, code",
    [
        ("marco el cinco", "other"),
        ("opción número dos", "unused"),
        ("le pico al tres", "low_quality"),
    ],
)
def test_a_key_said_aloud_in_spanish_is_that_key(words: str, code: str) -> None:
    call = at_reason("+15550100004", "2468")
    d = call(said(words))
    assert d.understood is not None and d.understood["key_said"] == REASON_KEYS_BY_CODE[code]
    assert d.state.reason_code == code


@pytest.mark.parametrize("words", ["zero", "cero, cero"])
def test_zero_said_aloud_is_a_person(words: str) -> None:
    call = at_reason("+15550100004", "2468") if words.startswith("cero") else at_reason()
    d = call(said(words))
    assert isinstance(d.then, Transfer) or d.state.step == "agent_unavailable"


@pytest.mark.parametrize(
    "words", ["it's two expensive", "one second", "oh", "two hours on hold", "three, no, two"]
)
def test_a_number_inside_other_words_is_not_a_key(words: str) -> None:
    call = at_reason()
    d = call(said(words))
    assert d.understood is None or "key_said" not in d.understood


def test_a_key_said_aloud_at_the_offer_and_heard_clearly_answers_it() -> None:
    d = at_offer()(said("press two"))
    assert d.state.outcome == "cancelled" and d.effects == (Cancel(11, "too_expensive", None),)
    # Heard unclearly, it is not taken as the key.
    d = at_offer()(said("press two", confidence=0.2))
    assert d.state.outcome == "in_progress" and not d.effects


def at_choose() -> Call:
    call = Call("+15550100002")
    call(keys("5678"))
    assert call.state.step == "choose"
    return call


@pytest.mark.parametrize("both", [keys("3"), said("both"), said("all of them"), said("every one")])
def test_both_cancels_each_subscription_with_one_reason(both: Answer) -> None:
    call = at_choose()
    d = call(both)
    assert d.state.step == "reason" and d.state.subscription_ids == (21, 22)
    call(keys("1"))
    assert call.state.step == "offer"
    d = call(keys("2"))
    assert d.effects == (
        Cancel(21, "too_expensive", None),
        Cancel(22, "too_expensive", None),
    )
    # One confirmation per subscription, each with its own code.
    receipts = [line for line in d.lines if line.mark == "receipt"]
    assert [line.results_of for line in receipts] == [21, 22]
    assert [line.params["plan"] for line in receipts] == [
        Say(text="Streaming Basic"),
        Say(text="Cloud Storage 1 TB"),
    ]


def test_both_with_an_accepted_offer_applies_it_to_each() -> None:
    call = at_choose()
    call(said("both of them"))
    d = call(keys("1"))
    assert d.lines[-1] == Say("offer_question")
    price = next(line for line in d.lines if line.key == "offer_price_discount")
    assert price.params["price"] == Decimal("14.98")
    d = call(keys("1"))
    assert d.effects == (ApplyOffer(21, 7), ApplyOffer(22, 7))
    assert d.state.outcome == "saved"


@pytest.mark.parametrize(
    "words, step",
    [
        ("I forgot my PIN", "verify"),
        ("I don't know", "verify"),
        ("I don't know my account number", "identify"),
    ],
)
def test_a_forgotten_pin_or_account_number_is_told_where_to_find_it(words: str, step: str) -> None:
    call = Call("+15550100001" if step == "verify" else None)
    d = call(said(words))
    help_key = "forgot_pin" if step == "verify" else "forgot_account"
    assert keys_of(d) == [help_key, "ask_pin" if step == "verify" else "ask_account"]
    assert d.state.step == step and d.state.pin_tries == 0 and d.state.misses == 0
    assert d.understood == {"meaning": "forgot"}


def test_a_forgotten_pin_is_understood_in_spanish() -> None:
    call = Call("+15550100004")
    d = call(said("no me acuerdo de mi pin"))
    assert keys_of(d)[0] == "forgot_pin"


def test_star_after_the_confirmation_says_it_again_once_then_goodbye() -> None:
    call = at_offer()
    d = call(keys("2"))
    assert d.state.step == "receipt"
    # The service keeps what was said (codes filled in) on the state.
    call.decision = Decision(
        d.state.but(receipt=("Premium is cancelled. Your code is 1, 2.",)), d.lines, d.then
    )
    d = call(keys("*"))
    assert d.lines == (Say(text="Premium is cancelled. Your code is 1, 2."), Say("goodbye"))
    assert d.then == Hangup() and d.state.outcome == "cancelled"


def test_going_on_after_no_person_at_the_last_chance_ends_with_words() -> None:
    w = world()
    w.open_ = False
    call = Call(w=w)
    for pin in ("0001", "0002", "0003"):
        d = call(keys(pin))
    assert keys_of(d) == ["unverified", "last_chance_closed"]
    d = call(keys("0"))
    assert keys_of(d) == ["agent_closed"]
    d = call(keys("2"))
    assert d.state.step == "last_chance" and keys_of(d) == ["last_chance_closed"]
    d = call(SILENCE)
    assert keys_of(d) == ["goodbye"] and d.then == Hangup()


# Every kind of answer a caller can give at a prompt.
EVERY_ANSWER = [
    keys("1"),
    keys("2"),
    keys("3"),
    keys("9"),
    keys("1234"),
    said("yes"),
    said("no"),
    said("too expensive"),
    said("purple elephant"),
    said("hold on"),
    said("how much is it?"),
    SILENCE,
    keys("0"),
    said("agent"),
    keys("*"),
    said("repeat"),
    Answer("dial", dial_status="no-answer"),
    Answer("dial", dial_status="completed"),
]


def _reach_every_step() -> dict[str, list[Call]]:
    """Calls standing at each step, reached by real answers (and closed hours)."""
    paths: list[tuple[str | None, bool, list[Answer]]] = [
        (None, True, []),
        ("+15550100001", True, []),
        ("+15550100002", True, [keys("5678")]),
        ("+15550100001", True, [keys("1234")]),
        ("+15550100001", True, [keys("1234"), keys("1")]),
        ("+15550100001", True, [keys("1234"), keys("9")]),
        ("+15550100001", True, [keys("1234"), said("too expensive", 0.2)]),
        ("+15550100001", True, [keys("1234"), keys("0"), Answer("dial", dial_status="busy")]),
        ("+15550100001", False, [keys("1234"), keys("0")]),
        ("+15550100001", True, [keys("0001"), keys("0002"), keys("0003")]),
        ("+15550100001", False, [keys("0001"), keys("0002"), keys("0003")]),
        ("+15550100001", True, [keys("1234"), keys("1"), keys("2")]),
    ]
    # Minnesota: the offer only after cancelling, and only on yes.
    minnesota = [
        ("+15550100001", True, [keys("1234"), keys("1"), keys("1")]),
        ("+15550100001", True, [keys("1234"), keys("1"), keys("1"), keys("1")]),
    ]
    # Alan's Premium is cancelled but still running: the way back.
    way_back = [("+15550100003", True, [])]
    reached: dict[str, list[Call]] = {}
    for (caller, open_, answers), from_state in [
        *((p, "NY") for p in paths),
        *((p, "MN") for p in minnesota),
        *((p, "NY") for p in way_back),
    ]:
        w = world()
        w.open_ = open_
        w.pending = {3: [SubscriptionFacts(31, "Premium", Decimal("29.99"), END)]}
        w.textable = {"+15550100001"}
        call = Call(caller, w, from_state)
        if caller == "+15550100003":
            answers = [keys("4321")]
        for a in answers:
            call(a)
        reached.setdefault(call.state.step, []).append(call)
    return reached


def test_every_step_and_every_answer_ends_in_words_never_dead_air() -> None:
    from ivr.prompts import Catalog

    catalog = Catalog(PACKS)
    reached = _reach_every_step()
    assert set(STEPS) <= set(reached), f"steps not reached: {set(STEPS) - set(reached)}"
    for step, calls in reached.items():
        for start in calls:
            for answer in EVERY_ANSWER:
                d = decide(start.state, answer, start.world)
                where = f"{step} + {answer}"
                texts = [catalog.text(d.state.language, line) for line in d.lines]
                assert any(t.strip() for t in texts), f"nothing said at {where}"
                if isinstance(d.then, Listen):
                    assert d.then.step in STEPS, where
                    asked = STEPS[d.then.step].ask(d.state, start.world, True)
                    assert any(catalog.text(d.state.language, s).strip() for s in asked), where


# --- cancelling stays lawful wherever the caller lives ---------------------------


def marks_of(decision: Decision) -> list[str | None]:
    return [line.mark for line in decision.lines]


def test_the_disclosure_is_heard_before_any_offer() -> None:
    call = Call(from_state="CA")
    call(keys("1234"))
    d = call(keys("1"))
    assert d.state.step == "offer" and d.state.region == "CA" and d.state.offer_timing == "before"
    marks = marks_of(d)
    assert marks.index("disclosure") < marks.index("offer")
    assert d.lines[marks.index("disclosure")] == Say("cancel_disclosure", mark="disclosure")


def test_verification_records_the_rules_and_why() -> None:
    call = Call(from_state="CA")
    d = call(keys("1234"))
    kinds = dict(d.records)
    assert kinds["jurisdiction"] == {
        "state": "CA",
        "source": "from_state",
        "offer": "before",
        "recording_notice": True,
        "rules_version": RULES.version,
    }


def test_the_state_on_file_wins_over_the_numbers_state() -> None:
    w = world()
    w.customers[1] = CustomerFacts(1, "Ada Lovelace", "100001", "en-US", state="MN")
    call = Call(w=w, from_state="CA")
    d = call(keys("1234"))
    assert (d.state.region, d.state.region_source, d.state.offer_timing) == (
        "MN",
        "on_file",
        "after",
    )


def test_no_state_known_takes_the_strictest_rules() -> None:
    call = Call(from_state=None)
    d = call(keys("1234"))
    assert (d.state.region, d.state.region_source) == (None, "unknown")
    assert d.state.offer_timing == RULES.unknown.offer == "after"


@pytest.mark.parametrize(
    "words", ["cancel", "just cancel it", "I want to cancel, it's too expensive"]
)
@pytest.mark.parametrize("state", ["CA", "MN", None])
def test_cancel_at_the_reason_question_cancels_at_once_with_no_offer(
    words: str, state: str | None
) -> None:
    call = Call(from_state=state)
    call(keys("1234"))
    d = call(said(words))
    assert d.state.outcome == "cancelled" and d.effects and isinstance(d.effects[0], Cancel)
    assert "offer" not in marks_of(d) and d.state.offer_id is None
    assert ("cancel_requested", {"step": "reason", "words": words}) in d.records
    assert d.understood == {"meaning": "cancel", "words": words}
    if "expensive" in words:
        assert d.state.reason_code == "too_expensive"
    # Nothing more is offered after it, whatever the caller says next.
    d = call(keys("1"))
    assert "offer" not in marks_of(d)


def test_cancel_at_the_offer_cancels_at_once() -> None:
    call = Call(from_state="CA")
    call(keys("1234"))
    call(keys("1"))
    d = call(said("cancel"))
    assert d.state.outcome == "cancelled" and d.state.offer_accepted is False
    assert ("cancel_requested", {"step": "offer", "words": "cancel"}) in d.records


QUESTIONS_ABOUT_CANCELLING = [
    ("+15550100001", "1234", "can I cancel anytime if I take it?"),
    ("+15550100001", "1234", "what happens if I cancel?"),
    ("+15550100001", "1234", "will I be charged if I cancel today"),
    ("+15550100004", "2468", "¿puedo cancelar cuando quiera si acepto?"),
]


@pytest.mark.parametrize("caller, pin, words", QUESTIONS_ABOUT_CANCELLING)
@pytest.mark.parametrize("where", ["reason", "offer"])
def test_a_question_about_cancelling_cancels_nothing(
    caller: str, pin: str, words: str, where: str
) -> None:
    call = at_reason(caller, pin)
    if where == "offer":
        call(keys("1"))
    d = call(said(words))
    assert d.state.step == where and d.state.outcome == "in_progress" and not d.effects
    assert d.understood == {"meaning": "not_an_answer", "heard_as": "question"}


@pytest.mark.parametrize(
    "caller, pin, words",
    [
        ("+15550100001", "1234", "can you cancel it?"),
        ("+15550100001", "1234", "could you just cancel it please"),
        ("+15550100004", "2468", "¿me lo puede cancelar?"),
    ],
)
def test_asking_for_the_cancellation_as_a_question_cancels(
    caller: str, pin: str, words: str
) -> None:
    call = at_reason(caller, pin)
    call(keys("1"))
    d = call(said(words))
    assert d.state.outcome == "cancelled" and d.state.offer_accepted is False


def test_dont_cancel_is_not_a_cancel() -> None:
    call = Call(from_state="CA")
    call(keys("1234"))
    d = call(said("I don't want to cancel"))
    assert d.state.outcome == "saved" and not d.effects


def test_cancel_with_several_subscriptions_asks_which_one_then_cancels_it() -> None:
    call = Call("+15550100002")
    call(keys("5678"))
    d = call(said("cancel"))
    assert keys_of(d) == ["which_one", "choose_subscription"] and not d.effects
    d = call(said("cancel the cloud storage"))
    assert d.state.outcome == "cancelled"
    assert d.effects == (Cancel(22, None, None),)


def test_minnesota_hears_no_offer_before_the_cancellation_is_done() -> None:
    call = Call(from_state="MN")
    call(keys("1234"))
    d = call(keys("1"))
    # The reason has an offer, but here it may only come after: the explicit cancel.
    assert d.state.step == "confirm_cancel" and "offer" not in marks_of(d)
    d = call(keys("1"))
    assert d.state.outcome == "cancelled" and d.effects == (Cancel(11, "too_expensive", None),)
    assert keys_of(d) == ["cancelled", "hear_again", "offer_permission"]
    assert "offer" not in marks_of(d) and d.state.offer_permission == "asked"


def test_minnesota_hears_the_offer_after_only_on_yes_and_taking_it_reinstates() -> None:
    call = Call(from_state="MN")
    for answer in (keys("1234"), keys("1"), keys("1")):
        call(answer)
    d = call(said("yes"))
    assert d.state.step == "offer_after" and "offer" in marks_of(d)
    assert ("offer_permission", {"answer": "yes"}) in d.records
    d = call(keys("1"))
    assert d.effects == (Reinstate(11), ApplyOffer(11, 7))
    assert d.state.outcome == "saved" and d.state.offer_accepted is True
    # No second question about offers after taking one.
    assert keys_of(d)[-1] == "hear_again"


def test_minnesota_no_to_hearing_the_offer_ends_with_goodbye() -> None:
    call = Call(from_state="MN")
    for answer in (keys("1234"), keys("1"), keys("1")):
        call(answer)
    d = call(keys("2"))
    assert keys_of(d) == ["goodbye"] and d.then == Hangup() and not d.effects
    assert ("offer_permission", {"answer": "no"}) in d.records
    assert d.state.outcome == "cancelled"


def test_silence_after_the_minnesota_question_hears_no_offer() -> None:
    call = Call(from_state="MN")
    for answer in (keys("1234"), keys("1"), keys("1")):
        call(answer)
    d = call(SILENCE)
    assert keys_of(d) == ["goodbye"] and "offer" not in marks_of(d)


# --- after the call ---------------------------------------------------------------


def test_a_textable_caller_gets_the_confirmation_in_writing_and_one_consent_question() -> None:
    w = world()
    w.textable = {"+15550100001"}
    call = Call(w=w)
    call(keys("1234"))
    call(keys("1"))
    d = call(keys("2"))
    assert d.effects == (Cancel(11, "too_expensive", None), SendText("confirmation"))
    assert keys_of(d) == ["cancelled", "sms_sent", "hear_again", "winback_consent"]
    assert d.state.consent == "asked"
    consent = d.state.but(consent_text="May we text you ...?")
    call.decision = Decision(consent, d.lines, d.then)
    d = call(keys("1"))
    assert d.effects == (RecordConsent("May we text you ...?", "pressed 1"),)
    assert keys_of(d) == ["consent_thanks", "goodbye"] and d.then == Hangup()


def test_no_text_no_promise_and_no_consent_question() -> None:
    call = Call()
    call(keys("1234"))
    call(keys("1"))
    d = call(keys("2"))
    assert SendText("confirmation") not in d.effects
    assert "sms_sent" not in keys_of(d) and "winback_consent" not in keys_of(d)


def test_silence_at_the_consent_question_is_no_consent() -> None:
    w = world()
    w.textable = {"+15550100001"}
    call = Call(w=w)
    for answer in (keys("1234"), keys("1"), keys("2")):
        call(answer)
    d = call(SILENCE)
    assert not d.effects and keys_of(d) == ["goodbye"]


def test_the_way_back_keeps_a_cancellation_not_yet_in_effect() -> None:
    w = world()
    w.pending = {3: [SubscriptionFacts(31, "Premium", Decimal("29.99"), END)]}
    call = Call("+15550100003", w)
    d = call(keys("4321"))
    assert d.state.step == "way_back"
    assert keys_of(d) == ["way_back_ends", "way_back_question"]
    assert d.lines[0].params == {"plan": Say(text="Premium"), "end_date": END}
    d = call(said("keep it"))
    assert d.effects == (Reinstate(31),) and d.state.outcome == "reinstated"
    assert d.lines[0] == Say(
        "reinstated", {"plan": Say(text="Premium")}, results_of=31, mark="receipt"
    )


def test_leaving_it_cancelled_with_nothing_active_says_goodbye() -> None:
    w = world()
    w.pending = {3: [SubscriptionFacts(31, "Premium", Decimal("29.99"), END)]}
    call = Call("+15550100003", w)
    call(keys("4321"))
    d = call(keys("2"))
    assert d.state.outcome == "no_subscription" and not d.effects
    assert keys_of(d) == ["way_back_left"]


# --- off-topic words never change a subscription ---------------------------------------
# Written for this test: none is a training phrasing (checked below), and
# none is in the off-topic sentences the classifier learnt from.
OFF_TOPIC = {
    "en-US": [
        "my sister makes the best apple pie",
        "it's been snowing since Monday",
        "the quarterback threw three interceptions",
        "the hospital drama had a twist last night",
        "the hamster escaped from its cage",
        "we're repainting the porch this weekend",
        "my grandson plays the trumpet",
        "the bakery sells fresh bagels",
        "there's a hailstorm coming",
        "and so the lady at the",
        "the thing I was telling you about the",
        "grandpa is grilling burgers in the backyard",
        "the dog won't stop barking at the mailman",
    ],
    "es-US": [
        "mi hermana hace el mejor pastel de manzana",
        "está nevando desde el lunes",
        "el portero atajó tres penales",
        "la telenovela tuvo un final triste",
        "el hámster se escapó de la jaula",
        "vamos a pintar el porche",
        "mi nieto toca la trompeta",
        "en la panadería venden conchas frescas",
        "viene una granizada",
        "y entonces la señora de la",
        "lo que le contaba del",
        "mañana hay carne asada en el parque",
        "el perro no deja de ladrar al cartero",
    ],
}
# Who calls in each language, with the PIN.
CALLERS = {"en-US": ("+15550100001", "1234"), "es-US": ("+15550100004", "2468")}
CHANGES = (Cancel, ApplyOffer, Reinstate)


def off_topic_cases() -> list[tuple[str, str]]:
    return [(lang, s) for lang, sentences in OFF_TOPIC.items() for s in sentences]


def test_the_off_topic_sentences_are_not_training_phrasings() -> None:
    from ivr.language.understanding import examples_of

    for language, sentences in OFF_TOPIC.items():
        trained = {
            e.text.lower() for e in examples_of(PROJECT_ROOT / "voice_prompts", language, "train")
        }
        assert not trained & {s.lower() for s in sentences}


def calling_in(language: str) -> Call:
    caller, pin = CALLERS[language]
    call = Call(caller)
    call(keys(pin))
    assert call.state.verified and call.state.language == language
    return call


def asked_again(d: Decision, step: str) -> None:
    """No answer: nothing changed, the same question asked again (counted)."""
    assert not [e for e in d.effects if isinstance(e, CHANGES)]
    assert d.state.step == step and d.state.outcome == "in_progress"
    assert d.state.misses >= 1
    assert d.understood and d.understood["meaning"] in ("not_understood", "not_an_answer")


@pytest.mark.parametrize(("language", "sentence"), off_topic_cases())
def test_off_topic_words_at_the_offer_neither_accept_nor_cancel(
    language: str, sentence: str
) -> None:
    call = calling_in(language)
    call(keys("1"))
    assert call.state.step == "offer"
    asked_again(call(said(sentence)), "offer")
    assert call.state.offer_accepted is None


@pytest.mark.parametrize(("language", "sentence"), off_topic_cases())
def test_off_topic_words_at_did_you_say_are_no_answer(language: str, sentence: str) -> None:
    call = calling_in(language)
    call(keys("1"))
    d = call(said("no" if language == "en-US" else "no gracias", confidence=0.2))
    assert d.state.step == "confirm" and d.state.pending["value"] == "no"
    asked_again(call(said(sentence)), "confirm")


@pytest.mark.parametrize(("language", "sentence"), off_topic_cases())
def test_off_topic_words_at_the_explicit_cancel_are_no_answer(language: str, sentence: str) -> None:
    call = calling_in(language)
    call(keys("9"))  # no reason: "cancel? press 1"
    assert call.state.step == "confirm_cancel"
    asked_again(call(said(sentence)), "confirm_cancel")
    # Twice more: the line gives up on the question, and still cancels nothing.
    for _ in range(3):
        d = call(said(sentence))
        assert not [e for e in d.effects if isinstance(e, CHANGES)]
    assert call.state.outcome != "cancelled"


NOT_HEARD = {
    "en-US": [
        "I didn't catch what you said",
        "sorry you're breaking up a little",
        "sorry I missed the last part",
    ],
    "es-US": ["perdón no le entendí bien", "no le oigo nada", "me repite lo de la oferta"],
}


@pytest.mark.parametrize(
    ("language", "sentence"), [(lang, s) for lang, said_ in NOT_HEARD.items() for s in said_]
)
def test_not_having_heard_the_offer_hears_it_again_and_changes_nothing(
    language: str, sentence: str
) -> None:
    # "I didn't hear you" has a "no" in it ("didn't"), and a no at the offer
    # finishes the cancellation: it must ask for the offer again instead.
    call = calling_in(language)
    call(keys("1"))
    assert call.state.step == "offer"
    offered = call.state.offer_id
    d = call(said(sentence))
    assert not [e for e in d.effects if isinstance(e, CHANGES)]
    assert d.state.step == "offer" and d.state.offer_id == offered
    assert d.state.outcome == "in_progress" and d.state.offer_accepted is None


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en-US", "can I get somebody from the billing department"),
        ("es-US", "puedo hablar con alguien de cobranza"),
    ],
)
def test_a_question_asking_for_a_person_is_a_request_for_one(language: str, sentence: str) -> None:
    call = calling_in(language)
    assert call.state.step == "reason"
    d = call(said(sentence))
    assert d.state.agent_requested
    assert not [e for e in d.effects if isinstance(e, CHANGES)]


@pytest.mark.parametrize(
    "sentence", ["sorry, my other phone is ringing", "my husband has the bill in the kitchen"]
)
def test_a_reasons_word_in_a_sentence_that_gives_no_reason_is_no_answer(sentence: str) -> None:
    # "other" and "bill" are words of reasons; here they give none.
    call = calling_in("en-US")
    d = call(said(sentence))
    assert d.state.step == "reason" and d.state.reason_code is None
    assert not [e for e in d.effects if isinstance(e, CHANGES)]


@pytest.mark.parametrize(
    ("sentence", "code"), [("the bill", "too_expensive"), ("other reasons", "other")]
)
def test_a_reasons_own_words_are_still_that_reason(sentence: str, code: str) -> None:
    call = calling_in("en-US")
    d = call(said(sentence))
    assert d.state.reason_code == code


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en-US", "the rep hung up on me"),
        ("en-US", "the agent was rude"),
        ("es-US", "el representante me colgó"),
        ("es-US", "el agente fue grosero"),
    ],
)
def test_a_complaint_naming_staff_is_a_reason_not_a_request_for_a_person(
    language: str, sentence: str
) -> None:
    # "rep" and "agent" are words of asking for a person; here they name
    # whom the caller complains of.
    call = calling_in(language)
    d = call(said(sentence))
    assert not d.state.agent_requested
    assert d.state.reason_code == "customer_service"


@pytest.mark.parametrize(
    ("language", "sentence", "code"),
    [
        ("en-US", "the rep from Spectrum offered me a much better deal", "switched_service"),
        ("es-US", "es complicado para una persona mayor como yo", "too_complex"),
    ],
)
def test_a_person_named_inside_another_reason_is_that_reason(
    language: str, sentence: str, code: str
) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert not d.state.agent_requested
    assert d.state.reason_code == code


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en-US", "your rep was rude, get me a supervisor"),
        ("en-US", "I want a human, the chat bot is useless"),
        ("en-US", "rep please the last one hung up on me"),
        ("es-US", "su representante me mintió, páseme con un supervisor"),
        ("es-US", "comuníqueme con un agente, me cobraron de más y nadie lo arregló"),
    ],
)
def test_a_request_for_a_person_beside_a_complaint_is_still_a_request(
    language: str, sentence: str
) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert d.state.agent_requested
    assert not [e for e in d.effects if isinstance(e, CHANGES)]


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en-US", "I don't know how to work all the menus on it"),
        ("es-US", "no sé cómo se maneja la aplicación nueva"),
    ],
)
def test_a_reason_said_after_i_dont_know_is_the_reason(language: str, sentence: str) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert d.state.reason_code == "too_complex"


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en-US", "can I stop it whenever I want if I say yes"),
        ("en-US", "is that price with tax or no"),
        ("es-US", "puedo dejarlo cuando quiera si digo que sí"),
    ],
)
def test_a_question_at_the_offer_is_no_answer_whatever_yes_or_no_is_in_it(
    language: str, sentence: str
) -> None:
    call = calling_in(language)
    call(keys("1"))
    assert call.state.step == "offer"
    d = call(said(sentence))
    assert not [e for e in d.effects if isinstance(e, CHANGES)]
    assert d.state.step == "offer" and d.state.offer_accepted is None
    assert d.state.outcome == "in_progress"


@pytest.mark.parametrize(("language", "sentence"), [("en-US", "why not"), ("es-US", "por qué no")])
def test_why_not_at_the_offer_is_a_yes_not_a_question(language: str, sentence: str) -> None:
    call = calling_in(language)
    call(keys("1"))
    d = call(said(sentence))
    assert d.state.offer_accepted is True


@pytest.mark.parametrize(
    ("language", "sentence", "code"),
    [
        # "otra vez" and "cómo" are also ways to ask to hear it again.
        ("es-US", "me volvieron a subir la mensualidad otra vez", "too_expensive"),
        ("es-US", "cómo me atendieron la última vez que llamé, qué groseros", "customer_service"),
        # "me quedo" and "keep it" are also ways to keep the subscription.
        ("es-US", "ahora me quedo con Peacock que sale más barato", "switched_service"),
    ],
)
def test_words_of_asking_again_or_keeping_inside_a_reason_are_the_reason(
    language: str, sentence: str, code: str
) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert d.state.reason_code == code
    assert d.state.outcome == "in_progress"


@pytest.mark.parametrize(
    ("language", "sentence", "step"),
    [
        ("es-US", "¿cómo?", "reason"),
        ("es-US", "otra vez por favor", "reason"),
        ("en-US", "say that again", "reason"),
    ],
)
def test_asking_to_hear_it_again_still_repeats_the_question(
    language: str, sentence: str, step: str
) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert d.state.step == step and d.state.reason_code is None
    assert not [e for e in d.effects if isinstance(e, CHANGES)]


@pytest.mark.parametrize(
    ("language", "sentence"), [("es-US", "mejor me quedo"), ("en-US", "I changed my mind")]
)
def test_changing_ones_mind_at_the_reason_keeps_the_subscription(
    language: str, sentence: str
) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert d.state.outcome != "cancelled" and d.state.reason_code is None
    assert not [e for e in d.effects if isinstance(e, CHANGES)]


@pytest.mark.parametrize(
    ("language", "sentence", "accepted"),
    [
        # Words of both a yes and a no: the longer words do not decide.
        ("es-US", "sí, sí, mejor cancélelo ya", False),
        ("es-US", "no, no, el precio así está bien, lo acepto", True),
        # Idioms the rules now know.
        ("es-US", "cómo no", True),
        ("es-US", "qué va, no me interesa", False),
        ("en-US", "absolutely not", False),
        # A short question or exclamation first; the answer after it.
        ("es-US", "qué oferta tan buena, la acepto", True),
        ("es-US", "¿otra vez la oferta? no gracias, cancele", False),
        ("en-US", "you're kidding me, just cancel it", False),
        # Ways of saying yes and no the vocabulary now knows.
        ("es-US", "órale, me anoto", True),
        ("es-US", "ni de broma", False),
        ("es-US", "cancélamelo", False),
        # Callers of the Spanish line say "yes" and "cancel it" too; at a
        # yes/no question they mean the same in either language.
        ("es-US", "yeah sure", True),
        ("es-US", "cancel it please", False),
    ],
)
def test_the_offer_is_taken_or_refused_as_the_caller_meant(
    language: str, sentence: str, accepted: bool
) -> None:
    call = calling_in(language)
    call(keys("1"))
    d = call(said(sentence))
    assert d.state.offer_accepted is accepted


@pytest.mark.parametrize(
    ("language", "sentence", "accepted"),
    [
        # "que" without its accent opens a request, not a question ("qué").
        ("es-US", "que me lo cancele, le dije", False),
        ("es-US", "que sí, que me lo deje a mitad de precio", True),
        # Words of asking again inside an answer ("otra vez", "como").
        ("es-US", "no, porque después me lo vuelven a subir otra vez", False),
        ("es-US", "la pausa me viene como caída del cielo", True),
    ],
)
def test_an_answer_with_words_that_also_ask_is_the_answer(
    language: str, sentence: str, accepted: bool
) -> None:
    call = calling_in(language)
    call(keys("1"))
    d = call(said(sentence))
    assert d.state.offer_accepted is accepted


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        # The accent asks.
        ("es-US", "qué pasa con mis grabaciones si digo que sí"),
        # Not heard or not followed: asked again, never a no at the offer.
        ("en-US", "I didn't catch the part about the price"),
        ("es-US", "no le entendí lo del precio"),
    ],
)
def test_a_question_or_not_hearing_at_the_offer_changes_nothing(
    language: str, sentence: str
) -> None:
    call = calling_in(language)
    call(keys("1"))
    d = call(said(sentence))
    assert not [e for e in d.effects if isinstance(e, CHANGES)]
    assert d.state.step == "offer" and d.state.offer_accepted is None


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        # More than an aside before the comma: still a question.
        ("en-US", "can I stop it whenever I want, if I say yes"),
        ("es-US", "puedo dejarlo cuando quiera, si digo que sí"),
    ],
)
def test_a_long_question_before_a_comma_is_still_no_answer(language: str, sentence: str) -> None:
    call = calling_in(language)
    call(keys("1"))
    d = call(said(sentence))
    assert not [e for e in d.effects if isinstance(e, CHANGES)]
    assert d.state.step == "offer" and d.state.offer_accepted is None


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("es-US", "¿y si lo pauso pierdo lo que tengo guardado?"),
        ("es-US", "¿hay algún cargo si cancelo hoy?"),
    ],
)
def test_a_spanish_question_mark_makes_it_a_question_at_the_offer(
    language: str, sentence: str
) -> None:
    call = calling_in(language)
    call(keys("1"))
    d = call(said(sentence))
    assert not [e for e in d.effects if isinstance(e, CHANGES)]
    assert d.state.step == "offer" and d.state.offer_accepted is None


@pytest.mark.parametrize(
    ("language", "sentence"),
    [("en-US", "does that really matter"), ("es-US", "¿y eso a usted qué le importa?")],
)
def test_a_rhetorical_question_declining_the_reason_is_a_skip(language: str, sentence: str) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert d.understood and d.understood["meaning"] == "skip"
    assert d.state.reason_code is None and d.state.step != "reason"


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("es-US", "no quiero hablar con un robot"),
        ("en-US", "I want an agent because your support is terrible"),
    ],
)
def test_asking_for_a_person_at_the_reason_is_asking_for_one(language: str, sentence: str) -> None:
    call = calling_in(language)
    d = call(said(sentence))
    assert d.state.agent_requested
