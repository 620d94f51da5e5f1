"""The flow's view of the database: read-only facts about customers,
subscriptions, offers and who is there to answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from . import billing, lockout, messaging
from .flow.types import (
    CustomerFacts,
    DueBy,
    LookupUnavailable,
    OfferFacts,
    SubscriptionFacts,
)
from .flow.understand import Vocabulary
from .hours import Span, callback_due, is_open, parse_hours
from .jurisdictions import Jurisdiction, Jurisdictions
from .models import Customer, Offer, Subscription, utcnow
from .prompts import Catalog


@lru_cache(maxsize=16)
def _hours(text: str) -> list[Span]:
    return parse_hours(text)


_CUSTOMER = (
    Customer.id,
    Customer.name,
    Customer.account_number,
    Customer.language,
    Customer.state,
)
_SUBSCRIPTION = (
    Subscription.id,
    Subscription.plan,
    Subscription.price,
    Subscription.cancel_at,
    Subscription.current_period_end,
)
_OFFER = (Offer.id, Offer.code, Offer.reason_code, Offer.kind, Offer.terms, Offer.wording)


def _customer_where(column: Any) -> Any:
    return select(*_CUSTOMER).where(column == bindparam("key")).order_by(Customer.id).limit(1)


# Built once, with bound parameters (see ivr/calls.py).
_CUSTOMER_BY = {
    "id": _customer_where(Customer.id),
    "phone": _customer_where(Customer.phone),
    "account": _customer_where(Customer.account_number),
}
_PIN_HASH = select(Customer.pin_hash).where(Customer.id == bindparam("id"))
_ACTIVE_SUBSCRIPTIONS = (
    select(*_SUBSCRIPTION)
    .where(Subscription.customer_id == bindparam("customer_id"), Subscription.status == "active")
    .order_by(Subscription.id)
)
_SUBSCRIPTION_BY_ID = select(*_SUBSCRIPTION).where(Subscription.id == bindparam("id"))
_PENDING_CANCELLATIONS = (
    select(*_SUBSCRIPTION)
    .where(
        Subscription.customer_id == bindparam("customer_id"),
        Subscription.status == "cancelled",
        Subscription.cancel_at >= bindparam("today"),
    )
    .order_by(Subscription.id)
)
_OFFER_FOR_REASON = (
    select(*_OFFER)
    .where(Offer.reason_code == bindparam("reason_code"), Offer.active.is_(True))
    .order_by(Offer.id)
    .limit(1)
)
_OFFER_BY_ID = select(*_OFFER).where(Offer.id == bindparam("id"))


class DbWorld:
    """Reads with Core statements on the request's connection: a webhook
    needs a few columns of a few rows, not ORM objects.

    With an external billing backend, finding a customer asks billing (within
    its deadline) and mirrors the answer first (ivr/billing/mirror.py); if
    billing cannot answer in time, LookupUnavailable."""

    def __init__(
        self,
        session: Session,
        catalog: Catalog,
        config: Any,
        now: dt.datetime | None = None,
        external: billing.Billing | None = None,
        caller: str | None = None,
    ):
        self.conn = session.connection()
        # The calling number, for counting failed verifications across calls;
        # what happened to them goes on the call's record (`notes`).
        self.caller = caller
        self.notes: list[tuple[str, dict[str, Any]]] = []
        self.external = external
        self.catalog = catalog
        self.config = config
        self.now = now or utcnow()
        self.company_name: str = config["COMPANY_NAME"]
        self.speech_threshold: float = float(config["SPEECH_CONFIDENCE_THRESHOLD"])

    def vocabulary(self, language: str) -> Vocabulary:
        return self.catalog.vocabulary(language)

    def customer(self, customer_id: int) -> CustomerFacts | None:
        return self._customer("id", customer_id)

    def customer_by_phone(self, phone: str) -> CustomerFacts | None:
        if self.external is not None:
            found = self._ask_billing(lambda b: b.customers_by_phone(phone))
            return self._mirrored(found[0]) if found else None
        return self._customer("phone", phone)

    def customer_by_account(self, account_number: str) -> CustomerFacts | None:
        """While the calling number is locked every account number is "not
        found", so guesses learn nothing; an account number nobody has counts
        as a failure of the number (ivr/lockout.py)."""
        guard = lockout.Guard(self.conn, lockout.keys(caller=self.caller), self.now)
        if guard.locked():
            self.notes.append(("verify_locked", {"what": "account", "locked": ["caller"]}))
            return None
        found = self._account(account_number)
        if found is None:
            self._note_failure(guard.failed(), "account")
        return found

    def _note_failure(self, newly_locked: list[str], what: str) -> None:
        if newly_locked:
            self.notes.append(("verify_lockout", {"what": what, "locked": newly_locked}))

    def _account(self, account_number: str) -> CustomerFacts | None:
        if self.external is not None:
            found = self._ask_billing(lambda b: b.customer(account_number))
            return self._mirrored(found) if found else None
        return self._customer("account", account_number)

    def _ask_billing(self, question: Any) -> Any:
        try:
            return question(self.external)
        except billing.BillingUnavailable as exc:
            raise LookupUnavailable(str(exc)) from exc

    def _mirrored(self, record: billing.CustomerRecord) -> CustomerFacts | None:
        from .billing.mirror import mirror

        return self.customer(mirror(self.conn, record))

    def _customer(self, by: str, key: Any) -> CustomerFacts | None:
        found = self.conn.execute(_CUSTOMER_BY[by], {"key": key}).first()
        return CustomerFacts(*found) if found else None

    def pin_matches(self, customer_id: int, pin: str) -> bool:
        """Whether the PIN is the customer's. While the customer or the calling
        number is locked the PIN is not checked at all: the answer is no."""
        guard = lockout.Guard(self.conn, lockout.keys(customer_id, self.caller), self.now)
        locked = guard.locked()
        if locked:
            self.notes.append(("verify_locked", {"what": "pin", "locked": locked}))
            return False
        pin_hash = self.conn.scalar(_PIN_HASH, {"id": customer_id})
        if pin_hash is not None and check_password_hash(pin_hash, pin):
            guard.succeeded("customer")
            return True
        self._note_failure(guard.failed(), "pin")
        return False

    def active_subscriptions(self, customer_id: int) -> Sequence[SubscriptionFacts]:
        rows = self.conn.execute(_ACTIVE_SUBSCRIPTIONS, {"customer_id": customer_id})
        return [_subscription(*row) for row in rows]

    def subscription(self, subscription_id: int) -> SubscriptionFacts | None:
        row = self.conn.execute(_SUBSCRIPTION_BY_ID, {"id": subscription_id}).first()
        return _subscription(*row) if row else None

    def offer_for(self, reason_code: str) -> OfferFacts | None:
        return _offer(self.conn.execute(_OFFER_FOR_REASON, {"reason_code": reason_code}).first())

    def offer(self, offer_id: int) -> OfferFacts | None:
        return _offer(self.conn.execute(_OFFER_BY_ID, {"id": offer_id}).first())

    def pending_cancellations(self, customer_id: int) -> Sequence[SubscriptionFacts]:
        today = self.now.astimezone(ZoneInfo(self.config["AGENT_TIMEZONE"])).date()
        rows = self.conn.execute(
            _PENDING_CANCELLATIONS, {"customer_id": customer_id, "today": today}
        )
        return [_subscription(*row) for row in rows]

    def callback_due(self) -> DueBy:
        timezone = self.config["AGENT_TIMEZONE"]
        due = callback_due(
            _hours(self.config.get("AGENT_HOURS") or ""),
            self.now,
            timezone,
            int(self.config.get("CALLBACK_TARGET_DAYS") or 1),
        )
        return DueBy(due, self.now.astimezone(ZoneInfo(timezone)).date())

    def can_text(self, phone: str | None) -> bool:
        return messaging.can_text(self.conn, self.config, phone)

    def jurisdiction(self, on_file: str | None, from_state: str | None) -> Jurisdiction:
        rules: Jurisdictions = current_app.extensions["ivr.jurisdictions"]
        return rules.resolve(on_file, from_state)

    def agents(self) -> Literal["open", "closed"]:
        if not self.config.get("AGENT_NUMBER"):
            return "closed"
        spans = _hours(self.config.get("AGENT_HOURS") or "")
        return "open" if is_open(spans, self.now, self.config["AGENT_TIMEZONE"]) else "closed"


def _offer(row: Any) -> OfferFacts | None:
    if row is None:
        return None
    id_, code, reason_code, kind, terms, wording = row
    return OfferFacts(id_, code, reason_code, kind, dict(terms or {}), dict(wording or {}))


def _subscription(
    id_: int, plan: str, price: Any, cancel_at: dt.date | None, period_end: dt.date
) -> SubscriptionFacts:
    return SubscriptionFacts(id_, plan, price, cancel_at or period_end)
