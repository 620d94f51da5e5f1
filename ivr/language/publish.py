"""Publishing what the line says: a new version of a prompt or a vocabulary
entry, the history of versions with their diffs, and a rollback (an
earlier version published again).

The console and the CLI call the same functions here. Each takes the
session and the actor (who is making the change); none commits: the request
or command that called it does. Every change is stored as a new row (a
PromptVersion) and written to the audit log, so history is append-only and
anything can be rolled back."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..admin_errors import NotFound, Refused
from ..models import PromptVersion
from ..prompts import LanguagePack, Prompt, phrases_of
from .catalog import baseline_packs, prompt_of
from .check import clean, validate_text
from .versions import store_version
from .vocabulary import entry_key, entry_name, entry_of, is_vocabulary, live_vocabulary, spelling

# --- publishing --------------------------------------------------------------------


def _phrase_lines(text: str | None) -> str:
    """Phrases one a line, blank lines and extra spaces dropped."""
    return "\n".join(" ".join(p.split()) for p in phrases_of(text or ""))


@dataclass(frozen=True)
class Content:
    text: str
    reprompt: str | None
    audio: str | None


def live_content(
    session: Session, key: str, language: str, baseline: Mapping[str, LanguagePack] | None = None
) -> tuple[int, Content]:
    """The version the line says now, and its content (for a vocabulary
    entry, its phrases one a line)."""
    packs = baseline_packs(baseline)
    if is_vocabulary(key):
        entry_of(packs, key, language)
        version, phrases = live_vocabulary(session, language, packs)[key]
        return version, Content("\n".join(phrases), None, None)
    _, prompt = prompt_of(packs, key, language)
    row = session.scalars(
        select(PromptVersion)
        .where(PromptVersion.key == key, PromptVersion.language == language)
        .order_by(PromptVersion.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return 0, Content(prompt.text, prompt.reprompt, prompt.audio)
    return row.version, Content(row.text, row.reprompt, row.audio)


def publish(
    session: Session,
    key: str,
    language: str,
    text: str | None,
    reprompt: str | None = None,
    audio: str | None = None,
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
    action: str = "prompt.publish",
    detail: Mapping[str, Any] | None = None,
) -> PromptVersion:
    """Store a new version of a prompt, or of a vocabulary entry (text: its
    phrases, one a line); the line uses it from the next request on."""
    packs = baseline_packs(baseline)
    reprompt, audio, note = clean(reprompt), clean(audio), clean(note)
    if is_vocabulary(key):
        text = _phrase_lines(text)
        live = {k: v for k, (_, v) in live_vocabulary(session, language, packs).items()}
        validate_text(key, language, text, reprompt, audio, baseline=packs, vocabulary=live)
        action = action.replace("prompt.", "vocabulary.", 1)
    else:
        text = clean(text)
        validate_text(key, language, text, reprompt, audio, baseline=packs)
    assert text is not None
    if not actor:
        raise Refused("who is publishing? (an actor is required)")
    current, live = live_content(session, key, language, packs)
    if live == Content(text, reprompt, audio):
        raise Refused(f"nothing changed: version {current} already says this")
    return store_version(
        session,
        key,
        language,
        text,
        reprompt,
        audio,
        actor=actor,
        note=note,
        action=action,
        detail={"from_version": current, "note": note, **(detail or {})},
    )


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    text: str
    reprompt: str | None
    audio: str | None
    created_by: str
    created_at: dt.datetime | None
    note: str | None
    diff: str  # unified diff from the version before ("" for the first)
    live: bool = False


def history(
    session: Session,
    key: str,
    language: str,
    *,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> list[HistoryEntry]:
    """Every version, oldest first: the file's (version 0), then each published one."""
    packs = baseline_packs(baseline)
    vocabulary = is_vocabulary(key)
    if vocabulary:
        pack, phrases = entry_of(packs, key, language)
        prompt = Prompt(key, "vocabulary", "\n".join(phrases))
    else:
        pack, prompt = prompt_of(packs, key, language)
    rows = session.scalars(
        select(PromptVersion)
        .where(PromptVersion.key == key, PromptVersion.language == language)
        .order_by(PromptVersion.version)
    ).all()
    entries = [
        HistoryEntry(
            0,
            prompt.text,
            prompt.reprompt,
            prompt.audio,
            f"voice_prompts/{pack.source.name}",
            None,
            "the phrases in the file" if vocabulary else "the text in the file",
            "",
        )
    ]
    previous = entries[0]
    for row in rows:
        entry = HistoryEntry(
            row.version,
            row.text,
            row.reprompt,
            row.audio,
            row.created_by,
            row.created_at,
            row.note,
            content_diff(previous, row, previous.version, row.version, vocabulary=vocabulary),
        )
        entries.append(entry)
        previous = entry
    entries[-1] = replace(entries[-1], live=True)
    return entries


def _as_lines(content: Any, vocabulary: bool = False) -> list[str]:
    if vocabulary:  # one phrase a line
        return [f"{phrase}\n" for phrase in phrases_of(content.text)]
    lines = []
    for name in ("text", "reprompt", "audio"):
        value = getattr(content, name)
        if value is None:
            continue
        # One sentence a line, so a diff shows which sentence changed.
        for sentence in re.split(r"(?<=[.?!])\s+", " ".join(str(value).split())):
            lines.append(f"{name}: {sentence}\n")
    return lines


def content_diff(
    before: Any, after: Any, from_version: int, to_version: int, *, vocabulary: bool = False
) -> str:
    return "".join(
        difflib.unified_diff(
            _as_lines(before, vocabulary),
            _as_lines(after, vocabulary),
            fromfile=f"version {from_version}",
            tofile=f"version {to_version}",
            lineterm="\n",
        )
    )


def rollback(
    session: Session,
    key: str,
    language: str,
    to_version: int,
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> PromptVersion:
    """Publish, as a new version, the content of an earlier one."""
    packs = baseline_packs(baseline)
    entries = history(session, key, language, baseline=packs)
    target = next((e for e in entries if e.version == to_version), None)
    if target is None:
        raise NotFound(
            f"no version {to_version} of {key} in {language} (versions 0 to {entries[-1].version})"
        )
    if target.live:
        raise Refused(f"version {to_version} is the live version already")
    return publish(
        session,
        key,
        language,
        target.text,
        target.reprompt,
        target.audio,
        actor=actor,
        note=note or f"rollback to version {to_version}",
        baseline=packs,
        action="prompt.rollback",
        detail={"to_version": to_version},
    )


def add_phrases(
    session: Session,
    key: str,
    language: str,
    phrases: Sequence[str],
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> PromptVersion:
    """Publish an entry with more phrases (a synonym the line missed)."""
    key = entry_key(key)
    _, live = live_content(session, key, language, baseline)
    current = phrases_of(live.text)
    have = {spelling(p): p for p in current}
    new = [" ".join(p.split()) for p in phrases if p.strip()]
    if not new:
        raise Refused("which phrase? give at least one")
    for phrase in new:
        if spelling(phrase) in have:
            raise Refused(f"{phrase!r} is already a phrase of {entry_name(key)} in {language}")
    return publish(
        session,
        key,
        language,
        "\n".join(current + new),
        actor=actor,
        note=note or "added " + ", ".join(repr(p) for p in new),
        baseline=baseline,
    )


def remove_phrases(
    session: Session,
    key: str,
    language: str,
    phrases: Sequence[str],
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> PromptVersion:
    """Publish an entry without some of its phrases."""
    key = entry_key(key)
    _, live = live_content(session, key, language, baseline)
    current = phrases_of(live.text)
    gone = {spelling(p): p for p in phrases if p.strip()}
    if not gone:
        raise Refused("which phrase? give at least one")
    have = {spelling(p) for p in current}
    for spelled, phrase in gone.items():
        if spelled not in have:
            raise Refused(f"{phrase!r} is not a phrase of {entry_name(key)} in {language}")
    return publish(
        session,
        key,
        language,
        "\n".join(p for p in current if spelling(p) not in gone),
        actor=actor,
        note=note or "removed " + ", ".join(repr(p) for p in gone.values()),
        baseline=baseline,
    )
