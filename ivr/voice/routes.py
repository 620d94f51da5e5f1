"""The webhooks Twilio calls. Each one: check the signature, read the
parameters, ask the call service, answer TwiML. Whatever goes wrong, the
answer is still TwiML the caller can follow (failure.apology)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, request, send_from_directory
from twilio.twiml.voice_response import VoiceResponse

from .. import calls, db, prompts
from ..flow.types import Answer
from . import twiml
from .failure import apology
from .security import is_from_twilio

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger("ivr.voice")

# Twilio's ids: letters and digits (CA + 32 hex). Anything else is not Twilio's.
TWILIO_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_NUMBER = 32  # From / To, as stored
# Twilio's Digits are a few keys; SpeechResult a sentence or two. Anything
# longer is not a caller's answer, and is cut before it is read or stored.
MAX_DIGITS = 64
MAX_SPEECH = 1000


def xml(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/xml")


def webhook(view: Callable[..., Response]) -> Callable[..., Response]:
    """Signature first; then the view, with any failure turned into an apology."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        if not is_from_twilio(request):
            log.warning("refused a request without a valid X-Twilio-Signature: %s", request.path)
            abort(403)
        call_sid = request.form.get("CallSid", "")
        if not TWILIO_SID.match(call_sid):
            return Response("CallSid is missing or malformed.\n", 400, mimetype="text/plain")
        g.call_sid = call_sid
        # What may be stored and said back: no NUL (PostgreSQL refuses it), no
        # other character XML cannot hold (a caller's number or words may be
        # read back in TwiML).
        g.form = {k: twiml.xml_text(v) for k, v in request.form.items()}
        g.ivr_step = request.args.get("step") or request.endpoint.rsplit(".", 1)[-1]
        try:
            return view(*args, **kwargs)
        except Exception as exc:
            log.exception("voice webhook %s failed for call %s", request.path, call_sid)
            g.ivr_error = "deadline" if isinstance(exc, db.DeadlinePassed) else "exception"
            db.discard_session()
            # A failed transfer answer must not ring the person again.
            offer_person = request.endpoint != "voice.dial"
            in_doubt = isinstance(exc, db.CommitInDoubt)
            return xml(apology(_language(), current_app.config, offer_person, in_doubt))

    return guarded


def _deadline() -> float:
    """What is left of the webhook's time for the database (WEBHOOK_DB_DEADLINE)."""
    return float(current_app.config["WEBHOOK_DB_DEADLINE"])


def _language() -> str | None:
    return request.args.get("lang")


def _turn() -> int | None:
    value = request.args.get("turn", "")
    return int(value) if re.fullmatch(r"[0-9]{1,8}", value) else None


def _number(name: str) -> str | None:
    value = g.form.get(name)
    return value[:MAX_NUMBER] if value is not None else None


def _answer_call(answer: Answer) -> Response:
    form = g.form
    hook = calls.Webhook(
        call_sid=form["CallSid"],
        answer=answer,
        from_number=_number("From"),
        to_number=_number("To"),
        turn=_turn(),
        request_key=calls.request_key(request.full_path, form),
        from_state=(form.get("FromState") or "")[:8] or None,
        path=request.full_path.rstrip("?"),
        params=form,
    )

    def render(decision, spoken, turn, catalog):  # type: ignore[no-untyped-def]
        return twiml.render(decision, spoken, turn, catalog, hook.call_sid, current_app.config)

    return xml(
        db.transaction(
            lambda session: calls.answer(
                session, hook, prompts.live_catalog, current_app.config, render
            ),
            deadline=_deadline(),
        )
    )


@bp.post("/incoming")
@webhook
def incoming() -> Response:
    return _answer_call(Answer("start"))


@bp.post("/gather")
@webhook
def gather() -> Response:
    form = g.form
    speech = form.get("SpeechResult")
    digits = form.get("Digits", "")
    if speech is not None:
        answer = Answer(
            "speech", speech=speech[:MAX_SPEECH], confidence=_confidence(form.get("Confidence"))
        )
    elif digits:
        answer = Answer("digits", digits=digits[:MAX_DIGITS])
    else:
        answer = Answer("silence")
    return _answer_call(answer)


@bp.post("/silence")
@webhook
def silence() -> Response:
    return _answer_call(Answer("silence"))


@bp.post("/dial")
@webhook
def dial() -> Response:
    return _answer_call(Answer("dial", dial_status=g.form.get("DialCallStatus", "")[:20]))


@bp.post("/whisper")
@webhook
def whisper() -> Response:
    # The whisper request is the agent's leg; the caller's CallSid is in the URL.
    call_sid = request.args.get("call") or g.form.get("ParentCallSid", "")
    if not TWILIO_SID.match(call_sid):
        return Response(
            "The caller's CallSid is missing or malformed.\n", 400, mimetype="text/plain"
        )

    def lines(session):  # type: ignore[no-untyped-def]
        catalog = prompts.live_catalog(session)
        return calls.whisper_lines(session, call_sid, catalog, current_app.config)

    spoken = db.transaction(lines, deadline=_deadline())  # writes the whisper to the record
    response = VoiceResponse()
    twiml.speak(response, spoken)
    return xml(str(response))


@bp.post("/status")
@webhook
def status() -> Response:
    form = g.form
    answer = str(VoiceResponse())
    try:
        db.transaction(
            lambda session: calls.finish_call(
                session,
                form["CallSid"],
                form.get("CallStatus", "")[:20],
                form.get("CallDuration"),
                _number("From"),
                _number("To"),
                request=(request.full_path.rstrip("?"), form, answer),
            ),
            deadline=_deadline(),
        )
    except Exception:
        # Nobody is listening to this answer but Twilio: a 5xx makes it try
        # again later, where a 200 would leave the record in progress for good.
        log.exception("status callback for call %s was not recorded", g.call_sid)
        g.ivr_error = "status_not_recorded"
        db.discard_session()
        return Response("The call's status was not recorded.\n", 503, mimetype="text/plain")
    return xml(answer)


@bp.post("/fallback")
@webhook
def fallback() -> Response:
    """Twilio's Fallback URL: our primary answer failed (ErrorCode, ErrorUrl)."""
    g.ivr_error = "fallback"
    log.error(
        "Twilio used the fallback URL for call %s: error %s at %s",
        g.call_sid,
        g.form.get("ErrorCode"),
        g.form.get("ErrorUrl"),
    )
    return xml(apology(_language(), current_app.config))


@bp.get("/audio/<path:name>")
def audio(name: str) -> Response:
    """Recorded prompts (voice_prompts/audio/...). A prompt's `audio: audio/x.mp3`
    is relative in the TwiML, so Twilio fetches it here. Public, like any
    recording Twilio plays, and only from that folder."""
    folder = Path(current_app.config["VOICE_PROMPTS_DIR"]) / "audio"
    return send_from_directory(folder, name, max_age=300)


def _confidence(value: str | None) -> float | None:
    try:
        c = float(value) if value is not None else None
    except ValueError:
        return None
    return c if c is not None and 0.0 <= c <= 1.0 else None
