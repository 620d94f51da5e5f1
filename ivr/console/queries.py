"""Finding calls: the filters of the calls page, its CSV export and keyset pages.

Pages are cut by (sort key, id) of the last row shown, never by OFFSET, so
page 1,000 costs what page 1 costs: an index range scan on the sort's
(key, id) index (ix_calls_started_at_id, ix_calls_duration_id,
ix_calls_account_number_id, ix_calls_outcome_id), or on a filter's
(column, started_at) index.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from ..models import OUTCOMES, REASON_CODES, BillingChange, Call, Customer, Subscription

PAGE_SIZE = 50
# Matches are counted exactly up to this many; past it the page says "over".
COUNT_CAP = 10_000
# Sortable columns of the calls list: name in the URL -> column. Each has a
# (key, id) index, so every order is a range scan.
SORTS: dict[str, Any] = {
    "started": Call.started_at,
    "duration": Call.duration_seconds,
    "account": Call.account_number,
    "outcome": Call.outcome,
}
# Keys some calls have none of (no duration yet, no account given): those
# calls come after all the others, by id.
NULLABLE_SORTS = {"duration", "account"}
# The order a column sorts in on its first click.
FIRST_ORDER = {"started": "desc", "duration": "desc", "account": "asc", "outcome": "asc"}
LANGUAGES = ("en-US", "es-US")

CONFIRMATION_DIGITS = 8
# A name search matching at most this many customers looks their calls up by id.
NAME_MATCHES = 1000
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-]+$")


@dataclass(frozen=True)
class Search:
    """What a search box entry means: a CallSid, a customer's name, or a phone
    and/or account number."""

    call_sid: str | None = None
    name: str | None = None
    phone: str | None = None
    account: str | None = None
    # The code a customer quotes from the end of their call.
    confirmation: str | None = None


def parse_search(text: str) -> Search | None:
    """`+1 (555) 010-0001` -> phone +15550100001; `100001` -> account 100001
    (or a phone, if it is long enough to be one); `CA...` -> that CallSid."""
    text = text.strip()
    if not text:
        return None
    if _CALL_SID.match(text):
        return Search(call_sid="CA" + text[2:].lower())
    if not _PHONE_CHARS.match(text):
        # Not a number: a CallSid as written, or part of a customer's name.
        return Search(call_sid=text, name=text)
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return Search(phone="+" + digits)
    if len(digits) == 10:
        return Search(phone="+1" + digits, account=digits)
    if len(digits) == 11 and digits.startswith("1"):
        return Search(phone="+" + digits, account=digits)
    confirmation = digits if len(digits) == CONFIRMATION_DIGITS else None
    return Search(
        phone="+" + digits if len(digits) > 11 else None,
        account=digits,
        confirmation=confirmation,
    )


def _parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(value)


@dataclass(frozen=True)
class CallFilters:
    """The calls page's filters; the same ones drive the CSV export.

    Dates are whole UTC days, both ends included.
    """

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    outcome: str | None = None
    reason: str | None = None
    offer: str | None = None
    language: str | None = None
    q: str = ""
    sort: str = "started"
    # "desc" (newest or longest first) or "asc".
    order: str = "desc"
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CallFilters:
        errors: list[str] = []
        dates: dict[str, dt.date | None] = {}
        for name in ("date_from", "date_to"):
            try:
                dates[name] = _parse_date(args.get(name))
            except ValueError:
                errors.append(f"{name.replace('_', ' ')} is not a date (YYYY-MM-DD)")
                dates[name] = None
        outcome = args.get("outcome") or None
        if outcome is not None and outcome not in OUTCOMES:
            errors.append(f"unknown outcome {outcome!r}")
            outcome = None
        reason = args.get("reason") or None
        if reason is not None and reason not in REASON_CODES and reason != "none":
            errors.append(f"unknown reason {reason!r}")
            reason = None
        sort = args.get("sort") or "started"
        if sort not in SORTS:
            errors.append(f"unknown sort {sort!r}")
            sort = "started"
        order = args.get("order") or "desc"
        if order not in ("asc", "desc"):
            errors.append(f"unknown order {order!r}")
            order = "desc"
        return cls(
            sort=sort,
            order=order,
            date_from=dates["date_from"],
            date_to=dates["date_to"],
            outcome=outcome,
            reason=reason,
            offer=(args.get("offer") or "").strip() or None,
            language=args.get("language") or None,
            q=(args.get("q") or "").strip(),
            errors=tuple(errors),
        )

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments (for links and the CSV button)."""
        out: dict[str, str] = {}
        for name, value in asdict(self).items():
            if name == "errors" or value in (None, ""):
                continue
            if (name, value) in (("sort", "started"), ("order", "desc")):
                continue
            out[name] = value.isoformat() if isinstance(value, dt.date) else str(value)
        return out

    def conditions(self, s: Session | None = None) -> list[ColumnElement[bool]]:
        """The WHERE terms. With a session, a name search looks up the
        customers first, so the calls are found by an index on PostgreSQL
        too (an IN subquery inside an OR makes it read every call)."""
        where: list[ColumnElement[bool]] = []
        if self.date_from is not None:
            where.append(Call.started_at >= _midnight(self.date_from))
        if self.date_to is not None:
            where.append(Call.started_at < _midnight(self.date_to + dt.timedelta(days=1)))
        if self.outcome:
            where.append(Call.outcome == self.outcome)
        if self.reason == "none":
            where.append(Call.reason_code.is_(None))
        elif self.reason:
            where.append(Call.reason_code == self.reason)
        if self.offer == "none":
            where.append(Call.offer_code.is_(None))
        elif self.offer:
            where.append(Call.offer_code == self.offer)
        if self.language:
            where.append(Call.language == self.language)
        search = parse_search(self.q)
        if search is not None:
            if search.name:
                named = select(Customer.id).where(
                    func.lower(Customer.name).contains(search.name.lower(), autoescape=True)
                )
                customers: Any = named
                if s is not None:
                    ids = list(s.scalars(named.limit(NAME_MATCHES + 1)))
                    if len(ids) <= NAME_MATCHES:
                        customers = ids
                where.append(or_(Call.call_sid == search.call_sid, Call.customer_id.in_(customers)))
            elif search.call_sid:
                where.append(Call.call_sid == search.call_sid)
            else:
                either: list[ColumnElement[bool]] = []
                if search.phone:
                    either.append(Call.from_number == search.phone)
                if search.account:
                    either.append(Call.account_number == search.account)
                if search.confirmation:
                    # A call's first code is on the call; every code it gave
                    # (each subscription cancelled, an offer) is a billing change.
                    either.append(Call.confirmation == search.confirmation)
                    # Codes are unique: one call at most. An equality (not IN)
                    # keeps each branch of the OR an index lookup on PostgreSQL.
                    either.append(
                        Call.id
                        == select(BillingChange.call_id)
                        .where(BillingChange.confirmation == search.confirmation)
                        .limit(1)
                        .scalar_subquery()
                    )
                where.append(or_(*either))
        return where


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: the next page starts just after it, in the
    list's order. `key` is that row's sort value (None for a call with none:
    those come after every other call, by id)."""

    key: dt.datetime | int | str | None
    id: int
    sort: str = "started"

    @property
    def started_at(self) -> dt.datetime:
        assert isinstance(self.key, dt.datetime)
        return self.key

    def encode(self) -> str:
        if isinstance(self.key, dt.datetime):
            value = self.key.astimezone(dt.UTC).isoformat()
        else:
            value = "" if self.key is None else str(self.key)
        raw = f"{value}|{self.id}" if self.sort == "started" else f"{self.sort}|{value}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None, sort: str = "started") -> Cursor | None:
        """None for a missing or tampered token, or one of another order:
        the list starts at the top."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            head, _, rest = raw.partition("|")
            if head in SORTS and head != "started":
                token_sort = head
            else:
                token_sort, rest = "started", raw
            value, ident = rest.rsplit("|", 1)
            if token_sort != sort:
                return None
            if sort == "started":
                started_at = dt.datetime.fromisoformat(value)
                if started_at.tzinfo is None:
                    return None
                return cls(started_at, int(ident))
            if sort == "duration":
                return cls(int(value) if value else None, int(ident), sort)
            return cls(value or None, int(ident), sort)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None

    def condition(self, order: str = "desc") -> ColumnElement[bool]:
        column = SORTS[self.sort]
        before = order == "desc"
        if self.key is None:
            # Among the calls without a key, which come last, by id.
            return and_(column.is_(None), Call.id < self.id if before else Call.id > self.id)
        # The first term gives the planner an index range; the second breaks ties.
        if before:
            return and_(column <= self.key, or_(column < self.key, Call.id < self.id))
        return and_(column >= self.key, or_(column > self.key, Call.id > self.id))


LIST_COLUMNS = (
    Call.id,
    Call.call_sid,
    Call.started_at,
    Call.from_number,
    Call.account_number,
    Call.verified,
    Call.language,
    Call.outcome,
    Call.outcome_step,
    Call.reason_code,
    Call.reason_text,
    Call.offer_code,
    Call.offer_accepted,
    Call.confirmation,
    Call.agent_requested,
    Call.agent_result,
    Call.duration_seconds,
    Call.customer_id,
    Customer.name.label("customer_name"),
    Subscription.plan.label("plan"),
)


def _page_query(
    s: Session, filters: CallFilters, after: Cursor | None, limit: int, untimed: bool = False
) -> Select[Any]:
    """One page in the filters' order. For a nullable sort key, the rows that
    have one (`untimed` False) and those that do not (True) are two ranges."""
    where = filters.conditions(s)
    column = SORTS[filters.sort]
    desc = filters.order == "desc"
    if after is not None:
        where.append(after.condition(filters.order))
    if filters.sort in NULLABLE_SORTS:
        where.append(column.is_(None) if untimed else column.is_not(None))
    keys = [Call.id] if untimed else [column, Call.id]
    return (
        select(*LIST_COLUMNS)
        .outerjoin(Customer, Customer.id == Call.customer_id)
        .outerjoin(Subscription, Subscription.id == Call.subscription_id)
        .where(*where)
        .order_by(*(k.desc() if desc else k.asc() for k in keys))
        .limit(limit)
    )


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: Cursor | None


def calls_page(
    s: Session, filters: CallFilters, after: Cursor | None = None, size: int = PAGE_SIZE
) -> Page:
    """In the filters' order (newest first by default); one row more than
    asked says whether there is a next page."""
    sort = filters.sort
    if sort in NULLABLE_SORTS and after is not None and after.key is None:
        rows = list(s.execute(_page_query(s, filters, after, size + 1, untimed=True)))
    else:
        rows = list(s.execute(_page_query(s, filters, after, size + 1)))
        if sort in NULLABLE_SORTS and len(rows) <= size:
            # The timed calls ran out: the untimed ones follow.
            rows += s.execute(_page_query(s, filters, None, size + 1 - len(rows), untimed=True))
    more = len(rows) > size
    rows = rows[:size]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = Cursor(getattr(last, SORTS[sort].key), last.id, sort)
    return Page(rows, cursor)


def count_calls(s: Session, filters: CallFilters, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many calls match, exactly up to `cap`; (cap, True) when more do.
    Counting stops at cap + 1 rows, so a million matches cost what 10,001 do."""
    where = filters.conditions(s)
    limited = select(Call.id).where(*where).limit(cap + 1).subquery()
    n = int(s.scalar(select(func.count()).select_from(limited)) or 0)
    return (cap, True) if n > cap else (n, False)


def iter_calls(s: Session, filters: CallFilters, batch: int = 2000) -> Iterator[Any]:
    """Every matching call, newest first, fetched a batch at a time by keyset
    (no long-lived cursor, memory stays flat however many rows match)."""
    after: Cursor | None = None
    while True:
        page = calls_page(s, filters, after, batch)
        yield from page.rows
        if page.next_cursor is None:
            return
        after = page.next_cursor
