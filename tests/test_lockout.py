"""PIN and account guessing across calls (ivr/lockout.py): failures are
counted by customer and by calling number, in the database, so parallel
calls from spoofed numbers do not get in; staff see locks and lift them."""

from __future__ import annotations

import queue
import re
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

from conftest import Twilio
from console_helpers import csrf, page, signed_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db
from ivr.models import Call, CallEvent, Subscription, VerifyLock

ADA = "+15550100001"


def _root(response) -> ET.Element:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.data
    return ET.fromstring(response.data)


def _action(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    return gather.attrib["action"]


def _said(root: ET.Element) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


def _pin_call(client: FlaskClient, caller: str, pins: list[str]) -> list[str]:
    """A call from Ada's account (by caller ID or account number) trying `pins`;
    what the line said after each."""
    phone = Twilio(client, caller=caller)
    root = _root(phone.post("/voice/incoming"))
    if caller != ADA:
        root = _root(phone.post(_action(root), Digits="100001"))
    heard = []
    for pin in pins:
        root = _root(phone.post(_action(root), Digits=pin))
        heard.append(_said(root))
    return heard


def test_the_right_pin_is_refused_once_wrong_ones_lock_the_account(
    app: Flask, client: FlaskClient
) -> None:
    lockouts_before = _customer_lockouts(client)
    first = _pin_call(client, ADA, ["0000", "0001", "0002"])
    _pin_call(client, ADA, ["0003", "0004"])
    # Locked after five wrong PINs over two calls: the right one now sounds wrong.
    heard = _pin_call(client, ADA, ["1234"])
    assert heard == first[:1]
    assert "PIN didn't match" in heard[0]
    assert "locked" not in heard[0].lower()
    with app.app_context():
        s = db.session()
        assert s.scalar(select(Call.verified).order_by(Call.id.desc()).limit(1)) is False
        kinds = [e.type for e in s.scalars(select(CallEvent).order_by(CallEvent.id))]
        assert "verify_lockout" in kinds and "verify_locked" in kinds
    # The counter belongs to the process, which earlier tests share: one more.
    assert _customer_lockouts(client) == lockouts_before + 1


def _customer_lockouts(client: FlaskClient) -> float:
    metrics = client.get("/metrics").get_data(as_text=True)
    found = re.search(r'^ivr_verify_lockouts_total\{kind="customer"\} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_right_pin_before_the_threshold_clears_the_count(app: Flask, client: FlaskClient) -> None:
    _pin_call(client, ADA, ["0000", "0001", "0002"])
    assert "PIN didn't match" not in _pin_call(client, ADA, ["1234"])[0]
    _pin_call(client, ADA, ["0003", "0004", "0005"])
    with app.app_context():
        row = db.session().scalars(select(VerifyLock).where(VerifyLock.kind == "customer")).one()
        assert row.locked_until is None and row.failures == 3


def test_parallel_guessing_from_spoofed_numbers_does_not_get_in(
    app: Flask, client: FlaskClient
) -> None:
    # 40 guesses, the right one 31st, from calls in parallel, each from a new number.
    guesses: queue.Queue[str] = queue.Queue()
    for pin in [f"{n:04d}" for n in range(30)] + ["1234"] + [f"{n:04d}" for n in range(30, 39)]:
        guesses.put(pin)

    def attacker() -> None:
        c = app.test_client()
        while not guesses.empty():
            pins = []
            while len(pins) < 3 and not guesses.empty():
                pins.append(guesses.get())
            _pin_call(c, "+1555" + uuid.uuid4().hex[:7], pins)

    with ThreadPoolExecutor(6) as pool:
        for f in [pool.submit(attacker) for _ in range(6)]:
            f.result()

    with app.app_context():
        s = db.session()
        assert not s.scalars(select(Call).where(Call.verified.is_(True))).all()
        ada = select(Subscription).where(Subscription.customer_id == 1)
        assert s.scalars(ada).one().status == "active"
        lock = s.scalars(select(VerifyLock).where(VerifyLock.kind == "customer")).one()
        assert lock.locked_until is not None and lock.locks >= 1


def test_unknown_account_numbers_lock_the_calling_number(app: Flask, client: FlaskClient) -> None:
    caller = "+15550177777"
    for start in range(0, 9, 3):
        phone = Twilio(client, caller=caller)
        root = _root(phone.post("/voice/incoming"))
        for n in range(start, start + 3):
            root = _root(phone.post(_action(root), Digits=f"9{n:05d}"))
            if root.find("Gather") is None:
                break
    # Locked now: a real account number is "not found" too, so guesses learn nothing.
    phone = Twilio(client, caller=caller)
    root = _root(phone.post("/voice/incoming"))
    root = _root(phone.post(_action(root), Digits="100001"))
    assert "couldn't find that account" in _said(root)


def test_staff_see_locks_and_lift_them(app: Flask, client: FlaskClient) -> None:
    _pin_call(client, ADA, ["0000", "0001", "0002"])
    _pin_call(client, ADA, ["0003", "0004"])
    staff = signed_in(app, app.test_client(), "support")
    html = page(staff.get("/console/locks"))
    assert "100001" in html and "account" in html
    with app.app_context():
        lock_id = (
            db.session().scalars(select(VerifyLock.id).where(VerifyLock.kind == "customer")).one()
        )
    response = staff.post(f"/console/locks/{lock_id}", data={"csrf_token": csrf(staff)})
    assert response.status_code == 302
    assert "Nothing is locked" in page(staff.get("/console/locks"))
    heard = _pin_call(client, ADA, ["1234"])
    assert "PIN didn't match" not in heard[0]
