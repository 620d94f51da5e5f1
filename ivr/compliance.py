"""Proof, call by call, that cancelling stayed lawful: which rules applied and
why, the disclosure heard and when, when the caller said "cancel", when the
cancellation was processed, offers heard, and any rule a call broke.

Everything is read from the call's append-only events (docs/compliance.md):
`jurisdiction`, prompts marked `disclosure` / `offer` / `permission`,
`cancel_requested`, `cancelled`, `offer_permission`, `reinstated`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .models import Call, CallEvent

# The rules a call can break; the report counts each, zeros included.
VIOLATIONS = {
    "offer_before_disclosure": "an offer heard before the caller was told they can say cancel",
    "offer_before_cancellation": "an offer heard before the cancellation where the rules say after",
    "offer_without_permission": "an offer heard after cancelling without the caller's yes",
    "offer_where_none_allowed": "an offer heard where the rules allow none",
    "offer_after_cancel_said": "an offer heard after the caller said cancel, before it was done",
    "cancel_not_processed": "the caller said cancel and the cancellation was not processed",
}

COLUMNS = (
    "call_sid",
    "started_at",
    "customer",
    "state",
    "state_from",
    "offer_rule",
    "recording_notice_required",
    "rules_version",
    "disclosure_heard_at",
    "disclosure_text",
    "cancel_said_at",
    "cancellation_processed_at",
    "offers_heard",
    "offer_permission",
    "recording_notice_heard",
    "outcome",
    "violations",
)


@dataclass
class Proof:
    call_sid: str
    started_at: dt.datetime | None
    customer: str | None
    outcome: str
    state: str | None = None
    # on_file | from_state | unknown; None when the caller was never verified
    state_from: str | None = None
    offer_rule: str | None = None
    recording_notice_required: bool | None = None
    rules_version: str | None = None
    disclosure_heard_at: dt.datetime | None = None
    disclosure_text: str | None = None
    cancel_said_at: dt.datetime | None = None
    cancellation_processed_at: dt.datetime | None = None
    offers_heard: int = 0
    offer_permission: str | None = None
    # The line records no audio, so no notice is due: "not recorded".
    recording_notice_heard: str = "not recorded"
    violations: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        def at(value: dt.datetime | None) -> str:
            return value.isoformat() if value else ""

        return {
            "call_sid": self.call_sid,
            "started_at": at(self.started_at),
            "customer": self.customer or "",
            "state": self.state or "",
            "state_from": self.state_from or "not verified",
            "offer_rule": self.offer_rule or "",
            "recording_notice_required": ""
            if self.recording_notice_required is None
            else str(self.recording_notice_required).lower(),
            "rules_version": self.rules_version or "",
            "disclosure_heard_at": at(self.disclosure_heard_at),
            "disclosure_text": self.disclosure_text or "",
            "cancel_said_at": at(self.cancel_said_at),
            "cancellation_processed_at": at(self.cancellation_processed_at),
            "offers_heard": self.offers_heard,
            "offer_permission": self.offer_permission or "",
            "recording_notice_heard": self.recording_notice_heard,
            "outcome": self.outcome,
            "violations": " ".join(self.violations),
        }


def proof_of(call: Call, events: Sequence[CallEvent]) -> Proof:
    """What a call's record proves, in the order things happened."""
    proof = Proof(
        call_sid=call.call_sid,
        started_at=call.started_at,
        customer=call.customer.account_number if call.customer else call.account_number,
        outcome=call.outcome,
    )
    violations: set[str] = set()
    permission_given = False
    cancel_pending_since: dt.datetime | None = None
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        d = e.detail or {}
        if e.type == "jurisdiction":
            proof.state = d.get("state")
            proof.state_from = d.get("source")
            proof.offer_rule = d.get("offer")
            proof.recording_notice_required = d.get("recording_notice")
            proof.rules_version = d.get("rules_version")
        elif e.type == "cancel_requested":
            proof.cancel_said_at = proof.cancel_said_at or e.at
            cancel_pending_since = cancel_pending_since or e.at
        elif e.type == "cancelled":
            proof.cancellation_processed_at = proof.cancellation_processed_at or e.at
            cancel_pending_since = None
        elif e.type == "offer_permission":
            proof.offer_permission = "yes" if d.get("answer") == "yes" else "no"
            permission_given = d.get("answer") == "yes"
        elif e.type == "prompt" and d.get("mark") == "disclosure":
            if proof.disclosure_heard_at is None:
                proof.disclosure_heard_at, proof.disclosure_text = e.at, d.get("text")
        elif e.type == "prompt" and d.get("mark") == "permission":
            proof.offer_permission = proof.offer_permission or "asked"
        elif e.type == "prompt" and d.get("mark") == "offer":
            proof.offers_heard += 1
            cancelled_before = proof.cancellation_processed_at is not None
            if proof.offer_rule == "none":
                violations.add("offer_where_none_allowed")
            if not cancelled_before:
                if proof.disclosure_heard_at is None:
                    violations.add("offer_before_disclosure")
                if proof.offer_rule in ("after", "none"):
                    violations.add("offer_before_cancellation")
            elif proof.offer_rule == "after" and not permission_given:
                violations.add("offer_without_permission")
            if cancel_pending_since is not None:
                violations.add("offer_after_cancel_said")
    if cancel_pending_since is not None:
        violations.add("cancel_not_processed")
    proof.violations = [v for v in VIOLATIONS if v in violations]
    return proof


def proofs(
    session: Session, start: dt.date, end: dt.date, state: str | None = None
) -> Iterator[Proof]:
    """Every call started from `start` to `end` (UTC days, both included),
    oldest first; with `state`, only the calls under that state's rules."""
    lo = dt.datetime.combine(start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    query = (
        select(Call)
        .where(Call.started_at >= lo, Call.started_at < hi)
        .order_by(Call.started_at, Call.id)
        .options(selectinload(Call.events), selectinload(Call.customer))
        .execution_options(yield_per=500)
    )
    for call in session.scalars(query):
        proof = proof_of(call, call.events)
        if state is None or proof.state == state:
            yield proof


def summary(found: Iterable[Proof]) -> dict[str, Any]:
    calls = 0
    by_state: dict[str, int] = {}
    counts = {name: 0 for name in VIOLATIONS}
    broken: list[Proof] = []
    for proof in found:
        calls += 1
        key = proof.state or ("unknown" if proof.state_from == "unknown" else "not verified")
        by_state[key] = by_state.get(key, 0) + 1
        for v in proof.violations:
            counts[v] += 1
        if proof.violations:
            broken.append(proof)
    return {"calls": calls, "by_state": by_state, "violations": counts, "broken": broken}


def to_csv(found: Iterable[Proof]) -> Iterator[str]:
    """The report as CSV, a line at a time. Cells that a spreadsheet would
    read as a formula are prefixed with a quote."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for proof in found:
        writer.writerow({k: _safe(v) for k, v in proof.row().items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
