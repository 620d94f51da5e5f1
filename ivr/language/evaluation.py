"""What the line understands, phrasing by phrasing, and how often it is right
on the test split (`ivr understand eval`, `ivr understand test`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..flow.types import Answer, CallState
from .understanding import (
    SETTINGS,
    STEP_MEANINGS,
    Example,
    Settings,
    Understanding,
    examples_of,
    read_examples,
    split_files,
    vocabulary_examples,
)

# The call step each classifier's phrasings are tried at.
TRIED_AT = {"reason": "reason", "yes_no": "offer"}
# Twilio's confidence for a clearly heard phrase.
HEARD_CLEARLY = 0.9


@dataclass(frozen=True)
class Understood:
    meaning: str  # what the line does with it ("not_an_answer" when asked again)
    sure: bool  # False: it asks "did you say ...?" first
    model: str | None  # what the trained classifier alone says
    confidence: float | None  # and how sure it is
    # How like the nearest training phrasing of the likeliest meaning
    # (below the step's floor the classifier has no opinion).
    likeness: float | None = None
    likeliest: str | None = None  # the classifier's likeliest meaning, before the gate


class _World:
    """Enough of a World to read words: the reason and yes/no questions look
    up nothing but the vocabulary."""

    company_name = ""

    def __init__(self, catalog: Any, threshold: float):
        self.catalog = catalog
        self.speech_threshold = threshold

    def vocabulary(self, language: str) -> Any:
        return self.catalog.vocabulary(language)


def understand(
    catalog: Any, language: str, step: str, phrase: str, threshold: float = 0.45
) -> Understood:
    """What the line would understand from `phrase` at `step` (reason, offer,
    confirm; or yes_no), rules and classifier together, as in a call."""
    from ..flow import steps

    step = TRIED_AT.get(step, step)
    if step not in steps.TRAINED_STEPS:
        raise ValueError(f"no understanding at step {step!r}")
    world = _World(catalog, threshold)
    state = CallState(step=step, language=language, verified=True)
    answer = Answer("speech", speech=phrase, confidence=HEARD_CLEARLY)
    guess = steps._trained_guess(answer, state, world)
    model: tuple[Any, ...] = (None, None, None, None)
    if guess is not None:
        likeliest = guess.ranked[0][0] if guess.ranked else None
        model = (guess.meaning, guess.confidence, guess.likeness, likeliest)
    key = steps._key_aloud(answer, state, world)
    if key is not None:
        # A key said aloud ("press two") is the key, as if pressed.
        if key == steps.AGENT_KEY:
            return Understood("agent", True, *model)
        answer = Answer("digits", digits=key)
    elif steps._wants_agent(answer, state, world):
        return Understood("agent", True, *model)
    if answer.kind == "speech" and steps._asks_repeat(phrase, world, state):
        # "Say that again", "I didn't hear you": the question is asked again.
        return Understood("not_an_answer", True, *model)
    meaning = steps.STEPS[step].interpret(answer, state, world)
    if meaning is None or meaning.kind in ("not_an_answer", "question"):
        return Understood("not_an_answer", True, *model)
    return Understood(meaning.value, meaning.confident, *model)


def word_classes_of(catalog: Any, language: str, step: str, phrase: str) -> list[str]:
    """The word classes (<lang>.words.txt) the classifier reads in `phrase` at
    `step`, in the order said; none where it reads none."""
    from ..flow import steps

    understanding = catalog.vocabulary(language).understanding
    model_step = steps.TRAINED_STEPS.get(TRIED_AT.get(step, step))
    if understanding is None or not understanding.classes or model_step is None:
        return []
    if not understanding.settings.classes_weight(model_step):
        return []
    return [token.removeprefix("class_") for token in understanding.classes.analyze(phrase)]


@dataclass
class StepReport:
    step: str
    total: int = 0
    right: int = 0  # the line's meaning (sure or after "did you say ...?")
    asked: int = 0  # right, but asked "did you say ...?" first
    model_right: int = 0  # the classifier alone
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    wrong: list[dict[str, Any]] = field(default_factory=list)
    # Phrasings and right answers per file of the split.
    file_total: Counter[str] = field(default_factory=Counter)
    file_right: Counter[str] = field(default_factory=Counter)

    def by_file(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"phrasings": n, "accuracy": round(self.file_right[name] / n, 4)}
            for name, n in self.file_total.items()
        }

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    @property
    def model_accuracy(self) -> float:
        return self.model_right / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "phrasings": self.total,
            "accuracy": round(self.accuracy, 4),
            "asked_did_you_say": self.asked,
            "classifier_alone_accuracy": round(self.model_accuracy, 4),
            "confusion": {
                f"{label} -> {got}": n for (label, got), n in sorted(self.confusion.items())
            },
            "wrong": self.wrong,
            "by_file": self.by_file(),
        }


def evaluate(
    catalog: Any, prompts_dir: str | Path, language: str, split: str = "test"
) -> dict[str, StepReport]:
    """Each phrasing of the split tried at its step, as in a call; the
    figures per step, and per file of the split."""
    reports: dict[str, StepReport] = {}
    for path in split_files(prompts_dir, language, split):
        _tally(catalog, language, read_examples(path), reports, path.name)
    return reports


def _tally(
    catalog: Any,
    language: str,
    examples: Sequence[Example],
    reports: dict[str, StepReport],
    source: str = "",
) -> None:
    for example in examples:
        report = reports.setdefault(example.step, StepReport(example.step))
        got = understand(catalog, language, example.step, example.text)
        report.total += 1
        report.file_total[source] += 1
        report.confusion[(example.meaning, got.meaning)] += 1
        report.model_right += got.model == example.meaning
        if got.meaning == example.meaning:
            report.right += 1
            report.file_right[source] += 1
            report.asked += not got.sure
        else:
            report.wrong.append(
                {
                    "phrase": example.text,
                    "expected": example.meaning,
                    "understood": got.meaning,
                    "classifier": got.model,
                    "confidence": round(got.confidence, 3) if got.confidence is not None else None,
                }
            )


def folds_of(examples: Sequence[Example], folds: int) -> list[list[Example]]:
    """`folds` parts of the examples, each meaning of each step dealt out in
    turn (in file order), so every part holds a fair share of each."""
    parts: list[list[Example]] = [[] for _ in range(folds)]
    dealt: Counter[tuple[str, str]] = Counter()
    for example in examples:
        key = (example.step, example.meaning)
        parts[dealt[key] % folds].append(example)
        dealt[key] += 1
    return parts


def validate(
    catalog: Any,
    prompts_dir: str | Path,
    language: str,
    folds: int = 5,
    settings: Settings = SETTINGS,
) -> dict[str, StepReport]:
    """Cross-validation on the TRAINING split alone: each fold's phrasings
    tried (rules and classifier together, as in a call) against a model
    trained on the other folds and the vocabulary. What tuning is measured
    on; the test split is never read here."""
    from dataclasses import replace

    from . import word_classes

    train = examples_of(prompts_dir, language, "train")
    classes = word_classes.load(prompts_dir, language)
    pack = catalog.pack(language)
    vocab_examples = vocabulary_examples(pack.vocabulary)
    reports: dict[str, StepReport] = {}
    parts = folds_of(train, folds)
    for held, part in enumerate(parts):
        rest = [e for number, p in enumerate(parts) if number != held for e in p]
        understanding = Understanding(language, [*rest, *vocab_examples], settings, classes)
        packs = dict(catalog.packs)
        packs[language] = replace(
            pack, vocabulary=replace(pack.vocabulary, understanding=understanding)
        )
        _tally(replace(catalog, packs=packs), language, part, reports, "cross-validation")
    return reports


def confusion_table(report: StepReport) -> list[str]:
    meanings: Sequence[str] = [*STEP_MEANINGS[report.step]]
    seen = {got for (_, got) in report.confusion} - set(meanings)
    columns = [*meanings, *sorted(seen)]
    width = max(len(m) for m in columns)
    short = {m: m[:6] for m in columns}
    lines = [" " * (width + 2) + " ".join(f"{short[c]:>6}" for c in columns)]
    for label in meanings:
        row = [report.confusion.get((label, got), 0) for got in columns]
        lines.append(f"{label:>{width}}  " + " ".join(f"{n or '.':>6}" for n in row))
    return lines


def floors(prompts_dir: str | Path) -> Mapping[str, Mapping[str, float]]:
    """The accuracy the test split must keep (voice_prompts/understanding/floor.txt)."""
    out: dict[str, dict[str, float]] = {}
    path = Path(prompts_dir) / "understanding" / "floor.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            language, step, value = line.split()
            out.setdefault(language, {})[step] = float(value)
    return out
