"""The call, as one table of steps.

Each step names the question it asks, how it listens (keys, words, timeout),
what an answer means there (`interpret`) and what follows (`apply`). The
rules that hold at every step (0 or "agent" for a person, * or "repeat",
silence and misses) live in `decide`. Everything here is pure: it reads the
World and returns a Decision; the voice layer renders it and the service
applies its effects.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..billing import add_months
from ..language.understanding import CALL_STEPS, CONFIDENT, UNSURE
from ..models import REASON_CODES
from ..ssml import literal
from .types import (
    Answer,
    ApplyOffer,
    CallState,
    Cancel,
    Decision,
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
    World,
)
from .understand import (
    BOUNDARY,
    common_words,
    content_words,
    find_matches,
    intent_of,
    intent_scores,
    is_question,
    key_of,
    number_of,
    opens_unaccented,
    reason_of,
    strongest,
    tokenize,
    wants_agent,
    without_fillers,
)

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
CANCEL_KEEP_KEYS = {"1": "cancel", "2": "keep"}
# Questions the line answers where the caller can ask them (then asks again).
ANSWERABLE = ("ask_price", "ask_offer_price", "ask_end")
# Words that are not an answer: the caller is thinking, or does not know.
PAUSES = ("hesitate", "unsure")
# Where the trained understanding listens, and which of its classifiers.
TRAINED_STEPS = CALL_STEPS
TRAINED_CONFIDENT = CONFIDENT
TRAINED_UNSURE = UNSURE
_CLAUSE = re.compile(r"[,.;:!?]+")
# How sure the classifier must be that words naming a person ("the rep lied
# to me") give a reason, not a request for one (cross-validation).
STAFF_SURE = 0.9
# How many words before a person's word may ask for one ("get me a rep").
REQUEST_REACH = 3
# Words with no yes or no in them answer a yes/no question only this alike to
# a phrasing the classifier learnt (cross-validation, and off-topic sentences).
ALONE_LIKENESS = 0.25
# ... and only when the classifier is this sure of them: between the line's
# usual 0.5 and this, they are asked again. Cross-validation, fifth pass: at
# 0.8 the yes/no steps lost 4 (en-US) and 5 (es-US) right answers of about
# 4,600, each asked again instead, and took 8 and 17 fewer wrong ones that
# change a subscription (a sentence that answers nothing taken as a yes or
# a no, a yes taken as a no, a no as a yes); 0.7 saved fewer, 0.9 lost more.
ALONE_SURE = 0.8
# At a yes/no question, words of another language ("yes please", "cancel it"
# on the Spanish line) are an answer when the classifier is sure and they are
# this alike to phrasings of the line's own callers (cross-validation).
SPANGLISH_LIKENESS = 0.4
# An opening question or exclamation of at most this many words is an aside
# when an answer follows it ("¿caro? qué va, me voy del país").
ASIDE_WORDS = 4
_ASIDE = re.compile(r"^([^?.,;:!]*)([?.,;:!]+)(.*)$", re.DOTALL)
AGENT_KEY = "0"
# The questions whose menus name their keys ("press 1 for price", "1 or yes
# takes it"): there "two" or "press two", said alone, is the key 2.
KEYS_ALOUD = (
    "reason",
    "offer",
    "offer_after",
    "confirm",
    "confirm_cancel",
    "way_back",
    "agent_unavailable",
)
REPEAT_KEY = "*"
# agent_reason when the caller's account could not be looked up in time.
UNREACHABLE = "billing_unreachable"


@dataclass(frozen=True)
class Meaning:
    value: str
    words: str = ""
    confident: bool = True
    # "answer"; "language": the caller chose a language (value is its tag);
    # "question": they asked something the line answers (value: which);
    # "forgot": they do not have the PIN or account number at hand;
    # "not_an_answer": words that answer nothing (value: hesitation,
    # unsure, question, other_language), counted like silence.
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
    # What silence means here: ask again (counted), or say goodbye and end.
    on_silence: str = "reprompt"
    # What "*" or "repeat" does here, when not simply asking again.
    on_repeat: Callable[[CallState, World], Decision] | None = None


# --- asking ------------------------------------------------------------------


def _prompt(key: str) -> Ask:
    def ask(state: CallState, world: World, short: bool) -> list[Say]:
        return [Say(key, short=short)]

    return ask


def _ask_choose(state: CallState, world: World, short: bool) -> list[Say]:
    subs = world.active_subscriptions(state.customer_id) if state.customer_id else ()
    options = [
        Say("subscription_option", {"plan": s.plan, "key": str(i)})
        for i, s in enumerate(subs, start=1)
    ]
    if len(subs) > 1:
        options.append(Say("subscription_all", {"key": str(len(subs) + 1)}))
    params = {"count": len(subs), "options": tuple(options)}
    return [Say("choose_subscription", params, short=short)]


def _ask_offer(state: CallState, world: World, short: bool) -> list[Say]:
    offer = world.offer(state.offer_id) if state.offer_id else None
    subs = _subscriptions(state, world)
    lines: list[Say] = []
    if offer is not None and not short:
        # Before any offer: they can finish cancelling at any time by saying
        # "cancel" (docs/compliance.md).
        lines.append(Say("cancel_disclosure", mark="disclosure"))
        lines.extend(_offer_lines(offer, subs, state, world))
    lines.append(Say("offer_question", short=short))
    return lines


def _offer_lines(
    offer: OfferFacts, subs: Sequence[SubscriptionFacts], state: CallState, world: World
) -> list[Say]:
    """The offer in its own words, then what the caller would pay, and after:
    never an offer without its price."""
    text = offer.wording.get(state.language) or offer.wording.get("en-US", "")
    params = {**offer.terms, "plan": _plans(subs, state, world)}
    return [Say(text=text, params=params, mark="offer"), _offer_price(offer, subs)]


def _ask_offer_after(state: CallState, world: World, short: bool) -> list[Say]:
    offer = world.offer(state.offer_id) if state.offer_id else None
    subs = _subscriptions(state, world)
    lines = _offer_lines(offer, subs, state, world) if offer is not None and not short else []
    lines.append(Say("offer_after_question", {"plan": _plans(subs, state, world)}, short=short))
    return lines


def _ask_receipt(state: CallState, world: World, short: bool) -> list[Say]:
    lines = [Say("hear_again", short=short)]
    if state.offer_permission == "asked":
        lines.append(Say("offer_permission", short=short, mark="permission"))
    elif state.consent == "asked":
        lines.append(Say("winback_consent", short=short, mark="consent"))
    return lines


def _ask_confirm(state: CallState, world: World, short: bool) -> list[Say]:
    pending = state.pending or {}
    return [Say("confirm", {"heard": _label_of(pending)}, short=short)]


def _ask_confirm_cancel(state: CallState, world: World, short: bool) -> list[Say]:
    plans = _plans(_subscriptions(state, world), state, world)
    return [Say("confirm_cancel", {"plan": plans}, short=short)]


def _ask_agent_unavailable(state: CallState, world: World, short: bool) -> list[Say]:
    key = {"closed": "agent_closed", UNREACHABLE: "account_unreachable"}.get(
        state.agent_reason or "", "agent_unavailable"
    )
    return [Say(key, short=short)]


def _ask_last_chance(state: CallState, world: World, short: bool) -> list[Say]:
    # "Press 0 for a person" only while someone can answer; else a call back.
    key = "last_chance" if world.agents() == "open" else "last_chance_closed"
    return [Say(key, short=short)]


def _label_of(pending: Mapping[str, Any]) -> Say:
    """How the line names what it thinks it heard: a reason, a yes/no, a plan."""
    kind, value = pending.get("kind"), pending.get("value")
    if kind == "reason":
        return Say(f"label:reasons.{value}")
    if kind == "answer":
        return Say(f"label:answers.{value}")
    return Say(text=str(pending.get("label", value)))


def _plans(subs: Sequence[SubscriptionFacts], state: CallState, world: World) -> Say:
    """The plans' names as one phrase: "Premium", "Streaming Basic and Cloud Storage"."""
    names = [s.plan for s in subs]
    if len(names) <= 1:
        return Say(text=_literal(names[0] if names else ""))
    joined = ", ".join(_literal(n) for n in names[:-1])
    return Say("plans_and", {"first": Say(text=joined), "last": Say(text=_literal(names[-1]))})


def _plan(sub: SubscriptionFacts) -> Say:
    return Say(text=_literal(sub.plan))


def _literal(text: str) -> str:
    """Text said as it is, braces and all (a plan named "{x}" is not a placeholder)."""
    return text.replace("{", "{{").replace("}", "}}")


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _offer_price(offer: OfferFacts, subs: Sequence[SubscriptionFacts]) -> Say:
    """What the caller pays with the offer, and after it ends, for all the
    subscriptions it would apply to."""
    price = _money(sum((s.price for s in subs), Decimal(0)))
    terms = offer.terms
    months = int(terms.get("months", 1))
    period_end = min((s.period_end for s in subs), default=None)
    params: dict[str, Any] = {"price": price, "months": months}
    if offer.kind == "discount":
        percent = Decimal(str(terms.get("percent", 0)))
        params["offer_price"] = _money(price * (100 - percent) / 100)
    elif offer.kind in ("pause", "free_period") and period_end is not None:
        params["until"] = add_months(period_end, months)
    elif offer.kind == "downgrade":
        params["new_plan"] = str(terms.get("plan", ""))
        params["new_price"] = _money(Decimal(str(terms.get("price", "0"))))
    return Say(f"offer_price_{offer.kind}", params)


def _answer_question(topic: str, state: CallState, world: World) -> list[Say]:
    """The answer to a question about the caller's plan: its price now, the
    price with the offer and after it, when service would end."""
    subs = _subscriptions(state, world)
    offer = world.offer(state.offer_id) if state.offer_id and state.step == "offer" else None
    if topic == "ask_end":
        return [Say("answer_end", {"plan": _plan(s), "end_date": s.period_end}) for s in subs]
    lines: list[Say] = []
    if topic == "ask_price" or offer is None:
        lines = [Say("answer_price", {"plan": _plan(s), "price": s.price}) for s in subs]
    if offer is not None:
        lines.append(_offer_price(offer, subs))
    return lines


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


def _other_languages(state: CallState, world: World) -> list[Any]:
    return [world.vocabulary(lang) for lang in LANGUAGES if lang != state.language]


def _in_other_language(speech: str, state: CallState, world: World) -> bool:
    """The words are another language's: its phrases match and ours do not,
    or more of its everyday words than ours are in them."""
    own = world.vocabulary(state.language)
    mine = common_words(speech, own)
    for vocab in _other_languages(state, world):
        if common_words(speech, vocab) > mine:
            return True
        theirs = intent_of(speech, vocab) or reason_of(speech, vocab, REASON_CODES)
        if theirs and not (intent_of(speech, own) or reason_of(speech, own, REASON_CODES)):
            return True
    return False


def _not_an_answer(answer: Answer, state: CallState, world: World) -> Meaning | None:
    """Why words that matched nothing are no answer, for the record (and the
    words said back): a question, hesitation, "not sure", another language."""
    speech = answer.speech
    vocab = world.vocabulary(state.language)
    pause = intent_of(speech, vocab, PAUSES)
    if pause or not content_words(speech, vocab):
        kind = "unsure" if pause == "unsure" else "hesitation"
        return Meaning(kind, speech, kind="not_an_answer")
    if is_question(speech, vocab):
        return Meaning("question", speech, kind="not_an_answer")
    if _in_other_language(speech, state, world):
        return Meaning("other_language", speech, kind="not_an_answer")
    return None


def _question(answer: Answer, state: CallState, world: World) -> Meaning | None:
    """A question the line can answer, asked as a question ("what am I
    paying?"), not the same words inside an answer ("I hate what I pay")."""
    vocab = world.vocabulary(state.language)
    topic = intent_of(answer.speech, vocab, ANSWERABLE)
    if topic and (is_question(answer.speech, vocab) or _opens_with(answer.speech, vocab, topic)):
        return Meaning(topic, answer.speech, kind="question")
    return None


def _opens_with(speech: str, vocab: Any, intent: str) -> bool:
    """The words open with one of the intent's phrases ("cuándo termina",
    "how much is it"): a question that needs no question word before it."""
    return _opening(speech, vocab, (intent,)) == intent


def _opening(speech: str, vocab: Any, intents: Sequence[str]) -> str | None:
    """Which of the intents the first words are a phrase of, if any (each
    word in one phrase, the longest first)."""
    words = content_words(speech, vocab)
    table = {name: vocab.intents.get(name, ()) for name in intents}
    return next(
        (m.label for m in find_matches(words, table, vocab.negations) if m.start == 0), None
    )


def _trained_guess(answer: Answer, state: CallState, world: World) -> Any:
    """What the trained understanding makes of the words at this step
    (ivr/language/understanding.py): a Guess, or None where none listens."""
    understanding = world.vocabulary(state.language).understanding
    model_step = TRAINED_STEPS.get(state.step)
    if understanding is None or model_step is None or answer.kind != "speech":
        return None
    return understanding.guess(model_step, answer.speech)


def _trained_meaning(
    answer: Answer, state: CallState, world: World, allowed: Sequence[str]
) -> Meaning | None:
    """The trained understanding's answer, if it is one of `allowed` and
    likely enough: below TRAINED_CONFIDENT the line asks "did you say ...?".
    A question is never an answer (0009), nor are another language's words;
    but a sentence with some everyday words of the caller's language that
    its classifier is confident about is theirs ("el bill está muy alto",
    "me voy a mudar": the count of everyday words misjudges short ones)."""
    guess = _trained_guess(answer, state, world)
    if guess is None or guess.meaning not in allowed or guess.confidence < TRAINED_UNSURE:
        return None
    vocab = world.vocabulary(state.language)
    sure = guess.confidence >= TRAINED_CONFIDENT
    if is_question(answer.speech, vocab) and not (sure and guess.meaning == "skip"):
        # Asked, not answered; but "does it matter?" at the reason question
        # is a skip.
        return None
    own = sure and (
        common_words(answer.speech, vocab) > 0
        or (
            TRAINED_STEPS.get(state.step) == "yes_no"
            and (guess.likeness or 0.0) >= SPANGLISH_LIKENESS
        )
    )
    if not own and _in_other_language(answer.speech, state, world):
        return None
    return Meaning(guess.meaning, answer.speech, _confident(answer, world) and sure)


# What the rules hear as an answer where the trained understanding listens:
# said, it is the answer, even beside words the classifier reads as a wish
# for a person. A question is not one of them: "can I talk to billing" asks
# for a person; nor, at the reason question, are yes and no ("no quiero
# hablar con una máquina" asks for a person).
_ANSWERS = ("repeat", "yes", "no", "cancel", "keep", "skip")
_REASON_ANSWERS = ("repeat", "cancel", "keep", "skip")


def _wants_agent(answer: Answer, state: CallState, world: World) -> bool:
    """Asks for a person: the explicit words (rules, at every step), or, where
    the trained understanding listens, a confident request in other words
    ("I need to talk this through with someone", "can I get somebody on the
    phone")."""
    vocab = world.vocabulary(state.language)
    if wants_agent(answer.speech, vocab):
        return not _names_someone(answer, state, world)
    answers = _REASON_ANSWERS if state.step == "reason" else _ANSWERS
    if intent_of(answer.speech, vocab, answers) is not None:
        return False  # the rules hear an answer in it ("repeat", "yes")
    guess = _trained_guess(answer, state, world)
    return (
        guess is not None
        and guess.meaning == "agent"
        and guess.confidence >= TRAINED_CONFIDENT
        and _confident(answer, world)
    )


def _names_someone(answer: Answer, state: CallState, world: World) -> bool:
    """At the reason question, a person's words ("rep", "agent", "una
    persona") inside a sentence the classifier is sure gives a reason ("the
    rep lied to me about the price", "es difícil para una persona mayor")
    name someone, not whom the caller asks for, unless some part of the words
    asks for a person on its own."""
    if state.step != "reason" or _mostly(answer.speech, world.vocabulary(state.language), "agent"):
        return False
    guess = _trained_guess(answer, state, world)
    if not (
        guess is not None
        and guess.meaning in REASON_CODES
        and guess.confidence >= STAFF_SURE
        and _confident(answer, world)
    ):
        return False
    return not _asks_in_part(answer, state, world)


def _asks_in_part(answer: Answer, state: CallState, world: World) -> bool:
    """Some part of the words asks for a person on its own: a person's word
    that opens them ("rep please, the last one hung up on me"); one of
    several clauses ("your rep was rude, get me a supervisor"); or the two
    or three words up to a person's word ("I want an agent because ..."),
    which "the rep lied to me" has not: it names the rep it complains of."""
    vocab = world.vocabulary(state.language)
    clauses = [part for part in _CLAUSE.split(answer.speech) if part.strip()]
    parts = clauses if len(clauses) > 1 else []
    tokens = without_fillers(tokenize(answer.speech), vocab)
    for match in find_matches(tokens, {"agent": vocab.intents.get("agent", ())}, ()):
        if match.start == 0:
            return True
        start = match.start
        while start > max(0, match.start - REQUEST_REACH) and tokens[start - 1] != BOUNDARY:
            start -= 1
        if match.start - start >= 2:
            parts.append(" ".join(tokens[start : match.end]))
    guesses = (_trained_guess(dataclasses.replace(answer, speech=p), state, world) for p in parts)
    return any(guess is not None and guess.meaning == "agent" for guess in guesses)


def _interpret_number(answer: Answer, state: CallState, world: World) -> Meaning | None:
    """An account number or PIN, keyed or spoken; a change of language; or
    "I forgot it"."""
    language = _language_choice(answer, state, world)
    if language is not None:
        return Meaning(language, kind="language")
    if answer.kind == "digits":
        digits = answer.digits.strip("#*")
        return Meaning(digits) if digits.isdigit() else None
    vocab = world.vocabulary(state.language)
    number = number_of(answer.speech, vocab)
    if number:
        return Meaning(number, answer.speech)
    # "I don't know" means the same here as "I forgot it".
    if intent_of(answer.speech, vocab, ("forgot", "unsure")):
        return Meaning("forgot", answer.speech, kind="forgot")
    return _not_an_answer(answer, state, world)


def _interpret_choice(answer: Answer, state: CallState, world: World) -> Meaning | None:
    subs = world.active_subscriptions(state.customer_id) if state.customer_id else ()
    if answer.kind == "digits":
        key = answer.digits[:1]
        if key.isdigit() and 1 <= int(key) <= len(subs):
            return Meaning(str(subs[int(key) - 1].id))
        if len(subs) > 1 and key == str(len(subs) + 1):
            return Meaning("all")
        return None
    vocab = world.vocabulary(state.language)
    confident = _confident(answer, world)
    if len(subs) > 1 and intent_of(answer.speech, vocab, ("all",)):
        return Meaning("all", answer.speech, confident)
    said = set(without_fillers(tokenize(answer.speech), vocab))
    scored = [(len(said & set(tokenize(s.plan))), s) for s in subs]
    best = max((score for score, _ in scored), default=0)
    winners = [s for score, s in scored if score == best]
    if best == 0 or len(winners) != 1:
        spoken = number_of(answer.speech, vocab)
        if spoken and spoken.isdigit() and 1 <= int(spoken) <= len(subs):
            return Meaning(str(subs[int(spoken) - 1].id), answer.speech, confident)
        return _not_an_answer(answer, state, world)
    return Meaning(str(winners[0].id), answer.speech, confident)


def _interpret_reason(answer: Answer, state: CallState, world: World) -> Meaning | None:
    if answer.kind == "digits":
        code = REASON_KEYS.get(answer.digits[:1])
        return Meaning(code) if code else None
    speech = answer.speech
    vocab = world.vocabulary(state.language)
    confident = _confident(answer, world)
    trained = _trained_meaning(answer, state, world, (*REASON_CODES, "skip"))
    # "Changed my mind": the caller keeps it; but words of keeping inside a
    # sentence the classifier is sure is a reason are that reason ("ahora me
    # quedo con Peacock" is switching, "I don't watch enough to keep it").
    if intent_of(speech, vocab, ("keep",)) and not (
        trained and trained.confident and not _mostly(speech, vocab, "keep")
    ):
        return Meaning("keep", speech, confident)
    question = _question(answer, state, world)
    if question:
        return question
    if _surely_no_reason(answer, state, world):
        # "When is my bill due", "hold on, the other line's ringing": a
        # reason's word in a sentence the classifier is sure gives none.
        return _not_an_answer(answer, state, world)
    rule_code = reason_of(speech, vocab, REASON_CODES)
    # "Hold on", "not sure": never read as a reason (0009), unless a reason's
    # own words are said too, or more words than the hesitation that the
    # classifier is sure are a reason ("I don't know how to work it").
    if (
        intent_of(speech, vocab, PAUSES)
        and not rule_code
        and not (trained and trained.confident and _beyond_pauses(speech, vocab) >= 2)
    ):
        return _not_an_answer(answer, state, world)
    if trained and trained.confident:
        return trained
    if rule_code:
        return Meaning(rule_code, speech, confident)
    intent = intent_of(speech, vocab, ("skip", "cancel"))
    if intent and not (intent == "cancel" and _asks_about_cancelling(speech, vocab)):
        return Meaning(intent, speech, confident)
    not_an_answer = _not_an_answer(answer, state, world)
    if not_an_answer:
        return not_an_answer
    guess = _trained_guess(answer, state, world)
    if guess is not None and guess.meaning == "not_an_answer" and guess.confidence >= CONFIDENT:
        return None
    # A reason in their own words that fits no code is kept as "other"
    # (docs/decisions/0004): a sentence in the caller's language, not a word
    # or two, and nothing the line could not place.
    content = content_words(speech, vocab)
    if len(content) >= MIN_OWN_WORDS and confident and common_words(speech, vocab) > 0:
        return Meaning("other", speech)
    # A likely reason, not a sure one: "did you say ...?"
    return trained


def _surely_no_reason(answer: Answer, state: CallState, world: World) -> bool:
    """The classifier is sure the words give no reason, and the rules' reason
    and skip words are less than half of them ("the bill" and "other" are
    still reasons)."""
    guess = _trained_guess(answer, state, world)
    if guess is None or guess.meaning != "not_an_answer" or guess.confidence < TRAINED_CONFIDENT:
        return False
    vocab = world.vocabulary(state.language)
    words = content_words(answer.speech, vocab)
    table = {**vocab.reasons, **{name: vocab.intents.get(name, ()) for name in ("skip", "cancel")}}
    return _covered(words, vocab, table) * 2 < len(words)


def _covered(
    words: Sequence[str], vocab: Any, table: Mapping[str, Any], negated: bool = False
) -> int:
    """How many of the words the table's phrases cover (each word in one
    phrase, the longest first); negated phrases count only if `negated`."""
    matches = find_matches(words, table, vocab.negations)
    return sum(m.end - m.start for m in matches if negated or not m.negated)


def _mostly(speech: str, vocab: Any, intent: str) -> bool:
    """The intent's own words are half or more of the words said ("no le
    entendí bien" is mostly a wish to hear it again; "me subieron el bil otra
    vez" is not)."""
    words = content_words(speech, vocab)
    covered = _covered(words, vocab, {intent: vocab.intents.get(intent, ())})
    return bool(words) and covered * 2 >= len(words)


def _asks(speech: str, vocab: Any, answers: Sequence[str]) -> bool:
    """The words open with a question ("can I", "is that"), and the opening
    is not an answer's own words ("why not" is a yes); or Spanish's opening
    question mark says so ("¿pierdo mis perfiles si lo pauso?": "si" is
    "if" there, not "sí")."""
    if "\u00bf" in speech:
        return True
    return _opening(speech, vocab, ("question", *answers)) == "question" and not (
        opens_unaccented(speech, vocab)
    )


def _beyond_pauses(speech: str, vocab: Any) -> int:
    """How many of the words are not part of a hesitation ("I don't know",
    "hold on")."""
    words = content_words(speech, vocab)
    pauses = {name: vocab.intents.get(name, ()) for name in PAUSES}
    return len(words) - _covered(words, vocab, pauses, negated=True)


def _two_ways(
    answer: Answer,
    state: CallState,
    world: World,
    keys: Mapping[str, str],
    same: Mapping[str, str] | None = None,
    *,
    questions: bool = False,
    trained: bool = False,
) -> Meaning | None:
    """A choice of two, by key (`keys`) or in words (`same` maps the words'
    intents onto the two); words that are neither are no answer."""
    if answer.kind == "digits":
        value = keys.get(answer.digits[:1])
        return Meaning(value) if value else None
    rest = _after_aside(answer.speech, world.vocabulary(state.language)) if trained else None
    if rest is not None:
        # "¿Más barato? Lo más barato es cancelar, cancele", "are you kidding
        # me, just close it": the words after a short question or exclamation
        # answer, when the classifier reads the whole the same way ("puedo
        # dejarlo cuando quiera, si digo que sí" stays a question).
        whole = _trained_guess(answer, state, world)
        if whole is not None and whole.confidence >= TRAINED_CONFIDENT:
            said = dataclasses.replace(answer, speech=rest)
            meaning = _two_ways(said, state, world, keys, same, questions=questions, trained=True)
            if meaning is not None and meaning.value == whole.meaning:
                return meaning
    if questions:
        question = _question(answer, state, world)
        if question:
            return question
    choices = tuple(dict.fromkeys(keys.values()))
    vocab = world.vocabulary(state.language)
    if questions and _asks(answer.speech, vocab, (*choices, *(same or {}))):
        # "Can I cancel anytime if I take it?", "is that with tax": asked, not
        # answered, whatever yes or no word is in it (0009).
        return _not_an_answer(answer, state, world)
    scores = intent_scores(answer.speech, vocab, (*choices, *PAUSES), same)
    intent = strongest(scores)
    if intent in choices and all(c in scores for c in choices):
        # Words of both ("sí, sí, cancele", "no, el precio está bien"): the
        # longer words do not decide. Where the trained understanding
        # listens, it does if it is sure; else the words are no answer.
        guess = _trained_meaning(answer, state, world, choices) if trained else None
        if guess and guess.confident:
            return guess
        return _not_an_answer(answer, state, world)
    if intent is None and trained and _alike_enough(answer, state, world):
        # "Go on then", "count me in", "I'd rather not": no yes or no in them.
        guess = _trained_meaning(answer, state, world, choices)
        if guess:
            return guess
    if intent is None or intent in PAUSES:
        return _not_an_answer(answer, state, world)
    if _off_topic(answer, state, world):
        # "The rockets kept me up, no sleep at all": a yes or no word in a
        # sentence about something else answers nothing.
        return _not_an_answer(answer, state, world)
    return Meaning(intent, answer.speech, _confident(answer, world))


def _after_aside(speech: str, vocab: Any) -> str | None:
    """The words after an opening aside, when they answer: a short question
    or exclamation ("¿caro?", "qué amable", "are you kidding me") followed,
    after its punctuation, by words that do not ask. None otherwise ("can I
    stop it whenever I want, if I say yes" opens with more than an aside)."""
    match = _ASIDE.match(speech)
    if match is None:
        return None
    aside, mark, rest = match.groups()
    words = content_words(aside, vocab)
    if not words or len(words) > ASIDE_WORDS or not content_words(rest, vocab):
        return None
    asked = "\u00bf" in aside or "?" in mark or _opening(aside, vocab, ("question",))
    if not asked or is_question(rest, vocab):
        return None
    return rest


def _alike_enough(answer: Answer, state: CallState, world: World) -> bool:
    """Words with no yes or no in them answer a yes/no question only when
    they are close to phrasings the classifier learnt that answer from
    ("the bakery sells fresh bagels" is not, however its scores fall), and
    the classifier is well sure of them ("y entonces la señora de la" is
    not): such an answer changes a subscription on the classifier's word
    alone."""
    guess = _trained_guess(answer, state, world)
    return (
        guess is not None
        and (guess.likeness or 0.0) >= ALONE_LIKENESS
        and guess.confidence >= ALONE_SURE
    )


def _off_topic(answer: Answer, state: CallState, world: World) -> bool:
    """A sentence (not a word or two) that the trained understanding of yes
    and no is sure answers nothing, whatever yes or no word the rules find
    in it (at every two-way question, the explicit cancel's too)."""
    vocab = world.vocabulary(state.language)
    if vocab.understanding is None or answer.kind != "speech":
        return False
    if len(content_words(answer.speech, vocab)) < MIN_OWN_WORDS:
        return False
    guess = vocab.understanding.guess("yes_no", answer.speech)
    return (
        guess is not None
        and guess.meaning == "not_an_answer"
        and guess.confidence >= TRAINED_CONFIDENT
    )


def _interpret_offer(answer: Answer, state: CallState, world: World) -> Meaning | None:
    """Yes to the offer, or no (which finishes the cancellation)."""
    # "I don't want to cancel" at the offer is a yes to it; "cancel" a no.
    same = {"keep": "yes", "cancel": "no"}
    return _two_ways(answer, state, world, YES_NO_KEYS, same, questions=True, trained=True)


def _interpret_confirm_cancel(answer: Answer, state: CallState, world: World) -> Meaning | None:
    same = {"yes": "cancel", "no": "keep"}
    return _two_ways(answer, state, world, CANCEL_KEEP_KEYS, same, questions=True)


def _interpret_yes_no(answer: Answer, state: CallState, world: World) -> Meaning | None:
    return _two_ways(answer, state, world, YES_NO_KEYS, trained=True)


def _interpret_agent_choice(answer: Answer, state: CallState, world: World) -> Meaning | None:
    if answer.kind == "digits":
        value = {"1": "callback", "2": "resume"}.get(answer.digits[:1])
        return Meaning(value) if value else None
    intent = intent_of(
        answer.speech, world.vocabulary(state.language), ("callback", "resume", "yes")
    )
    if intent is None:
        return _not_an_answer(answer, state, world)
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


def confirmed(state: CallState, outcome: str, lines: Sequence[Say], effects, world) -> Decision:  # type: ignore[no-untyped-def]
    """The change is made: say what changed (codes, dates), then offer to say
    it again once ("press star") before goodbye. Where the offer may only come
    after cancelling, this is where the caller is asked whether to hear it."""
    state = state.but(outcome=outcome, outcome_step=state.step)
    effects = list(effects)
    lines = list(lines)
    texted = world.can_text(state.caller)
    if texted:
        # The same in writing; said only because it is queued in this very change.
        effects.append(SendText("confirmation"))
        lines.append(Say("sms_sent"))
    if outcome == "cancelled" and _offer_after_cancelling(state, world) is not None:
        state = state.but(offer_permission="asked")
    elif outcome == "cancelled" and texted and state.consent is None:
        # At most one question after the confirmation: may we text a better offer?
        state = state.but(consent="asked")
    decision = go(state, "receipt", world, lines)
    return dataclasses.replace(decision, effects=tuple(effects))


def _offer_after_cancelling(state: CallState, world: World) -> OfferFacts | None:
    """The one offer a caller may hear once cancelled ("after" rules), if any."""
    if state.offer_timing != "after" or state.offer_permission is not None:
        return None
    return world.offer_for(state.reason_code) if state.reason_code else None


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
    # Which rules apply: the state on file, else the number's, else the strictest.
    customer = world.customer(state.customer_id)
    rules = world.jurisdiction(customer.state if customer else None, state.from_state)
    state = state.but(
        region=rules.state,
        region_source=rules.source,
        offer_timing=rules.rules.offer,
        recording_notice=rules.rules.recording_notice,
    )
    pending = world.pending_cancellations(state.customer_id)
    if pending:
        # A cancellation not yet in effect: the way back comes first.
        ids = tuple(s.id for s in pending)
        decision = go(state.but(pending_ids=ids), "way_back", world)
    else:
        decision = _to_what_is_active(state, world)
    return _noting(
        decision,
        "jurisdiction",
        {
            "state": rules.state,
            "source": rules.source,
            "offer": rules.rules.offer,
            "recording_notice": rules.rules.recording_notice,
            "rules_version": rules.version,
        },
    )


def _to_what_is_active(state: CallState, world: World) -> Decision:
    assert state.customer_id is not None
    subs = world.active_subscriptions(state.customer_id)
    if not subs:
        return finish(state, "no_subscription", [Say("no_subscription")])
    if len(subs) == 1:
        return go(state.but(subscription_id=subs[0].id), "reason", world)
    return go(state, "choose", world)


def _pending(state: CallState, world: World) -> list[SubscriptionFacts]:
    found = [world.subscription(i) for i in state.pending_ids]
    return [s for s in found if s is not None]


def _ask_way_back(state: CallState, world: World, short: bool) -> list[Say]:
    lines = (
        []
        if short
        else [
            Say("way_back_ends", {"plan": _plan(s), "end_date": s.period_end})
            for s in _pending(state, world)
        ]
    )
    return [*lines, Say("way_back_question", short=short)]


def _interpret_way_back(answer: Answer, state: CallState, world: World) -> Meaning | None:
    """1 or "keep it" keeps what was cancelled; 2 or "no" leaves it."""
    same = {"yes": "keep", "no": "leave", "cancel": "leave"}
    return _two_ways(answer, state, world, {"1": "keep", "2": "leave"}, same)


def _apply_way_back(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.value == "keep":
        subs = _pending(state, world)
        lines = [
            Say("reinstated", {"plan": _plan(s)}, results_of=s.id, mark="receipt") for s in subs
        ]
        state = state.but(subscription_id=subs[0].id, subscription_ids=tuple(s.id for s in subs))
        return confirmed(state, "reinstated", lines, [Reinstate(s.id) for s in subs], world)
    # Leaving it cancelled: on to anything still active, or goodbye.
    state = state.but(pending_ids=())
    assert state.customer_id is not None
    if not world.active_subscriptions(state.customer_id):
        return finish(state, "no_subscription", [Say("way_back_left")])
    return _to_what_is_active(state, world)


def _apply_choice(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.value == "all":
        assert state.customer_id is not None
        ids = tuple(s.id for s in world.active_subscriptions(state.customer_id))
        return go(state.but(subscription_id=ids[0], subscription_ids=ids), "reason", world)
    return go(state.but(subscription_id=int(meaning.value), subscription_ids=()), "reason", world)


def _apply_reason(state: CallState, meaning: Meaning, world: World) -> Decision:
    words = meaning.words or None
    if meaning.value == "keep":
        return _keep(state.but(reason_text=words), world)
    if meaning.value == "cancel":
        # "Just cancel it": a clear decision, so no reason, no offer, no question.
        return _cancel(state.but(reason_code=None, reason_text=words), world)
    if meaning.value == "skip":
        return go(state.but(reason_code=None, reason_text=words), "confirm_cancel", world)
    state = state.but(reason_code=meaning.value, reason_text=words)
    offer = world.offer_for(meaning.value)
    if offer is None or state.offer_timing != "before":
        # No offer to decline (none for the reason, or none before cancelling
        # where the caller lives), so the caller says "cancel" once, explicitly.
        return go(state, "confirm_cancel", world)
    return go(state.but(offer_id=offer.id), "offer", world)


def _apply_offer_answer(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.value == "no":
        return _cancel(state.but(offer_accepted=False), world)
    assert state.offer_id is not None
    offer = world.offer(state.offer_id)
    assert offer is not None
    # A help offer's call back is promised by the time the queue will hold it to.
    due = world.callback_due() if offer.kind == "help" else None
    extra = {"due": due} if due is not None else {}
    lines = [
        Say(
            "saved",
            {"change": Say(f"saved_{offer.kind}", {**offer.terms, **extra, "plan": _plan(s)})},
            results_of=s.id,
            mark="receipt",
        )
        for s in _subscriptions(state, world)
    ]
    effects = [
        ApplyOffer(s.id, offer.id, due.at if due is not None else None)
        for s in _subscriptions(state, world)
    ]
    return confirmed(state.but(offer_accepted=True), "saved", lines, effects, world)


def _apply_confirm_cancel(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.value == "cancel":
        return _cancel(state, world)
    return _keep(state, world)


def _keep(state: CallState, world: World) -> Decision:
    plans = _plans(_subscriptions(state, world), state, world)
    return finish(state, "saved", [Say("kept", {"plan": plans})])


def _cancel(state: CallState, world: World) -> Decision:
    subs = _subscriptions(state, world)
    lines = [
        Say(
            "cancelled",
            {"plan": _plan(s), "end_date": s.period_end},
            results_of=s.id,
            mark="receipt",
        )
        for s in subs
    ]
    effects = [Cancel(s.id, state.reason_code, state.reason_text) for s in subs]
    return confirmed(state, "cancelled", lines, effects, world)


def _subscriptions(state: CallState, world: World) -> list[SubscriptionFacts]:
    """The subscriptions the caller is cancelling: the one chosen, or all."""
    ids = state.subscription_ids or ((state.subscription_id,) if state.subscription_id else ())
    found = [world.subscription(i) for i in ids]
    return [s for s in found if s is not None]


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
        due = world.callback_due()
        lines = [Say("callback_confirmed", {"due": due})]
        effects: list[Any] = [
            RequestCallback(state.agent_result or state.agent_reason or "agent_unavailable", due.at)
        ]
        if world.can_text(state.caller):
            effects.append(SendText("callback"))
            lines.append(Say("sms_callback_sent"))
        return finish(state, "callback", [*lines, Say("goodbye")], effects)
    back_to = state.return_step or ("verify" if state.customer_id else "identify")
    # Back where they were; an outcome set on the way (unverified) still holds.
    return go(state, back_to, world)


def _goodbye(state: CallState, world: World, lines: Sequence[Say] = ()) -> Decision:
    return Decision(state.but(step="done", pending=None), (*lines, Say("goodbye")), Hangup())


def _apply_goodbye(state: CallState, meaning: Meaning, world: World) -> Decision:
    return _goodbye(state, world)


def _interpret_receipt(answer: Answer, state: CallState, world: World) -> Meaning | None:
    """After the confirmation: yes or no to the one question asked (hearing an
    offer, or a text with a better one); anything else ends the call."""
    if state.offer_permission == "asked" or state.consent == "asked":
        value = _interpret_yes_no(answer, state, world)
        if value is not None and value.kind == "answer":
            yes = value.value == "yes"
            if state.offer_permission == "asked":
                return Meaning("hear_offer" if yes else "no_offer", value.words)
            # How the yes was given, for the consent's record.
            how = (
                f'said "{answer.speech}"' if answer.kind == "speech" else f"pressed {answer.digits}"
            )
            return Meaning("consent" if yes else "no_consent", how)
    return Meaning("done")


def _apply_receipt(state: CallState, meaning: Meaning, world: World) -> Decision:
    if meaning.value == "hear_offer":
        offer = _offer_after_cancelling(state.but(offer_permission=None), world)
        assert offer is not None
        decision = go(
            state.but(offer_permission="granted", offer_id=offer.id), "offer_after", world
        )
        return _noting(decision, "offer_permission", {"answer": "yes"})
    if meaning.value == "no_offer":
        decision = _goodbye(state.but(offer_permission="declined"), world)
        return _noting(decision, "offer_permission", {"answer": "no"})
    if meaning.value == "consent" and state.consent_text:
        decision = _goodbye(state.but(consent="given"), world, [Say("consent_thanks")])
        consent = RecordConsent(state.consent_text, meaning.words)
        return dataclasses.replace(decision, effects=(consent,))
    if meaning.value == "no_consent":
        return _goodbye(state.but(consent="refused"), world)
    return _goodbye(state, world)


def _apply_offer_after(state: CallState, meaning: Meaning, world: World) -> Decision:
    """Taking the offer heard after cancelling brings the subscription back with it."""
    if meaning.value == "no":
        return _goodbye(state.but(offer_accepted=False), world)
    assert state.offer_id is not None
    subs = _subscriptions(state, world)
    decision = _apply_offer_answer(state, meaning, world)
    # Back first, then the offer (a worker applies one subscription's changes in order).
    reinstated = tuple(Reinstate(s.id) for s in subs)
    return dataclasses.replace(decision, effects=(*reinstated, *decision.effects))


def _repeat_receipt(state: CallState, world: World) -> Decision:
    """The confirmation once more, word for word, then goodbye."""
    return _goodbye(state, world, [Say(text=_literal(text)) for text in state.receipt])


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step(
            "identify",
            phase="identify",
            ask=_prompt("ask_account"),
            listening=Listening(
                num_digits=None,
                finish_on_key="#",
                timeout=5,
                intents=("english", "spanish", "forgot"),
            ),
            interpret=_interpret_number,
            apply=_apply_account,
        ),
        Step(
            "verify",
            phase="verify",
            ask=_prompt("ask_pin"),
            listening=Listening(num_digits=4, timeout=5, intents=("english", "spanish", "forgot")),
            interpret=_interpret_number,
            apply=_apply_pin,
        ),
        Step(
            "choose",
            phase="choose",
            ask=_ask_choose,
            listening=Listening(num_digits=1, timeout=5, intents=("all",)),
            interpret=_interpret_choice,
            apply=_apply_choice,
        ),
        Step(
            "reason",
            phase="reason",
            ask=_prompt("ask_reason"),
            listening=Listening(
                num_digits=1, timeout=5, intents=("skip", "keep", "cancel"), reasons=True
            ),
            interpret=_interpret_reason,
            apply=_apply_reason,
        ),
        Step(
            "offer",
            phase="offer",
            ask=_ask_offer,
            listening=Listening(num_digits=1, timeout=5, intents=("yes", "no", "keep", "cancel")),
            interpret=_interpret_offer,
            apply=_apply_offer_answer,
        ),
        Step(
            # No offer for the reason (or none given): the one explicit
            # "cancel" that the decision rests on. Never asked twice.
            "confirm_cancel",
            phase="confirm_cancel",
            ask=_ask_confirm_cancel,
            listening=Listening(num_digits=1, timeout=5, intents=("cancel", "keep")),
            interpret=_interpret_confirm_cancel,
            apply=_apply_confirm_cancel,
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
            ask=_ask_last_chance,
            listening=Listening(num_digits=1, timeout=4),
            interpret=_interpret_anything,
            apply=_apply_goodbye,
            on_silence="goodbye",
        ),
        Step(
            # The change is confirmed: "to hear that again, press star", once;
            # with "after" rules, "may I tell you about an offer?" too.
            "receipt",
            phase="done",
            ask=_ask_receipt,
            listening=Listening(num_digits=1, timeout=3, intents=("yes", "no")),
            interpret=_interpret_receipt,
            apply=_apply_receipt,
            on_silence="goodbye",
            on_repeat=_repeat_receipt,
        ),
        Step(
            # A cancellation not yet in effect: "to keep it, press 1".
            "way_back",
            phase="way_back",
            ask=_ask_way_back,
            listening=Listening(num_digits=1, timeout=5, intents=("keep", "yes", "no")),
            interpret=_interpret_way_back,
            apply=_apply_way_back,
        ),
        Step(
            # "After" rules: the offer, heard only once cancelled and only
            # because the caller said yes to hearing it.
            "offer_after",
            phase="offer",
            ask=_ask_offer_after,
            listening=Listening(num_digits=1, timeout=5, intents=("yes", "no")),
            interpret=_interpret_offer,
            apply=_apply_offer_after,
            on_silence="goodbye",
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
    "confirm_cancel",
    "confirm",
    "last_chance",
    "receipt",
    "offer_after",
    "way_back",
}

# Where a verified caller's "cancel" finishes the cancellation at once: no
# more questions, no offer (docs/compliance.md).
CANCEL_ANYWHERE = {
    "choose",
    "reason",
    "offer",
    "confirm_cancel",
    "confirm",
    "agent_unavailable",
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
    key = _key_aloud(answer, state, world)
    if key is not None:
        # "Press two", "el dos": the key, as if pressed (the record keeps the
        # words said).
        decision = decide(state, Answer("digits", digits=key), world)
        if decision.understood:
            decision = dataclasses.replace(
                decision, understood={**decision.understood, "key_said": key}
            )
        return decision
    if answer.kind == "digits" and answer.digits == AGENT_KEY:
        return to_agent(state, world)
    if answer.kind == "speech" and _wants_agent(answer, state, world):
        return to_agent(state, world, understood={"meaning": "agent", "words": answer.speech})
    if (
        state.verified
        and state.step in CANCEL_ANYWHERE
        and answer.kind == "speech"
        and _says_cancel(answer, state, world)
    ):
        return _cancel_on_request(state, answer, world)
    if (answer.kind == "digits" and answer.digits == REPEAT_KEY) or (
        answer.kind == "speech" and _asks_repeat(answer.speech, world, state)
    ):
        return step.on_repeat(state, world) if step.on_repeat else ask(state, world)
    if answer.kind == "silence" or (answer.kind == "speech" and not answer.speech.strip()):
        return _on_silence(state, step, world)

    meaning = step.interpret(answer, state, world)
    if meaning is None:
        decision = _missed(state, world, [Say("not_understood")])
        return _with(decision, decision.state, {"meaning": "not_understood"})
    if meaning.kind == "not_an_answer":
        # Thinking aloud, "not sure", a question, another language: never
        # taken as an answer; asked again, shorter, and counted like silence.
        decision = _missed(state, world, NOT_AN_ANSWER_LINES.get(meaning.value, []))
        heard_as = {"meaning": "not_an_answer", "heard_as": meaning.value}
        return _with(decision, decision.state, heard_as)
    if meaning.kind == "question":
        decision = ask(state, world, _answer_question(meaning.value, state, world), short=True)
        return _with(decision, decision.state, {"meaning": "question", "about": meaning.value})
    if meaning.kind == "forgot":
        help_key = "forgot_account" if state.step == "identify" else "forgot_pin"
        decision = ask(state, world, [Say(help_key)], short=True)
        return _with(decision, decision.state, {"meaning": "forgot"})
    understood = {"meaning": _recordable(state, meaning), "confident": meaning.confident}
    if not meaning.confident:
        pending = {
            "step": state.step,
            "kind": _pending_kind(state.step),
            "value": meaning.value,
            "words": meaning.words,
        }
        if state.step == "choose":
            pending["label"] = _choice_label(meaning.value, state, world)
        decision = ask(state.but(step="confirm", misses=0, pending=pending), world)
        return _with(decision, decision.state, understood)
    decision = step.apply(state, meaning, world)
    return _with(decision, decision.state, understood)


# What the line says before asking again, by why the words were no answer.
NOT_AN_ANSWER_LINES: dict[str, list[Say]] = {
    "hesitation": [Say("take_your_time")],
    "unsure": [Say("take_your_time")],
    "question": [Say("cannot_answer")],
    "other_language": [Say("not_understood")],
}


def _key_aloud(answer: Answer, state: CallState, world: World) -> str | None:
    """The key a caller named aloud, at a question whose menu names keys,
    when that is all they said and it was heard clearly ("nine", "press
    three", "option 2", "marco el cinco"); None otherwise ("it's two
    expensive" is a reason in words)."""
    if answer.kind != "speech" or state.step not in KEYS_ALOUD or not _confident(answer, world):
        return None
    return key_of(answer.speech, world.vocabulary(state.language))


def _says_cancel(answer: Answer, state: CallState, world: World) -> bool:
    """A clear "cancel" ("just cancel it", "cancélelo"), heard with confidence;
    "don't cancel" is not one, nor is a question about cancelling."""
    vocab = world.vocabulary(state.language)
    return (
        _confident(answer, world)
        and intent_of(answer.speech, vocab, CANCEL_OR_KEEP) == "cancel"
        and not _asks_about_cancelling(answer.speech, vocab)
    )


def _asks_about_cancelling(speech: str, vocab: Any) -> bool:
    """A question with "cancel" in it that is more than a request to cancel:
    "can I cancel anytime if I take it?", "¿puedo cancelar cuando quiera?"
    ask about cancelling; "can you cancel it?" and "cancel it?" ask for it
    (the words of cancelling are half or more of the words)."""
    return is_question(speech, vocab) and not _mostly(speech, vocab, "cancel")


CANCEL_OR_KEEP = ("cancel", "keep")


def _cancel_on_request(state: CallState, answer: Answer, world: World) -> Decision:
    """The caller said "cancel": done now, with nothing more asked or offered."""
    understood = {"meaning": "cancel", "words": answer.speech}
    step = state.step
    if step == "choose":
        choice = _interpret_choice(answer, state, world)
        if choice is None or choice.kind != "answer":
            # "Cancel" alone, with several subscriptions: which one is the question.
            decision = ask(state, world, [Say("which_one")], short=True)
            return _with(decision, decision.state, {**understood, "which": "not said"})
        state = _apply_choice(state, choice, world).state.but(step=step)
    elif step == "reason":
        # "Cancel it, it's too expensive": the reason is kept, the offer is not made.
        code = reason_of(answer.speech, world.vocabulary(state.language), REASON_CODES)
        state = state.but(reason_code=code, reason_text=answer.speech)
    elif step == "offer":
        state = state.but(offer_accepted=False)
    if not _subscriptions(state, world):
        decision = ask(state, world, [Say("not_understood")], short=True)
        return _with(decision, decision.state, understood)
    # Who says "cancel" hears no offer after it either, not even where one
    # may follow the cancellation: they asked to be done.
    decision = _cancel(state.but(pending=None, offer_permission="not_asked"), world)
    decision = _noting(decision, "cancel_requested", {"step": step, "words": answer.speech})
    return _with(decision, decision.state, understood)


def _choice_label(value: str, state: CallState, world: World) -> str:
    if value == "all":
        assert state.customer_id is not None
        subs = world.active_subscriptions(state.customer_id)
        return " + ".join(s.plan for s in subs)
    sub = world.subscription(int(value))
    return sub.plan if sub else value


def _recordable(state: CallState, meaning: Meaning) -> str:
    """What the record may say was understood: never the PIN itself."""
    if state.step == "verify" and meaning.kind != "language":
        return "pin"
    return meaning.value


def _with(decision: Decision, state: CallState, understood: dict) -> Decision:  # type: ignore[type-arg]
    return dataclasses.replace(decision, state=state, understood=understood)


def _noting(decision: Decision, kind: str, detail: Mapping[str, Any]) -> Decision:
    """The decision with one more event for the call record."""
    return dataclasses.replace(decision, records=(*decision.records, (kind, dict(detail))))


def _pending_kind(step: str) -> str:
    return {"reason": "reason", "choose": "subscription"}.get(step, "answer")


def _asks_repeat(speech: str, world: World, state: CallState) -> bool:
    # Only when asking again is the strongest thing said ("say that again"),
    # not a word inside an answer. Where the trained understanding listens,
    # words of asking again that are less than half of a sentence it is sure
    # answers are that answer: a reason ("me subieron el bil otra vez", "cómo
    # me trataron"), a yes or a no ("no, luego me lo suben otra vez", "me lo
    # llevo, como dicen"). Elsewhere any wish to hear it again is one.
    vocab = world.vocabulary(state.language)
    if intent_of(speech, vocab) != "repeat":
        return False
    model_step = TRAINED_STEPS.get(state.step, "")
    answers = _ANSWERED_BESIDE_REPEAT.get(model_step)
    if answers is None or _mostly(speech, vocab, "repeat"):
        return True
    if model_step == "yes_no" and _not_heard(speech, vocab):
        # Where a no finishes the cancellation, "I didn't catch the price" is
        # asked again, never read as a no ("instalar la cajita fue un
        # desmadre, no le entendí" still gives its reason).
        return True
    answer = Answer("speech", speech=speech, confidence=1.0)
    trained = _trained_meaning(answer, state, world, answers)
    return not (trained and trained.confident)


def _not_heard(speech: str, vocab: Any) -> bool:
    """The words of asking again say the caller did not hear or follow ("I
    didn't catch the price", "no le entendí lo del descuento"): that is never
    part of an answer, however sure the classifier is of one."""
    words = content_words(speech, vocab)
    matches = find_matches(words, {"repeat": vocab.intents.get("repeat", ())}, ())
    return any(
        any(words[m.start : m.start + len(n)] == list(n) for n in vocab.negations) for m in matches
    )


# What a sentence with a few words of asking again may answer instead, per
# trained step (cross-validation, 1 Dec 2026: at the yes/no steps "otra
# vez", "cómo" inside an answer had it asked again).
_ANSWERED_BESIDE_REPEAT: Mapping[str, tuple[str, ...]] = {
    "reason": REASON_CODES,
    "yes_no": ("yes", "no"),
}


def _on_silence(state: CallState, step: Step, world: World) -> Decision:
    if step.on_silence == "goodbye":
        return _goodbye(state, world)
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
        # The person has hung up; the caller may still be listening.
        return _goodbye(state.but(outcome="agent", outcome_step="agent"), world)
    return go(state.but(agent_reason="no-answer"), "agent_unavailable", world)


def whisper(state: CallState, world: World) -> list[Say]:
    """What the person hears before the caller is connected: who, what, why."""
    customer = world.customer(state.customer_id) if state.customer_id else None
    if customer is not None:
        verified = Say("whisper_verified" if state.verified else "whisper_not_verified")
        who = Say(
            "whisper_customer",
            {
                "name": literal(customer.name),
                "account": literal(customer.account_number),
                "verified": verified,
            },
        )
    else:
        # What a caller (or a forged From) said is spoken as words, never as SSML.
        who = Say("whisper_unknown", {"phone": literal(state.caller or "")})
    subs = _subscriptions(state, world)
    subscription = (
        Say("whisper_subscription", {"plan": _plans(subs, state, world)}) if subs else Say(text="")
    )
    if state.reason_code or state.reason_text:
        reason = Say(
            "whisper_reason",
            {
                "reason": Say(f"label:reasons.{state.reason_code or 'other'}"),
                "words": literal(state.reason_text) if state.reason_text else "none",
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
