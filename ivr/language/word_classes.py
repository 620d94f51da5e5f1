"""Word classes: the words callers use for one idea, listed by hand
(voice_prompts/understanding/<lang>.words.txt), the way Rasa's lookup tables
and Dialogflow's entities give a classifier words it has no example for.

"my paycheck doesn't cover it" shares no n-gram with the training phrasings
of `too_expensive`, but "paycheck" is in the class `money`, and phrasings
with "bucks", "budget" and "afford" taught the classifier what `money`
means. So the classifier reads, beside the words and their characters, the
classes the words belong to (docs/understanding.md; decision 0025).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .understanding import features

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# How many words' phrases one set of classes keeps worked out.
_WORDS_KEPT = 200_000
# A phrase a word starts (None if the word is all of it), its token, and its
# whole words.
_Candidate = tuple[tuple[str, ...] | None, str, frozenset[str]]
# Class names: lower-case words joined by underscores.
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class WordClassError(ValueError):
    pass


def words(text: str) -> list[str]:
    """The words as the classes are matched against them: the classifier's
    own reading of the text (lower case, no accents, sums of money as
    "dollars"), apostrophes kept inside words."""
    return _WORD.findall(features(text))


@dataclass(frozen=True)
class WordClasses:
    """Each class's phrases, as word tuples; a last word ending in "*"
    matches any word that starts with the rest ("afford*": afford,
    affordable, afforded)."""

    classes: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.classes)

    @property
    def _index(
        self,
    ) -> tuple[
        dict[str, list[tuple[tuple[str, ...], str]]],
        dict[str, list[tuple[str, tuple[str, ...], str]]],
    ]:
        # Built once per instance (frozen dataclass: cached by hand). Phrases
        # by their first word, or, when that word ends in "*", by its first
        # three letters (every such word has at least three).
        cached = self.__dict__.get("_built")
        if cached is None:
            exact: dict[str, list[tuple[tuple[str, ...], str]]] = {}
            prefixes: dict[str, list[tuple[str, tuple[str, ...], str]]] = {}
            for name, phrases in self.classes:
                for phrase in phrases:
                    if phrase[0].endswith("*"):
                        start = phrase[0][:-1]
                        prefixes.setdefault(start[:3], []).append((start, phrase, name))
                    else:
                        exact.setdefault(phrase[0], []).append((phrase, name))
            cached = (exact, prefixes)
            object.__setattr__(self, "_built", cached)
        return cached

    def analyze(self, text: str) -> list[str]:
        """One token per class a phrase of the text belongs to (a class
        found twice gives two), e.g. ["class_money", "class_rival"]."""
        found: list[str] = []
        said = words(text)
        present = set(said)
        for at, word in enumerate(said):
            for phrase, token, needed in self._starting_with(word):
                # A longer phrase can only match if its whole words are all
                # in the text (a set's test, before the word-by-word one).
                if phrase is None or (needed <= present and _matches(phrase, said, at)):
                    found.append(token)
        return found

    def _starting_with(self, word: str) -> list[_Candidate]:
        """The phrases whose first word `word` is, in the order analyze()
        tries them, each with its token and its whole words (not those that
        end in "*"): a phrase of one word as None (it matches already).
        Worked out once per word: a few thousand words make up nearly every
        phrasing."""
        known: dict[str, list[_Candidate]] = self.__dict__.setdefault("_by_word", {})
        found = known.get(word)
        if found is None:
            exact, prefixes = self._index
            phrases = [phrase_name for phrase_name in exact.get(word, ())]
            phrases.extend(
                (phrase, name)
                for prefix, phrase, name in prefixes.get(word[:3], ())
                if word.startswith(prefix)
            )
            found = [
                (
                    phrase if len(phrase) > 1 else None,
                    f"class_{name}",
                    frozenset(p for p in phrase if not p.endswith("*")),
                )
                for phrase, name in phrases
            ]
            if len(known) < _WORDS_KEPT:
                known[word] = found
        return found

    def names(self) -> list[str]:
        return [name for name, _ in self.classes]


def _matches(phrase: tuple[str, ...], said: list[str], at: int) -> bool:
    if at + len(phrase) > len(said):
        return False
    for offset, part in enumerate(phrase):
        word = said[at + offset]
        if part.endswith("*"):
            if not word.startswith(part[:-1]):
                return False
        elif word != part:
            return False
    return True


def parse(lines: Iterable[str], source: str = "") -> WordClasses:
    """A words file: "[name]" opens a class; each line after it is one
    word or phrase of it; "#" starts a comment line."""
    classes: dict[str, list[tuple[str, ...]]] = {}
    name: str | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            if not _NAME.fullmatch(name):
                raise WordClassError(
                    f"{source}:{number}: a class name is lower-case words, got {line}"
                )
            classes.setdefault(name, [])
            continue
        if name is None:
            raise WordClassError(f"{source}:{number}: a phrase before any [class]")
        phrase = tuple(_phrase_words(line))
        if not phrase:
            raise WordClassError(f"{source}:{number}: no word in {line!r}")
        if any(p.endswith("*") and len(p) < 4 for p in phrase):
            raise WordClassError(
                f"{source}:{number}: {line!r}: a word ending in * needs three letters before it"
            )
        classes[name].append(phrase)
    return WordClasses(tuple((n, tuple(dict.fromkeys(p))) for n, p in classes.items()))


def _phrase_words(line: str) -> list[str]:
    out = []
    for part in line.split():
        star = part.endswith("*")
        found = words(part.rstrip("*"))
        if star and found:
            found[-1] += "*"
        out.extend(found)
    return out


def words_file(prompts_dir: str | Path, language: str) -> Path:
    return Path(prompts_dir) / "understanding" / f"{language}.words.txt"


def load(prompts_dir: str | Path, language: str) -> WordClasses:
    """A language's word classes; none if it has no words file."""
    path = words_file(prompts_dir, language)
    if not path.exists():
        return WordClasses()
    return parse(path.read_text(encoding="utf-8").splitlines(), str(path))


def summary(classes: WordClasses) -> Mapping[str, int]:
    return {name: len(phrases) for name, phrases in classes.classes}
