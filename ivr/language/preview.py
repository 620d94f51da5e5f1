"""Previews of a draft prompt: the words and TwiML the line would answer with
(nothing stored), and a rough spoken version by espeak-ng."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..flow.types import Say
from ..prompts import Catalog
from ..ssml import estimated_seconds, plain_text
from .catalog import samples_for
from .check import clean

# --- previews ------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    text: str  # the words heard, sample values filled in
    twiml: str
    seconds: float
    reprompt_text: str | None = None
    reprompt_twiml: str | None = None
    reprompt_seconds: float | None = None


def draft_catalog(
    catalog: Catalog,
    key: str,
    language: str,
    text: str,
    reprompt: str | None,
    audio: str | None,
) -> Catalog:
    """The live catalog with one prompt replaced by a draft (nothing is stored)."""
    pack = catalog.pack(language)
    prompt = replace(catalog.prompt(language, key), text=text, reprompt=reprompt, audio=audio)
    packs = dict(catalog.packs)
    packs[pack.language] = replace(pack, prompts={**pack.prompts, key: prompt})
    return Catalog(packs)


def preview(
    catalog: Catalog,
    key: str,
    language: str,
    text: str,
    reprompt: str | None = None,
    audio: str | None = None,
    *,
    samples: Mapping[str, Mapping[str, str]],
) -> Preview:
    """The TwiML the line would answer with, through the real renderer."""
    from twilio.twiml.voice_response import VoiceResponse

    from ..voice.twiml import speak

    draft = draft_catalog(catalog, key, language, text, clean(reprompt), clean(audio))
    params = samples_for(samples, language)

    def render(short: bool) -> tuple[str, str, float]:
        line = Say(key, params, short=short)
        response = VoiceResponse()
        speak(response, draft.render(language, line))
        words = draft.text(language, line)
        return words, response.to_xml(xml_declaration=False), estimated_seconds(words)

    words, twiml, seconds = render(False)
    if clean(reprompt):
        r_words, r_twiml, r_seconds = render(True)
        return Preview(words, twiml, seconds, r_words, r_twiml, r_seconds)
    return Preview(words, twiml, seconds)


class SpeechUnavailable(RuntimeError):
    pass


ESPEAK_VOICES = {"en-US": "en-us", "es-US": "es-419"}


def synthesize_wav(text: str, language: str, timeout: float = 10.0) -> bytes:
    """A WAV of the text read by espeak-ng (a rough idea of pace and wording;
    the line itself speaks with the Polly voice of the language file)."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise SpeechUnavailable("espeak-ng is not installed on the server")
    voice = ESPEAK_VOICES.get(language, language[:2].lower())
    try:
        done = subprocess.run(
            [program, "-v", voice, "--stdin", "--stdout"],
            input=plain_text(text).encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SpeechUnavailable("espeak-ng took too long") from None
    if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
        raise SpeechUnavailable(
            "espeak-ng failed: " + done.stderr.decode("utf-8", "replace").strip()[:200]
        )
    return done.stdout
