"""Scaling out: two separate app servers on one database, as behind a load
balancer. One call's webhooks alternate between them; a status callback and
a gather for the same call arrive at the same moment at different servers,
and the record comes out right every time (the call's row is locked)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from functools import partial
from urllib.parse import urlencode

import pytest
from conftest import AUTH_TOKEN, sign
from flask import Flask
from servers import Server, servers_on_one_database
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from ivr import db
from ivr.demo import PIN_HASH_METHOD
from ivr.models import Call, CallEvent, Customer, Subscription
from ivr.simulator import CallSimulator, HttpReply, HttpTransport, ScriptedCaller, record_lookup

# What Twilio calls: the load balancer's URL, the same for every server behind it.
PUBLIC_BASE_URL = "https://line.example.com"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    logs = tmp_path_factory.mktemp("scale-out")
    with servers_on_one_database(
        migrated, logs, PUBLIC_BASE_URL=PUBLIC_BASE_URL, IVR_ENV="production"
    ) as started:
        yield started


class RoundRobin:
    """A load balancer that sends each request to the next server in turn."""

    def __init__(self, servers: list[Server]):
        self._transports = [HttpTransport(s.url, PUBLIC_BASE_URL) for s in servers]
        self._next = itertools.cycle(range(len(servers)))
        self.served_by: list[int] = []

    def __call__(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        index = next(self._next)
        self.served_by.append(index)
        return self._transports[index](method, url, form, headers)


def test_one_call_alternates_between_two_servers(app: Flask, servers: list[Server]) -> None:
    balancer = RoundRobin(servers)
    t = CallSimulator(
        balancer,
        base_url=PUBLIC_BASE_URL,
        auth_token=AUTH_TOKEN,
        caller=ScriptedCaller(["1234", "1", "2"]),
        from_number="+15550100001",
        lookup=record_lookup(app),
    ).run()

    assert t.ok, t.error
    assert [r["status"] for r in t.requests()] == [200] * len(t.requests())
    assert set(balancer.served_by) == {0, 1}
    assert len(t.requests()) >= 4
    record = t.record
    assert record is not None
    assert record["outcome"] == "cancelled"
    assert record["customer"] == "100001"
    assert record["reason"] == "too_expensive"
    assert record["offer_accepted"] is False
    assert record["confirmation"]
    with app.app_context():
        ada = (
            db.session()
            .scalars(select(Subscription).join(Customer).where(Customer.account_number == "100001"))
            .one()
        )
        assert ada.status == "cancelled"
        call = db.session().scalars(select(Call).where(Call.call_sid == t.call_sid)).one()
        assert call.completed_at is not None


# --- a status callback and a gather at the same moment --------------------------------

RACES = 12


def add_customers(app: Flask, count: int) -> list[str]:
    """Customers with one active subscription each and PIN 1234; their phones."""
    phones = [f"+1555020{i:04d}" for i in range(count)]
    pin_hash = generate_password_hash("1234", method=PIN_HASH_METHOD)
    with app.app_context():
        s = db.session()
        for i, phone in enumerate(phones):
            customer = Customer(
                name=f"Racer {i}", phone=phone, account_number=f"77{i:04d}", pin_hash=pin_hash
            )
            s.add(customer)
            s.add(
                Subscription(
                    customer=customer,
                    plan="Premium",
                    price=Decimal("29.99"),
                    status="active",
                    current_period_end=dt.date.today() + dt.timedelta(days=30),
                )
            )
        s.commit()
    return phones


def post(server: Server, path_and_query: str, params: dict[str, str]) -> tuple[int, str]:
    """One signed webhook, as Twilio posts it to the load balancer's URL."""
    signature = sign(PUBLIC_BASE_URL + path_and_query, params)
    request = urllib.request.Request(
        server.url + path_and_query,
        data=urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def next_gather(twiml: str) -> str:
    """The path and query of the Gather's action in a TwiML answer."""
    gather = ET.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    action = gather.get("action", "")
    return action.removeprefix(PUBLIC_BASE_URL)


def test_a_status_callback_racing_the_last_gather_never_loses_an_update(
    app: Flask, servers: list[Server]
) -> None:
    first, second = servers
    phones = add_customers(app, RACES)
    for phone in phones:
        sid = "CA" + uuid.uuid4().hex
        base = {
            "AccountSid": "AC" + "0" * 32,
            "CallSid": sid,
            "From": phone,
            "To": "+15550109999",
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "FromState": "NY",  # as Twilio sends for a US number
        }
        status, twiml = post(first, "/voice/incoming", base)
        assert status == 200, twiml
        status, twiml = post(second, next_gather(twiml), {**base, "Digits": "1234"})
        assert status == 200, twiml
        status, twiml = post(first, next_gather(twiml), {**base, "Digits": "1"})
        assert status == 200, twiml
        decline = next_gather(twiml)  # the offer: 2 declines it, which cancels

        answers = at_the_same_moment(
            gather=partial(post, first, decline, {**base, "Digits": "2"}),
            status=partial(
                post,
                second,
                "/voice/status",
                {**base, "CallStatus": "completed", "CallDuration": "42"},
            ),
        )
        for name, (status, body) in answers.items():
            assert status == 200, (name, body)
            assert ET.fromstring(body).tag == "Response"
        assert_consistent(app, sid)


def at_the_same_moment(**requests: Callable[[], tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """Send the requests from threads released together; their answers by name."""
    answers: dict[str, tuple[int, str]] = {}
    together = threading.Barrier(len(requests))

    def send(name: str, request: Callable[[], tuple[int, str]]) -> None:
        together.wait()
        answers[name] = request()

    threads = [threading.Thread(target=send, args=item) for item in requests.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def assert_consistent(app: Flask, sid: str) -> None:
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == sid)).one()
        subscription = s.get(Subscription, call.subscription_id)
        assert subscription is not None

        def events(kind: str) -> int:
            return s.scalar(
                select(func.count())
                .select_from(CallEvent)
                .where(CallEvent.call_id == call.id, CallEvent.type == kind)
            )

        # The status callback's writes and the gather's are both there.
        assert call.completed_at is not None, sid
        assert call.duration_seconds == 42, sid
        assert events("status") == 1, sid
        # The cancellation happened once, and the record says what happened.
        cancelled = subscription.status == "cancelled"
        assert events("cancelled") == (1 if cancelled else 0), sid
        assert (call.outcome == "cancelled") == cancelled, (sid, call.outcome)
        if cancelled:
            assert call.confirmation, sid
            assert subscription.cancellation_reason == "too_expensive", sid
        else:
            assert call.outcome == "abandoned", (sid, call.outcome)
            assert call.outcome_step == "offer", sid
