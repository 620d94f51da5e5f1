"""The line's mirror of an external billing system.

A look-up during a call (by phone or account number) asks billing and
writes what it answered into the customers and subscriptions tables, so the
flow keeps working with the line's int ids and PINs stay with the line,
keyed by account number. A subscription with a change still on its way to
billing keeps the status the caller was told (billing will soon say the
same); everything else follows billing.
"""

from __future__ import annotations

from sqlalchemy import (
    Connection,
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from ..models import BillingChange, Customer, Subscription
from . import CustomerRecord

CUSTOMERS = Customer.__table__
SUBSCRIPTIONS = Subscription.__table__
CHANGES = BillingChange.__table__
# The status of a line's row that billing does not list (any more).
NOT_IN_BILLING = "not_in_billing"


def _customer_upsert() -> object:
    stmt = insert(CUSTOMERS)
    return stmt.on_conflict_do_update(
        index_elements=[CUSTOMERS.c.account_number],
        set_={
            "name": stmt.excluded.name,
            "phone": stmt.excluded.phone,
            "language": stmt.excluded.language,
            "state": stmt.excluded.state,
        },
    ).returning(CUSTOMERS.c.id)


def _subscription_upsert() -> object:
    stmt = insert(SUBSCRIPTIONS)
    # Literal states: the statement runs with many rows (executemany), where
    # an expanding IN parameter cannot be used.
    change_on_its_way = (
        exists()
        .where(
            and_(
                CHANGES.c.subscription_id == SUBSCRIPTIONS.c.id,
                CHANGES.c.state.in_([literal_column("'pending'"), literal_column("'retrying'")]),
            )
        )
        .correlate(SUBSCRIPTIONS)
    )
    return stmt.on_conflict_do_update(
        index_elements=[SUBSCRIPTIONS.c.external_id],
        set_={
            "customer_id": stmt.excluded.customer_id,
            "plan": stmt.excluded.plan,
            "price": stmt.excluded.price,
            "currency": stmt.excluded.currency,
            "current_period_end": stmt.excluded.current_period_end,
            "status": case((change_on_its_way, SUBSCRIPTIONS.c.status), else_=stmt.excluded.status),
            "cancel_at": case(
                (change_on_its_way, SUBSCRIPTIONS.c.cancel_at),
                (
                    stmt.excluded.status == "cancelled",
                    func.coalesce(SUBSCRIPTIONS.c.cancel_at, stmt.excluded.current_period_end),
                ),
                else_=None,
            ),
        },
    )


_UPSERT_CUSTOMER = _customer_upsert()
_UPSERT_SUBSCRIPTION = _subscription_upsert()


def mirror(conn: Connection, record: CustomerRecord) -> int:
    """Write one customer and their subscriptions; the customer's local id."""
    customer_id = conn.execute(
        _UPSERT_CUSTOMER,  # type: ignore[arg-type]
        {
            "account_number": record.account,
            "name": record.name,
            "phone": record.phone,
            "language": record.language,
            "state": record.state,
            "pin_hash": None,
        },
    ).scalar_one()
    if record.subscriptions:
        conn.execute(
            _UPSERT_SUBSCRIPTION,  # type: ignore[arg-type]
            [
                {
                    "external_id": s.id,
                    "customer_id": customer_id,
                    "plan": s.plan,
                    "price": s.price,
                    "currency": s.currency,
                    "status": s.status,
                    "current_period_end": s.current_period_end,
                    "cancel_at": s.current_period_end if s.status == "cancelled" else None,
                }
                for s in record.subscriptions
            ],
        )
    # Rows of this customer that billing no longer lists are not theirs to cancel.
    listed = [s.id for s in record.subscriptions]
    conn.execute(
        update(SUBSCRIPTIONS)
        .where(
            SUBSCRIPTIONS.c.customer_id == customer_id,
            SUBSCRIPTIONS.c.status != NOT_IN_BILLING,
            or_(SUBSCRIPTIONS.c.external_id.is_(None), SUBSCRIPTIONS.c.external_id.not_in(listed)),
        )
        .values(status=NOT_IN_BILLING)
    )
    return int(customer_id)


def customer_id_for_account(conn: Connection, account: str) -> int | None:
    return conn.scalar(select(CUSTOMERS.c.id).where(CUSTOMERS.c.account_number == account))


def forget(conn: Connection, account: str) -> bool:
    """Billing has deleted this customer: the caller ID no longer finds them,
    no PIN verifies them, and none of their subscriptions can be changed.
    The row stays (past calls refer to it). Whether there was one."""
    customer_id = customer_id_for_account(conn, account)
    if customer_id is None:
        return False
    conn.execute(
        update(CUSTOMERS).where(CUSTOMERS.c.id == customer_id).values(phone=None, pin_hash=None)
    )
    conn.execute(
        update(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.customer_id == customer_id)
        .values(status=NOT_IN_BILLING)
    )
    return True
