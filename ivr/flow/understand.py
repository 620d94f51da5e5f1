"""Understanding what a caller said or pressed.

Pure functions over a vocabulary that lives beside the prompts
(voice_prompts/<lang>.yaml), so operations staff can tune it. Matching is on
whole words after lower-casing, dropping accents and fillers; the longest
phrase wins, and a phrase after a negation ("I don't want to cancel")
counts the other way or not at all.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Phrase = tuple[str, ...]

# Punctuation ends the reach of a negation: "No, cancel it" is not "don't cancel".
BOUNDARY = "|"
NEGATION_REACH = 3
# The most hints Twilio takes on one <Gather>.
HINTS_MAX = 500

# A negated phrase of one intent means another: "not okay" is a no,
# "don't cancel" is a keep. Other negated phrases mean nothing.
NEGATED_INTENT = {"yes": "no", "no": "keep"}


@dataclass(frozen=True)
class NumberWords:
    units: Mapping[str, int] = field(default_factory=dict)
    teens: Mapping[str, int] = field(default_factory=dict)
    tens: Mapping[str, int] = field(default_factory=dict)
    hundred: frozenset[str] = frozenset()
    double: frozenset[str] = frozenset()
    triple: frozenset[str] = frozenset()
    joiners: frozenset[str] = frozenset()
    # Words said around a key named aloud ("press", "option", "el"): "press
    # two" and "el dos" are the key 2 at a question whose menu names keys.
    keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Vocabulary:
    language: str
    fillers: tuple[Phrase, ...]
    negations: tuple[Phrase, ...]
    intents: Mapping[str, tuple[Phrase, ...]]
    reasons: Mapping[str, tuple[Phrase, ...]]
    numbers: NumberWords
    hints: Mapping[str, tuple[str, ...]]
    # Everyday words of the language ("the", "my", "el", "mi"): they tell
    # whether the caller's own words are in this language at all.
    common: frozenset[str] = frozenset()
    # The first words of the question phrases that are written with an
    # accent ("qué", "dónde"; none in English): see opens_unaccented().
    accented_questions: frozenset[str] = frozenset()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # The trained understanding of this language (ivr/language/understanding.py),
    # attached when the catalog is built; None reads with the rules alone.
    understanding: Any = field(default=None, compare=False)

    @classmethod
    def from_data(cls, language: str, data: Mapping[str, Any]) -> Vocabulary:
        numbers = data.get("numbers") or {}
        return cls(
            language=language,
            fillers=_phrases(data.get("fillers", ())),
            negations=_phrases(data.get("negations", ())),
            intents={k: _phrases(v) for k, v in (data.get("intents") or {}).items()},
            reasons={k: _phrases(v) for k, v in (data.get("reasons") or {}).items()},
            numbers=NumberWords(
                units={normalize(k): int(v) for k, v in (numbers.get("units") or {}).items()},
                teens={normalize(k): int(v) for k, v in (numbers.get("teens") or {}).items()},
                tens={normalize(k): int(v) for k, v in (numbers.get("tens") or {}).items()},
                hundred=frozenset(normalize(w) for w in numbers.get("hundred", ())),
                double=frozenset(normalize(w) for w in numbers.get("double", ())),
                triple=frozenset(normalize(w) for w in numbers.get("triple", ())),
                joiners=frozenset(normalize(w) for w in numbers.get("joiners", ())),
                keys=frozenset(normalize(w) for w in numbers.get("keys", ())),
            ),
            hints={k: tuple(str(x) for x in v) for k, v in (data.get("hints") or {}).items()},
            common=frozenset(t for p in _phrases(data.get("common", ())) for t in p),
            accented_questions=frozenset(
                word
                for phrase in (data.get("intents") or {}).get("question") or ()
                for word in str(phrase).lower().split()[:1]
                if normalize(word) != word
            ),
            raw=data,
        )

    def hints_for(self, step: str, intents: Iterable[str], reasons: bool = False) -> str:
        """Twilio's `hints`: a comma-separated string (never a list, which
        twilio-python would write as "['a', 'b']")."""
        words: list[str] = list(self.hints.get(step, ()))
        for name in intents:
            words.extend(" ".join(p) for p in self.intents.get(name, ()))
        if reasons:
            for phrases in self.reasons.values():
                words.extend(" ".join(p) for p in phrases)
        seen: dict[str, None] = {}
        for w in words:
            # Twilio limits each hint to 100 characters, and a <Gather> to
            # 500 of them (warning 13330): the first 500, the step's own
            # hints and each intent's first phrases before later ones.
            if w and len(w) <= 100:
                seen.setdefault(w, None)
                if len(seen) == HINTS_MAX:
                    break
        return ", ".join(seen)


@dataclass(frozen=True)
class Match:
    label: str
    start: int
    end: int
    negated: bool


def normalize(text: str) -> str:
    """Lower case, typographic apostrophes made plain, accents dropped."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    if text.isascii():
        return text  # no accents to drop
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,;:!?]")


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(normalize(text).replace("-", " ")):
        if tok in ".,;:!?":
            if out and out[-1] != BOUNDARY:
                out.append(BOUNDARY)
        else:
            out.append(tok)
    return out


def _phrases(items: Iterable[Any]) -> tuple[Phrase, ...]:
    phrases = []
    for item in items:
        toks = tuple(t for t in tokenize(str(item)) if t != BOUNDARY)
        if toks:
            phrases.append(toks)
    return tuple(phrases)


def without_fillers(tokens: Sequence[str], vocab: Vocabulary) -> list[str]:
    fillers = sorted(vocab.fillers, key=len, reverse=True)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for f in fillers:
            if tuple(tokens[i : i + len(f)]) == f:
                i += len(f)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def find_matches(
    tokens: Sequence[str], table: Mapping[str, Iterable[Phrase]], negations: Sequence[Phrase]
) -> list[Match]:
    """Longest phrases first; each word belongs to at most one match."""
    # Only phrases whose words are all in the utterance can match: the rest
    # are left out before the (stable) sort, which leaves the order of those
    # kept as it was, so the matches are the same, for a fraction of the work.
    said = set(tokens)
    candidates = sorted(
        (
            (label, phrase)
            for label, phrases in table.items()
            for phrase in phrases
            if said.issuperset(phrase)
        ),
        key=lambda lp: -len(lp[1]),
    )
    used = [False] * len(tokens)
    matches: list[Match] = []
    for label, phrase in candidates:
        n = len(phrase)
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i : i + n]) == phrase and not any(used[i : i + n]):
                for j in range(i, i + n):
                    used[j] = True
                negated = not _starts_negated(phrase, negations) and _negated_before(
                    tokens, i, negations
                )
                matches.append(Match(label, i, i + n, negated))
    return sorted(matches, key=lambda m: m.start)


def _starts_negated(phrase: Phrase, negations: Sequence[Phrase]) -> bool:
    return any(phrase[: len(neg)] == neg for neg in negations)


def _negated_before(tokens: Sequence[str], start: int, negations: Sequence[Phrase]) -> bool:
    lo = start
    while lo > 0 and start - lo < NEGATION_REACH and tokens[lo - 1] != BOUNDARY:
        lo -= 1
    window = tokens[lo:start]
    return any(
        tuple(window[i : i + len(neg)]) == neg
        for neg in negations
        for i in range(len(window) - len(neg) + 1)
    )


def intent_of(
    text: str,
    vocab: Vocabulary,
    allowed: Iterable[str] | None = None,
    same: Mapping[str, str] | None = None,
) -> str | None:
    """The intent the words carry most strongly, among those allowed. `same`
    names intents that mean the same at this step ({"cancel": "no"} at the
    offer): they count as one, so "no, cancel it" is a clear no."""
    return strongest(intent_scores(text, vocab, allowed, same))


def strongest(scores: Mapping[str, int]) -> str | None:
    """The intent with the most words, if one alone has the most."""
    if not scores:
        return None
    best = max(scores.values())
    winners = [k for k, v in scores.items() if v == best]
    # "yes, no" is no answer at all.
    return winners[0] if len(winners) == 1 else None


def intent_scores(
    text: str,
    vocab: Vocabulary,
    allowed: Iterable[str] | None = None,
    same: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Every intent (among those allowed) the words carry, with how many
    words say it; `same` as for intent_of."""
    tokens = without_fillers(tokenize(text), vocab)
    scores: dict[str, int] = {}
    for m in find_matches(tokens, vocab.intents, vocab.negations):
        label = NEGATED_INTENT.get(m.label) if m.negated else m.label
        if label and same:
            label = same.get(label, label)
        if label:
            scores[label] = scores.get(label, 0) + (m.end - m.start)
    if allowed is not None:
        allowed = set(allowed)
        scores = {k: v for k, v in scores.items() if k in allowed}
    return scores


def content_words(text: str, vocab: Vocabulary) -> list[str]:
    """The words that carry meaning: fillers and punctuation dropped."""
    return [t for t in without_fillers(tokenize(text), vocab) if t != BOUNDARY]


def is_question(text: str, vocab: Vocabulary) -> bool:
    """Asked rather than answered: a question mark in the transcript, or the
    words open with a question word of the language ("what", "can you")."""
    if "?" in text or "\u00bf" in text:
        return True
    words = content_words(text, vocab)
    return any(
        tuple(words[: len(phrase)]) == phrase for phrase in vocab.intents.get("question", ())
    ) and not opens_unaccented(text, vocab)


_RAW_WORD = re.compile(r"[^\W_]+")


def opens_unaccented(text: str, vocab: Vocabulary) -> bool:
    """The words open with a question word of the vocabulary spelt without
    its accent: "que lo cancele", "que no", "donde vivo no llega" tell, where
    "qué", "dónde" would ask. Matching drops accents, which would make "qué"
    and "que" one word; the transcript's spelling keeps them apart."""
    accented = vocab.accented_questions
    if not accented:
        return False
    words = _RAW_WORD.findall(text.lower())
    plain = [normalize(w) for w in words]
    at = 0
    fillers = sorted(vocab.fillers, key=len, reverse=True)
    while at < len(words):
        filler = next((f for f in fillers if tuple(plain[at : at + len(f)]) == f), None)
        if filler is None:
            break
        at += len(filler)
    if at >= len(words):
        return False
    word = words[at]
    return word not in accented and any(normalize(word) == normalize(a) for a in accented)


def common_words(text: str, vocab: Vocabulary) -> int:
    """How many of the words are everyday words of the vocabulary's language."""
    return sum(1 for t in tokenize(text) if t in vocab.common)


def wants_agent(text: str, vocab: Vocabulary) -> bool:
    tokens = without_fillers(tokenize(text), vocab)
    return any(
        m.label == "agent" and not m.negated
        for m in find_matches(tokens, {"agent": vocab.intents.get("agent", ())}, vocab.negations)
    )


def reason_of(text: str, vocab: Vocabulary, order: Sequence[str]) -> str | None:
    """The reason code the words point to; ties go to the earlier code in `order`."""
    tokens = without_fillers(tokenize(text), vocab)
    scores: dict[str, int] = {}
    for m in find_matches(tokens, vocab.reasons, vocab.negations):
        if not m.negated:
            scores[m.label] = scores.get(m.label, 0) + (m.end - m.start)
    if not scores:
        return None
    best = max(scores.values())
    return next(code for code in order if scores.get(code) == best)


def key_of(text: str, vocab: Vocabulary) -> str | None:
    """The one key named aloud, when the words say nothing else: "two",
    "press three", "option 9", "el dos", "nine, nine". None for anything
    more ("it's two expensive", "one second", "dos horas esperando") or
    two different keys."""
    words = vocab.numbers
    said = {
        # Number words of one or two letters ("oh", "o": zero; "un": one)
        # are parts of numbers, no key on their own.
        str(words.units[t]) if t in words.units and len(t) > 2 else t
        for t in without_fillers(tokenize(text), vocab)
        if t != BOUNDARY and t not in words.keys
    }
    if len(said) != 1:
        return None
    key = said.pop()
    return key if len(key) == 1 and key.isdigit() else None


def number_of(text: str, vocab: Vocabulary) -> str | None:
    """The digit string spoken: "one two three four", "twelve thirty-four",
    "1234", "double five", "oh", Spanish "doce treinta y cuatro". None when
    the words hold no number."""
    words = vocab.numbers
    tokens = [t for t in tokenize(text) if t != BOUNDARY]
    digits: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.isdigit():
            digits.append(tok)
            i += 1
            continue
        if (tok in words.double or tok in words.triple) and i + 1 < len(tokens):
            unit = words.units.get(tokens[i + 1])
            if unit is not None:
                digits.append(str(unit) * (2 if tok in words.double else 3))
                i += 2
                continue
        value, after = _number_word(tokens, i, words)
        if value is None:
            if tok in words.hundred and not digits:
                digits.append("100")  # "a hundred", "cien"
            i += 1
        elif after < len(tokens) and tokens[after] in words.hundred and value < 100:
            # "twelve hundred" is 1200, "one hundred and five" 105.
            rest, end = _number_word(tokens, _skip_joiner(tokens, after + 1, words), words)
            if rest is not None and rest < 100:
                digits.append(str(value * 100 + rest))
                i = end
            else:
                digits.append(str(value * 100))
                i = after + 1
        else:
            digits.append(str(value))
            i = after
    return "".join(digits) if digits else None


def _skip_joiner(tokens: Sequence[str], i: int, words: NumberWords) -> int:
    return i + 1 if i < len(tokens) and tokens[i] in words.joiners else i


def _number_word(tokens: Sequence[str], i: int, words: NumberWords) -> tuple[int | None, int]:
    """The number spoken at tokens[i] ("four", "twelve", "thirty-four",
    "treinta y cuatro") and the index after it; (None, i) if none."""
    if i >= len(tokens):
        return None, i
    tok = tokens[i]
    if tok in words.tens:
        j = _skip_joiner(tokens, i + 1, words)
        unit = words.units.get(tokens[j]) if j < len(tokens) else None
        if unit:
            return words.tens[tok] + unit, j + 1
        return words.tens[tok], i + 1
    if tok in words.teens:
        return words.teens[tok], i + 1
    if tok in words.units:
        return words.units[tok], i + 1
    return None, i
