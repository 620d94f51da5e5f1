"""One customer, everything about them: subscriptions and where each stands
in billing, every call, call backs, texts sent, consents to be texted, and
notes (support).

Each part is one query on an indexed column, so the page costs the same
however many calls the line has taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, render_template
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .. import db
from ..models import (
    BillingChange,
    Call,
    CallbackRequest,
    CallNote,
    Consent,
    Customer,
    SmsMessage,
    SmsOptOut,
)
from . import bp
from .auth import role_required

# The newest calls shown; a customer who called more often has a link to all.
CALLS_SHOWN = 100
# The newest texts and consents shown.
TEXTS_SHOWN = 100


@dataclass
class CustomerRecord:
    customer: Customer
    calls: list[Any]
    more_calls: bool
    changes: dict[int, list[tuple[BillingChange, str]]]
    callbacks: list[tuple[CallbackRequest, str]]
    notes: list[tuple[CallNote, str]]
    texts: list[SmsMessage]
    consents: list[tuple[Consent, str]]
    opted_out: SmsOptOut | None


def customer_record(s: Session, account: str) -> CustomerRecord | None:
    customer = s.scalars(select(Customer).where(Customer.account_number == account)).first()
    if customer is None:
        return None
    theirs = or_(Call.customer_id == customer.id, Call.account_number == account)
    calls = list(
        s.execute(
            select(
                Call.id,
                Call.call_sid,
                Call.started_at,
                Call.from_number,
                Call.outcome,
                Call.reason_code,
                Call.reason_text,
                Call.offer_code,
                Call.offer_accepted,
                Call.confirmation,
                Call.duration_seconds,
                Call.subscription_id,
            )
            .where(theirs)
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(CALLS_SHOWN + 1)
        )
    )
    more = len(calls) > CALLS_SHOWN
    calls = calls[:CALLS_SHOWN]
    ids = [sub.id for sub in customer.subscriptions]
    changes: dict[int, list[tuple[BillingChange, str]]] = {i: [] for i in ids}
    if ids:
        for change, call_sid in s.execute(
            select(BillingChange, Call.call_sid)
            .join(Call, Call.id == BillingChange.call_id)
            .where(BillingChange.subscription_id.in_(ids))
            .order_by(BillingChange.created_at.desc(), BillingChange.id.desc())
        ):
            changes[change.subscription_id].append((change, call_sid))
    call_ids = [c.id for c in calls]
    callbacks = [
        (cb, sid)
        for cb, sid in s.execute(
            select(CallbackRequest, Call.call_sid)
            .join(Call, Call.id == CallbackRequest.call_id)
            .where(CallbackRequest.call_id.in_(call_ids))
            .order_by(CallbackRequest.requested_at.desc())
        )
    ]
    notes = [
        (note, sid)
        for note, sid in s.execute(
            select(CallNote, Call.call_sid)
            .join(Call, Call.id == CallNote.call_id)
            .where(CallNote.call_id.in_(call_ids))
            .order_by(CallNote.at.desc())
        )
    ]
    # Texts and consents of their calls, and any to the phone on file.
    mine = SmsMessage.call_id.in_(call_ids)
    texts = list(
        s.scalars(
            select(SmsMessage)
            .where(or_(mine, SmsMessage.phone == customer.phone) if customer.phone else mine)
            .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
            .limit(TEXTS_SHOWN)
        )
    )
    agreed = Consent.call_id.in_(call_ids)
    consents = [
        (consent, sid)
        for consent, sid in s.execute(
            select(Consent, Call.call_sid)
            .join(Call, Call.id == Consent.call_id)
            .where(or_(agreed, Consent.phone == customer.phone) if customer.phone else agreed)
            .order_by(Consent.given_at.desc())
            .limit(TEXTS_SHOWN)
        )
    ]
    opted_out = s.get(SmsOptOut, customer.phone) if customer.phone else None
    return CustomerRecord(
        customer, calls, more, changes, callbacks, notes, texts, consents, opted_out
    )


@bp.get("/customers/<account>")
@role_required("support")
def customer(account: str) -> str:
    record = customer_record(db.session(), account)
    if record is None:
        abort(404, description=f"No customer has the account number {account}.")
    return render_template("console/customer.html", r=record)
