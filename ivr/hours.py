"""When people answer: "mon-fri 09:00-17:00, sat 10:00-14:00" in AGENT_TIMEZONE."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(
    r"^\s*(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+"
    r"(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})\s*$"
)


@dataclass(frozen=True)
class Span:
    days: frozenset[int]
    opens: dt.time
    closes: dt.time


def parse_hours(text: str) -> list[Span]:
    """Parse AGENT_HOURS. Empty means always open. Raises ValueError with the bad part."""
    spans = []
    for part in filter(None, (p.strip() for p in text.lower().split(","))):
        m = _SPAN.match(part)
        if not m or m["d1"] not in DAYS or (m["d2"] and m["d2"] not in DAYS):
            raise ValueError(
                f"AGENT_HOURS: cannot read {part!r} (expected e.g. 'mon-fri 09:00-17:00')"
            )
        first = DAYS.index(m["d1"])
        last = DAYS.index(m["d2"]) if m["d2"] else first
        days = {d % 7 for d in range(first, last + 1 if last >= first else last + 8)}
        opens = dt.time(int(m["h1"]), int(m["m1"]))
        closes = dt.time(int(m["h2"]), int(m["m2"])) if m["h2"] != "24" else dt.time.max
        spans.append(Span(frozenset(days), opens, closes))
    return spans


def is_open(spans: list[Span], now: dt.datetime, timezone: str) -> bool:
    if not spans:
        return True
    local = now.astimezone(ZoneInfo(timezone))
    return any(local.weekday() in s.days and s.opens <= local.time() < s.closes for s in spans)


def callback_due(
    spans: list[Span], now: dt.datetime, timezone: str, business_days: int
) -> dt.datetime:
    """When a call back asked for now is due: the close of the `business_days`-th
    day after today on which people answer (today not counted), in `timezone`.
    With no hours set (people answer at any hour), `business_days` days from now."""
    local = now.astimezone(ZoneInfo(timezone))
    if not spans:
        return local + dt.timedelta(days=business_days)
    day = local.date()
    counted = 0
    for _ in range(366):
        day += dt.timedelta(days=1)
        closes = [s.closes for s in spans if day.weekday() in s.days]
        if closes:
            counted += 1
            if counted >= max(business_days, 1):
                latest = max(closes)
                return dt.datetime.combine(day, latest, ZoneInfo(timezone)).replace(microsecond=0)
    raise ValueError("AGENT_HOURS opens on no day of the week")
