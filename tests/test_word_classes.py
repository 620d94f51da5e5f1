"""Word classes (voice_prompts/understanding/<lang>.words.txt): the words
callers use for one idea, read by the reason classifier beside the words
themselves, so a word no training phrasing holds still counts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ivr.language import word_classes
from ivr.language.understanding import SETTINGS, Example, Understanding, examples_of
from ivr.prompts import load_baseline

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "voice_prompts"

CLASSES = word_classes.parse(
    [
        "# a comment",
        "[money]",
        "paycheck",
        "bucks",
        "afford*",
        "out of my range",
        "[rival]",
        "DirecTV",
        "switch* over",
    ]
)


def test_a_words_file_lists_classes_and_their_phrases() -> None:
    assert CLASSES.names() == ["money", "rival"]
    assert dict(CLASSES.classes)["money"] == (
        ("paycheck",),
        ("bucks",),
        ("afford*",),
        ("out", "of", "my", "range"),
    )
    assert word_classes.summary(CLASSES) == {"money": 4, "rival": 2}


@pytest.mark.parametrize(
    ("said", "found"),
    [
        ("My PAYCHECK won't cover it.", ["class_money"]),
        ("I can't afford it, I can't afford anything", ["class_money", "class_money"]),
        ("it's not affordable", ["class_money"]),  # "afford*" takes any ending
        ("that's out of my range", ["class_money"]),
        ("that's out of range", []),  # a phrase is matched whole
        ("we're switching over to DirecTV", ["class_rival", "class_rival"]),
        ("30 bucks for this", ["class_money"]),
        ("I'd rather watch the game", []),
    ],
)
def test_an_utterance_gives_one_token_per_class_phrase_it_holds(
    said: str, found: list[str]
) -> None:
    assert CLASSES.analyze(said) == found


def test_accents_and_capitals_do_not_matter() -> None:
    spanish = word_classes.parse(["[money]", "quincena", "económic*"])
    assert spanish.analyze("Con mi QUINCENA no alcanza, no es económico") == [
        "class_money",
        "class_money",
    ]


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        (["paycheck"], "a phrase before any"),
        (["[Money Words]", "paycheck"], "lower-case words"),
        (["[money]", "---"], "no word"),
        (["[money]", "ab*"], "three letters"),
    ],
)
def test_a_bad_words_file_says_where(lines: list[str], error: str) -> None:
    with pytest.raises(word_classes.WordClassError, match=error):
        word_classes.parse(lines, "x.words.txt")


def test_a_language_without_a_words_file_has_no_classes(tmp_path: Path) -> None:
    assert not word_classes.load(tmp_path, "fr-CA")


def test_a_word_only_a_class_knows_counts_for_what_the_class_taught() -> None:
    # No example says "paycheck" or "directv"; the classes tell the classifier
    # that they are money and a rival, which the examples taught it about.
    examples = [
        Example("reason", "too_expensive", text)
        for text in ("it costs too many bucks", "I can't afford it", "bucks are tight")
    ] + [
        Example("reason", "switched_service", text)
        for text in ("I'm going with DirecTV", "switching over to them", "DirecTV is better")
    ]
    classes = word_classes.parse(
        ["[money]", "bucks", "afford*", "paycheck", "[rival]", "directv", "switch*", "dish"]
    )
    open_gate = replace(SETTINGS, min_likeness=())
    with_classes = Understanding("en-US", examples, open_gate, classes)
    assert with_classes.guess("reason", "my paycheck is it").meaning == "too_expensive"
    assert with_classes.guess("reason", "it is dish").meaning == "switched_service"
    # The same examples without the classes: no word of "paycheck" or "dish"
    # was ever seen, so the guess rests on "my", "is" and "it" alone.
    without = Understanding("en-US", examples, open_gate)
    assert (
        without.guess("reason", "my paycheck is it").ranked
        != with_classes.guess("reason", "my paycheck is it").ranked
    )


def test_two_meanings_are_scored_as_scikit_learn_scores_them() -> None:
    examples = [
        Example("reason", "too_expensive", "it costs too many bucks"),
        Example("reason", "too_expensive", "I can't afford it"),
        Example("reason", "switched_service", "I'm going with DirecTV"),
        Example("reason", "switched_service", "switching over to them"),
    ]
    model = Understanding("en-US", examples, classes=CLASSES)._trained()["reason"]
    for said in ("bucks", "DirecTV it is", "can't afford DirecTV"):
        assert list(model.scores(said)) == pytest.approx(list(model.sklearn_scores(said)))
    assert model.guess("I can't afford it").meaning == "too_expensive"
    assert model.guess("going with DirecTV").meaning == "switched_service"


@pytest.mark.parametrize("language", ["en-US", "es-US"])
def test_the_line_reads_each_languages_word_classes_at_the_reason(language: str) -> None:
    understanding = load_baseline(PROMPTS_DIR)[language].vocabulary.understanding.warm()
    assert understanding.classes == word_classes.load(PROMPTS_DIR, language)
    models = understanding._trained()
    assert [n for n, _ in models["reason"].vectorizer.transformer_list] == [
        "words",
        "chars",
        "classes",
    ]
    # At the yes/no steps they did not help in cross-validation.
    assert [n for n, _ in models["yes_no"].vectorizer.transformer_list] == ["words", "chars"]


@pytest.mark.parametrize("language", ["en-US", "es-US"])
def test_the_shipped_words_files_parse_and_every_class_is_used(language: str) -> None:
    classes = word_classes.load(PROMPTS_DIR, language)
    assert len(classes.names()) >= 10
    seen = {
        token
        for example in examples_of(PROMPTS_DIR, language, "train")
        for token in classes.analyze(example.text)
    }
    # Every class is said in some training phrasing, so the classifier has
    # learnt what it means.
    assert seen == {f"class_{name}" for name in classes.names()}
