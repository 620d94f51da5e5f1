"""Texts to callers after the call: the written confirmation, and a win-back
offer only with the caller's recorded consent (docs/decisions/0019).

A text is queued in the webhook's transaction (an `sms_messages` row and a
job on the job queue, committed with the call's record) and sent by a worker
through Twilio's Messaging API (ivr/messaging/jobs.py), never inside a
webhook. Twilio's status callbacks (`POST /sms/status`) say what became of
it. A number that replied STOP (`POST /sms/incoming`) gets no more texts; a
number that cannot take texts (a landline) is not texted again.

Settings: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, SMS_FROM (a number, or a
Messaging Service SID "MG..."), TWILIO_API_BASE (tests only). Without
them no text is queued and the line promises none. Texts go through the job
queue, which needs PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import Connection, exists, insert, select, update

from ..models import Consent, SmsMessage, SmsOptOut, utcnow

MESSAGES = SmsMessage.__table__
OPT_OUTS = SmsOptOut.__table__
CONSENTS = Consent.__table__

# Twilio's standard opt-out and opt-in words (Messaging Services' defaults).
OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
# Twilio errors that mean this number cannot take texts: never retried, and
# the number is not texted again (21614: not a mobile number; 21211: not a
# valid number; 21610: the number replied STOP to our sender; 21612: the
# route cannot take texts).
UNTEXTABLE_ERRORS = frozenset({21211, 21610, 21612, 21614})
# Final states Twilio reports, and the order a message goes through.
STATES = ("pending", "queued", "sending", "sent", "delivered", "undelivered", "failed", "cancelled")


def enabled(config: Mapping[str, Any]) -> bool:
    return bool(
        config.get("TWILIO_ACCOUNT_SID")
        and config.get("TWILIO_AUTH_TOKEN")
        and config.get("SMS_FROM")
    )


def init_app(app: Flask) -> None:
    """Texts are sent by jobs in the database: refuse, at start-up, settings
    that ask for texts on SQLite."""
    if enabled(app.config) and not str(app.config["DATABASE_URL"]).startswith("postgres"):
        raise RuntimeError(
            "SMS_FROM is set, but texts are sent by jobs queued in PostgreSQL "
            "(DATABASE_URL=postgresql://...): the embedded SQLite database has no job queue. "
            "Unset SMS_FROM to run without texts."
        )
    from .routes import bp

    app.register_blueprint(bp)


def can_text(conn: Connection, config: Mapping[str, Any], phone: str | None) -> bool:
    """Whether a text to this number may be queued now: texts are set up, the
    number did not opt out, and it has not proved unable to take texts."""
    if not phone or not enabled(config):
        return False
    opted_out = conn.scalar(select(exists().where(OPT_OUTS.c.phone == phone)))
    if opted_out:
        return False
    untextable = conn.scalar(
        select(
            exists().where(
                MESSAGES.c.phone == phone,
                MESSAGES.c.state == "failed",
                MESSAGES.c.error_code.in_(sorted(UNTEXTABLE_ERRORS)),
            )
        )
    )
    return not untextable


def queue(
    conn: Connection,
    config: Mapping[str, Any],
    *,
    phone: str,
    kind: str,
    language: str,
    body: str,
    call_id: int | None,
    send_at: dt.datetime | None = None,
) -> int:
    """A text, and the job that sends it, in the caller's transaction."""
    now = utcnow()
    message_id = conn.execute(
        insert(MESSAGES)
        .values(
            call_id=call_id,
            phone=phone,
            kind=kind,
            language=language,
            body=body,
            state="pending",
            send_at=send_at,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .returning(MESSAGES.c.id)
    ).scalar_one()
    from .jobs import defer

    defer(conn, config, int(message_id), send_at)
    return int(message_id)


def opt_out(conn: Connection, phone: str, keyword: str) -> None:
    """STOP: nothing more goes to this number, queued texts included, and any
    consent it gave is revoked."""
    if conn.scalar(select(exists().where(OPT_OUTS.c.phone == phone))):
        return
    now = utcnow()
    conn.execute(insert(OPT_OUTS).values(phone=phone, keyword=keyword[:20], at=now))
    conn.execute(
        update(MESSAGES)
        .where(MESSAGES.c.phone == phone, MESSAGES.c.state == "pending")
        .values(state="cancelled", error_message=f"opted out ({keyword})", updated_at=now)
    )
    conn.execute(
        update(CONSENTS)
        .where(CONSENTS.c.phone == phone, CONSENTS.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def opt_in(conn: Connection, phone: str) -> None:
    conn.execute(OPT_OUTS.delete().where(OPT_OUTS.c.phone == phone))


def record_status(
    conn: Connection, twilio_sid: str, status: str, error_code: int | None
) -> int | None:
    """Twilio's word on a message; the call it belongs to (for its record)."""
    row = conn.execute(
        select(MESSAGES.c.id, MESSAGES.c.call_id, MESSAGES.c.state).where(
            MESSAGES.c.twilio_sid == twilio_sid
        )
    ).first()
    if row is None or status not in STATES:
        return None
    # Callbacks can arrive out of order: a later state is never overwritten
    # by an earlier one (sent after delivered, say).
    if STATES.index(status) < STATES.index(row.state) and row.state != "sending":
        return row.call_id
    values: dict[str, Any] = {"state": status, "updated_at": utcnow()}
    if error_code is not None:
        values["error_code"] = error_code
    conn.execute(update(MESSAGES).where(MESSAGES.c.id == row.id).values(values))
    return row.call_id
