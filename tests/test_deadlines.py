"""A webhook answers within its deadline whatever the database does: a
server that stops answering mid-transaction (behind a stalled network) is
cut off, the transaction rolls back, and the caller hears the apology; a
commit that was never confirmed is not called "nothing has changed"; a
status callback that could not be written asks Twilio to try again."""

from __future__ import annotations

import select
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from conftest import AUTH_TOKEN, Twilio, another_worker
from flask import Flask
from sqlalchemy import make_url
from sqlalchemy import select as sql_select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ivr import create_app, db
from ivr.models import Call, Subscription

ADA = "+15550100001"


class StallingProxy:
    """A TCP relay to PostgreSQL that can stop relaying, as a hung server or
    a dead network looks to the client: the connection stays open, and
    nothing comes back."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self.closed:
                self.flowing.wait()
                ready, _, _ = select.select(list(peers), [], [], 0.1)
                for s in ready:
                    if not self.flowing.is_set():
                        break
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def close(self) -> None:
        self.closed = True
        self.flowing.set()
        self.listener.close()


@pytest.fixture
def stalling(app: Flask, migrated: str, tmp_path) -> Iterator[tuple[Flask, StallingProxy]]:  # type: ignore[no-untyped-def]
    if not migrated.startswith("postgresql"):
        pytest.skip("a stalled database server is PostgreSQL's case (IVR_TEST_POSTGRES_URL)")
    url = make_url(migrated)
    proxy = StallingProxy((url.host or "127.0.0.1", url.port or 5432))
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    with another_worker(through, tmp_path) as worker:
        yield worker, proxy
    proxy.close()


def _root(response) -> ET.Element:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.data
    return ET.fromstring(response.data)


def _action(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    return gather.attrib["action"]


def _said(root: ET.Element) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


def test_a_stalled_database_gets_an_apology_within_the_deadline_and_changes_nothing(
    app: Flask, stalling: tuple[Flask, StallingProxy]
) -> None:
    worker, proxy = stalling
    phone = Twilio(worker.test_client())
    root = _root(phone.post("/voice/incoming"))
    root = _root(phone.post(_action(root), Digits="1234"))
    reason = _action(root)

    proxy.flowing.clear()
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(phone.post, reason, Digits="9")
        try:
            response = answer.result(timeout=12)
        except FutureTimeout:
            proxy.flowing.set()
            pytest.fail("the webhook was still waiting on the database after 12 s")
    elapsed = time.monotonic() - started
    proxy.flowing.set()

    assert elapsed < 8, f"answered after {elapsed:.1f} s"
    root = _root(response)
    assert "something went wrong on our side" in _said(root)
    assert root.find("Dial") is not None  # a person, in business hours
    with app.app_context():
        s = db.session()
        call = s.scalars(sql_select(Call).where(Call.call_sid == phone.call_sid)).one()
        assert call.step == "reason" and call.outcome == "in_progress"
        ada = s.scalars(sql_select(Subscription).where(Subscription.customer_id == 1)).one()
        assert ada.status == "active"


def test_an_unconfirmed_commit_is_not_called_nothing_changed(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = Twilio(app.test_client())
    root = _root(phone.post("/voice/incoming"))

    def lost(self: Session) -> None:
        raise DBAPIError("COMMIT", None, OSError("server closed the connection unexpectedly"))

    monkeypatch.setattr(Session, "commit", lost)
    root = _root(phone.post(_action(root), Digits="1234"))
    assert "could not confirm whether your last answer went through" in _said(root)
    assert "nothing has been changed" not in _said(root)


def test_a_status_callback_that_was_not_written_asks_twilio_to_retry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    down = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "x",
        }
    )
    response = Twilio(down.test_client()).post(
        "/voice/status", CallStatus="completed", CallDuration="42"
    )
    assert response.status_code == 503
