"""Why people leave: aggregates over a date range, computed in the database.

Two GROUP BY queries read the range (and the period before it) by UTC day,
each from an index in its own order; every figure on the page is summed
from their few thousand rows.
Percentiles come from a histogram of whole seconds, never from loading the
calls into Python.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import render_template, request
from sqlalchemy import ColumnElement, Date, cast, func, literal_column, select
from sqlalchemy.orm import Session

from .. import db
from ..models import OUTCOMES, Call, utcnow
from . import bp
from .auth import role_required
from .labels import offer_label

# The words of at most this many calls (the newest in the range) are counted:
# enough to show the themes, bounded however long the range.
WORDS_SAMPLE = 5000
TOP_WORDS = 20
DEFAULT_DAYS = 30

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@cache
def stopwords() -> dict[str, frozenset[str]]:
    with (Path(__file__).parent / "stopwords.yaml").open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    return {lang: frozenset(str(w).lower() for w in words) for lang, words in data.items()}


def frequent_words(texts: list[tuple[str, str]], top: int = TOP_WORDS) -> list[tuple[str, int]]:
    """(text, language) pairs -> the most frequent words, stopwords dropped.

    Each word counts once per call, so one talkative caller cannot dominate.
    """
    lists = stopwords()
    # Callers mix languages ("el app", "okay"), so English stopwords go everywhere.
    english = lists.get("en-US", frozenset())
    drops = {language: words | english for language, words in lists.items()}
    counts: Counter[str] = Counter()
    for text, language in texts:
        drop = drops.get(language, english)
        counts.update({w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in drop})
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def percentile(histogram: list[tuple[int, int]], p: float) -> int | None:
    """Nearest-rank percentile of values given as sorted (value, count) pairs:
    the smallest value with at least p of all values at or below it."""
    total = sum(n for _, n in histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(p * total))
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= rank:
            return value
    return histogram[-1][0]


@dataclass(frozen=True)
class OfferStats:
    code: str
    shown: int
    accepted: int

    @property
    def save_rate(self) -> float:
        return self.accepted / self.shown if self.shown else 0.0


@dataclass
class Report:
    date_from: dt.date
    date_to: dt.date
    total: int = 0
    outcomes: list[tuple[str, int]] = field(default_factory=list)
    reasons: list[tuple[str, int]] = field(default_factory=list)
    words: list[tuple[str, int]] = field(default_factory=list)
    words_sample: int = 0
    offers: list[OfferStats] = field(default_factory=list)
    agent_requested: int = 0
    hangups: list[tuple[str, int]] = field(default_factory=list)
    cancelled_timed: int = 0
    median_seconds: int | None = None
    p90_seconds: int | None = None

    @property
    def agent_share(self) -> float:
        return self.agent_requested / self.total if self.total else 0.0


def _in_range(
    date_from: dt.date, date_to: dt.date, started_at: ColumnElement[dt.datetime] | None = None
) -> list[ColumnElement[bool]]:
    start = dt.datetime.combine(date_from, dt.time(0), tzinfo=dt.UTC)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    column = Call.started_at if started_at is None else started_at
    return [column >= start, column < end]


def _unindexed(s: Session, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """On SQLite, the same value but no index: its planner would rather use
    an index on this column than read the day indexes in order (SQLite's
    own idiom is a unary +)."""
    if s.get_bind().dialect.name == "sqlite":
        return func.coalesce(column, column)
    return column


def _day_of(s: Session) -> ColumnElement[Any]:
    """The UTC day a call started, written exactly as the day indexes of
    migration 0009 are (date(started_at) on SQLite, a cast on PostgreSQL),
    so the database reads them in order."""
    if s.get_bind().dialect.name == "sqlite":
        return func.date(Call.started_at)
    return cast(func.timezone(literal_column("'UTC'"), Call.started_at), Date)


def _days_between(s: Session, date_from: dt.date, date_to: dt.date) -> list[ColumnElement[bool]]:
    day = _day_of(s)
    if s.get_bind().dialect.name == "sqlite":
        return [day >= date_from.isoformat(), day <= date_to.isoformat()]
    return [day >= date_from, day <= date_to]


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@dataclass(frozen=True)
class Facts:
    """What analytics reads from the calls, per UTC day: how many calls had
    each combination of outcome, reason, offer, answer, person and hang-up
    step, and how many cancelled calls lasted each whole number of seconds.
    A few thousand rows for months of calls; every figure is summed from them."""

    date_from: dt.date
    date_to: dt.date
    # (day, outcome, reason, offer, offer_accepted, agent_requested, outcome_step, calls)
    groups: list[tuple[Any, ...]]
    # (day, seconds, cancelled calls)
    lengths: list[tuple[dt.date, int, int]]


def read_facts(s: Session, date_from: dt.date, date_to: dt.date) -> Facts:
    """Two GROUP BY passes over the days' range of ix_calls_day_groups and
    ix_calls_day_lengths, whose column order is the GROUP BY's: the database
    reads each range once, in order, with nothing to sort."""
    day = _day_of(s)
    columns = (
        Call.outcome,
        Call.reason_code,
        Call.offer_code,
        Call.offer_accepted,
        Call.agent_requested,
        Call.outcome_step,
    )
    groups = [
        (_as_date(d), *rest)
        for d, *rest in s.execute(
            select(day, *columns, func.count())
            .where(*_days_between(s, date_from, date_to))
            .group_by(day, *columns)
        )
    ]
    lengths = [
        (_as_date(d), int(seconds), int(n))
        for d, _, seconds, n in s.execute(
            select(day, Call.outcome, Call.duration_seconds, func.count())
            .where(
                *_days_between(s, date_from, date_to),
                # Off its own index: that one would be read whole.
                _unindexed(s, Call.outcome) == "cancelled",
                Call.duration_seconds.is_not(None),
            )
            .group_by(day, Call.outcome, Call.duration_seconds)
        )
    ]
    return Facts(date_from, date_to, groups, lengths)


def build_report(
    s: Session, date_from: dt.date, date_to: dt.date, facts: Facts | None = None
) -> Report:
    """The analytics of calls started from date_from to date_to (UTC days,
    inclusive), from `facts` when they cover those days already."""
    report = Report(date_from, date_to)
    facts = facts or read_facts(s, date_from, date_to)
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    shown: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    hangups: Counter[str] = Counter()
    for day, outcome, reason, offer, offer_accepted, agent_requested, step, n in facts.groups:
        if not date_from <= day <= date_to:
            continue
        report.total += n
        if agent_requested:
            report.agent_requested += n
        outcomes[outcome] += n
        reasons[reason or "(none given)"] += n
        if offer is not None:
            shown[offer] += n
            if offer_accepted:
                taken[offer] += n
        if outcome == "abandoned":
            hangups[step or "(unknown)"] += n
    order = {name: i for i, name in enumerate(OUTCOMES)}
    report.outcomes = sorted(outcomes.items(), key=lambda kv: order.get(kv[0], len(order)))
    report.reasons = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    report.offers = [OfferStats(code, shown[code], taken[code]) for code in sorted(shown)]
    report.hangups = sorted(hangups.items(), key=lambda kv: (-kv[1], kv[0]))
    lengths: Counter[int] = Counter()
    for day, seconds, n in facts.lengths:
        if date_from <= day <= date_to:
            lengths[seconds] += n
    histogram = sorted(lengths.items())
    report.cancelled_timed = sum(n for _, n in histogram)
    report.median_seconds = percentile(histogram, 0.5)
    report.p90_seconds = percentile(histogram, 0.9)

    texts = [
        (text, language)
        for text, language in s.execute(
            select(Call.reason_text, Call.language)
            .where(Call.reason_text.is_not(None), *_in_range(date_from, date_to))
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(WORDS_SAMPLE)
        )
    ]
    report.words_sample = len(texts)
    report.words = frequent_words(texts)
    return report


@dataclass
class Day:
    """One UTC day's numbers for the series."""

    day: dt.date
    calls: int = 0
    cancelled: int = 0
    saved: int = 0
    offers_shown: int = 0
    offers_taken: int = 0
    agent: int = 0
    # Offer code -> (shown, taken) that day.
    offers: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Length in whole seconds -> cancelled calls that long.
    cancel_lengths: Counter[int] = field(default_factory=Counter)

    @property
    def save_rate(self) -> float | None:
        return self.offers_taken / self.offers_shown if self.offers_shown else None

    def offer_rate(self, code: str) -> float | None:
        shown, taken = self.offers.get(code, (0, 0))
        return taken / shown if shown else None

    @property
    def median_cancel_seconds(self) -> int | None:
        return percentile(sorted(self.cancel_lengths.items()), 0.5)


def daily_series(
    s: Session, date_from: dt.date, date_to: dt.date, facts: Facts | None = None
) -> list[Day]:
    """One row per UTC day from date_from to date_to (days without calls
    included): calls, cancelled, saved, offers shown and taken (each offer
    and all together), asked for a person, and the lengths of cancelled calls."""
    facts = facts or read_facts(s, date_from, date_to)
    by_day: dict[dt.date, Day] = {}

    def of(day: dt.date) -> Day:
        if day not in by_day:
            by_day[day] = Day(day)
        return by_day[day]

    for day, outcome, _, offer, accepted, agent, _, n in facts.groups:
        if not date_from <= day <= date_to:
            continue
        row = of(day)
        row.calls += n
        row.cancelled += n if outcome == "cancelled" else 0
        row.saved += n if outcome == "saved" else 0
        row.agent += n if agent else 0
        if offer is not None:
            shown, taken = row.offers.get(offer, (0, 0))
            row.offers[offer] = (shown + n, taken + (n if accepted else 0))
            row.offers_shown += n
            row.offers_taken += n if accepted else 0
    for day, seconds, n in facts.lengths:
        if date_from <= day <= date_to:
            of(day).cancel_lengths[seconds] += n
    span = (date_to - date_from).days + 1
    days = [date_from + dt.timedelta(days=i) for i in range(span)]
    return [by_day.get(d) or Day(d) for d in days]


@dataclass(frozen=True)
class Line:
    """One thing charted: its value each day of this period and of the one before."""

    label: str
    now: list[float | None]
    before: list[float | None]


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    # How values read: "calls", "percent" (0 to 100) or "seconds".
    unit: str
    lines: list[Line]

    def json_lines(self) -> list[dict[str, Any]]:
        return [asdict(line) for line in self.lines]


def trend_charts(days: list[Day], previous: list[Day]) -> list[Chart]:
    """The day-by-day charts, each line of this period with the same line of
    the period before it (same length, day for day)."""

    def line(label: str, value: Callable[[Day], float | None]) -> Line:
        return Line(label, [value(d) for d in days], [value(d) for d in previous])

    def pct(rate: float | None) -> float | None:
        return None if rate is None else round(100 * rate, 1)

    codes = sorted({code for d in days + previous for code in d.offers})
    return [
        Chart(
            "calls",
            "Calls per day",
            "calls",
            [
                line("Calls", lambda d: d.calls),
                line("Cancelled", lambda d: d.cancelled),
                line("Saved by the offer", lambda d: d.saved),
                line("Asked for a person", lambda d: d.agent),
            ],
        ),
        Chart(
            "offers",
            "Save rate per offer (accepted ÷ shown)",
            "percent",
            [line(offer_label(code), lambda d, c=code: pct(d.offer_rate(c))) for code in codes],
        ),
        Chart(
            "time",
            "How long cancelling took (median per day)",
            "seconds",
            [line("Median time to cancel", lambda d: d.median_cancel_seconds)],
        ),
    ]


@dataclass(frozen=True)
class Totals:
    calls: int
    cancelled: int
    saved: int
    agent: int
    save_rate: float | None
    median_cancel_seconds: int | None

    @classmethod
    def of(cls, days: list[Day]) -> Totals:
        shown = sum(d.offers_shown for d in days)
        lengths: Counter[int] = Counter()
        for d in days:
            lengths.update(d.cancel_lengths)
        return cls(
            calls=sum(d.calls for d in days),
            cancelled=sum(d.cancelled for d in days),
            saved=sum(d.saved for d in days),
            agent=sum(d.agent for d in days),
            save_rate=sum(d.offers_taken for d in days) / shown if shown else None,
            median_cancel_seconds=percentile(sorted(lengths.items()), 0.5),
        )


def change(now: float | None, before: float | None) -> str:
    """"+12 %" / "−3 %" / "new" against the previous period."""
    if now is None or before is None:
        return "—"
    if before == 0:
        return "new" if now else "no change"
    pct = 100 * (now - before) / before
    return f"{'+' if pct >= 0 else '−'}{abs(pct):.0f} %"


def _date_arg(name: str, default: dt.date) -> tuple[dt.date, str | None]:
    value = request.args.get(name)
    if not value:
        return default, None
    try:
        return dt.date.fromisoformat(value), None
    except ValueError:
        return default, f"{name.replace('_', ' ')} is not a date (YYYY-MM-DD); using {default}"


@bp.get("/analytics")
@role_required("support", "ops")
def analytics() -> str:
    today = utcnow().date()
    date_to, error_to = _date_arg("date_to", today)
    date_from, error_from = _date_arg("date_from", date_to - dt.timedelta(days=DEFAULT_DAYS - 1))
    errors = [e for e in (error_from, error_to) if e]
    if date_from > date_to:
        errors.append("The start date is after the end date; they were swapped.")
        date_from, date_to = date_to, date_from
    s = db.session()
    span = dt.timedelta(days=(date_to - date_from).days + 1)
    # This period and the one before it, read once.
    facts = read_facts(s, date_from - span, date_to)
    report = build_report(s, date_from, date_to, facts)
    both = daily_series(s, date_from - span, date_to, facts)
    previous, days = both[: span.days], both[span.days :]
    return render_template(
        "console/analytics.html",
        report=report,
        errors=errors,
        days=days,
        previous_days=previous,
        charts=trend_charts(days, previous),
        totals=Totals.of(days),
        previous_totals=Totals.of(previous),
        previous_from=date_from - span,
        previous_to=date_to - span,
        change=change,
        labelled=_labelled,
    )


def _labelled(rows: list[tuple[str, int]], label: Callable[[str | None], str]) -> list[Any]:
    """(code, n) rows as (words, n) for a chart; "(none given)" and
    "(unknown)" stand for no code."""
    return [(label(None if code.startswith("(") else code), n) for code, n in rows]
