"""Phrasings operations teach the understanding: published content, like
prompts and vocabulary.

Each (language, step) has one entry, `understanding.<step>`, stored as
versions in prompt_versions: a version holds every taught phrasing, one a
line ("meaning: phrasing"). Teaching publishes a new version (who, when);
a rollback publishes an earlier version's content again. The catalog's stamp
moves with either, so every worker retrains at its next request
(ivr/prompts.py, overlay).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import PromptVersion
from .understanding import CALL_STEPS, STEP_MEANINGS, Example
from .versions import store_version

PREFIX = "understanding."


class TeachError(ValueError):
    pass


def step_of(step: str) -> str:
    """The classifier's step for a step name ("offer" and "confirm" are yes_no)."""
    found = step if step in STEP_MEANINGS else CALL_STEPS.get(step)
    if found is None:
        names = ", ".join(sorted({*STEP_MEANINGS, *CALL_STEPS}))
        raise TeachError(f"no understanding at step {step!r} (one of: {names})")
    return found


def key_for(step: str) -> str:
    return PREFIX + step_of(step)


def _line(meaning: str, phrase: str) -> str:
    return f"{meaning}: {' '.join(phrase.split())}"


def lines_of(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        meaning, sep, phrase = line.partition(": ")
        if sep and phrase.strip():
            out.append((meaning.strip(), phrase.strip()))
    return out


def examples_in(key: str, text: str) -> list[Example]:
    """The taught phrasings of one published version; lines naming a meaning
    the step does not have are ignored (a stray row must not break a call)."""
    step = key.removeprefix(PREFIX)
    if step not in STEP_MEANINGS:
        return []
    return [Example(step, m, p) for m, p in lines_of(text) if m in STEP_MEANINGS[step]]


def _rows(session: Session, key: str, language: str) -> list[PromptVersion]:
    return list(
        session.scalars(
            select(PromptVersion)
            .where(PromptVersion.key == key, PromptVersion.language == language)
            .order_by(PromptVersion.version)
        )
    )


def live_text(session: Session, key: str, language: str) -> tuple[int, str]:
    rows = _rows(session, key, language)
    return (rows[-1].version, rows[-1].text) if rows else (0, "")


def _publish(
    session: Session,
    key: str,
    language: str,
    text: str,
    *,
    actor: str,
    note: str | None,
    action: str,
    detail: dict[str, Any],
) -> PromptVersion:
    if not actor:
        raise TeachError("who is teaching? (an actor is required)")
    return store_version(
        session, key, language, text, actor=actor, note=note, action=action, detail=detail
    )


def teach(
    session: Session,
    phrase: str,
    *,
    language: str,
    step: str,
    meaning: str,
    actor: str,
    languages: tuple[str, ...] | list[str],
    note: str | None = None,
) -> PromptVersion:
    """Publish a new version with this phrasing meaning `meaning` at `step`
    (taught again with another meaning, the new one replaces it)."""
    step = step_of(step)
    phrase = " ".join(phrase.split())
    if not phrase:
        raise TeachError("no phrasing to teach")
    if language not in languages:
        raise TeachError(f"no language {language!r} (one of: {', '.join(languages)})")
    if meaning not in STEP_MEANINGS[step]:
        raise TeachError(
            f"{meaning!r} is not a meaning at {step} (one of: {', '.join(STEP_MEANINGS[step])})"
        )
    key = key_for(step)
    _, text = live_text(session, key, language)
    taught = lines_of(text)
    if (meaning, phrase) in taught:
        raise TeachError(f"already taught: {phrase!r} means {meaning} at {step}")
    kept = [(m, p) for m, p in taught if p.lower() != phrase.lower()]
    lines = [_line(m, p) for m, p in (*kept, (meaning, phrase))]
    return _publish(
        session,
        key,
        language,
        "\n".join(lines),
        actor=actor,
        note=note,
        action="understanding.teach",
        detail={"phrase": phrase, "meaning": meaning, "step": step},
    )


@dataclass(frozen=True)
class TaughtVersion:
    version: int
    taught: tuple[tuple[str, str], ...]
    created_by: str
    created_at: dt.datetime | None
    note: str | None
    live: bool


def history(session: Session, *, language: str, step: str) -> list[TaughtVersion]:
    """Every version, oldest first; version 0 is the files alone."""
    rows = _rows(session, key_for(step), language)
    entries = [TaughtVersion(0, (), "voice_prompts/understanding", None, "the files alone", False)]
    entries += [
        TaughtVersion(r.version, tuple(lines_of(r.text)), r.created_by, r.created_at, r.note, False)
        for r in rows
    ]
    last = entries[-1]
    entries[-1] = TaughtVersion(
        last.version, last.taught, last.created_by, last.created_at, last.note, True
    )
    return entries


def rollback(
    session: Session, *, language: str, step: str, to_version: int, actor: str
) -> PromptVersion:
    """Publish, as a new version, what an earlier version taught."""
    entries = history(session, language=language, step=step)
    target = next((e for e in entries if e.version == to_version), None)
    if target is None:
        raise TeachError(f"no version {to_version} (versions 0 to {entries[-1].version})")
    if target.live:
        raise TeachError(f"version {to_version} is the live version already")
    return _publish(
        session,
        key_for(step),
        language,
        "\n".join(_line(m, p) for m, p in target.taught),
        actor=actor,
        note=f"rollback to version {to_version}",
        action="understanding.rollback",
        detail={"to_version": to_version, "step": step_of(step)},
    )
