"""The Stripe billing backend (BILLING_BACKEND=stripe), on the official
`stripe` package (docs/billing-stripe.md).

A call never asks Stripe. The line's customers and subscriptions tables are a
mirror, filled by `ivr billing sync` (paging through Stripe's lists) and kept
current by Stripe's signed webhooks (ivr/billing/stripe_webhook.py); look-ups
during a call read the mirror only. Changes (cancel, offer, reinstate) are
applied here by the job worker (ivr/billing/jobs.py), each write with an
idempotency key derived from the change's own.

How each change maps onto Stripe:

- cancel: `cancel_at_period_end`, `cancellation_details` {feedback, comment},
  and the call's SID and confirmation code in the subscription's metadata;
- discount offer: a coupon (`ivr_<percent>pct_<months>m`, repeating, made
  once) added to the subscription's discounts, the ones it has kept;
- pause offer: `pause_collection` {behavior: void, resumes_at} (no invoices
  are collected until then);
- free period: a 100% coupon (`ivr_100pct_<months>m`), like a discount;
- downgrade: the item's price swapped for `terms.stripe_price`, with
  `proration_behavior: none` (the new price from the next invoice on; no
  credit, no charge now);
- help: nothing changes on the bill; the call is noted in the metadata;
- reinstate: `cancel_at_period_end` false.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import stripe
from stripe.params import (
    CouponCreateParams,
    SubscriptionUpdateParams,
    SubscriptionUpdateParamsCancellationDetails,
    SubscriptionUpdateParamsDiscount,
)

from ..jurisdictions import state_code
from . import BillingRejected, BillingUnavailable, ChangeRequest, CustomerRecord, SubscriptionRecord
from .embedded import add_months

# Stripe's limits on one metadata value, and on a cancellation comment.
METADATA_VALUE_MAX = 500
COMMENT_MAX = 500
# The line's languages, by the language part of a Stripe locale ("es-419" -> es-US).
LANGUAGES = {"en": "en-US", "es": "es-US"}
ACCOUNT = re.compile(r"[0-9A-Za-z_-]{1,32}")
# Stripe's subscription statuses that are still billed (or about to be).
LIVE = ("active", "trialing", "past_due", "unpaid")


class StripeBilling:
    def __init__(self, api_key: str, api_base: str | None, timeout: float):
        if not api_key:
            raise ValueError("BILLING_BACKEND=stripe needs STRIPE_API_KEY (docs/billing-stripe.md)")
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            # The job queue retries, with backoff and the same idempotency key.
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self._product_names: dict[str, str] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StripeBilling:
        if not config.get("STRIPE_WEBHOOK_SECRET"):
            raise ValueError(
                "BILLING_BACKEND=stripe needs STRIPE_WEBHOOK_SECRET: the mirror of customers "
                "is kept by Stripe's signed webhooks (docs/billing-stripe.md)"
            )
        return cls(
            config.get("STRIPE_API_KEY") or "",
            config.get("STRIPE_API_BASE") or None,
            float(config.get("STRIPE_TIMEOUT") or 10),
        )

    # --- changes (run by the job worker) ------------------------------------------

    def apply(self, change: ChangeRequest) -> dict[str, Any]:
        try:
            sub = self.client.v1.subscriptions.retrieve(change.subscription).to_dict()
            if change.kind == "cancel":
                return self._cancel(sub, change)
            if change.kind == "reinstate":
                return self._reinstate(sub, change)
            if change.kind == "offer":
                return self._offer(sub, change)
        except stripe.StripeError as exc:
            raise _translated(exc) from exc
        raise BillingRejected(f"unknown change kind {change.kind!r}")

    def _cancel(self, sub: Mapping[str, Any], change: ChangeRequest) -> dict[str, Any]:
        if sub["status"] == "canceled":
            # Over already (ended by someone else): nothing left to cancel.
            return {"already_applied": True}
        details: SubscriptionUpdateParamsCancellationDetails = {}
        if change.body.get("reason"):
            details["feedback"] = str(change.body["reason"])
        if change.body.get("comment"):
            details["comment"] = str(change.body["comment"])[:COMMENT_MAX]
        params: SubscriptionUpdateParams = {
            "cancel_at_period_end": True,
            "cancellation_details": details,
            "metadata": _call_metadata("cancel", change),
        }
        updated = self._update(change, params)
        return {"ends_on": period_end(updated.to_dict()).isoformat()}

    def _reinstate(self, sub: Mapping[str, Any], change: ChangeRequest) -> dict[str, Any]:
        if sub["status"] == "canceled":
            raise BillingRejected(f"subscription {sub['id']} has ended; it cannot be reinstated")
        params: SubscriptionUpdateParams = {
            "cancel_at_period_end": False,
            "metadata": _call_metadata("reinstate", change),
        }
        self._update(change, params)
        return {"reinstated": True}

    def _offer(self, sub: Mapping[str, Any], change: ChangeRequest) -> dict[str, Any]:
        kind = str(change.body.get("kind"))
        terms: Mapping[str, Any] = change.body.get("terms") or {}
        months = int(terms.get("months", 1))
        metadata = {
            **_call_metadata("offer", change),
            "ivr_offer": _short(change.body.get("offer")),
        }
        params: SubscriptionUpdateParams = {"metadata": metadata}
        if kind in ("discount", "free_period"):
            percent = 100 if kind == "free_period" else int(terms.get("percent", 0))
            coupon = self._coupon(percent, months, change.idempotency_key)
            # A populated list replaces the subscription's discounts: keep the ones it has.
            discounts: list[SubscriptionUpdateParamsDiscount] = [
                {"discount": _id(d)} for d in (sub.get("discounts") or [])
            ]
            params["discounts"] = [*discounts, {"coupon": coupon}]
        elif kind == "pause":
            resumes = add_months(period_end(sub), months)
            params["pause_collection"] = {"behavior": "void", "resumes_at": _timestamp(resumes)}
        elif kind == "downgrade":
            price = terms.get("stripe_price")
            if not price:
                raise BillingRejected(
                    f"offer {change.body.get('offer')!r} has no terms.stripe_price "
                    "(the Stripe price to move to)"
                )
            item = sub["items"]["data"][0]
            params["items"] = [{"id": item["id"], "price": str(price)}]
            params["proration_behavior"] = "none"
        elif kind != "help":
            raise BillingRejected(f"unknown offer kind {kind!r}")
        self._update(change, params)
        return {"offer": kind}

    def _update(
        self, change: ChangeRequest, params: SubscriptionUpdateParams
    ) -> stripe.Subscription:
        return self.client.v1.subscriptions.update(
            change.subscription, params, {"idempotency_key": change.idempotency_key}
        )

    def _coupon(self, percent: int, months: int, key: str) -> str:
        """The line's coupon for these terms, made the first time it is needed."""
        coupon_id = f"ivr_{percent}pct_{months}m"
        params: CouponCreateParams = {
            "id": coupon_id,
            "percent_off": float(percent),
            "duration": "repeating",
            "duration_in_months": months,
            "name": f"Cancellation line: {percent}% off for {months} months",
        }
        try:
            self.client.v1.coupons.create(params, {"idempotency_key": key + ":coupon"})
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_already_exists":
                raise
        return coupon_id

    # --- the mirror's source (sync and webhooks) -------------------------------------

    def customer_record(self, customer_id: str) -> CustomerRecord | None:
        """A customer as the line mirrors it; None if Stripe has deleted them,
        or they have no account number (metadata.account_number)."""
        try:
            customer = self.client.v1.customers.retrieve(customer_id).to_dict()
            if customer.get("deleted"):
                return None
            subs = [
                sub.to_dict()
                for sub in self.client.v1.subscriptions.list(
                    {"customer": customer_id, "status": "all", "limit": 100}
                ).auto_paging_iter()
            ]
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise _translated(exc) from exc
        except stripe.StripeError as exc:
            raise _translated(exc) from exc
        return self.record(customer, subs)

    def all_customers(self) -> Iterator[CustomerRecord]:
        """Every customer with an account number, with their subscriptions:
        two lists paged through (subscriptions first, then customers)."""
        by_customer: dict[str, list[dict[str, Any]]] = {}
        try:
            for sub in self.client.v1.subscriptions.list(
                {"status": "all", "limit": 100}
            ).auto_paging_iter():
                by_customer.setdefault(_id(sub.customer), []).append(sub.to_dict())
            for customer in self.client.v1.customers.list({"limit": 100}).auto_paging_iter():
                record = self.record(customer.to_dict(), by_customer.get(customer.id, []))
                if record is not None:
                    yield record
        except stripe.StripeError as exc:
            raise _translated(exc) from exc

    def record(
        self, customer: Mapping[str, Any], subs: list[dict[str, Any]]
    ) -> CustomerRecord | None:
        """The mirror's view of a customer and their subscriptions (Stripe's
        objects as plain dicts)."""
        account = account_of(customer)
        if account is None:
            return None
        address = customer.get("address") or {}
        return CustomerRecord(
            account=account,
            name=customer.get("name") or "",
            phone=phone_of(customer),
            language=language_of(customer.get("preferred_locales") or []),
            subscriptions=tuple(s for s in map(self._subscription_record, subs) if s is not None),
            state=state_code(address.get("state")) if address.get("country") == "US" else None,
        )

    def _subscription_record(self, sub: Mapping[str, Any]) -> SubscriptionRecord | None:
        if sub["status"] in ("incomplete", "incomplete_expired"):
            return None  # never started: nothing to cancel
        item = sub["items"]["data"][0]
        price = item.get("price") or item.get("plan")
        if sub["status"] == "canceled" or sub.get("cancel_at_period_end") or sub.get("cancel_at"):
            status = "cancelled"
        elif sub["status"] == "paused" or sub.get("pause_collection"):
            status = "paused"
        else:
            status = "active"
        amount = price.get("unit_amount")
        if amount is None:
            amount = price.get("amount") or 0  # a Plan (localstripe has no Prices)
        return SubscriptionRecord(
            id=sub["id"],
            plan=self._plan_name(price)[:100],
            price=Decimal(int(amount)) / 100,
            currency=str(price.get("currency") or "usd").upper()[:3],
            status=status,
            current_period_end=period_end(sub),
        )

    def _plan_name(self, price: Any) -> str:
        """The price's nickname, else its product's name (asked once per product)."""
        if price.get("nickname"):
            return str(price["nickname"])
        product = price.get("product")
        if isinstance(product, str):
            if product not in self._product_names:
                self._product_names[product] = self.client.v1.products.retrieve(product).name
            return self._product_names[product]
        return str(product.get("name") if product else price.get("id"))


def period_end(sub: Mapping[str, Any]) -> dt.date:
    """The end of the paid period: on the item (Stripe's API since 2025-03-31),
    else on the subscription (older API versions, localstripe)."""
    items = (sub.get("items") or {}).get("data") or [{}]
    item = items[0]
    stamp = item.get("current_period_end") or sub.get("current_period_end") or sub.get("ended_at")
    if not stamp:
        raise BillingUnavailable(f"subscription {sub.get('id')} has no current period")
    return dt.datetime.fromtimestamp(int(stamp), dt.UTC).date()


def account_of(customer: Mapping[str, Any]) -> str | None:
    account = str((customer.get("metadata") or {}).get("account_number") or "").strip()
    return account if ACCOUNT.fullmatch(account) else None


def phone_of(customer: Mapping[str, Any]) -> str | None:
    """The phone as caller ID gives it (E.164): separators a person typed are dropped."""
    phone = re.sub(r"[\s().-]", "", str(customer.get("phone") or ""))
    return phone[:32] or None


def language_of(locales: list[str]) -> str:
    for locale in locales:
        found = LANGUAGES.get(locale.split("-")[0].lower())
        if found:
            return found
    return "en-US"


def _call_metadata(kind: str, change: ChangeRequest) -> dict[str, str]:
    return {
        f"ivr_{kind}_call_sid": _short(change.body.get("call_sid")),
        f"ivr_{kind}_confirmation": _short(change.body.get("confirmation")),
    }


def _short(value: Any) -> str:
    return str(value or "")[:METADATA_VALUE_MAX]


def _id(value: Any) -> str:
    return value if isinstance(value, str) else str(value["id"])


def _timestamp(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


def _translated(exc: stripe.StripeError) -> Exception:
    """What the job queue does with a Stripe error: a rate limit, a timeout, a
    lock on the object (409) or a 5xx is tried again later with the same key;
    a card, permission, authentication or request error is refused."""
    status = exc.http_status
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError) or status is None:
        return BillingUnavailable(f"Stripe: {type(exc).__name__}: {exc.user_message or exc}")
    if status >= 500 or status in (409, 429):
        return BillingUnavailable(f"Stripe HTTP {status}: {exc.user_message or exc}")
    return BillingRejected(
        f"Stripe HTTP {status} ({type(exc).__name__}): {exc.user_message or exc}"
    )
