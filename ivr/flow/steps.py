"""The call, as one table of steps.

Each step names the question it asks, how it listens (keys, words, timeout),
what an answer means there (`interpret`) and what follows (`apply`). The
rules that hold at every step (0 or "agent" for a person, * or "repeat",
silence and misses) live in `decide`. Everything here is pure: it reads the
World and returns a Decision; the voice layer renders it and the service
applies its effects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..models import REASON_CODES
from .types import (
    Answer,
    ApplyOffer,
    CallState,
    Cancel,
    Decision,
    Hangup,
    Listen,
    RequestCallback,
    Say,
    Transfer,
    World,
)
from .understand import intent_of, number_of, reason_of, tokenize, wants_agent, without_fillers

LANGUAGES = ("en-US", "es-US")
MAX_REPROMPTS = 2
MAX_PIN_TRIES = 3
MAX_ACCOUNT_TRIES = 3
MIN_OWN_WORDS = 3

# The keypad menu maps onto a short list of reasons; speech maps onto all.
REASON_KEYS = {
    "1": "too_expensive",
    "2": "unused",
    "3": "low_quality",
    "4": "switched_service",
    "5": "other",
    "9": "skip",
}
LANGUAGE_KEYS = {"1": "en-US", "2": "es-US"}
YES_NO_KEYS = {"1": "yes", "2": "no"}
AGENT_KEY = "0"
REPEAT_KEY = "*"
# agent_reason when the caller's account could not be looked up in time.
UNREACHABLE = "billing_unreachable"


@dataclass(frozen=True)
class Meaning:
    value: str
    words: str = ""
    confident: bool = True
    # "language": the caller chose a language (value is its tag) instead of answering.
    kind: str = "answer"


@dataclass(frozen=True)
class Listening:
    """How a step listens. Every Gather takes keys and speech."""

    num_digits: int | None = 1
    finish_on_key: str = "#"
    timeout: int = 5
    intents: tuple[str, ...] = ()
    reasons: bool = False


Interpret = Callable[[Answer, CallState, World], Meaning | None]
Apply = Callable[[CallState, Meaning, World], Decision]
Ask = Callable[[CallState, World, bool], list[Say]]


@dataclass(frozen=True)
class Step:
    name: str
    phase: str
    ask: Ask
    listening: Listening
    interpret: Interpret
    apply: Apply
    # What silence means here: ask again (counted), or end the call.
    on_silence: str = "reprompt"


# --- asking ------------------------------------------------------------------


def _prompt(key: str) -> Ask:
    def ask(state: CallState, world: World, short: bool) -> list[Say]:
        return [Say(key, short=short)]

    return ask


def _ask_choose(state: CallState, world: World, short: bool) -> list[Say]:
    subs = world.active_subscriptions(state.customer_id) if state.customer_id else ()
    options = tuple(
        Say("subscription_option", {"plan": s.plan, "key": str(i)})
        for i, s in enumerate(subs, start=1)
    )
    return [Say("choose_subscription", {"count": len(subs), "options": options}, short=short)]


def _ask_offer(state: CallState, world: World, short: bool) -> list[Say]:
    offer = world.offer(state.offer_id) if state.offer_id else None
    sub = world.subscription(state.subscription_id) if state.subscription_id else None
    lines: list[Say] = []
    if offer is not None and not short:
        text = offer.wording.get(state.language) or offer.wording.get("en-US", "")
        params = {**offer.terms, "plan": sub.plan if sub else ""}
        lines.append(Say(text=text, params=params))
    lines.append(Say("offer_question", short=short))
    return lines


def _ask_confirm(state: CallState, world: World, short: bool) -> list[Say]:
    pending = state.pending or {}
    return [Say("confirm", {"heard": _label_of(pending)}, short=short)]


def _ask_agent_unavailable(state: CallState, world: World, short: bool) -> list[Say]:
    key = {"closed": "agent_closed", UNREACHABLE: "account_unreachable"}.get(
        state.agent_reason or "", "agent_unavailable"
    )
    return [Say(key, short=short)]


def _ask_nothing(state: CallState, world: World, short: bool) -> list[Say]:
    return []


def _label_of(pending: Mapping[str, Any]) -> Say:
    """How the line names what it thinks it heard: a reason, a yes/no, a plan."""
    kind, value = pending.get("kind"), pending.get("value")
    if kind == "reason":
        return Say(f"label:reasons.{value}")
    if kind == "answer":
        return Say(f"label:answers.{value}")
    return Say(text=str(pending.get("label", value)))


# --- understanding -------------------------------------------------------------


def _confident(answer: Answer, world: World) -> bool:
    return answer.confidence is None or answer.confidence >= world.speech_threshold


def _language_choice(answer: Answer, state: CallState, world: World) -> str | None:
    """The greeting offers the other language ("Para español, oprima 2") while
    the first question is already being asked: one key, or its name said."""
    if answer.kind == "digits":
        return LANGUAGE_KEYS.get(answer.digits) if len(answer.digits) == 1 else None
    for language in (state.language, *(lang for lang in LANGUAGES if lang != state.language)):
        intent = intent_of(answer.speech, world.vocabulary(language), ("english", "spanish"))
        if intent:
            return {"english": "en-US", "spanish": "es-US"}[intent]
    return None


def _interpret_number(answer: Answer, state: CallState, world: World) -> Meaning | None:
    """An account number or PIN, keyed or spoken; or a change of language."""
    language = _language_choice(answer, state, world)
    if language is not None:
        return Meaning(language, kind="language")
    if answer.kind == "digits":
        digits = answer.digits.strip("#*")
        return Meaning(digits) if digits.isdigit() else None
    number = number_of(answer.speech, world.vocabulary(state.language))
    return Meaning(number, answer.speech) if number else None


def _interpret_choice(answer: Answer, state: CallState, world: World) -> Meaning | None:
    subs = world.active_subscriptions(state.customer_id) if state.customer_id else ()
    if answer.kind == "digits":
        key = answer.digits[:1]
        if key.isdigit() and 1 <= int(key) <= len(subs):
            return Meaning(str(subs[int(key) - 1].id))
        return None
    vocab = world.vocabulary(state.language)
    said = set(without_fillers(tokenize(answer.speech), vocab))
    scored = [(len(said & set(tokenize(s.plan))), s) for s in subs]
    best = max((score for score, _ in scored), default=0)
    winners = [s for score, s in scored if score == best]
    if best == 0 or len(winners) != 1:
        spoken = number_of(answer.speech, vocab)
        if spoken and spoken.isdigit() and 1 <= int(spoken) <= len(subs):
            return Meaning(str(subs[int(spoken) - 1].id), answer.speech, _confident(answer, world))
        return None
    return Meaning(str(winners[0].id), answer.speech, _confident(answer, world))


def _interpret_reason(answer: Answer, state: CallState, world: World) -> Meaning | None:
    if answer.kind == "digits":
        code = REASON_KEYS.get(answer.digits[:1])
        return Meaning(code) if code else None
    vocab = world.vocabulary(state.language)
    confident = _confident(answer, world)
    intent = intent_of(answer.speech, vocab, ("keep", "skip"))
    if intent:
        return Meaning(intent, answer.speech, confident)
    code = reason_of(answer.speech, vocab, REASON_CODES)
    if code:
        return Meaning(code, answer.speech, confident)
    content = [t for t in without_fillers(tokenize(answer.speech), vocab) if t != "|"]
    if len(content) >= MIN_OWN_WORDS and confident:
        # Their own words are kept even when no category fits; a word or two
        # ("what?", "hmm okay") is more likely not an answer at all.
        return Meaning("other", answer.speech)
    return None


def _interpret_yes_no(answer: Answer, state: CallState, world: World) -> Meaning | None:
    if answer.kind == "digits":
        value = YES_NO_KEYS.get(answer.digits[:1])
        return Meaning(value) if value else None
    intent = intent_of(answer.speech, world.vocabulary(state.language), ("yes", "no", "keep"))
    if intent is None:
        return None
    # "I don't want to cancel" at the offer is a yes to the offer.
    value = "yes" if intent == "keep" else intent
    return Meaning(value, answer.speech, _confident(answer, world))


def _interpret_agent_choice(answer: Answer, state: CallState, world: World) -> Meaning | None:
    if answer.kind == "digits":
        value = {"1": "callback", "2": "resume"}.get(answer.digits[:1])
        return Meaning(value) if value else None
    intent = intent_of(
        answer.speech, world.vocabulary(state.language), ("callback", "resume", "yes")
    )
    if intent is None:
        return None
    return Meaning("callback" if intent == "yes" else intent, answer.speech)


def _interpret_anything(answer: Answer, state: CallState, world: World) -> Meaning | None:
    return Meaning("done")


# --- what follows ----------------------------------------------------------------


def ask(state: CallState, world: World, lines: Sequence[Say] = (), short: bool = False) -> Decision:
    """Say `lines`, then ask the current step's question."""
    step = STEPS[state.step]
    return Decision(state, (*lines, *step.ask(state, world, short)), Listen(state.step))


def go(state: CallState, step: str, world: World, lines: Sequence[Say] = ()) -> Decision:
    """Move to `step` (its retry count starts afresh) and ask its question."""
    return ask(state.but(step=step, misses=0, pending=None), world, lines)


def finish(state: CallState, outcome: str, lines: Sequence[Say], effects=()) -> Decision:  # type: ignore[no-untyped-def]
    return Decision(
        state.but(step="done", outcome=outcome, outcome_step=state.step, pending=None),
        tuple(lines),
        Hangup(),
        tuple(effects),
    )


def _switch_language(state: CallState, meaning: Meaning, world: World) -> Decision:
    """Ask the same question again, now in the chosen language; nothing is counted."""
    return ask(state.but(language=meaning.value, misses=0), world)


def _apply_account(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.kind == "language":
        return _switch_language(state, meaning, world)
    customer = world.customer_by_account(meaning.value)
    if customer is not None:
        return go(
            state.but(customer_id=customer.id, account_number=customer.account_number),
            "verify",
            world,
        )
    tries = state.account_tries + 1
    state = state.but(account_tries=tries, account_number=None)
    if tries >= MAX_ACCOUNT_TRIES:
        return _unverified(state, world)
    return go(state, "identify", world, [Say("account_not_found")])


def _apply_pin(state: CallState, meaning: Meaning, world: World) -> Decision:
    assert state.customer_id is not None
    if meaning.kind == "language":
        return _switch_language(state, meaning, world)
    if world.pin_matches(state.customer_id, meaning.value):
        return _after_verify(state.but(verified=True), world)
    tries = state.pin_tries + 1
    state = state.but(pin_tries=tries)
    if tries >= MAX_PIN_TRIES:
        return _unverified(state, world)
    return go(state, "verify", world, [Say("pin_wrong")])


def _unverified(state: CallState, world: World) -> Decision:
    """Nobody cancels an account they have not verified; offer a person, then end."""
    state = state.but(outcome="unverified", outcome_step=state.step)
    return go(state, "last_chance", world, [Say("unverified")])


def _after_verify(state: CallState, world: World) -> Decision:
    assert state.customer_id is not None
    subs = world.active_subscriptions(state.customer_id)
    if not subs:
        return finish(state, "no_subscription", [Say("no_subscription")])
    if len(subs) == 1:
        return go(state.but(subscription_id=subs[0].id), "reason", world)
    return go(state, "choose", world)


def _apply_choice(state: CallState, meaning: Meaning, world: World) -> Decision:
    return go(state.but(subscription_id=int(meaning.value)), "reason", world)


def _apply_reason(state: CallState, meaning: Meaning, world: World) -> Decision:
    words = meaning.words or None
    if meaning.value == "keep":
        sub = _subscription(state, world)
        return finish(state.but(reason_text=words), "saved", [Say("kept", {"plan": sub.plan})])
    if meaning.value == "skip":
        return _cancel(state.but(reason_code=None, reason_text=words), world)
    state = state.but(reason_code=meaning.value, reason_text=words)
    offer = world.offer_for(meaning.value)
    if offer is None:
        return _cancel(state, world)
    return go(state.but(offer_id=offer.id), "offer", world)


def _apply_offer_answer(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.value == "no":
        return _cancel(state.but(offer_accepted=False), world)
    assert state.offer_id is not None and state.subscription_id is not None
    offer = world.offer(state.offer_id)
    sub = _subscription(state, world)
    assert offer is not None
    change = Say(f"saved_{offer.kind}", {**offer.terms, "plan": sub.plan})
    return finish(
        state.but(offer_accepted=True),
        "saved",
        [Say("saved", {"change": change})],
        [ApplyOffer(sub.id, offer.id)],
    )


def _cancel(state: CallState, world: World) -> Decision:
    sub = _subscription(state, world)
    return finish(
        state,
        "cancelled",
        [Say("cancelled", {"plan": sub.plan, "end_date": sub.period_end})],
        [Cancel(sub.id, state.reason_code, state.reason_text)],
    )


def _subscription(state: CallState, world: World):  # type: ignore[no-untyped-def]
    assert state.subscription_id is not None
    sub = world.subscription(state.subscription_id)
    assert sub is not None
    return sub


def _apply_confirmation(state: CallState, meaning: Meaning, world: World) -> Decision:
    pending = dict(state.pending or {})
    back = state.but(step=pending["step"], pending=None)
    if meaning.value == "yes":
        return STEPS[back.step].apply(
            back, Meaning(pending["value"], pending.get("words", "")), world
        )
    return ask(back, world, [Say("try_again")], short=True)


def _apply_agent_choice(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.value == "callback":
        return finish(
            state,
            "callback",
            [Say("callback_confirmed")],
            [RequestCallback(state.agent_result or state.agent_reason or "agent_unavailable")],
        )
    back_to = state.return_step or ("verify" if state.customer_id else "identify")
    # Back where they were; an outcome set on the way (unverified) still holds.
    return go(state, back_to, world)


def _apply_last_chance(state: CallState, meaning: Meaning, world: World) -> Decision:
    return Decision(state.but(step="done"), (Say("goodbye"),), Hangup())


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step(
            "identify",
            phase="identify",
            ask=_prompt("ask_account"),
            listening=Listening(
                num_digits=None, finish_on_key="#", timeout=5, intents=("english", "spanish")
            ),
            interpret=_interpret_number,
            apply=_apply_account,
        ),
        Step(
            "verify",
            phase="verify",
            ask=_prompt("ask_pin"),
            listening=Listening(num_digits=4, timeout=5, intents=("english", "spanish")),
            interpret=_interpret_number,
            apply=_apply_pin,
        ),
        Step(
            "choose",
            phase="choose",
            ask=_ask_choose,
            listening=Listening(num_digits=1, timeout=5),
            interpret=_interpret_choice,
            apply=_apply_choice,
        ),
        Step(
            "reason",
            phase="reason",
            ask=_prompt("ask_reason"),
            listening=Listening(num_digits=1, timeout=5, intents=("skip", "keep"), reasons=True),
            interpret=_interpret_reason,
            apply=_apply_reason,
        ),
        Step(
            "offer",
            phase="offer",
            ask=_ask_offer,
            listening=Listening(num_digits=1, timeout=5, intents=("yes", "no", "keep")),
            interpret=_interpret_yes_no,
            apply=_apply_offer_answer,
        ),
        Step(
            "confirm",
            phase="confirm",
            ask=_ask_confirm,
            listening=Listening(num_digits=1, timeout=5, intents=("yes", "no")),
            interpret=_interpret_yes_no,
            apply=_apply_confirmation,
        ),
        Step(
            "agent_unavailable",
            phase="agent",
            ask=_ask_agent_unavailable,
            listening=Listening(num_digits=1, timeout=5, intents=("callback", "resume")),
            interpret=_interpret_agent_choice,
            apply=_apply_agent_choice,
        ),
        Step(
            # After "we couldn't verify you" or "we couldn't hear you": one
            # more chance to press 0 for a person, then the call ends.
            "last_chance",
            phase="goodbye",
            ask=_ask_nothing,
            listening=Listening(num_digits=1, timeout=4),
            interpret=_interpret_anything,
            apply=_apply_last_chance,
            on_silence="hangup",
        ),
    )
}

# Steps a caller can be sent back to after a person could not answer.
RESUMABLE = {
    "greeting",
    "identify",
    "verify",
    "choose",
    "reason",
    "offer",
    "confirm",
    "last_chance",
}


def start(state: CallState, world: World) -> Decision:
    """The call comes in: recognise the caller ID, greet in their language."""
    if state.caller:
        customer = world.customer_by_phone(state.caller)
        if customer is not None:
            state = state.but(
                customer_id=customer.id,
                account_number=customer.account_number,
                language=customer.language if customer.language in LANGUAGES else state.language,
            )
    first = "verify" if state.customer_id is not None else "identify"
    greeting = [Say("greeting", {"company": world.company_name}), Say("language_option")]
    return go(state, first, world, greeting)


def decide(state: CallState, answer: Answer, world: World) -> Decision:
    """What the line does next, given where the call is and what the caller did."""
    if answer.kind == "start":
        return start(state, world)
    if answer.kind == "dial":
        return _after_dial(state, answer, world)
    if state.step not in STEPS:
        # The call already ended (or was never begun) on our side: say goodbye.
        return Decision(state, (Say("goodbye"),), Hangup())

    step = STEPS[state.step]
    vocab = world.vocabulary(state.language)
    if answer.kind == "digits" and answer.digits == AGENT_KEY:
        return to_agent(state, world)
    if answer.kind == "speech" and wants_agent(answer.speech, vocab):
        return to_agent(state, world, understood={"meaning": "agent", "words": answer.speech})
    if answer.kind == "digits" and answer.digits == REPEAT_KEY:
        return ask(state, world)
    if answer.kind == "speech" and _asks_repeat(answer.speech, world, state):
        return ask(state, world)
    if answer.kind == "silence" or (answer.kind == "speech" and not answer.speech.strip()):
        return _on_silence(state, step, world)

    meaning = step.interpret(answer, state, world)
    if meaning is None:
        return _missed(state, world, [Say("not_understood")])
    understood = {"meaning": _recordable(state, meaning), "confident": meaning.confident}
    if not meaning.confident:
        pending = {
            "step": state.step,
            "kind": _pending_kind(state.step),
            "value": meaning.value,
            "words": meaning.words,
        }
        if state.step == "choose":
            sub = world.subscription(int(meaning.value))
            pending["label"] = sub.plan if sub else meaning.value
        decision = ask(state.but(step="confirm", misses=0, pending=pending), world)
        return _with(decision, decision.state, understood)
    decision = step.apply(state, meaning, world)
    return _with(decision, decision.state, understood)


def _recordable(state: CallState, meaning: Meaning) -> str:
    """What the record may say was understood: never the PIN itself."""
    if state.step == "verify" and meaning.kind != "language":
        return "pin"
    return meaning.value


def _with(decision: Decision, state: CallState, understood: dict) -> Decision:  # type: ignore[type-arg]
    return Decision(state, decision.lines, decision.then, decision.effects, understood)


def _pending_kind(step: str) -> str:
    return {"reason": "reason", "choose": "subscription"}.get(step, "answer")


def _asks_repeat(speech: str, world: World, state: CallState) -> bool:
    # Only when asking again is the strongest thing said ("say that again"),
    # not a word inside an answer.
    return intent_of(speech, world.vocabulary(state.language)) == "repeat"


def _on_silence(state: CallState, step: Step, world: World) -> Decision:
    if step.on_silence == "hangup":
        return Decision(state.but(step="done"), (), Hangup())
    return _missed(state, world, [])


def _missed(state: CallState, world: World, lines: list[Say]) -> Decision:
    """Silence or no match: a shorter re-prompt, at most twice, then a polite end."""
    misses = state.misses + 1
    if misses > MAX_REPROMPTS:
        if state.outcome == "in_progress":
            state = state.but(outcome="abandoned", outcome_step=state.step)
        return go(state, "last_chance", world, [Say("give_up")])
    return ask(state.but(misses=misses), world, lines, short=True)


def to_agent(state: CallState, world: World, understood: dict | None = None) -> Decision:  # type: ignore[type-arg]
    """A person, on request, once. Nobody there: a call back, or go on."""
    understood = understood or {"meaning": "agent"}
    return_step = state.step if state.step in RESUMABLE else state.return_step
    state = state.but(agent_requested=True, return_step=return_step, pending=None)
    if state.transferred or world.agents() == "closed":
        reason = "closed" if not state.transferred else "no-answer"
        decision = go(state.but(agent_reason=reason), "agent_unavailable", world)
        return _with(decision, decision.state, understood)
    return Decision(
        state.but(step="agent", transferred=True, misses=0),
        (Say("transfer"),),
        Transfer(),
        (),
        understood,
    )


def _after_dial(state: CallState, answer: Answer, world: World) -> Decision:
    status = answer.dial_status or "failed"
    state = state.but(agent_result=status)
    if status in ("completed", "answered"):
        return Decision(state.but(step="done", outcome="agent", outcome_step="agent"), (), Hangup())
    return go(state.but(agent_reason="no-answer"), "agent_unavailable", world)


def whisper(state: CallState, world: World) -> list[Say]:
    """What the person hears before the caller is connected: who, what, why."""
    customer = world.customer(state.customer_id) if state.customer_id else None
    if customer is not None:
        verified = Say("whisper_verified" if state.verified else "whisper_not_verified")
        who = Say(
            "whisper_customer",
            {"name": customer.name, "account": customer.account_number, "verified": verified},
        )
    else:
        who = Say("whisper_unknown", {"phone": state.caller or ""})
    sub = world.subscription(state.subscription_id) if state.subscription_id else None
    subscription = Say("whisper_subscription", {"plan": sub.plan}) if sub else Say(text="")
    if state.reason_code or state.reason_text:
        reason = Say(
            "whisper_reason",
            {
                "reason": Say(f"label:reasons.{state.reason_code or 'other'}"),
                "words": state.reason_text or "none",
            },
        )
    else:
        reason = Say(text="")
    step_name = STEPS[state.return_step].phase if state.return_step in STEPS else "identify"
    return [
        Say(
            "whisper",
            {
                "who": who,
                "subscription": subscription,
                "reason": reason,
                "step": Say(f"label:steps.{step_name}"),
                "language": Say(f"label:languages.{state.language}"),
            },
        )
    ]


def account_unreachable(state: CallState, world: World, greet: bool) -> Decision:
    """Billing could not tell us who the caller is in time: say so, nothing
    changed, and offer a person (0), a call back (1) or another try (2), the
    choices of `agent_unavailable`. Another try goes back to the question
    that needed billing."""
    lines = [Say("greeting", {"company": world.company_name})] if greet else []
    back = state.step if state.step in STEPS else None
    state = state.but(agent_reason=UNREACHABLE, return_step=back, pending=None)
    return go(state, "agent_unavailable", world, lines)
