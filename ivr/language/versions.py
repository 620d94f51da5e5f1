"""Storing the next version of published content (a prompt, a vocabulary
entry, the phrasings taught to the understanding) with its audit entry.
Its own module so ivr/language/teaching.py, which ivr/prompts.py reads, can
share it without importing the prompts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AuditLog, PromptVersion


def store_version(
    session: Session,
    key: str,
    language: str,
    text: str,
    reprompt: str | None = None,
    audio: str | None = None,
    *,
    actor: str,
    note: str | None,
    action: str,
    detail: Mapping[str, Any],
) -> PromptVersion:
    """The next version of (key, language) and its audit entry, checked
    already: what publishing a prompt or an entry and teaching share."""
    newest = session.scalar(
        select(func.max(PromptVersion.version)).where(
            PromptVersion.key == key, PromptVersion.language == language
        )
    )
    version = PromptVersion(
        key=key,
        language=language,
        version=(newest or 0) + 1,
        text=text,
        reprompt=reprompt,
        audio=audio,
        created_by=actor,
        note=note,
    )
    session.add(version)
    session.add(
        AuditLog(
            actor=actor,
            action=action,
            detail={"key": key, "language": language, "version": version.version, **detail},
        )
    )
    session.flush()
    return version
