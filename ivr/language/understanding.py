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

import functools
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..flow.understand import Vocabulary, normalize
from ..models import REASON_CODES

if TYPE_CHECKING:
    from .word_classes import WordClasses

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
# vocabulary teaches the classifier as well as the rules. Not the yes and no
# words: the rules read those exactly at every yes/no question, and, as
# examples, hundreds of one- and two-word phrasings tipped the classifier
# towards yes or no on off-topic sentences (cross-validation, 1 Dec 2026).
_VOCABULARY_EXAMPLES: Mapping[str, Mapping[str, str]] = {
    "reason": {
        "agent": "agent",
        "skip": "skip",
        "hesitate": "not_an_answer",
        "unsure": "not_an_answer",
    },
    "yes_no": {
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
    # How like the nearest training phrasing of `meaning` the words are
    # (cosine of the tf-idf features, 0 to 1); None when not measured.
    likeness: float | None = None


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


_WORD = re.compile(r"(?u)\b\w+\b")
# Snowball's stemmer for each language the line speaks (by the first part of
# its code); a language without one is read word by word.
_STEMMERS = {"en": "english", "es": "spanish"}
_stemmers = threading.local()


# Each word's stem, per algorithm, once: Snowball in Python costs tens of
# microseconds a word, and callers use a few thousand words.
_stems: dict[str, dict[str, str]] = {}
_STEMS_KEPT = 100_000


def _stem_words(language: str, words: list[str]) -> list[str]:
    """The words' stems ("cancelling", "cancelled" -> "cancel"; "pagando",
    "pagué" -> "pag"): one stemmer per thread, as Snowball's keep state."""
    algorithm = _STEMMERS.get(language.split("-")[0])
    if algorithm is None:
        return words
    known = _stems.setdefault(algorithm, {})
    out = []
    for word in words:
        stem = known.get(word)
        if stem is None:
            stemmer = getattr(_stemmers, algorithm, None)
            if stemmer is None:
                import snowballstemmer

                stemmer = snowballstemmer.stemmer(algorithm)
                setattr(_stemmers, algorithm, stemmer)
            stem = stemmer.stemWord(word)
            if len(known) < _STEMS_KEPT:
                known[word] = stem
        out.append(stem)
    return out


def word_analyzer(language: str, ngrams: tuple[int, int], stem: bool) -> Any:
    """The words part's n-grams: of the words' stems, where the language has
    a stemmer and `stem` is set, else of the words themselves."""
    low, high = ngrams

    def analyze(text: str) -> list[str]:
        words = _WORD.findall(text)
        if stem:
            words = _stem_words(language, words)
        return [
            " ".join(words[at : at + n])
            for n in range(low, high + 1)
            for at in range(len(words) - n + 1)
        ]

    return analyze


# Each word's character n-grams, per n-gram range, once: the same few
# thousand words make up nearly every phrasing.
_char_grams: dict[tuple[int, int], dict[str, list[str]]] = {}
_GRAMS_KEPT = 200_000


def char_wb_analyzer(ngrams: tuple[int, int]) -> Any:
    """scikit-learn's `char_wb` n-grams (each word padded with a space on both
    sides; a word shorter than n counted once), the same n-grams in the same
    order, with each word's worked out once (tests/test_understanding.py
    holds the two equal)."""
    low, high = ngrams
    known = _char_grams.setdefault(ngrams, {})

    def grams_of(word: str) -> list[str]:
        padded = f" {word} "
        size = len(padded)
        out = []
        for n in range(low, high + 1):
            offset = 0
            out.append(padded[:n])
            while offset + n < size:
                offset += 1
                out.append(padded[offset : offset + n])
            if offset == 0:
                break
        return out

    def of_word(word: str) -> list[str]:
        grams = known.get(word)
        if grams is None:
            grams = grams_of(word)
            if len(known) < _GRAMS_KEPT:
                known[word] = grams
        return grams

    def analyze(text: str) -> list[str]:
        out: list[str] = []
        for word in text.split():
            out.extend(of_word(word))
        return out

    # The n-grams are each word's, word by word: the vectorizer counts a
    # word's columns once per fit, not its n-grams once per phrasing.
    analyze.of_word = of_word  # type: ignore[attr-defined]
    return analyze


@functools.cache
def _tfidf_class() -> Any:
    """scikit-learn's tf-idf vectorizer, counting faster, and without sorting
    its vocabulary by name after fitting: the columns stay in the order their
    n-grams were first seen. The sort only orders `get_feature_names_out`,
    which nothing here reads, and it was about an eighth of the training
    time on 9,600 phrasings. The counts are scikit-learn's, the same columns
    in the same order, made without a counter per phrasing and, where the
    analyzer gives each word's n-grams (`of_word`), with each word's columns
    looked up once per fit: the counting was most of the training time
    (tests/test_understanding.py holds the two vectorizers to the same
    features and weights)."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        from sklearn.utils._sparse import _align_api_if_sparse as aligned
    except ImportError:  # scikit-learn before 1.8 returns scipy's matrix as is
        aligned = None

    class UnsortedTfidf(TfidfVectorizer):  # type: ignore[misc]
        def _sort_features(self, X: Any, vocabulary: Any) -> Any:
            return X

        def _count_vocab(self, raw_documents: Any, fixed_vocab: bool) -> Any:
            analyze = self.build_analyzer()
            of_word = getattr(self.analyzer, "of_word", None)
            vocabulary: dict[str, int] = self.vocabulary_ if fixed_vocab else {}
            known = vocabulary.get

            def columns(grams: list[str]) -> list[int]:
                if fixed_vocab:
                    return [c for c in map(known, grams) if c is not None]
                out = []
                for gram in grams:
                    column = known(gram)
                    if column is None:
                        column = vocabulary[gram] = len(vocabulary)
                    out.append(column)
                return out

            indices: list[int] = []
            indptr = [0]
            of_words: dict[str, list[int]] = {}
            for doc in raw_documents:
                if of_word is None:
                    indices.extend(columns(analyze(doc)))
                else:
                    for word in doc.split():
                        found = of_words.get(word)
                        if found is None:
                            found = of_words[word] = columns(of_word(word))
                        indices.extend(found)
                indptr.append(len(indices))
            if not fixed_vocab and not vocabulary:
                raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
            X = sp.csr_array(
                (
                    np.ones(len(indices), dtype=self.dtype),
                    np.asarray(indices, dtype=np.int32),
                    np.asarray(indptr, dtype=np.int32),
                ),
                shape=(len(indptr) - 1, len(vocabulary)),
            )
            X.sum_duplicates()  # one count per column of a phrasing, in column order
            return vocabulary, aligned(X) if aligned else sp.csr_matrix(X)

    return UnsortedTfidf


def features(text: str) -> str:
    """What the classifier reads: the words as normalize() leaves them, with
    sums of money made one token ("$30", "30 dollars", "thirty bucks")."""
    return " ".join(normalize(text).replace("$", " dollars ").split())


@dataclass(frozen=True)
class Settings:
    """How a step's model is built; the defaults were chosen by
    cross-validation on the training split (`ivr understand eval --validate`)."""

    word_ngrams: tuple[int, int] = (1, 2)
    # The words part reads stems (Snowball), where the language has a stemmer.
    stem: bool = True
    char_ngrams: tuple[int, int] = (2, 5)
    char_analyzer: str = "char_wb"  # n-grams inside word boundaries (or "char": across them)
    c: float = 1.0  # the linear SVM's regularisation (higher: fits the data closer)
    # When the SVM's solver stops (scikit-learn's default is 1e-4): 1e-3
    # gave the same cross-validation to the hundredth of a point, a quarter
    # faster (third pass); 1e-2 the same readings but one of 21,000, and the
    # same test-split figures, a sixth faster again (fourth pass).
    tol: float = 1e-2
    balanced: bool = False  # weigh meanings inversely to how many phrasings each has
    # How sharply the softmax reads the scores' differences.
    sharpness: float = 12.0
    # The out-of-domain gate, per step: below this likeness to the nearest
    # training phrasing of the meaning it would give, the classifier has no
    # opinion (docs/understanding.md, "Words unlike anything it learnt").
    min_likeness: tuple[tuple[str, float], ...] = (("reason", 0.15), ("yes_no", 0.15))
    # How much the word classes (<lang>.words.txt) weigh beside the words
    # and the characters, each of which weighs 1, per step; 0 leaves them out.
    # At the yes/no steps they did not help (cross-validation): left out.
    class_weight: tuple[tuple[str, float], ...] = (("reason", 0.3), ("yes_no", 0.0))

    def likeness_floor(self, step: str) -> float:
        return dict(self.min_likeness).get(step, 0.0)

    def classes_weight(self, step: str) -> float:
        return dict(self.class_weight).get(step, 0.0)


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

    def __init__(
        self,
        examples: Sequence[Example],
        settings: Settings = SETTINGS,
        step: str = "",
        classes: WordClasses | None = None,
        language: str = "",
    ):
        import numpy as np
        from sklearn.pipeline import FeatureUnion
        from sklearn.svm import LinearSVC

        TfidfVectorizer = _tfidf_class()

        self.settings = settings
        self.min_likeness = settings.likeness_floor(step)
        texts = [features(e.text) for e in examples]
        labels = [e.meaning for e in examples]
        parts: list[tuple[str, Any]] = [
            (
                "words",
                TfidfVectorizer(
                    analyzer=word_analyzer(language, settings.word_ngrams, settings.stem),
                    sublinear_tf=True,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(analyzer=char_wb_analyzer(settings.char_ngrams), sublinear_tf=True)
                if settings.char_analyzer == "char_wb"
                else TfidfVectorizer(
                    analyzer=settings.char_analyzer,
                    ngram_range=settings.char_ngrams,
                    sublinear_tf=True,
                ),
            ),
        ]
        # The classes the words belong to, when the language lists any and
        # the examples hold at least one.
        scale = {"words": 1.0, "chars": 1.0}
        weight = settings.classes_weight(step)
        if classes and weight and any(classes.analyze(t) for t in texts):
            parts.append(("classes", TfidfVectorizer(analyzer=classes.analyze, sublinear_tf=True)))
            scale["classes"] = weight
        self.vectorizer = FeatureUnion(parts, transformer_weights=scale)
        matrix = self.vectorizer.fit_transform(texts)
        self.classifier = LinearSVC(
            C=settings.c,
            class_weight="balanced" if settings.balanced else None,
            tol=settings.tol,
            # The solver visits the phrasings in a shuffled order: seeded,
            # so that every worker fits exactly the same model.
            random_state=0,
        )
        self.classifier.fit(matrix, labels)
        self.meanings: tuple[str, ...] = tuple(str(c) for c in self.classifier.classes_)
        self._intercept = np.asarray(self.classifier.intercept_, dtype=float)
        coef_t = np.asarray(self.classifier.coef_, dtype=float).T
        if len(self.meanings) == 2:
            # Two meanings: one score, for the second; the first gets its
            # negative, so the softmax reads both.
            self._intercept = np.concatenate([-self._intercept, self._intercept])
            coef_t = np.hstack([-coef_t, coef_t])
        # Per vectorizer: its analyzer, each known n-gram's row, and each
        # row's idf weight and coefficients (one score per meaning).
        self._parts = []
        # Per vectorizer too, the weight of an n-gram no phrasing holds.
        self._unseen_idf = []
        offset = 0
        for name, vectorizer in self.vectorizer.transformer_list:
            size = len(vectorizer.vocabulary_)
            # The union weighs each part's features by its scale; the same
            # here, folded into the coefficients.
            rows = coef_t[offset : offset + size] * scale[name]
            self._parts.append(
                (
                    vectorizer.build_analyzer(),
                    dict(vectorizer.vocabulary_),
                    np.asarray(vectorizer.idf_, dtype=float),
                    np.ascontiguousarray(rows),
                )
            )
            self._unseen_idf.append(float(np.log(1 + len(texts)) + 1))  # smooth idf, in none
            offset += size
        # Per meaning, the vectors of its training phrasings by n-gram, per
        # vectorizer (an inverted index: which of them hold each n-gram, and
        # its weight there), for how like them an utterance is. One index
        # per meaning: the likeness reads only the phrasings of the meaning
        # it is asked about.
        matrix = matrix.tocsr()
        self._of_meaning: dict[str, list[tuple[Any, Any, Any, int]]] = {}
        for meaning in self.meanings:
            rows = np.fromiter(
                (i for i, label in enumerate(labels) if label == meaning), dtype=np.intp
            )
            by_gram = matrix[rows].tocsc()
            blocks = []
            offset = 0
            for _name, vectorizer in self.vectorizer.transformer_list[:2]:
                size = len(vectorizer.vocabulary_)
                block = by_gram[:, offset : offset + size]
                block.sort_indices()
                blocks.append(
                    (
                        np.asarray(block.indptr),
                        np.asarray(block.indices),
                        np.asarray(block.data, dtype=float),
                        len(rows),
                    )
                )
                offset += size
            self._of_meaning[meaning] = blocks

    def _vectors(self, text: str) -> list[tuple[Any, Any, float]] | None:
        """Per vectorizer, the utterance's known n-grams (columns) with their
        tf-idf weights as scikit-learn gives them (normalised over the known
        ones), and the norm those weights would have counting the n-grams no
        training phrasing holds too (1.0 when all are known). None when not
        one word of `text` was ever seen in training."""
        import numpy as np

        text = features(text)
        out = []
        for number, ((analyze, vocabulary, idf, _), unseen_idf) in enumerate(
            zip(self._parts, self._unseen_idf, strict=True)
        ):
            counts: dict[int, int] = {}
            unseen: dict[str, int] = {}
            for gram in analyze(text):
                column = vocabulary.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
                else:
                    unseen[gram] = unseen.get(gram, 0) + 1
            if not counts:
                if number == 0:
                    return None
                out.append((None, None, 0.0))
                continue
            columns = np.fromiter(counts, dtype=np.intp, count=len(counts))
            weights = np.fromiter(counts.values(), dtype=float, count=len(counts))
            weights = (1.0 + np.log(weights)) * idf[columns]
            known = float(np.sqrt(weights @ weights))
            weights /= known
            extra = sum((1.0 + np.log(n)) ** 2 for n in unseen.values()) * unseen_idf**2
            out.append((columns, weights, known / float(np.sqrt(known**2 + extra))))
        return out

    def scores(self, text: str) -> Any:
        """One score per meaning (in `meanings` order), or None when not one
        word of `text` was ever seen in training."""
        vectors = self._vectors(text)
        return None if vectors is None else self._scores(vectors)

    def _scores(self, vectors: list[tuple[Any, Any, float]]) -> Any:
        total = self._intercept.copy()
        for (columns, weights, _), (*_, rows) in zip(vectors, self._parts, strict=True):
            if columns is not None:
                total += weights @ rows[columns]
        return total

    def likeness(self, text: str, meaning: str) -> float:
        """The cosine similarity of the utterance to the nearest training
        phrasing of `meaning`, in the classifier's own features (word and
        character n-grams, each half of the vector), counting the n-grams no
        training phrasing holds: words it never saw make it less alike."""
        vectors = self._vectors(text)
        return 0.0 if vectors is None else self._likeness(vectors, meaning)

    def _likeness(self, vectors: list[tuple[Any, Any, float]], meaning: str) -> float:
        import numpy as np

        blocks = self._of_meaning.get(meaning)
        if not blocks or not blocks[0][3]:
            return 0.0
        size = blocks[0][3]
        similarity = np.zeros(size)
        parts = 0
        # Alike in words and characters (the first two parts); the word
        # classes say what the words are about, not how alike they are.
        for (columns, weights, share), (indptr, indices, data, _) in zip(
            vectors[:2], blocks, strict=True
        ):
            parts += 1
            if columns is None:
                continue
            starts, ends = indptr[columns], indptr[columns + 1]
            lengths = ends - starts
            if not lengths.sum():
                continue
            # Every (phrasing, weight) entry of the utterance's n-grams.
            at = np.repeat(ends - lengths.cumsum(), lengths) + np.arange(lengths.sum())
            gram_weight = np.repeat(weights * share, lengths)
            similarity += np.bincount(indices[at], weights=data[at] * gram_weight, minlength=size)
        return float(similarity.max()) / parts

    def sklearn_scores(self, text: str) -> Any:
        """The same scores through scikit-learn (slower; for the tests)."""
        import numpy as np

        scores = np.asarray(
            self.classifier.decision_function(self.vectorizer.transform([features(text)]))
        )
        if scores.ndim == 1:  # two meanings: one score, for the second
            return np.array([-scores[0], scores[0]])
        return scores[0]

    def guess(self, text: str) -> Guess:
        import numpy as np

        vectors = self._vectors(text)
        if vectors is None:
            # Not one word it has ever seen: it has no opinion.
            return Guess("not_an_answer", 0.0)
        scores = self._scores(vectors)
        weights = np.exp(self.settings.sharpness * (scores - scores.max()))
        probabilities = (weights / weights.sum()).tolist()
        ranked = sorted(zip(self.meanings, probabilities, strict=True), key=lambda mp: -mp[1])
        meaning, confidence = ranked[0]
        if meaning == "not_an_answer":
            return Guess(meaning, confidence, tuple(ranked))
        likeness = self._likeness(vectors, meaning)
        if likeness < self.min_likeness:
            # Unlike every phrasing it learnt this meaning from: however its
            # scores fall, it has no opinion (the rules decide alone).
            return Guess("not_an_answer", 0.0, tuple(ranked), likeness)
        return Guess(meaning, confidence, tuple(ranked), likeness)


class Understanding:
    """One language's classifiers, trained on first use (or `warm()` at
    start-up) from a fixed set of examples."""

    def __init__(
        self,
        language: str,
        examples: Iterable[Example],
        settings: Settings = SETTINGS,
        classes: WordClasses | None = None,
    ):
        self.language = language
        self.examples: tuple[Example, ...] = tuple(examples)
        self.settings = settings
        self.classes = classes
        self._models: dict[str, StepModel] | None = None
        self._lock = threading.Lock()
        # The line reads the same words more than once per answer (is it a
        # request for a person? a reason? an off-topic sentence?): each
        # reading is computed once. Thread-safe; a Guess is immutable.
        self._guess = functools.lru_cache(maxsize=512)(self._uncached_guess)

    def warm(self) -> Understanding:
        self._trained()
        return self

    def _trained(self) -> dict[str, StepModel]:
        if self._models is None:
            with self._lock:
                if self._models is None:
                    steps = [s for s in STEP_MEANINGS if any(e.step == s for e in self.examples)]
                    # The steps' models side by side: the SVM's solver lets
                    # go of the interpreter, so one step's counting runs
                    # while the other's solver does.
                    with ThreadPoolExecutor(max_workers=max(1, len(steps))) as pool:
                        fitted = pool.map(self._fit, steps)
                        self._models = dict(zip(steps, fitted, strict=True))
        return self._models

    def _fit(self, step: str) -> StepModel:
        examples = [e for e in self.examples if e.step == step]
        return StepModel(examples, self.settings, step, self.classes, self.language)

    def guess(self, step: str, text: str) -> Guess | None:
        """What the words most likely mean at `step` ("reason" or "yes_no");
        None when this language has no examples for it."""
        return self._guess(step, text) if text.strip() else None

    def _uncached_guess(self, step: str, text: str) -> Guess | None:
        model = self._trained().get(step)
        return model.guess(text) if model is not None else None


_cache: dict[tuple[str, tuple[Example, ...], Any], Understanding] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 16


def understanding_for(
    language: str,
    vocab: Vocabulary,
    base: Sequence[Example],
    taught: Sequence[Example] = (),
    classes: WordClasses | None = None,
) -> Understanding:
    """The understanding for these examples and word classes: built once per
    worker for each set (a publish of anything else, which rebuilds the
    catalog, does not retrain)."""
    examples = (*base, *vocabulary_examples(vocab), *taught)
    key = (language, examples, classes)
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            if len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            found = _cache[key] = Understanding(language, examples, classes=classes)
    return found


def attach(
    packs: Mapping[str, Any],
    prompts_dir: str | Path,
    taught: Mapping[str, Sequence[Example]] | None = None,
) -> dict[str, Any]:
    """The language packs, each vocabulary carrying its understanding."""
    from dataclasses import replace

    from . import word_classes

    out = {}
    for language, pack in packs.items():
        understanding = understanding_for(
            language,
            pack.vocabulary,
            tuple(examples_of(prompts_dir, language, "train")),
            tuple((taught or {}).get(language, ())),
            word_classes.load(prompts_dir, language),
        )
        out[language] = replace(
            pack, vocabulary=replace(pack.vocabulary, understanding=understanding)
        )
    return out
