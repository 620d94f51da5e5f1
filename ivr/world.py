"""The flow's view of the database: read-only facts about customers,
subscriptions, offers and who is there to answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from .flow.types import CustomerFacts, OfferFacts, SubscriptionFacts
from .flow.understand import Vocabulary
from .hours import Span, is_open, parse_hours
from .models import Customer, Offer, Subscription, utcnow
from .prompts import Catalog


@lru_cache(maxsize=16)
def _hours(text: str) -> list[Span]:
    return parse_hours(text)


class DbWorld:
    def __init__(
        self, session: Session, catalog: Catalog, config: Any, now: dt.datetime | None = None
    ):
        self.session = session
        self.catalog = catalog
        self.config = config
        self.now = now or utcnow()
        self.company_name: str = config["COMPANY_NAME"]
        self.speech_threshold: float = float(config["SPEECH_CONFIDENCE_THRESHOLD"])

    def vocabulary(self, language: str) -> Vocabulary:
        return self.catalog.vocabulary(language)

    def customer(self, customer_id: int) -> CustomerFacts | None:
        c = self.session.get(Customer, customer_id)
        return _customer(c) if c else None

    def customer_by_phone(self, phone: str) -> CustomerFacts | None:
        c = self.session.scalars(
            select(Customer).where(Customer.phone == phone).order_by(Customer.id).limit(1)
        ).first()
        return _customer(c) if c else None

    def customer_by_account(self, account_number: str) -> CustomerFacts | None:
        c = self.session.scalars(
            select(Customer).where(Customer.account_number == account_number)
        ).first()
        return _customer(c) if c else None

    def pin_matches(self, customer_id: int, pin: str) -> bool:
        c = self.session.get(Customer, customer_id)
        return c is not None and check_password_hash(c.pin_hash, pin)

    def active_subscriptions(self, customer_id: int) -> Sequence[SubscriptionFacts]:
        subs = self.session.scalars(
            select(Subscription)
            .where(Subscription.customer_id == customer_id, Subscription.status == "active")
            .order_by(Subscription.id)
        ).all()
        return [_subscription(s) for s in subs]

    def subscription(self, subscription_id: int) -> SubscriptionFacts | None:
        s = self.session.get(Subscription, subscription_id)
        return _subscription(s) if s else None

    def offer_for(self, reason_code: str) -> OfferFacts | None:
        o = self.session.scalars(
            select(Offer)
            .where(Offer.reason_code == reason_code, Offer.active.is_(True))
            .order_by(Offer.id)
            .limit(1)
        ).first()
        return _offer(o) if o else None

    def offer(self, offer_id: int) -> OfferFacts | None:
        o = self.session.get(Offer, offer_id)
        return _offer(o) if o else None

    def agents(self) -> Literal["open", "closed"]:
        if not self.config.get("AGENT_NUMBER"):
            return "closed"
        spans = _hours(self.config.get("AGENT_HOURS") or "")
        return "open" if is_open(spans, self.now, self.config["AGENT_TIMEZONE"]) else "closed"


def _customer(c: Customer) -> CustomerFacts:
    return CustomerFacts(c.id, c.name, c.account_number, c.language)


def _subscription(s: Subscription) -> SubscriptionFacts:
    return SubscriptionFacts(s.id, s.plan, s.price, s.cancel_at or s.current_period_end)


def _offer(o: Offer) -> OfferFacts:
    return OfferFacts(
        o.id, o.code, o.reason_code, o.kind, dict(o.terms or {}), dict(o.wording or {})
    )
