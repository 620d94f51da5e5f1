"""Understanding callers: many phrasings per intent, negation, spoken numbers,
in English and Spanish, with the vocabulary operations staff edit."""

from __future__ import annotations

import pytest

from ivr.config import PROJECT_ROOT
from ivr.flow.understand import (
    intent_of,
    is_question,
    key_of,
    number_of,
    reason_of,
    wants_agent,
)
from ivr.models import REASON_CODES
from ivr.prompts import load_baseline

PACKS = load_baseline(PROJECT_ROOT / "voice_prompts")
EN = PACKS["en-US"].vocabulary
ES = PACKS["es-US"].vocabulary
OFFER_ANSWERS = ("yes", "no", "keep")


@pytest.mark.parametrize(
    "said, digits",
    [
        ("one two three four", "1234"),
        ("One, two, three, four.", "1234"),
        ("twelve thirty-four", "1234"),
        ("twelve thirty four", "1234"),
        ("1234", "1234"),
        ("12 34", "1234"),
        ("my pin is one two three four", "1234"),
        ("um one two uh three four", "1234"),
        ("oh four oh four", "0404"),
        ("zero nine one one", "0911"),
        ("double five six seven", "5567"),
        ("nineteen oh five", "1905"),
        ("twenty twenty", "2020"),
        ("one hundred", "100"),
        ("twelve hundred", "1200"),
        ("one oh oh oh oh one", "100001"),
        ("ten oh oh oh one", "100001"),
    ],
)
def test_spoken_numbers_in_english(said: str, digits: str) -> None:
    assert number_of(said, EN) == digits


@pytest.mark.parametrize(
    "said, digits",
    [
        ("uno dos tres cuatro", "1234"),
        ("doce treinta y cuatro", "1234"),
        ("dos cuatro seis ocho", "2468"),
        ("veinticuatro sesenta y ocho", "2468"),
        ("cero cero siete", "007"),
        ("cien", "100"),
    ],
)
def test_spoken_numbers_in_spanish(said: str, digits: str) -> None:
    assert number_of(said, ES) == digits


@pytest.mark.parametrize("said", ["I want to cancel", "agent please", "", "hello there"])
def test_words_without_a_number_are_not_a_number(said: str) -> None:
    assert number_of(said, EN) is None


@pytest.mark.parametrize(
    "said",
    [
        "yes",
        "Yes.",
        "yeah",
        "yep sure",
        "okay",
        "sure, I'll take it",
        "sounds good",
        "that's fine",
        "uh yeah why not",
        "alright",
        "I accept",
    ],
)
def test_yes_in_many_words(said: str) -> None:
    assert intent_of(said, EN, OFFER_ANSWERS) == "yes"


@pytest.mark.parametrize(
    "said",
    [
        "no",
        "No thanks.",
        "no thank you",
        "nope",
        "not interested",
        "just cancel",
        "cancel it",
        "I still want to cancel",
        "no, cancel it",
        "not okay",
        "nah",
    ],
)
def test_no_in_many_words(said: str) -> None:
    assert intent_of(said, EN, OFFER_ANSWERS, {"cancel": "no"}) == "no"


@pytest.mark.parametrize(
    "said",
    [
        "I don't want to cancel",
        "actually I do not want to cancel",
        "don't cancel",
        "I changed my mind",
        "never mind, I'll stay",
        "keep my subscription",
    ],
)
def test_negated_cancel_means_keep(said: str) -> None:
    assert intent_of(said, EN, OFFER_ANSWERS) == "keep"


@pytest.mark.parametrize(
    "said",
    [
        "agent",
        "representative",
        "I want to talk to a real person",
        "operator please",
        "can I speak to someone",
        "a human",
        "let me talk to a person",
    ],
)
def test_asking_for_a_person(said: str) -> None:
    assert wants_agent(said, EN)


@pytest.mark.parametrize(
    "said",
    ["I don't want an agent", "I found someone cheaper", "too expensive", "no"],
)
def test_not_asking_for_a_person(said: str) -> None:
    assert not wants_agent(said, EN)


@pytest.mark.parametrize(
    "said, reason",
    [
        ("it's too expensive", "too_expensive"),
        ("it costs too much", "too_expensive"),
        ("I can't afford it anymore", "too_expensive"),
        ("the price went up", "too_expensive"),
        ("I'm not using it", "unused"),
        ("I never use it", "unused"),
        ("it's not too expensive, I just don't use it", "unused"),
        ("I'm switching to another provider", "switched_service"),
        ("going with Netflix", "switched_service"),
        ("the app keeps crashing", "low_quality"),
        ("it's always buffering", "low_quality"),
        ("it's too complicated", "too_complex"),
        ("customer service was rude", "customer_service"),
        ("it's missing features I need", "missing_features"),
        ("I'm moving away", "other"),
    ],
)
def test_reasons_in_own_words(said: str, reason: str) -> None:
    assert reason_of(said, EN, REASON_CODES) == reason


@pytest.mark.parametrize(
    "said, reason",
    [
        ("es muy caro", "too_expensive"),
        ("ya no lo uso", "unused"),
        ("me cambio a otro proveedor", "switched_service"),
        ("el servicio no funciona", "low_quality"),
        ("es muy complicado", "too_complex"),
    ],
)
def test_reasons_in_spanish(said: str, reason: str) -> None:
    assert reason_of(said, ES, REASON_CODES) == reason


@pytest.mark.parametrize(
    "said, intent",
    [
        ("sí", "yes"),
        ("claro que sí", "yes"),
        ("está bien", "yes"),
        ("no gracias", "no"),
        ("no, cancélela", "no"),
        ("quiero cancelar", "no"),
        ("no quiero cancelar", "keep"),
        ("cambié de opinión", "keep"),
    ],
)
def test_offer_answers_in_spanish(said: str, intent: str) -> None:
    assert intent_of(said, ES, OFFER_ANSWERS, {"cancel": "no"}) == intent


def test_spanish_agent_request() -> None:
    assert wants_agent("quiero hablar con un agente", ES)
    assert wants_agent("una persona real por favor", ES)


def test_contradictory_answer_is_not_understood() -> None:
    assert intent_of("yes no", EN, OFFER_ANSWERS) is None


def test_hints_are_a_comma_separated_string() -> None:
    hints = EN.hints_for("verify", ("agent",))
    assert isinstance(hints, str)
    assert "$OOV_CLASS_DIGIT_SEQUENCE" in hints and "representative" in hints
    assert "[" not in hints


def test_hints_keep_to_twilios_limit_of_500_with_the_steps_own_first() -> None:
    from dataclasses import replace

    many = {**EN.intents, "yes": tuple((f"yes {n}",) for n in range(800))}
    vocab = replace(EN, intents=many)
    hints = vocab.hints_for("verify", ("yes", "agent")).split(", ")
    assert len(hints) == 500
    assert hints[0] == "$OOV_CLASS_DIGIT_SEQUENCE" and hints[1] == "yes 0"


@pytest.mark.parametrize(
    "said, key",
    [("two", "2"), ("press three", "3"), ("option 9", "9"), ("nine, nine", "9"), ("zero", "0")],
)
def test_a_key_said_aloud_is_read(said: str, key: str) -> None:
    assert key_of(said, EN) == key


@pytest.mark.parametrize(
    "said", ["it's two expensive", "one second", "oh", "three, no, two", "twelve", "22"]
)
def test_numbers_in_other_words_are_no_key(said: str) -> None:
    assert key_of(said, EN) is None


def test_a_key_said_aloud_in_spanish_is_read() -> None:
    assert key_of("marco el cinco", ES) == "5"
    assert key_of("dos horas esperando", ES) is None


@pytest.mark.parametrize(
    ("said", "asks"),
    [
        ("qué cuesta el plan", True),
        ("Qué pasa si lo pauso", True),
        ("este, dónde lo veo", True),
        # Spelt without the accent, the same word tells: "that", "where".
        ("que lo cancele nomás", False),
        ("Que no.", False),
        ("donde vivo ya no llega la señal", False),
        ("que sí?", True),  # a question mark still asks
    ],
)
def test_a_spanish_question_word_asks_only_with_its_accent(said: str, asks: bool) -> None:
    assert is_question(said, ES) is asks


def test_english_questions_are_read_as_before() -> None:
    assert is_question("what does it cost", EN)
    assert not EN.accented_questions
