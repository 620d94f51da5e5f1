"""The http billing backend: the company's billing service, reached over
HTTPS with the signed contract of docs/billing-http.md.

Every request has one deadline (BILLING_HTTP_TIMEOUT) for all of it: connect,
send, and the whole answer read. A look-up during a call never waits longer.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..jurisdictions import state_code
from . import BillingRejected, BillingUnavailable, ChangeRequest, CustomerRecord, SubscriptionRecord
from .signing import headers as signed_headers

STATUSES = {
    "active": "active",
    "paused": "paused",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}


class HttpBilling:
    def __init__(self, base_url: str, secret: str, timeout: float):
        if not base_url or not secret:
            raise ValueError(
                "BILLING_BACKEND=http needs BILLING_HTTP_URL and BILLING_HTTP_SECRET "
                "(docs/billing-http.md)"
            )
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path
        self.secret = secret
        self.timeout = float(timeout)
        self._local = threading.local()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HttpBilling:
        return cls(
            config.get("BILLING_HTTP_URL") or "",
            config.get("BILLING_HTTP_SECRET") or "",
            float(config.get("BILLING_HTTP_TIMEOUT") or 2),
        )

    # --- look-ups ----------------------------------------------------------------

    def customers_by_phone(self, phone: str) -> list[CustomerRecord]:
        status, data = self._request("GET", "/customers?phone=" + quote(phone, safe=""))
        if status != 200:
            raise BillingUnavailable(f"customers by phone: HTTP {status}")
        return [_customer(c) for c in _field(data, "customers", list)]

    def customer(self, account: str) -> CustomerRecord | None:
        status, data = self._request("GET", "/customers/" + quote(account, safe=""))
        if status == 404:
            return None
        if status != 200:
            raise BillingUnavailable(f"customer by account: HTTP {status}")
        return _customer(data)

    # --- changes -----------------------------------------------------------------

    def apply(self, change: ChangeRequest) -> dict[str, Any]:
        action = {"cancel": "cancel", "offer": "offers", "reinstate": "reinstate"}[change.kind]
        path = f"/subscriptions/{quote(change.subscription, safe='')}/{action}"
        status, data = self._request(
            "POST", path, dict(change.body), {"Idempotency-Key": change.idempotency_key}
        )
        if status in (200, 201):
            return dict(data) if isinstance(data, dict) else {}
        if status == 409:
            # Already done (by an earlier try, or by someone else): applied.
            return {"already_applied": True}
        if 400 <= status < 500:
            raise BillingRejected(f"HTTP {status}: {_short(data)}")
        raise BillingUnavailable(f"HTTP {status}: {_short(data)}")

    # --- the wire ------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Status and decoded JSON answer, all within the deadline."""
        deadline = time.monotonic() + self.timeout
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        target = self.base_path + path
        headers = {
            "Accept": "application/json",
            **signed_headers(self.secret, method, target, raw),
            **(extra_headers or {}),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._session().request(
                method,
                self.base_url + path,
                data=raw or None,
                headers=headers,
                timeout=(self.timeout, self.timeout),
                stream=True,
                allow_redirects=False,
            )
            with response:
                content = bytearray()
                for chunk in response.iter_content(8192):
                    content.extend(chunk)
                    if time.monotonic() > deadline:
                        raise BillingUnavailable(f"no full answer within {self.timeout:g} s")
        except requests.Timeout as exc:
            raise BillingUnavailable(f"no answer within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise BillingUnavailable(f"unreachable: {type(exc).__name__}") from exc
        if time.monotonic() > deadline:
            raise BillingUnavailable(f"no full answer within {self.timeout:g} s")
        try:
            data = json.loads(content) if content else None
        except ValueError:
            data = bytes(content[:200]).decode(errors="replace")
        if response.status_code == 200 and data is None and method == "GET":
            raise BillingUnavailable("an empty answer")
        return response.status_code, data


def _short(data: Any) -> str:
    return (json.dumps(data) if not isinstance(data, str) else data)[:300]


def _field(data: Any, name: str, kind: type) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get(name), kind):
        raise BillingUnavailable(f"an answer without {name!r}")
    return data[name]


def _customer(data: Any) -> CustomerRecord:
    """A Customer of the contract; an answer that is not one counts as no answer."""
    try:
        subs = tuple(
            SubscriptionRecord(
                id=str(s["id"]),
                plan=str(s["plan"]),
                price=Decimal(str(s["price"])),
                currency=str(s.get("currency") or "USD")[:3],
                status=STATUSES.get(str(s["status"]), str(s["status"])),
                current_period_end=dt.date.fromisoformat(str(s["current_period_end"])),
            )
            for s in data.get("subscriptions", [])
        )
        return CustomerRecord(
            account=str(data["account"]),
            name=str(data.get("name") or ""),
            phone=data.get("phone") or None,
            language=str(data.get("language") or "en-US"),
            subscriptions=subs,
            state=state_code(data.get("state") if isinstance(data.get("state"), str) else None),
        )
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise BillingUnavailable(f"an answer that is not a Customer: {exc!r}") from exc
