"""Demo data (`ivr seed-demo`): the customers of DESIGN.md and one offer per
reason. Idempotent: rows already there are left as they are."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

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
        customer = session.scalars(
            select(Customer).where(Customer.account_number == spec["account"])
        ).first()
        if customer is not None:
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
            period_end = add_months(today, 1)
            sub = Subscription(
                customer=customer,
                plan=plan,
                price=Decimal(price),
                status=status,
                current_period_end=period_end,
            )
            if status == "cancelled":
                sub.cancel_at = sub.current_period_end = today - dt.timedelta(days=3)
                sub.cancelled_at = utcnow() - dt.timedelta(days=33)
            session.add(sub)
            added += 1
    for spec in default_offers(prompts_dir):
        if session.scalars(select(Offer).where(Offer.code == spec["code"])).first() is None:
            session.add(Offer(**spec, active=True))
            added += 1
    session.flush()
    return added
