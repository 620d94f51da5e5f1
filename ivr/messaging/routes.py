"""Twilio's messaging webhooks, signed like the voice webhooks:

- `POST /sms/status`: what became of a text (queued, sent, delivered,
  undelivered, failed); written to the text and to its call's record.
- `POST /sms/incoming`: a reply. STOP and the other opt-out words stop every
  later text (queued ones included) and revoke consent; START undoes it;
  HELP answers with the company's contact line.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, abort, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from .. import db, prompts
from ..calls import CallRow, event, lock_call_by_id, save
from . import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, opt_in, opt_out, record_status

bp = Blueprint("sms", __name__, url_prefix="/sms")
log = logging.getLogger("ivr.messaging")

TWILIO_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")


def _signed() -> None:
    from ..voice.security import is_from_twilio

    if not is_from_twilio(request):
        log.warning("refused a request without a valid X-Twilio-Signature: %s", request.path)
        abort(403)


def _xml(response: MessagingResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


@bp.post("/status")
def status() -> Response:
    _signed()
    sid = request.form.get("MessageSid", "")
    state = request.form.get("MessageStatus", "")[:20]
    if not TWILIO_SID.match(sid):
        return Response("MessageSid is missing or malformed.\n", 400, mimetype="text/plain")
    code_text = request.form.get("ErrorCode", "")
    code = int(code_text) if code_text.isdigit() else None

    def write(session):  # type: ignore[no-untyped-def]
        conn = session.connection()
        call_id = record_status(conn, sid, state, code)
        if call_id is not None:
            call: CallRow | None = lock_call_by_id(conn, call_id)
            if call is not None:
                detail = {"message": sid, "status": state}
                if code is not None:
                    detail["error_code"] = code
                event(call, "sms_status", detail, step=call.step)
                save(conn, call)

    # A write that fails answers 500, so Twilio tries the callback again.
    db.transaction(write)
    return Response(status=204)


@bp.post("/incoming")
def incoming() -> Response:
    _signed()
    phone = request.form.get("From", "")[:32]
    words = request.form.get("Body", "").strip().upper().split()
    keyword = words[0].strip(".!") if words else ""
    response = MessagingResponse()
    if not phone:
        return _xml(response)
    if keyword in OPT_OUT_WORDS:
        db.transaction(lambda s: opt_out(s.connection(), phone, keyword))
        log.info("%s opted out of texts (%s)", phone, keyword)
    elif keyword in OPT_IN_WORDS:
        db.transaction(lambda s: opt_in(s.connection(), phone))
    elif keyword in HELP_WORDS:
        catalog = prompts.baseline_catalog()
        language = _language_of(phone)
        from ..flow.types import Say

        text = catalog.text(
            language, Say("sms_help", {"company": current_app.config["COMPANY_NAME"]})
        )
        response.message(text)
    return _xml(response)


def _language_of(phone: str) -> str:
    from sqlalchemy import select

    from ..models import Customer

    found = db.transaction(
        lambda s: s.scalar(select(Customer.language).where(Customer.phone == phone).limit(1))
    )
    return str(found or "en-US")
