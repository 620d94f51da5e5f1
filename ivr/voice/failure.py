"""When something breaks, the caller still hears a voice and a way forward.

Built from the prompt files alone (no database), so it works with the
database down: an apology, then a person (AGENT_NUMBER, in business hours)
or an invitation to call back later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from .. import prompts
from ..flow.types import Say
from ..hours import is_open, parse_hours
from ..models import utcnow
from .twiml import speak


def can_reach_a_person(config: Mapping[str, Any]) -> bool:
    if not config.get("AGENT_NUMBER"):
        return False
    try:
        spans = parse_hours(config.get("AGENT_HOURS") or "")
    except ValueError:
        return True
    return is_open(spans, utcnow(), config["AGENT_TIMEZONE"])


def apology(
    language: str | None,
    config: Mapping[str, Any],
    offer_person: bool = True,
    in_doubt: bool = False,
) -> str:
    """`in_doubt`: the answer's commit was sent but never confirmed, so the
    caller is not told that nothing has changed."""
    catalog = prompts.baseline_catalog()
    language = language if language in catalog.packs else prompts.BASE_LANGUAGE
    dial = offer_person and can_reach_a_person(config)
    way_forward = Say("system_error_agent" if dial else "system_error_call_back")
    response = VoiceResponse()
    speak(
        response,
        catalog.render(
            language,
            Say(
                "system_error_in_doubt" if in_doubt else "system_error",
                {"way_forward": way_forward},
            ),
        ),
    )
    if dial:
        response.dial(config["AGENT_NUMBER"], timeout=int(config.get("AGENT_DIAL_TIMEOUT") or 20))
    response.hangup()
    return str(response)
