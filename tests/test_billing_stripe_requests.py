"""The exact requests the Stripe backend sends for what localstripe cannot
take (offers as coupons, pauses, price swaps; reinstatement), and what the
job queue does with Stripe's errors. The stripe SDK is used as in
production, over an HTTP client that records each request and answers as
Stripe's API reference documents; scripts/test.sh also type-checks these
requests against the SDK's own parameter types (mypy)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

from ivr.billing import BillingRejected, BillingUnavailable, ChangeRequest
from ivr.billing.stripe_backend import StripeBilling

PERIOD_END = 1_800_000_000  # 2027-01-15
KEY = "key-of-the-change"

SUBSCRIPTION = {
    "id": "sub_1",
    "object": "subscription",
    "status": "active",
    "customer": "cus_1",
    "cancel_at_period_end": False,
    "discounts": ["di_kept"],
    "items": {
        "object": "list",
        "data": [
            {
                "id": "si_1",
                "object": "subscription_item",
                "current_period_end": PERIOD_END,
                "price": {"id": "price_premium", "object": "price", "unit_amount": 2999},
            }
        ],
    },
}


class Recording(stripe.HTTPClient):
    """Stripe as far as the test needs it: answers given in order, requests kept."""

    name = "recording"

    def __init__(self, answers: list[tuple[int, Mapping[str, Any]] | Exception]):
        super().__init__()
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict[str, str], str | None]] = []

    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any
    ) -> tuple[str, int, Mapping[str, str]]:
        form = dict(parse_qsl(post_data or "", keep_blank_values=True))
        self.sent.append((method.upper(), urlsplit(url).path, form, headers.get("Idempotency-Key")))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return json.dumps(body), status, {}

    def close(self) -> None:
        pass


def backend(*answers: tuple[int, Mapping[str, Any]] | Exception) -> tuple[StripeBilling, Recording]:
    billing = StripeBilling("sk_test_requests", None, 1)
    recording = Recording(list(answers))
    billing.client = stripe.StripeClient(
        "sk_test_requests", http_client=recording, max_network_retries=0
    )
    return billing, recording


def change(change_kind: str, **body: Any) -> ChangeRequest:
    return ChangeRequest(
        kind=change_kind,
        subscription="sub_1",
        body={"account": "100001", "call_sid": "CA123", "confirmation": "48213", **body},
        idempotency_key=KEY,
    )


def offer(kind: str, terms: dict[str, Any]) -> ChangeRequest:
    return change("offer", offer=f"{kind}_offer", kind=kind, terms=terms)


def writes(recording: Recording) -> list[tuple[str, str, dict[str, str], str | None]]:
    return [r for r in recording.sent if r[0] == "POST"]


def test_a_cancellation_is_one_update_at_the_period_end_with_reason_words_and_call() -> None:
    billing, recording = backend((200, SUBSCRIPTION), (200, SUBSCRIPTION))
    result = billing.apply(change("cancel", reason="too_expensive", comment="far too dear"))
    assert writes(recording) == [
        (
            "POST",
            "/v1/subscriptions/sub_1",
            {
                "cancel_at_period_end": "true",
                "cancellation_details[feedback]": "too_expensive",
                "cancellation_details[comment]": "far too dear",
                "metadata[ivr_cancel_call_sid]": "CA123",
                "metadata[ivr_cancel_confirmation]": "48213",
            },
            KEY,
        )
    ]
    assert result == {"ends_on": "2027-01-15"}


def test_a_cancellation_without_a_reason_sends_no_feedback() -> None:
    billing, recording = backend((200, SUBSCRIPTION), (200, SUBSCRIPTION))
    billing.apply(change("cancel", reason=None, comment=None))
    [(_, _, form, _)] = writes(recording)
    assert not any(k.startswith("cancellation_details") for k in form)


def test_an_ended_subscription_counts_as_cancelled_and_is_not_written() -> None:
    billing, recording = backend((200, {**SUBSCRIPTION, "status": "canceled"}))
    assert billing.apply(change("cancel", reason="unused")) == {"already_applied": True}
    assert writes(recording) == []


def test_a_discount_is_a_repeating_coupon_added_to_the_discounts_kept() -> None:
    billing, recording = backend(
        (200, SUBSCRIPTION), (200, {"id": "ivr_20pct_3m", "object": "coupon"}), (200, SUBSCRIPTION)
    )
    billing.apply(offer("discount", {"percent": 20, "months": 3}))
    coupon, update = writes(recording)
    assert coupon == (
        "POST",
        "/v1/coupons",
        {
            "id": "ivr_20pct_3m",
            "percent_off": "20.0",
            "duration": "repeating",
            "duration_in_months": "3",
            "name": "Cancellation line: 20% off for 3 months",
        },
        KEY + ":coupon",
    )
    assert update[2] == {
        "discounts[0][discount]": "di_kept",
        "discounts[1][coupon]": "ivr_20pct_3m",
        "metadata[ivr_offer_call_sid]": "CA123",
        "metadata[ivr_offer_confirmation]": "48213",
        "metadata[ivr_offer]": "discount_offer",
    }
    assert update[3] == KEY


def test_a_coupon_made_by_an_earlier_change_is_used_as_it_is() -> None:
    exists = {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_already_exists",
            "message": "Coupon already exists.",
        }
    }
    billing, recording = backend((200, SUBSCRIPTION), (400, exists), (200, SUBSCRIPTION))
    billing.apply(offer("free_period", {"months": 2}))
    coupon, update = writes(recording)
    assert coupon[2]["id"] == "ivr_100pct_2m" and coupon[2]["percent_off"] == "100.0"
    assert update[2]["discounts[1][coupon]"] == "ivr_100pct_2m"


def test_a_pause_stops_collection_until_months_after_the_paid_period() -> None:
    billing, recording = backend((200, SUBSCRIPTION), (200, SUBSCRIPTION))
    billing.apply(offer("pause", {"months": 2}))
    [(_, _, form, key)] = writes(recording)
    resumes = int(dt.datetime(2027, 3, 15, tzinfo=dt.UTC).timestamp())
    assert form["pause_collection[behavior]"] == "void"
    assert form["pause_collection[resumes_at]"] == str(resumes)
    assert key == KEY


def test_a_downgrade_swaps_the_items_price_without_proration() -> None:
    billing, recording = backend((200, SUBSCRIPTION), (200, SUBSCRIPTION))
    billing.apply(offer("downgrade", {"plan": "Basic", "price": "9.99", "stripe_price": "price_b"}))
    [(_, _, form, _)] = writes(recording)
    assert form["items[0][id]"] == "si_1"
    assert form["items[0][price]"] == "price_b"
    assert form["proration_behavior"] == "none"


def test_a_downgrade_without_a_stripe_price_is_refused_and_nothing_written() -> None:
    billing, recording = backend((200, SUBSCRIPTION))
    with pytest.raises(BillingRejected, match="stripe_price"):
        billing.apply(offer("downgrade", {"plan": "Basic", "price": "9.99"}))
    assert writes(recording) == []


def test_a_reinstatement_undoes_the_cancel_at_period_end() -> None:
    billing, recording = backend((200, SUBSCRIPTION), (200, SUBSCRIPTION))
    billing.apply(change("reinstate"))
    [(_, _, form, key)] = writes(recording)
    assert form == {
        "cancel_at_period_end": "false",
        "metadata[ivr_reinstate_call_sid]": "CA123",
        "metadata[ivr_reinstate_confirmation]": "48213",
    }
    assert key == KEY


def _error(kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": f"a {kind}"}}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((429, _error("invalid_request_error", "rate_limit")), BillingUnavailable),
        ((500, _error("api_error")), BillingUnavailable),
        ((503, _error("api_error")), BillingUnavailable),
        ((409, _error("invalid_request_error", "lock_timeout")), BillingUnavailable),
        (stripe.APIConnectionError("timed out"), BillingUnavailable),
        ((402, _error("card_error", "card_declined")), BillingRejected),
        ((403, _error("invalid_request_error", "secret_key_required")), BillingRejected),
        ((401, _error("invalid_request_error")), BillingRejected),
        ((400, _error("invalid_request_error", "parameter_unknown")), BillingRejected),
    ],
)
def test_stripe_errors_are_retried_or_fail_the_change(answer: Any, expected: type) -> None:
    billing, _ = backend((200, SUBSCRIPTION), answer)
    with pytest.raises(expected):
        billing.apply(change("cancel", reason="unused"))


def test_a_retry_sends_the_same_idempotency_key() -> None:
    billing, recording = backend(
        (200, SUBSCRIPTION), (503, _error("api_error")), (200, SUBSCRIPTION), (200, SUBSCRIPTION)
    )
    with pytest.raises(BillingUnavailable):
        billing.apply(change("cancel", reason="unused"))
    billing.apply(change("cancel", reason="unused"))
    first, second = writes(recording)
    assert first == second and first[3] == KEY
