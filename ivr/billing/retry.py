"""Ops retry a failed billing change: it is pending again and queued anew,
with the same idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..models import BillingChange, utcnow

CHANGES = BillingChange.__table__


def retry_change(session: Session, config: Mapping[str, Any], change_id: int) -> str:
    """What happened, in words. The caller commits."""
    from .jobs import defer

    conn = session.connection()
    done = conn.execute(
        update(CHANGES)
        .where(CHANGES.c.id == change_id, CHANGES.c.state == "failed")
        .values(state="pending", updated_at=utcnow())
        .returning(CHANGES.c.backend, CHANGES.c.subscription_id)
    ).first()
    if done is None:
        return "not a failed change"
    if done.backend == "embedded":
        return "an embedded change is applied in the call; nothing to retry"
    defer(conn, config, change_id, done.subscription_id)
    return "queued again"
