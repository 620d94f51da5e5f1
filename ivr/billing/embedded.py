"""The embedded billing backend: the line's own subscriptions table.

Each function
is idempotent: applying the same change twice leaves the subscription as
the first time left it. They change a subscription's attributes; the call
service passes its rows (ivr.calls.Row) and writes back what changed.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any

from ..models import utcnow


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def cancel(sub: Any, reason_code: str | None, reason_text: str | None) -> dict[str, Any]:
    """End the subscription at the end of its paid period; no further charges."""
    if sub.status != "cancelled":
        sub.status = "cancelled"
        sub.cancel_at = sub.current_period_end
        sub.cancelled_at = utcnow()
        sub.cancellation_reason = reason_code
        sub.cancellation_comment = reason_text
    return {"end_date": sub.cancel_at, "plan": sub.plan}


def reinstate(sub: Any) -> dict[str, Any]:
    """Undo a cancellation that has not taken effect: the subscription goes on."""
    if sub.status == "cancelled":
        sub.status = "active"
        sub.cancel_at = None
        sub.cancelled_at = None
        sub.cancellation_reason = None
        sub.cancellation_comment = None
    return {"plan": sub.plan}


def apply_offer(sub: Any, offer: Any) -> dict[str, Any]:
    """Apply the accepted offer; returns what changed, for the caller to hear."""
    terms = offer.terms or {}
    months = int(terms.get("months", 1))
    if offer.kind == "discount":
        sub.discount_percent = int(terms.get("percent", 0))
        sub.discount_until = add_months(sub.current_period_end, months)
        return {"percent": sub.discount_percent, "months": months, "until": sub.discount_until}
    if offer.kind == "pause":
        sub.status = "paused"
        sub.paused_until = add_months(sub.current_period_end, months)
        return {"months": months, "until": sub.paused_until}
    if offer.kind == "free_period":
        sub.free_until = add_months(sub.current_period_end, months)
        return {"months": months, "until": sub.free_until}
    if offer.kind == "downgrade":
        sub.plan = str(terms["plan"])
        sub.price = Decimal(str(terms["price"]))
        return {"new_plan": sub.plan, "new_price": sub.price}
    if offer.kind == "help":
        # Nothing changes on the bill; the service books the specialist's call back.
        return {}
    raise ValueError(f"unknown offer kind {offer.kind!r}")
