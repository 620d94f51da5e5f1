"""Sending a queued text: a job on the line's job queue (procrastinate, the
same engine and workers as billing changes: ivr/billing/jobs.py).

The official `twilio` client sends it (TWILIO_API_BASE points it at a local
server in tests). Twilio's Messages API takes no idempotency key, so the job
marks the text `sending` (committed) before it asks Twilio; if that attempt
ends without an answer (a timeout, a worker that died), the next attempt
first looks for the message among those Twilio already has for the number,
and sends only if it is not there: a text goes out once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import procrastinate
from sqlalchemy import Connection, bindparam, select, update
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .. import db
from ..models import utcnow
from . import CONSENTS, MESSAGES, OPT_OUTS, UNTEXTABLE_ERRORS

log = logging.getLogger("ivr.messaging")

QUEUE = "messages"
TASK = "ivr.send_text"
# How long one request to Twilio may take before the attempt is given up.
TWILIO_TIMEOUT = 10


class TextingUnavailable(Exception):
    """Twilio could not take the text now (5xx, 429, no connection): retried."""


class TextRefused(Exception):
    """Twilio refused the text for good (a landline, an invalid number...)."""


def defer(conn: Connection, config: Mapping[str, Any], message_id: int, send_at: Any) -> None:
    """Queue the text's job on the caller's own connection: it commits with it."""
    from ..billing.jobs import engine_app

    task = (
        engine_app(config)
        .tasks[TASK]
        .configure(
            connection=conn.connection.driver_connection,
            lock=f"text-{message_id}",
            schedule_at=send_at,
        )
    )
    task.defer(message_id=message_id)


def register(app: procrastinate.App, retry: procrastinate.BaseRetryStrategy) -> None:
    app.task(name=TASK, queue=QUEUE, retry=retry)(_send_text_job)


def _send_text_job(message_id: int) -> None:
    from ..billing import jobs as engine

    flask_app = engine.worker_app()
    with flask_app.app_context():
        send_text(message_id, flask_app.config)


_READ = select(MESSAGES).where(MESSAGES.c.id == bindparam("id")).with_for_update()


def send_text(message_id: int, config: Mapping[str, Any]) -> str:
    """Send one queued text; its new state. Raises TextingUnavailable (the job
    is retried) or TextRefused (the job fails; the text is `failed`)."""
    with db.new_session() as s:
        conn = s.connection()
        row = conn.execute(_READ, {"id": message_id}).mappings().first()
        if row is None or row["state"] not in ("pending", "sending"):
            return "gone" if row is None else str(row["state"])
        why_not = _why_not_now(conn, row)
        if why_not:
            _update(conn, message_id, state="cancelled", error_message=why_not)
            s.commit()
            return "cancelled"
        client = twilio_client(config)
        if row["state"] == "sending":
            # The last attempt ended without an answer: did Twilio take it?
            found = _already_sent(client, row)
            if found is not None:
                _update(conn, message_id, state=found.status or "queued", twilio_sid=found.sid)
                s.commit()
                return "queued"
        _update(conn, message_id, state="sending", attempts=row["attempts"] + 1)
        s.commit()

    try:
        sent = client.messages.create(**_create_arguments(config, row))
    except TwilioRestException as exc:
        return _refused_or_later(message_id, exc)
    except TwilioException as exc:  # no answer at all: try again, looking first
        log.warning("text %s: no answer from Twilio (%s); will retry", message_id, exc)
        raise TextingUnavailable(str(exc)) from exc
    except OSError as exc:
        log.warning("text %s: %s; will retry", message_id, exc)
        raise TextingUnavailable(str(exc)) from exc
    with db.new_session() as s:
        _update(s.connection(), message_id, state=sent.status or "queued", twilio_sid=sent.sid)
        s.commit()
    return "queued"


def twilio_client(config: Mapping[str, Any]) -> Client:
    client = Client(
        config["TWILIO_ACCOUNT_SID"],
        config["TWILIO_AUTH_TOKEN"],
        http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT),
    )
    if config.get("TWILIO_API_BASE"):
        # Only to point the client at a local server that speaks the API (tests).
        client.api.base_url = str(config["TWILIO_API_BASE"]).rstrip("/")
    return client


def _create_arguments(config: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    sender = str(config["SMS_FROM"])
    arguments: dict[str, Any] = {"to": row["phone"], "body": row["body"]}
    if sender.startswith("MG"):
        arguments["messaging_service_sid"] = sender
    else:
        arguments["from_"] = sender
    if config.get("PUBLIC_BASE_URL"):
        arguments["status_callback"] = str(config["PUBLIC_BASE_URL"]).rstrip("/") + "/sms/status"
    return arguments


def _already_sent(client: Client, row: Mapping[str, Any]) -> Any:
    since = row["updated_at"] - dt.timedelta(minutes=1)
    for message in client.messages.list(to=row["phone"], date_sent_after=since, limit=50):
        if message.body == row["body"]:
            return message
    return None


def _why_not_now(conn: Connection, row: Mapping[str, Any]) -> str | None:
    if conn.scalar(select(OPT_OUTS.c.keyword).where(OPT_OUTS.c.phone == row["phone"])):
        return "the number opted out"
    if row["kind"] == "winback":
        consent = conn.execute(
            select(CONSENTS.c.revoked_at)
            .where(CONSENTS.c.call_id == row["call_id"], CONSENTS.c.phone == row["phone"])
            .order_by(CONSENTS.c.id.desc())
        ).first()
        if consent is None or consent.revoked_at is not None:
            return "no consent (or it was revoked)"
    return None


def _refused_or_later(message_id: int, exc: TwilioRestException) -> str:
    code = int(exc.code) if exc.code else None
    if exc.status == 429 or exc.status >= 500:
        with db.new_session() as s:
            # Twilio answered: it did not take the text, so no need to look first.
            _update(s.connection(), message_id, state="pending", error_message=exc.msg)
            s.commit()
        raise TextingUnavailable(f"HTTP {exc.status}: {exc.msg}") from exc
    with db.new_session() as s:
        _update(s.connection(), message_id, state="failed", error_code=code, error_message=exc.msg)
        s.commit()
    what = "cannot take texts" if code in UNTEXTABLE_ERRORS else "refused"
    log.warning("text %s: %s (Twilio error %s: %s)", message_id, what, code, exc.msg)
    raise TextRefused(f"Twilio error {code}: {exc.msg}") from exc


def _update(conn: Connection, message_id: int, **values: Any) -> None:
    values["updated_at"] = utcnow()
    if "error_message" in values and values["error_message"]:
        values["error_message"] = str(values["error_message"])[:2000]
    conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(values))
