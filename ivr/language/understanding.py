"""A trained understanding of what callers mean (docs/understanding.md).

At the reason question and at the yes/no questions (the offer, "did you say
...?"), a linear classifier over word and character n-grams reads the
words. It learns, at start-up and in well under a second per language, from
the labelled phrasings in voice_prompts/understanding/<lang>.train.txt, the
reason and intent phrases of the vocabulary (voice_prompts/<lang>.yaml) and
the phrasings operations teach (published versions, ivr/language/teaching.py).

Nothing is downloaded and nothing is stored: the same files give the same
model on every worker. Rules stay where rules are exact (numbers, PINs,
keys, explicit agent words, "cancel" / "don't cancel"): see ivr/flow/steps.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..flow.understand import Vocabulary, normalize
from ..models import REASON_CODES

# The questions the classifier reads, and what an answer there can mean.
STEP_MEANINGS: Mapping[str, tuple[str, ...]] = {
    "reason": (*REASON_CODES, "agent", "skip", "not_an_answer"),
    "yes_no": ("yes", "no", "agent", "not_an_answer"),
}
# Which steps of the call each classifier serves.
CALL_STEPS: Mapping[str, str] = {
    "reason": "reason",
    "offer": "yes_no",
    "offer_after": "yes_no",
    "confirm": "yes_no",
}

# At or above CONFIDENT the meaning is taken as said; between UNSURE and
# CONFIDENT the line asks "did you say ...?"; below UNSURE the classifier has
# no opinion and the rules decide. Chosen by cross-validation on the training
# split only (`ivr understand eval --validate`), never on the test split.
CONFIDENT = 0.5
UNSURE = 0.3

# Vocabulary phrases that are examples too, so an entry ops edit in the
# vocabulary teaches the classifier as well as the rules.
_VOCABULARY_EXAMPLES: Mapping[str, Mapping[str, str]] = {
    "reason": {
        "agent": "agent",
        "skip": "skip",
        "hesitate": "not_an_answer",
        "unsure": "not_an_answer",
    },
    "yes_no": {
        "yes": "yes",
        "no": "no",
        "agent": "agent",
        "hesitate": "not_an_answer",
        "unsure": "not_an_answer",
    },
}


class DataError(ValueError):
    pass


@dataclass(frozen=True)
class Example:
    step: str
    meaning: str
    text: str


@dataclass(frozen=True)
class Guess:
    meaning: str
    confidence: float
    # Every meaning of the step with its probability, likeliest first.
    ranked: tuple[tuple[str, float], ...] = ()


def data_dir(prompts_dir: str | Path) -> Path:
    return Path(prompts_dir) / "understanding"


def read_examples(path: Path) -> list[Example]:
    """The phrasings of one file: "[step meaning]" opens a group, each line
    after it is one phrasing; "#" starts a comment line."""
    examples: list[Example] = []
    step = meaning = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            parts = line[1:-1].split()
            if len(parts) != 2 or parts[0] not in STEP_MEANINGS:
                raise DataError(f"{path}:{number}: expected [step meaning], got {line}")
            step, meaning = parts
            if meaning not in STEP_MEANINGS[step]:
                raise DataError(f"{path}:{number}: {meaning!r} is not a meaning at {step}")
            continue
        if step is None or meaning is None:
            raise DataError(f"{path}:{number}: a phrasing before any [step meaning]")
        examples.append(Example(step, meaning, line))
    return examples


def split_file(prompts_dir: str | Path, language: str, split: str) -> Path:
    return data_dir(prompts_dir) / f"{language}.{split}.txt"


def split_files(prompts_dir: str | Path, language: str, split: str) -> list[Path]:
    """The files of one split: `<lang>.<split>.txt`, then any later parts
    `<lang>.<split>.2.txt`, ... (a split grows by adding files, never by
    rewriting the first)."""
    first = split_file(prompts_dir, language, split)
    later = sorted(
        data_dir(prompts_dir).glob(f"{language}.{split}.*.txt"),
        key=lambda p: (len(p.name), p.name),
    )
    return [p for p in (first, *later) if p.exists()]


def examples_of(prompts_dir: str | Path, language: str, split: str) -> list[Example]:
    """One split's phrasings ("train" or "test"), all its files; none if
    there are none."""
    return [e for path in split_files(prompts_dir, language, split) for e in read_examples(path)]


def vocabulary_examples(vocab: Vocabulary) -> list[Example]:
    examples = [
        Example("reason", code, " ".join(phrase))
        for code, phrases in vocab.reasons.items()
        if code in STEP_MEANINGS["reason"]
        for phrase in phrases
    ]
    for step, intents in _VOCABULARY_EXAMPLES.items():
        for intent, meaning in intents.items():
            examples.extend(
                Example(step, meaning, " ".join(p)) for p in vocab.intents.get(intent, ())
            )
    return examples


def features(text: str) -> str:
    """What the classifier reads: the words as normalize() leaves them, with
    sums of money made one token ("$30", "30 dollars", "thirty bucks")."""
    return " ".join(normalize(text).replace("$", " dollars ").split())


@dataclass(frozen=True)
class Settings:
    """How a step's model is built; the defaults were chosen by
    cross-validation on the training split (`ivr understand eval --validate`)."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    char_analyzer: str = "char_wb"  # n-grams inside word boundaries (or "char": across them)
    c: float = 1.0  # the linear SVM's regularisation (higher: fits the data closer)
    balanced: bool = False  # weigh meanings inversely to how many phrasings each has
    # How sharply the softmax reads the scores' differences.
    sharpness: float = 12.0


SETTINGS = Settings()


class StepModel:
    """One step's classifier: tf-idf word n-grams and character n-grams (so
    misspellings and inflections still share features), then a linear
    support vector machine, one score per meaning; a softmax of the scores
    is the confidence (docs/understanding.md; docs/decisions/0014).

    scikit-learn fits it; `guess` then scores one utterance from the fitted
    vocabularies, idf weights and coefficients with dict lookups and one small
    matrix product, the same arithmetic as `sklearn_scores` without its
    per-call checks and sparse matrices (tests/test_understanding.py holds
    the two to the same answers)."""

    def __init__(self, examples: Sequence[Example], settings: Settings = SETTINGS):
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion
        from sklearn.svm import LinearSVC

        self.settings = settings
        texts = [features(e.text) for e in examples]
        labels = [e.meaning for e in examples]
        self.vectorizer = FeatureUnion(
            [
                (
                    "words",
                    TfidfVectorizer(
                        ngram_range=settings.word_ngrams,
                        sublinear_tf=True,
                        token_pattern=r"(?u)\b\w+\b",
                    ),
                ),
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer=settings.char_analyzer,
                        ngram_range=settings.char_ngrams,
                        sublinear_tf=True,
                    ),
                ),
            ]
        )
        matrix = self.vectorizer.fit_transform(texts)
        self.classifier = LinearSVC(
            C=settings.c, class_weight="balanced" if settings.balanced else None
        )
        self.classifier.fit(matrix, labels)
        self.meanings: tuple[str, ...] = tuple(str(c) for c in self.classifier.classes_)
        self._intercept = np.asarray(self.classifier.intercept_, dtype=float)
        coef_t = np.asarray(self.classifier.coef_, dtype=float).T
        # Per vectorizer: its analyzer, each known n-gram's row, and each
        # row's idf weight and coefficients (one score per meaning).
        self._parts = []
        offset = 0
        for _, vectorizer in self.vectorizer.transformer_list:
            size = len(vectorizer.vocabulary_)
            rows = coef_t[offset : offset + size]
            self._parts.append(
                (
                    vectorizer.build_analyzer(),
                    dict(vectorizer.vocabulary_),
                    np.asarray(vectorizer.idf_, dtype=float),
                    np.ascontiguousarray(rows),
                )
            )
            offset += size

    def scores(self, text: str) -> Any:
        """One score per meaning (in `meanings` order), or None when not one
        word of `text` was ever seen in training."""
        import numpy as np

        text = features(text)
        total = self._intercept.copy()
        for number, (analyze, vocabulary, idf, rows) in enumerate(self._parts):
            counts: dict[int, int] = {}
            for gram in analyze(text):
                column = vocabulary.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                if number == 0:
                    return None
                continue
            columns = np.fromiter(counts, dtype=np.intp, count=len(counts))
            weights = np.fromiter(counts.values(), dtype=float, count=len(counts))
            weights = (1.0 + np.log(weights)) * idf[columns]
            weights /= np.sqrt(weights @ weights)
            total += weights @ rows[columns]
        return total

    def sklearn_scores(self, text: str) -> Any:
        """The same scores through scikit-learn (slower; for the tests)."""
        import numpy as np

        return np.asarray(
            self.classifier.decision_function(self.vectorizer.transform([features(text)]))
        )[0]

    def guess(self, text: str) -> Guess:
        import numpy as np

        scores = self.scores(text)
        if scores is None:
            # Not one word it has ever seen: it has no opinion.
            return Guess("not_an_answer", 0.0)
        weights = np.exp(self.settings.sharpness * (scores - scores.max()))
        probabilities = (weights / weights.sum()).tolist()
        ranked = sorted(zip(self.meanings, probabilities, strict=True), key=lambda mp: -mp[1])
        return Guess(ranked[0][0], ranked[0][1], tuple(ranked))


class Understanding:
    """One language's classifiers, trained on first use (or `warm()` at
    start-up) from a fixed set of examples."""

    def __init__(self, language: str, examples: Iterable[Example], settings: Settings = SETTINGS):
        self.language = language
        self.examples: tuple[Example, ...] = tuple(examples)
        self.settings = settings
        self._models: dict[str, StepModel] | None = None
        self._lock = threading.Lock()

    def warm(self) -> Understanding:
        self._trained()
        return self

    def _trained(self) -> dict[str, StepModel]:
        if self._models is None:
            with self._lock:
                if self._models is None:
                    self._models = {
                        step: StepModel([e for e in self.examples if e.step == step], self.settings)
                        for step in STEP_MEANINGS
                        if any(e.step == step for e in self.examples)
                    }
        return self._models

    def guess(self, step: str, text: str) -> Guess | None:
        """What the words most likely mean at `step` ("reason" or "yes_no");
        None when this language has no examples for it."""
        model = self._trained().get(step)
        return model.guess(text) if model is not None and text.strip() else None


_cache: dict[tuple[str, tuple[Example, ...]], Understanding] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 16


def understanding_for(
    language: str, vocab: Vocabulary, base: Sequence[Example], taught: Sequence[Example] = ()
) -> Understanding:
    """The understanding for these examples: built once per worker for each
    set (a publish of anything else, which rebuilds the catalog, does not
    retrain)."""
    examples = (*base, *vocabulary_examples(vocab), *taught)
    key = (language, examples)
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            if len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            found = _cache[key] = Understanding(language, examples)
    return found


def attach(
    packs: Mapping[str, Any],
    prompts_dir: str | Path,
    taught: Mapping[str, Sequence[Example]] | None = None,
) -> dict[str, Any]:
    """The language packs, each vocabulary carrying its understanding."""
    from dataclasses import replace

    out = {}
    for language, pack in packs.items():
        understanding = understanding_for(
            language,
            pack.vocabulary,
            tuple(examples_of(prompts_dir, language, "train")),
            tuple((taught or {}).get(language, ())),
        )
        out[language] = replace(
            pack, vocabulary=replace(pack.vocabulary, understanding=understanding)
        )
    return out
