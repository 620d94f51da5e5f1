"""localstripe as a real process for the Stripe backend's tests (with the
patch of tests/localstripe_patched.py), and what the tests make in it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe
from billing_servers import Process
from servers import ROOT, free_port

API_KEY = "sk_test_line_" + "0" * 12
WEBHOOK_SECRET = "whsec_test_line_" + "0" * 12
EVENTS = [
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
]


@dataclass
class Localstripe(Process):
    url: str

    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(API_KEY, base_addresses={"api": self.url}, max_network_retries=0)

    def send_webhooks_to(self, url: str) -> None:
        """localstripe's own endpoint registration (POST /_config/webhooks/{id})."""
        data = "&".join(
            [f"url={url}", f"secret={WEBHOOK_SECRET}"] + [f"events[]={e}" for e in EVENTS]
        ).encode()
        urllib.request.urlopen(
            urllib.request.Request(self.url + "/_config/webhooks/line", data=data), timeout=10
        ).close()

    def freeze(self) -> None:
        """SIGSTOP: the server takes connections and never answers (Stripe timing out)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def start_localstripe(tmp: Path) -> Localstripe:
    port = free_port()
    log = tmp / "localstripe.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "localstripe_patched.py"),
                "--port",
                str(port),
                "--from-scratch",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Localstripe(process, log, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 20
    while True:
        try:
            server.client().v1.customers.list({"limit": 1})
            return server
        except stripe.APIConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("localstripe did not start:\n" + log.read_text()) from None
            time.sleep(0.1)


def make_plan(client: stripe.StripeClient, name: str, cents: int) -> str:
    """A monthly Plan (localstripe has Plans, not Prices)."""
    product = client.v1.products.create({"name": name})
    plan = client.v1.plans.create(
        {
            "amount": cents,
            "currency": "usd",
            "interval": "month",
            "product": product.id,
            "nickname": name,
        }
    )
    return plan.id


def make_customer(
    client: stripe.StripeClient,
    *,
    account: str | None,
    phone: str,
    name: str,
    locales: list[str] | None = None,
    plan: str | None = None,
) -> tuple[str, str | None]:
    """A customer paying by card, with one subscription to `plan`: their ids."""
    card = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
    )
    params: dict[str, Any] = {
        "name": name,
        "phone": phone,
        "preferred_locales": locales or ["en-US"],
        "payment_method": card.id,
        "invoice_settings": {"default_payment_method": card.id},
        "metadata": {"account_number": account} if account else {},
    }
    customer = client.v1.customers.create(params)  # type: ignore[arg-type]
    if plan is None:
        return customer.id, None
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"plan": plan}]})
    assert sub.status == "active"
    return customer.id, sub.id
