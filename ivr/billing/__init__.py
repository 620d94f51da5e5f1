"""The boundary between the call and billing.

The flow reads customers and subscriptions through the World (ivr/world.py)
and decides changes as effects; the call service (ivr/calls.py) records each
change. What stands behind this boundary is chosen by BILLING_BACKEND:

- `embedded` (default): the line's own customers and subscriptions tables
  are the billing system; a change is applied in the webhook's transaction.
- `http`: the company's billing service, over the signed contract of
  docs/billing-http.md. Look-ups are made during the call with a deadline
  and mirrored into the line's tables (ivr/billing/mirror.py); changes are
  recorded with a job in the webhook's transaction and applied by a worker
  (ivr/billing/jobs.py). Requires PostgreSQL.
- `stripe`: Stripe, through the official `stripe` package
  (ivr/billing/stripe_backend.py, docs/billing-stripe.md). A call never asks
  Stripe: the mirror is kept by Stripe's signed webhooks and `ivr billing
  sync`, and look-ups read it only. Changes go through the same jobs.
  Requires PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from flask import Flask, current_app

from .embedded import add_months, apply_offer, cancel, reinstate

__all__ = [
    "BACKENDS",
    "Billing",
    "BillingRejected",
    "Changes",
    "BillingUnavailable",
    "CustomerRecord",
    "SubscriptionRecord",
    "add_months",
    "apply_offer",
    "backend_for",
    "cancel",
    "reinstate",
]

BACKENDS = ("embedded", "http", "stripe")
# Backends whose mirror is kept by billing's own events: a call reads the
# line's tables only and never waits on billing.
MIRRORED_BY_EVENTS = ("stripe",)


class BillingUnavailable(Exception):
    """Billing did not answer in time, could not be reached, or answered 5xx:
    the same request may succeed later."""


class BillingRejected(Exception):
    """Billing refused the request (4xx other than 409): trying again the
    same way will not help."""


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str
    plan: str
    price: Decimal
    currency: str
    # active | cancelled | paused
    status: str
    current_period_end: dt.date


@dataclass(frozen=True)
class CustomerRecord:
    account: str
    name: str
    phone: str | None
    language: str
    subscriptions: tuple[SubscriptionRecord, ...]
    # The US state on file (two letters), when billing has one (optional).
    state: str | None = None


@dataclass(frozen=True)
class ChangeRequest:
    """One change, as sent to billing: the same every time it is tried."""

    kind: str  # cancel | offer | reinstate
    subscription: str  # billing's id of the subscription
    body: Mapping[str, Any]
    idempotency_key: str


class Changes(Protocol):
    """An external billing system that takes the line's changes. (The
    embedded backend is the line's own tables and needs none of this.)"""

    def apply(self, change: ChangeRequest) -> dict[str, Any]:
        """Apply a change; what billing answered. Raises BillingUnavailable
        (try again later, with the same key) or BillingRejected."""
        ...


class Billing(Changes, Protocol):
    """An external billing system a call asks, within a deadline, who the
    caller is (the http backend)."""

    def customers_by_phone(self, phone: str) -> list[CustomerRecord]: ...

    def customer(self, account: str) -> CustomerRecord | None: ...


def init_app(app: Flask) -> None:
    """Check the billing settings at start-up, and make the backend once."""
    name = app.config.get("BILLING_BACKEND") or "embedded"
    if name != "embedded" and not str(app.config["DATABASE_URL"]).startswith("postgres"):
        raise RuntimeError(
            f"BILLING_BACKEND={name} needs PostgreSQL (DATABASE_URL=postgresql://...): "
            "its changes are applied by jobs queued in the database (docs/billing-http.md, "
            "docs/billing-stripe.md). "
            "The embedded backend (the default) runs on SQLite."
        )
    backend = backend_for(app.config)
    app.extensions["ivr.billing"] = backend
    # Asked during calls: only a backend whose mirror is not kept by events.
    app.extensions["ivr.billing.lookups"] = None if name in MIRRORED_BY_EVENTS else backend
    if name == "stripe":
        from .stripe_webhook import bp as stripe_webhook_bp

        app.register_blueprint(stripe_webhook_bp)


def current() -> Billing | None:
    """The backend a call asks who the caller is; None when the call reads
    the line's own tables only (embedded billing, or a mirror kept by
    billing's events, as with Stripe)."""
    return current_app.extensions.get("ivr.billing.lookups")  # type: ignore[no-any-return]


def backend_for(config: Mapping[str, Any]) -> Changes | None:
    """The configured external backend, or None for the embedded one."""
    name = config.get("BILLING_BACKEND") or "embedded"
    if name == "embedded":
        return None
    if name == "http":
        from .http import HttpBilling

        return HttpBilling.from_config(config)
    if name == "stripe":
        from .stripe_backend import StripeBilling

        return StripeBilling.from_config(config)
    raise ValueError(f"BILLING_BACKEND={name!r}: expected one of {', '.join(BACKENDS)}")
