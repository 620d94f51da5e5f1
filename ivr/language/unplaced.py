"""What callers said that the line did not place, or placed unsure, at the
questions the trained understanding reads (the reason, the offer, "did you
say ...?"): the list operations teach from (the console's Teach page).

Each answer in words there is recorded as an `understood` call event with
the caller's words (ivr/calls.py). One counts as not placed when the line
did not understand it, took it as no answer (thinking aloud, a question,
another language), kept a reason in the caller's own words ("other"), or
understood it only enough to ask "did you say ...?".

The newest WINDOW such events are read (newest first, by the primary key,
so the cost does not grow with the table; a language or question filter
picks among them) and grouped by the same words
(lower case, accents and punctuation aside); a group whose words are taught
now (ivr/language/teaching.py) is left out, and comes back if the teaching
is rolled back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..flow.understand import normalize
from ..models import Call, CallEvent
from . import teaching
from .understanding import CALL_STEPS

WINDOW = 5000  # understood events read, newest first
PAGE_SIZE = 25

# Why the line did not place the words, as the call event records it.
NOT_PLACED = ("not_understood", "not_an_answer", "other")


@dataclass(frozen=True)
class Heard:
    """One wording callers used, with how often and when it was last heard."""

    words: str  # as said the last time
    language: str
    step: str  # the classifier's step: "reason" or "yes_no"
    count: int
    last_heard: dt.datetime
    what: str  # what the line did the last time: not_understood, not_an_answer, other, unsure
    guess: str | None  # the meaning it asked "did you say ...?" about (unsure)
    heard_as: str | None  # why it was no answer (hesitation, question, ...)


@dataclass(frozen=True)
class Listing:
    rows: list[Heard]  # this page
    total: int  # groups in the window
    page: int
    pages: int
    scanned: int  # events read
    window_full: bool  # there may be older ones than were read
    taught_hidden: int  # groups left out because their words are taught now
    page_size: int


def words_key(text: str) -> str:
    """The same words, however written: "Too PRICEY!" and "too pricey" match."""
    return " ".join(re.findall(r"[\w']+", normalize(text)))


def what_happened(detail: Mapping[str, object]) -> str | None:
    """Why an understood event counts as not placed, or None if it was placed."""
    meaning = detail.get("meaning")
    if meaning in NOT_PLACED:
        return str(meaning)
    if detail.get("confident") is False:
        return "unsure"
    return None


def taught_keys(session: Session, language: str, step: str) -> dict[str, str]:
    """The words taught now at a step, by words_key: their meaning."""
    _, text = teaching.live_text(session, teaching.key_for(step), language)
    return {words_key(phrase): meaning for meaning, phrase in teaching.lines_of(text)}


def unplaced(
    session: Session,
    *,
    language: str | None = None,
    step: str | None = None,
    page: int = 1,
    window: int = WINDOW,
    page_size: int = PAGE_SIZE,
) -> Listing:
    """Groups of the same words not placed, newest first (by when last heard);
    `step` is "reason" or "yes_no" (None: both), `language` a tag (None: all)."""
    call_steps: Iterable[str] = (
        [s for s, model in CALL_STEPS.items() if model == step] if step else CALL_STEPS
    )
    query = (
        select(CallEvent.at, CallEvent.step, CallEvent.detail, Call.language)
        .join(Call, Call.id == CallEvent.call_id)
        .where(CallEvent.type == "understood", CallEvent.step.in_(list(call_steps)))
        .order_by(CallEvent.id.desc())
        .limit(window)
    )
    # The language is picked out here, not in the query: so the query always
    # walks the newest events by their key and stops at `window`, whatever
    # the database would otherwise plan for a language (its index on calls).
    rows = session.execute(query).all()

    # Newest first: a group's first event is the last time it was heard.
    groups: dict[tuple[str, str, str], Heard] = {}
    for at, call_step, detail, lang in rows:
        detail = detail or {}
        what = what_happened(detail)
        if what is None or (language and lang != language):
            continue
        words = str(detail.get("words") or "").strip()
        key = (lang, CALL_STEPS[call_step], words_key(words))
        if not key[2]:
            continue
        group = groups.get(key)
        if group is not None:
            groups[key] = replace(group, count=group.count + 1)
            continue
        heard_as = detail.get("heard_as")
        groups[key] = Heard(
            words=words,
            language=lang,
            step=key[1],
            count=1,
            last_heard=at,
            what=what,
            guess=str(detail["meaning"]) if what == "unsure" else None,
            heard_as=None if heard_as is None else str(heard_as),
        )

    taught: dict[tuple[str, str], dict[str, str]] = {}
    listed: list[Heard] = []
    hidden = 0
    for (lang, model_step, key), heard in groups.items():
        if (lang, model_step) not in taught:
            taught[(lang, model_step)] = taught_keys(session, lang, model_step)
        if key in taught[(lang, model_step)]:
            hidden += 1
        else:
            listed.append(heard)
    pages = max(1, -(-len(listed) // page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    return Listing(
        rows=listed[start : start + page_size],
        total=len(listed),
        page=page,
        pages=pages,
        scanned=len(rows),
        window_full=len(rows) >= window,
        taught_hidden=hidden,
        page_size=page_size,
    )
