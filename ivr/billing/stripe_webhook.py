"""`POST /billing/stripe/webhook`: Stripe's events keep the line's mirror of
customers and subscriptions current (BILLING_BACKEND=stripe).

The request is verified with the `Stripe-Signature` header and
STRIPE_WEBHOOK_SECRET (the SDK's `Webhook.construct_event`): a missing or bad
signature gets 400. It carries Stripe's signature, not Twilio's, and no
console session, so neither the voice signature check nor the console's CSRF
check applies here.

An event names the customer; the line reads that customer and their
subscriptions from Stripe as they are now and mirrors that. So events that
come twice, or out of order, leave the mirror as Stripe has it. If Stripe
cannot be read, the answer is 503 and Stripe delivers the event again later.
"""

from __future__ import annotations

import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from .. import db
from . import BillingRejected, BillingUnavailable
from .mirror import forget, mirror
from .stripe_backend import StripeBilling, account_of

log = logging.getLogger("ivr.billing")

bp = Blueprint("stripe_webhook", __name__)

# The events the line acts on; Stripe's endpoint should send these (README).
EVENT_PREFIXES = ("customer.",)


@bp.post("/billing/stripe/webhook")
def stripe_webhook() -> ResponseReturnValue:
    payload = request.get_data()
    try:
        event = stripe.Webhook.construct_event(
            payload,
            request.headers.get("Stripe-Signature"),
            current_app.config["STRIPE_WEBHOOK_SECRET"],
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        log.warning("stripe webhook refused: %s", type(exc).__name__)
        return jsonify(error="bad signature or payload"), 400
    if not event.type.startswith(EVENT_PREFIXES):
        return jsonify(ignored=event.type), 200
    obj = event.data.object.to_dict()
    if event.type.startswith("customer.subscription."):
        customer_id = obj.get("customer")
        account = None
    elif event.type in ("customer.created", "customer.updated", "customer.deleted"):
        customer_id = obj.get("id")
        account = account_of(obj)
    else:
        return jsonify(ignored=event.type), 200
    if not isinstance(customer_id, str):
        return jsonify(ignored=event.type), 200
    backend = current_app.extensions["ivr.billing"]
    assert isinstance(backend, StripeBilling)
    try:
        record = backend.customer_record(customer_id)
    except BillingUnavailable as exc:
        log.warning(
            "stripe webhook %s: Stripe unreadable (%s); it will send it again", event.id, exc
        )
        return jsonify(error="Stripe could not be read; send again"), 503
    except BillingRejected as exc:
        log.error("stripe webhook %s: %s", event.id, exc)
        return jsonify(error="Stripe refused the read"), 503
    s = db.session()
    conn = s.connection()
    if record is not None:
        mirror(conn, record)
        done = "mirrored"
    elif account is not None:
        # Deleted in Stripe (or no longer has an account number): not a caller any more.
        forget(conn, account)
        done = "forgotten"
    else:
        done = "nothing to mirror"
    s.commit()
    log.info("stripe webhook %s %s: %s", event.id, event.type, done)
    return jsonify(done=done), 200
