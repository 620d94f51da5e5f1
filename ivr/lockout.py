"""Guessing a PIN (or an account number) across calls.

A call ends after three wrong PINs, but a caller can call again, call in
parallel, and spoof the calling number. So failures are also counted in the
database, by customer and by calling number, and every worker reads the
same rows. After `threshold` failures a key is locked for `base` minutes;
each further lock doubles (up to a day). While a key is locked the PIN is
not even checked: the caller hears what a wrong PIN sounds like, and how to
reach a person, never which part was wrong. A correct PIN clears the
customer's count; a number's count is forgotten a day after its last failure.

The rows are read FOR UPDATE (SQLite's BEGIN IMMEDIATE serialises writers
anyway), so parallel calls guessing one customer's PIN take turns and each
sees the others' failures.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, bindparam, select, update

from .models import VerifyLock, utcnow
from .observability import _METRICS

LOCKS = VerifyLock.__table__

LOCKOUTS = Counter(
    "ivr_verify_lockouts",
    "Keys locked after too many failed verifications, by kind (customer: wrong PINs; "
    "caller: wrong PINs or unknown account numbers from one number; sign_in: failed console "
    "sign-ins of one email from one address).",
    ["kind"],
    registry=_METRICS,
)
REFUSED = Counter(
    "ivr_verify_refused",
    "Verification attempts refused without checking because a key was locked, by kind.",
    ["kind"],
    registry=_METRICS,
)


@dataclass(frozen=True)
class Policy:
    threshold: int
    base: dt.timedelta
    longest: dt.timedelta = dt.timedelta(days=1)
    forget_after: dt.timedelta = dt.timedelta(days=1)

    def lock_for(self, locks: int) -> dt.timedelta:
        return min(self.base * (2 ** max(locks - 1, 0)), self.longest)


# A customer's PIN: five wrong in a row (over any number of calls) locks it.
# A number may be a shared line (an office, a family): a little more room.
POLICIES = {
    "customer": Policy(threshold=5, base=dt.timedelta(minutes=15)),
    "caller": Policy(threshold=8, base=dt.timedelta(minutes=15)),
    # Console sign-ins, by client address and email together (ivr/console/auth.py):
    # someone guessing from elsewhere cannot lock a staff member out.
    "sign_in": Policy(threshold=5, base=dt.timedelta(minutes=1), longest=dt.timedelta(minutes=15)),
}

Key = tuple[str, str]


def keys(customer_id: int | None = None, caller: str | None = None) -> list[Key]:
    found: list[Key] = []
    if customer_id is not None:
        found.append(("customer", str(customer_id)))
    if caller:
        found.append(("caller", caller[:64]))
    # One order for every transaction: two calls never wait on each other in a circle.
    return sorted(found)


@functools.cache
def _ensure(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return (
        insert(LOCKS)
        .values(kind=bindparam("kind"), key=bindparam("key"), failures=0, locks=0)
        .on_conflict_do_nothing(index_elements=[LOCKS.c.kind, LOCKS.c.key])
    )


_READ_LOCKED = (
    select(LOCKS)
    .where(LOCKS.c.kind == bindparam("kind"), LOCKS.c.key == bindparam("key"))
    .with_for_update()
)


def _rows(conn: Connection, wanted: Sequence[Key]) -> list[Any]:
    """The keys' rows, made if new, locked until the transaction ends."""
    params = [{"kind": k, "key": v} for k, v in wanted]
    if params:
        conn.execute(_ensure(conn.dialect.name), params)
    return [conn.execute(_READ_LOCKED, p).mappings().one() for p in params]


class Guard:
    """The lock state of one attempt's keys, taken before the attempt is checked."""

    def __init__(self, conn: Connection, wanted: Iterable[Key], now: dt.datetime | None = None):
        self.conn = conn
        self.now = now or utcnow()
        self.rows = _rows(conn, sorted(set(wanted)))

    def locked(self) -> list[str]:
        """The kinds of the keys locked now (the attempt must not be checked)."""
        kinds = [r["kind"] for r in self.rows if _is_locked(r, self.now)]
        for kind in kinds:
            REFUSED.labels(kind).inc()
        return kinds

    def failed(self, kinds: Iterable[str] | None = None) -> list[str]:
        """Count a failure on the keys (of `kinds`, else all); the kinds this locked."""
        newly_locked = []
        for r in self.rows:
            if kinds is not None and r["kind"] not in kinds:
                continue
            policy = POLICIES[r["kind"]]
            failures, locks = r["failures"], r["locks"]
            last = r["last_failure_at"]
            if last is not None and self.now - _aware(last) > policy.forget_after:
                failures, locks = 0, 0
            failures += 1
            values: dict[str, Any] = {"failures": failures, "last_failure_at": self.now}
            if failures >= policy.threshold:
                locks += 1
                values.update(
                    failures=0, locks=locks, locked_until=self.now + policy.lock_for(locks)
                )
                newly_locked.append(r["kind"])
                LOCKOUTS.labels(r["kind"]).inc()
            self.conn.execute(update(LOCKS).where(LOCKS.c.id == r["id"]).values(values))
        return newly_locked

    def succeeded(self, kind: str = "customer") -> None:
        for r in self.rows:
            if r["kind"] == kind:
                self.conn.execute(
                    update(LOCKS)
                    .where(LOCKS.c.id == r["id"])
                    .values(failures=0, locks=0, locked_until=None)
                )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _is_locked(row: Any, now: dt.datetime) -> bool:
    until = row["locked_until"]
    return until is not None and _aware(until) > now


def locked_until(conn: Connection, key: Key, now: dt.datetime | None = None) -> dt.datetime | None:
    """Until when the key is locked, or None."""
    kind, value = key
    until = conn.scalar(
        select(LOCKS.c.locked_until).where(LOCKS.c.kind == kind, LOCKS.c.key == value)
    )
    if until is None or _aware(until) <= (now or utcnow()):
        return None
    return _aware(until)


def locked_now(conn: Connection, now: dt.datetime | None = None) -> list[Any]:
    """Every key locked now, for the console."""
    rows = conn.execute(
        select(LOCKS).where(LOCKS.c.locked_until > (now or utcnow())).order_by(LOCKS.c.locked_until)
    )
    return list(rows.mappings())


def unlock(conn: Connection, lock_id: int) -> Any:
    """Lift a lock (staff, after checking who is calling); the row as it was, or None."""
    row = conn.execute(select(LOCKS).where(LOCKS.c.id == lock_id)).mappings().first()
    if row is not None:
        conn.execute(
            update(LOCKS)
            .where(LOCKS.c.id == lock_id)
            .values(failures=0, locks=0, locked_until=None)
        )
    return row
