"""Demo data (`ivr seed-demo`): the demo customers of the README and one offer
per reason. Idempotent: rows already there are left as they are.

Calls change the demo customers (the first cancellation of Ada's Premium
leaves her nothing to cancel), so `seed-demo --reset` restores them as
seeded: their subscriptions, PINs and languages, and nothing else."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .billing import add_months
from .models import Customer, Offer, Subscription, utcnow
from .prompts import SAFE_LOADER

# A PIN has 10,000 values: no iteration count makes its hash resist a search,
# so the hash only keeps it unreadable, and a cheap one keeps the webhook fast.
PIN_HASH_METHOD = "pbkdf2:sha256:1000"

DEMO_CUSTOMERS: list[dict[str, Any]] = [
    {
        "name": "Ada Lovelace",
        "phone": "+15550100001",
        "account": "100001",
        "pin": "1234",
        "language": "en-US",
        "subscriptions": [("Premium", "29.99", "active")],
    },
    {
        "name": "Grace Hopper",
        "phone": "+15550100002",
        "account": "100002",
        "pin": "5678",
        "language": "en-US",
        "subscriptions": [
            ("Streaming Basic", "9.99", "active"),
            ("Cloud Storage 1 TB", "4.99", "active"),
        ],
    },
    {
        "name": "Alan Turing",
        "phone": "+15550100003",
        "account": "100003",
        "pin": "4321",
        "language": "en-US",
        "subscriptions": [("Premium", "29.99", "cancelled")],
    },
    {
        "name": "Juana Ramirez",
        "phone": "+15550100004",
        "account": "100004",
        "pin": "2468",
        "language": "es-US",
        "subscriptions": [("Premium", "29.99", "active")],
    },
]


def default_offers(prompts_dir: str | Path) -> list[dict[str, Any]]:
    """The offers of voice_prompts/offers.yaml: one per reason."""
    with (Path(prompts_dir) / "offers.yaml").open(encoding="utf-8") as f:
        return list((yaml.load(f, Loader=SAFE_LOADER) or {}).get("offers") or [])


def seed_demo(session: Session, prompts_dir: str | Path, today: dt.date | None = None) -> int:
    """Add what is missing; return how many rows were added."""
    today = today or dt.date.today()
    added = 0
    for spec in DEMO_CUSTOMERS:
        if _demo_customer(session, spec) is not None:
            continue
        customer = Customer(
            name=spec["name"],
            phone=spec["phone"],
            account_number=spec["account"],
            pin_hash=generate_password_hash(spec["pin"], method=PIN_HASH_METHOD),
            language=spec["language"],
        )
        session.add(customer)
        added += 1
        for plan, price, status in spec["subscriptions"]:
            session.add(_as_seeded(Subscription(customer=customer), plan, price, status, today))
            added += 1
    for spec in default_offers(prompts_dir):
        if session.scalars(select(Offer).where(Offer.code == spec["code"])).first() is None:
            session.add(Offer(**spec, active=True))
            added += 1
    session.flush()
    return added


def _demo_customer(session: Session, spec: dict[str, Any]) -> Customer | None:
    return session.scalars(
        select(Customer).where(Customer.account_number == spec["account"])
    ).first()


def _as_seeded(
    sub: Subscription, plan: str, price: str, status: str, today: dt.date
) -> Subscription:
    """Give `sub` the state seed-demo gives it: a fresh period, no offer applied."""
    sub.plan, sub.price, sub.status = plan, Decimal(price), status
    sub.currency, sub.interval = "USD", "month"
    sub.current_period_end = add_months(today, 1)
    sub.cancel_at = sub.cancelled_at = None
    sub.cancellation_reason = sub.cancellation_comment = None
    sub.paused_until = sub.discount_percent = sub.discount_until = sub.free_until = None
    if status == "cancelled":
        sub.cancel_at = sub.current_period_end = today - dt.timedelta(days=3)
        sub.cancelled_at = utcnow() - dt.timedelta(days=33)
    return sub


def _is_as_seeded(sub: Subscription, plan: str, price: str, status: str, today: dt.date) -> bool:
    if (sub.plan, sub.price, sub.status) != (plan, Decimal(price), status):
        return False
    if status != "active":
        return True
    applied = (sub.cancel_at, sub.paused_until, sub.discount_percent, sub.free_until)
    return sub.current_period_end >= today and all(value is None for value in applied)


def spent_demo_customer(session: Session, phone: str) -> str | None:
    """When `phone` is the number of a demo customer who was seeded with something
    to cancel and has nothing left (earlier calls cancelled or paused it), say so."""
    for spec in DEMO_CUSTOMERS:
        if spec["phone"] != phone or all(s[2] != "active" for s in spec["subscriptions"]):
            continue
        customer = _demo_customer(session, spec)
        if customer is None or any(s.status == "active" for s in customer.subscriptions):
            return None
        left = ", ".join(f"{s.plan} {s.status}" for s in customer.subscriptions) or "none"
        return f"{customer.name} has nothing left to cancel ({left}, after earlier calls)."
    return None


def reset_demo(
    session: Session, prompts_dir: str | Path, today: dt.date | None = None
) -> list[str]:
    """Restore the demo customers as seed-demo makes them: name, phone, PIN,
    language, and subscriptions (an active one active again, with a fresh period
    and no offer applied). Nothing else is touched: not their calls, not other
    customers, not the offers. Returns one line for each customer restored."""
    today = today or dt.date.today()
    seed_demo(session, prompts_dir, today)
    restored = []
    for spec in DEMO_CUSTOMERS:
        customer = _demo_customer(session, spec)
        assert customer is not None  # seed_demo has just added any that were missing
        changes = [
            field
            for field in ("name", "phone", "language")
            if getattr(customer, field) != spec[field]
        ]
        customer.name, customer.phone = spec["name"], spec["phone"]
        customer.language = spec["language"]
        if not check_password_hash(customer.pin_hash, spec["pin"]):
            customer.pin_hash = generate_password_hash(spec["pin"], method=PIN_HASH_METHOD)
            changes.append("PIN")
        # In the order seed-demo added them; one a demo customer got by other
        # means is not part of the demo and is left as it is.
        subscriptions = zip(customer.subscriptions, spec["subscriptions"], strict=False)
        for sub, (plan, price, status) in subscriptions:
            if not _is_as_seeded(sub, plan, price, status, today):
                _as_seeded(sub, plan, price, status, today)
                changes.append(f"{plan} {status}")
        if changes:
            restored.append(f"{customer.name}: " + ", ".join(changes))
    session.flush()
    return restored
