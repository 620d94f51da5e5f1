"""Where the billing changes stand: counts by state and the age of the
oldest one not yet applied. Read by /metrics, `ivr billing status` and the
console."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import BILLING_CHANGE_STATES, BillingChange, utcnow

UNFINISHED = ("pending", "retrying")


@dataclass(frozen=True)
class Summary:
    by_state: dict[str, int]
    # Seconds since the oldest change still pending or retrying was decided.
    oldest_unfinished_seconds: float | None
    failed_ids: list[int]


def summary(session: Session, now: dt.datetime | None = None) -> Summary:
    now = now or utcnow()
    rows = session.execute(
        select(BillingChange.state, func.count(), func.min(BillingChange.created_at)).group_by(
            BillingChange.state
        )
    ).all()
    by_state = {state: 0 for state in BILLING_CHANGE_STATES}
    oldest: dt.datetime | None = None
    for state, count, first in rows:
        by_state[state] = count
        if state in UNFINISHED and first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
            oldest = first if oldest is None else min(oldest, first)
    failed = session.scalars(
        select(BillingChange.id)
        .where(BillingChange.state == "failed")
        .order_by(BillingChange.id)
        .limit(50)
    ).all()
    age = (now - oldest).total_seconds() if oldest is not None else None
    return Summary(by_state, age, list(failed))
