"""Rendering a decision as TwiML, with twilio's own builder (VoiceResponse)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ..flow.steps import STEPS
from ..flow.types import Decision, Hangup, Listen, Transfer
from ..prompts import Catalog, Spoken
from ..ssml import say

# Characters XML 1.0 does not allow: C0 controls but tab, newline and carriage
# return, lone surrogates, U+FFFE and U+FFFF. TwiML holding one does not parse,
# and Twilio would answer the caller with an application error.
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """The text without the characters XML cannot hold."""
    return NOT_IN_XML.sub("", text)


def url(path: str, **query: Any) -> str:
    return path + ("?" + urlencode(query) if query else "")


def speak(verb: VoiceResponse | Gather, lines: Iterable[Spoken]) -> None:
    for line in lines:
        if line.audio:
            verb.play(line.audio)
        elif line.text:
            attrs = {"language": line.language}
            if line.voice:
                attrs["voice"] = line.voice
            say(verb, xml_text(line.text), **attrs)


def render(
    decision: Decision,
    spoken: list[Spoken],
    turn: int,
    catalog: Catalog,
    call_sid: str,
    config: Mapping[str, Any],
) -> str:
    response = VoiceResponse()
    then = decision.then
    language = decision.state.language
    if isinstance(then, Listen):
        step = STEPS[then.step]
        listening = step.listening
        vocab = catalog.vocabulary(language)
        gather_args: dict[str, Any] = {
            "input": "dtmf speech",  # a string: a list would be written as "['dtmf', 'speech']"
            "action": url("/voice/gather", step=then.step, turn=turn, lang=language),
            "method": "POST",
            "timeout": listening.timeout,
            "speech_timeout": "auto",
            "language": language,
            "hints": xml_text(
                vocab.hints_for(
                    step.phase, ("agent", "repeat", *listening.intents), reasons=listening.reasons
                )
            ),
            "finish_on_key": listening.finish_on_key,
            "action_on_empty_result": False,
        }
        if listening.num_digits:
            gather_args["num_digits"] = listening.num_digits
        gather = Gather(**gather_args)
        speak(gather, spoken)
        response.append(gather)
        # Nothing heard: Twilio falls through to the next verb.
        response.redirect(
            url("/voice/silence", step=then.step, turn=turn, lang=language), method="POST"
        )
    elif isinstance(then, Transfer):
        speak(response, spoken)
        dial = Dial(
            action=url("/voice/dial", turn=turn, lang=language),
            method="POST",
            timeout=int(config.get("AGENT_DIAL_TIMEOUT") or 20),
        )
        dial.number(config["AGENT_NUMBER"], url=url("/voice/whisper", call=call_sid), method="POST")
        response.append(dial)
    else:
        assert isinstance(then, Hangup)
        speak(response, spoken)
        response.hangup()
    return str(response)
