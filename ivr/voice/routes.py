"""The webhooks Twilio calls. Each one: check the signature, read the
parameters, ask the call service, answer TwiML."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from .. import calls, db, prompts
from ..flow.types import Answer
from . import twiml
from .security import is_from_twilio

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger("ivr.voice")


def twilio_only(view: Callable[..., Response]) -> Callable[..., Response]:
    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Response:
        if not is_from_twilio(request):
            log.warning("refused a request without a valid X-Twilio-Signature: %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked


def xml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


def _turn() -> int | None:
    value = request.args.get("turn", "")
    return int(value) if value.isdigit() and len(value) < 9 else None


def _answer_call(answer: Answer) -> Response:
    form = request.form
    call_sid = form.get("CallSid", "")
    hook = calls.Webhook(
        call_sid=call_sid,
        answer=answer,
        from_number=form.get("From"),
        to_number=form.get("To"),
        turn=_turn(),
        request_key=calls.request_key(request.full_path, form),
    )
    session = db.session()
    catalog = prompts.live_catalog(session)

    def render(decision, spoken, turn, language):  # type: ignore[no-untyped-def]
        return twiml.render(decision, spoken, turn, catalog, call_sid, current_app.config)

    body = calls.answer(session, hook, catalog, current_app.config, render)
    session.commit()
    return xml(body)


@bp.post("/incoming")
@twilio_only
def incoming() -> Response:
    return _answer_call(Answer("start"))


@bp.post("/gather")
@twilio_only
def gather() -> Response:
    form = request.form
    speech = form.get("SpeechResult")
    if speech is not None:
        answer = Answer("speech", speech=speech, confidence=_confidence(form.get("Confidence")))
    elif form.get("Digits"):
        answer = Answer("digits", digits=form.get("Digits", ""))
    else:
        answer = Answer("silence")
    return _answer_call(answer)


@bp.post("/silence")
@twilio_only
def silence() -> Response:
    return _answer_call(Answer("silence"))


@bp.post("/dial")
@twilio_only
def dial() -> Response:
    return _answer_call(Answer("dial", dial_status=request.form.get("DialCallStatus", "")))


@bp.post("/whisper")
@twilio_only
def whisper() -> Response:
    call_sid = request.args.get("call") or request.form.get("ParentCallSid", "")
    session = db.session()
    catalog = prompts.live_catalog(session)
    spoken = calls.whisper_lines(session, call_sid, catalog, current_app.config)
    session.commit()
    response = twiml.VoiceResponse()
    twiml.speak(response, spoken)
    return xml(str(response))


@bp.post("/status")
@twilio_only
def status() -> Response:
    form = request.form
    session = db.session()
    calls.finish_call(
        session, form.get("CallSid", ""), form.get("CallStatus", ""), form.get("CallDuration"), form
    )
    session.commit()
    return xml(str(twiml.VoiceResponse()))


def _confidence(value: str | None) -> float | None:
    try:
        c = float(value) if value is not None else None
    except ValueError:
        return None
    return c if c is not None and 0.0 <= c <= 1.0 else None
