"""The words the line understands (voice_prompts/<lang>.yaml, vocabulary:)
as staff edit them: entries and their names, the rules an entry keeps, the
entries as the line uses them now, and what the line makes of a sentence
with a draft in place (nothing stored). Publishing a new version is
ivr/language/publish.py."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..admin_errors import NotFound
from ..flow.understand import BOUNDARY, tokenize
from ..models import REASON_CODES, PromptVersion
from ..prompts import (
    BASE_LANGUAGE,
    VOCABULARY_PREFIX,
    Catalog,
    LanguagePack,
    phrases_of,
    vocabulary_entries,
)
from .catalog import baseline_packs

# --- checking vocabulary ----------------------------------------------------------
#
# The words the line understands are edited as entries ("vocabulary.intents.agent",
# "vocabulary.reasons.too_expensive", "vocabulary.fillers", ...), each a list of
# phrases; a published version holds them one per line (see ivr.prompts).

HINT_LIMIT = 100  # Twilio takes hints of at most 100 characters.
MATCHED_SECTIONS = ("intents", "reasons")  # phrases that decide what a caller meant
VOCABULARY_HELP = {
    "fillers": "words dropped before matching (um, like, please)",
    "negations": "words that turn a following phrase around (don't cancel)",
    "common": "everyday words of the language: own words count as a reason only with some",
    "intents": "phrases that mean one answer (yes, no, agent, repeat...)",
    "reasons": "phrases that point to one cancellation reason",
    "hints": "extra hints sent to Twilio's speech recognition at one step",
}


def is_vocabulary(key: str) -> bool:
    return key.startswith(VOCABULARY_PREFIX)


def entry_key(name: str) -> str:
    """ "intents.agent" or "vocabulary.intents.agent" -> "vocabulary.intents.agent"."""
    name = name.strip()
    return name if is_vocabulary(name) else VOCABULARY_PREFIX + name


def entry_name(key: str) -> str:
    """ "vocabulary.intents.agent" -> "intents.agent" (how people name it)."""
    return key.removeprefix(VOCABULARY_PREFIX)


def entry_section(key: str) -> str:
    return entry_name(key).split(".", 1)[0]


def _words(phrase: str) -> tuple[str, ...]:
    """The words the line matches: "Don't cancel!" -> ("don't", "cancel")."""
    return tuple(t for t in tokenize(phrase) if t != BOUNDARY)


_SPELLED = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def spelling(phrase: str) -> tuple[str, ...]:
    """A phrase as spelled, case, spacing and punctuation aside (accents kept:
    the files list "inglés" and "ingles", "sí" and "si" on purpose)."""
    text = unicodedata.normalize("NFC", phrase.replace("\u2019", "'").replace("\u2018", "'"))
    return tuple(_SPELLED.findall(text.lower()))


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        return (
            f"{value!r} is not a phrase: YAML reads an unquoted yes/no/on/off/true/false "
            f'as {str(value).lower()}; quote it, e.g. ["yes", yeah]'
        )
    return f'{value!r} is not a phrase: quote it in the file, e.g. "{value}"'


def vocabulary_problems(
    key: str, phrases: Sequence[Any], others: Mapping[str, Sequence[Any]]
) -> list[str]:
    """What is wrong with one entry's phrases; `others` are the other entries
    of the same language, which a phrase of an intent or a reason must not
    repeat (one phrase means one thing)."""
    section = entry_section(key)
    problems: list[str] = []
    if not phrases and section in MATCHED_SECTIONS:
        kind = "an intent" if section == "intents" else "a reason"
        problems.append(
            f"{entry_name(key)} needs at least one phrase ({kind} without phrases is never heard)"
        )
    seen: dict[tuple[str, ...], str] = {}
    matched: list[tuple[tuple[str, ...], str]] = []
    for value in phrases:
        if not isinstance(value, str):
            problems.append(_quote_hint(value))
            continue
        if len(value) > HINT_LIMIT:
            problems.append(
                f"{value[:40]!r}...: {len(value)} characters; a phrase holds at most {HINT_LIMIT} "
                "(Twilio's limit for a hint)"
            )
        words = _words(value)
        if not words:
            problems.append(f"{value!r} has no words (punctuation alone matches nothing)")
            continue
        spelled = spelling(value)
        if spelled in seen:
            problems.append(f"{value!r} is listed twice (as {seen[spelled]!r})")
            continue
        seen[spelled] = value
        matched.append((words, value))

    fillers = {_words(str(f)) for f in others.get(VOCABULARY_PREFIX + "fillers", ())}
    if section in MATCHED_SECTIONS:
        owners: dict[tuple[str, ...], str] = {}
        for other, other_phrases in others.items():
            if other != key and entry_section(other) in MATCHED_SECTIONS:
                for p in other_phrases:
                    owners.setdefault(_words(str(p)), other)
        for words, value in matched:
            if words in owners:
                problems.append(
                    f"{value!r} is already a phrase of {entry_name(owners[words])}; "
                    "one phrase can mean only one thing"
                )
            elif words in fillers:
                problems.append(
                    f"{value!r} is a filler (fillers): the line drops it before matching, "
                    "so it would never be heard"
                )
    elif section == "fillers":
        for other, other_phrases in others.items():
            if entry_section(other) not in MATCHED_SECTIONS:
                continue
            mine = {words: value for words, value in matched}
            for p in other_phrases:
                words = _words(str(p))
                if words in mine:
                    problems.append(
                        f"{mine[words]!r} is a phrase of {entry_name(other)}; as a filler "
                        "the line would drop it before matching"
                    )
    return problems


def file_entries(raw: Mapping[Any, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A language file's vocabulary as entries, values as YAML read them (a
    bool stays a bool), and the problems of its shape."""
    entries: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for section in ("fillers", "negations", "common"):
        if section in raw:
            entries[VOCABULARY_PREFIX + section] = raw[section]
    for section in ("intents", "reasons", "hints"):
        for name, phrases in (raw.get(section) or {}).items():
            if not isinstance(name, str):
                problems.append((f"vocabulary.{section}.{name}", _quote_hint(name)))
            entries[f"{VOCABULARY_PREFIX}{section}.{name}"] = phrases
    for key, value in list(entries.items()):
        if value is None:
            entries[key] = []
        elif not isinstance(value, list):
            problems.append((key, "not a list of phrases, e.g. [agent, a person]"))
            del entries[key]
    return entries, problems


# --- the entries as the line uses them -------------------------------------------


def entry_of(
    packs: Mapping[str, LanguagePack], key: str, language: str
) -> tuple[LanguagePack, list[str]]:
    """A vocabulary entry of a language and its phrases in the file."""
    if language not in packs:
        raise NotFound(f"no language {language!r} (the line speaks {', '.join(packs)})")
    pack = packs[language]
    in_file = vocabulary_entries(pack)
    if key not in in_file and key not in vocabulary_entries(packs[BASE_LANGUAGE]):
        raise NotFound(
            f"no vocabulary entry {entry_name(key)!r}; `ivr prompts words list` shows every entry"
        )
    return pack, in_file.get(key, [])


def live_vocabulary(
    session: Session, language: str, baseline: Mapping[str, LanguagePack] | None = None
) -> dict[str, tuple[int, list[str]]]:
    """Every vocabulary entry of a language as the line uses it now: its
    version (0: the file) and phrases. The same newest-version rule as
    ivr.prompts.live_catalog."""
    packs = baseline_packs(baseline)
    if language not in packs:
        raise NotFound(f"no language {language!r} (the line speaks {', '.join(packs)})")
    entries = {key: (0, phrases) for key, phrases in vocabulary_entries(packs[language]).items()}
    for key in vocabulary_entries(packs[BASE_LANGUAGE]):
        entries.setdefault(key, (0, []))
    rows = session.scalars(
        select(PromptVersion)
        .where(
            PromptVersion.language == language,
            PromptVersion.key.startswith(VOCABULARY_PREFIX, autoescape=True),
        )
        .order_by(PromptVersion.version)
    ).all()
    for row in rows:
        if row.key in entries:
            entries[row.key] = (row.version, phrases_of(row.text))
    return entries


@dataclass(frozen=True)
class VocabularyRow:
    key: str  # vocabulary.intents.agent
    name: str  # intents.agent
    section: str  # intents
    live: Mapping[str, tuple[int, list[str]]]  # language -> (version, phrases)


def list_vocabulary(
    session: Session, baseline: Mapping[str, LanguagePack] | None = None
) -> list[VocabularyRow]:
    """Every vocabulary entry with its live phrases per language, in file order."""
    packs = baseline_packs(baseline)
    languages = [BASE_LANGUAGE, *sorted(lang for lang in packs if lang != BASE_LANGUAGE)]
    live = {lang: live_vocabulary(session, lang, packs) for lang in languages}
    keys = list(live[BASE_LANGUAGE])
    for lang in languages:
        keys.extend(k for k in live[lang] if k not in keys)
    return [
        VocabularyRow(
            key,
            entry_name(key),
            entry_section(key),
            {lang: live[lang].get(key, (0, [])) for lang in languages},
        )
        for key in keys
    ]


# --- trying the vocabulary -----------------------------------------------------------


@dataclass(frozen=True)
class Understood:
    intent: str | None  # the answer the words carry most strongly (any intent)
    agent: bool  # asks for a person, wherever in the call
    reason: str | None  # the cancellation reason they point to


def understood(
    catalog: Catalog,
    language: str,
    sentence: str,
    draft: Mapping[str, Sequence[str]] | None = None,
) -> Understood:
    """What the line makes of a sentence, with draft entries in place of the
    live ones (nothing is stored)."""
    from ..flow.understand import intent_of, reason_of, wants_agent
    from ..prompts import with_vocabulary

    pack = catalog.pack(language)
    if draft:
        pack = with_vocabulary(pack, {k: list(v) for k, v in draft.items()})
    vocab = pack.vocabulary
    return Understood(
        intent_of(sentence, vocab),
        wants_agent(sentence, vocab),
        reason_of(sentence, vocab, REASON_CODES),
    )
