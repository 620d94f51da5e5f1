"""The call record as users and scripts see it (`ivr show-call`, the console)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .models import Call


def find_call(session: Session, call_sid: str) -> Call | None:
    return session.scalars(
        select(Call)
        .where(Call.call_sid == call_sid)
        .options(
            selectinload(Call.events), selectinload(Call.customer), selectinload(Call.subscription)
        )
    ).first()


def call_record(call: Call) -> dict[str, Any]:
    """The contract of `show-call` (README, 'The call record')."""
    return {
        "call_sid": call.call_sid,
        "from": call.from_number,
        "to": call.to_number,
        "language": call.language,
        "customer": call.customer.account_number if call.customer else None,
        "verified": call.verified,
        "subscription": call.subscription.plan if call.subscription else None,
        "outcome": call.outcome,
        "outcome_step": call.outcome_step,
        "reason": call.reason_code,
        "reason_text": call.reason_text,
        "offer": call.offer_code,
        "offer_accepted": call.offer_accepted,
        "confirmation": call.confirmation,
        # One per change the call made ("both" cancels two), in order.
        "confirmations": [
            {"subscription": e.detail.get("subscription"), "code": e.detail["confirmation"]}
            for e in call.events
            if e.type in ("cancelled", "offer_applied") and "confirmation" in e.detail
        ],
        "agent_requested": call.agent_requested,
        "agent_result": call.agent_result,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_seconds": call.duration_seconds,
        "events": [
            {"at": e.at.isoformat(), "type": e.type, "step": e.step, "detail": e.detail}
            for e in call.events
        ],
    }
