"""A phone in the terminal: places calls on the line exactly as Twilio would.

The engine (engine.py) runs TwiML with Twilio's semantics; transports
(transports.py) carry its requests in-process or over HTTP; cli.py is
`flask --app wsgi ivr call`. See docs/simulator.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask

from .engine import (
    AGENT_CHOICES,
    DEFAULT_FROM,
    DEFAULT_FROM_STATE,
    DEFAULT_TO,
    MAX_REQUESTS,
    WORDS_PER_SECOND,
    Answer,
    Caller,
    CallSimulator,
    DialAttempt,
    Event,
    HttpReply,
    Prompt,
    ScriptedCaller,
    Transcript,
    Transport,
    TransportError,
    parse_answer,
)
from .lookup import record_lookup
from .transports import FlaskTransport, HttpTransport

__all__ = [
    "AGENT_CHOICES",
    "DEFAULT_FROM",
    "DEFAULT_FROM_STATE",
    "DEFAULT_TO",
    "MAX_REQUESTS",
    "WORDS_PER_SECOND",
    "Answer",
    "CallSimulator",
    "Caller",
    "DialAttempt",
    "Event",
    "FlaskTransport",
    "HttpReply",
    "HttpTransport",
    "Prompt",
    "ScriptedCaller",
    "Transcript",
    "Transport",
    "TransportError",
    "parse_answer",
    "record_lookup",
    "simulate_call",
]


def simulate_call(
    app: Flask,
    answers: Iterable[str] = (),
    *,
    agent: str = "answers",
    from_number: str = DEFAULT_FROM,
    to_number: str = DEFAULT_TO,
    from_state: str | None = DEFAULT_FROM_STATE,
    confidence: float = 0.9,
    read_record: bool = True,
    fallback_path: str | None = "/voice/fallback",
    max_requests: int = MAX_REQUESTS,
    on_event: Callable[[Event], None] | None = None,
) -> Transcript:
    """Place one scripted call on `app`, in this process, and return its transcript.

    Each answer answers the next prompt (see parse_answer); when they run out
    the caller hangs up. With read_record, the transcript carries the call
    record (and so the outcome) from the app's database.
    """
    base_url = app.config.get("PUBLIC_BASE_URL") or "http://localhost"
    simulator = CallSimulator(
        FlaskTransport(app, base_url),
        base_url=base_url,
        auth_token=app.config["TWILIO_AUTH_TOKEN"],
        caller=ScriptedCaller(answers, agent, confidence),
        from_number=from_number,
        to_number=to_number,
        from_state=from_state,
        fallback_path=fallback_path,
        max_requests=max_requests,
        on_event=on_event,
        lookup=record_lookup(app) if read_record else None,
    )
    return simulator.run()
