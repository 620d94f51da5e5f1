"""`flask --app wsgi ivr call`: place a call on the line from the terminal."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import IO

import click
from flask import current_app
from flask.cli import with_appcontext

from .engine import (
    AGENT_CHOICES,
    DEFAULT_FROM,
    DEFAULT_FROM_STATE,
    DEFAULT_TO,
    KEYS,
    MAX_REQUESTS,
    Answer,
    Caller,
    CallSimulator,
    DialAttempt,
    Event,
    Prompt,
    ScriptedCaller,
    Transport,
    parse_answer,
)
from .lookup import language_on_file, record_lookup
from .transports import FlaskTransport, HttpTransport

HELP = """Place a call on the line, exactly as Twilio would, and show what the caller hears.

\b
Answers (typed, or given with --answer / --script), one per prompt:
  1234 or 1#      keys: digits, * and #
  too expensive   anything else is speech
  (empty) silence say nothing: the prompt times out
  hangup          hang up
--script FILE: one answer per line; blank lines and lines starting with #
that are not keys (e.g. "# the account number") are skipped; write
"silence" for silence. When scripted answers run out, the caller hangs up.
"""


class TerminalCaller:
    """A person at the keyboard answers each prompt."""

    def __init__(self, agent: str | None, confidence: float, err: bool):
        self._agent = agent
        self._confidence = confidence
        self._err = err

    def answer(self, prompt: Prompt) -> Answer:
        try:
            text = click.prompt(
                "You", default="", show_default=False, prompt_suffix="> ", err=self._err
            )
        except click.Abort:
            return Answer("hangup", "end of input, so the caller hangs up")
        return parse_answer(text, self._confidence)

    def agent(self, dial: DialAttempt) -> str:
        if self._agent:
            return self._agent
        try:
            return str(
                click.prompt(
                    f"The line rings {', '.join(dial.numbers)}. Does the agent answer?",
                    type=click.Choice(AGENT_CHOICES),
                    default="answers",
                    err=self._err,
                )
            )
        except click.Abort:
            return "no-answer"


class Speaker:
    """Speaks the line's words with espeak-ng, when it is installed."""

    def __init__(self) -> None:
        self._program = shutil.which("espeak-ng")
        if self._program is None:
            click.echo(
                "espeak-ng is not installed, so --speak only prints the words. To hear them,\n"
                "install it (Debian/Ubuntu: bash scripts/install-system-packages.sh espeak-ng;\n"
                "macOS: brew install espeak-ng) and call again.",
                err=True,
            )

    def __call__(self, text: str, language: str) -> None:
        if self._program is None:
            return
        voice = "en-us" if language.lower() == "en-us" else language.split("-")[0].lower()
        subprocess.run(
            [self._program, "-v", voice, text],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def read_script(lines: Iterable[str]) -> list[str]:
    answers = []
    for line in lines:
        text = line.strip()
        is_keys = set(text.replace(" ", "")) <= KEYS
        if not text or (text.startswith("#") and not is_keys):
            continue
        answers.append(text)
    return answers


def describe(event: Event, scripted: bool, caller_language: str, verbose: bool) -> str | None:
    """One line for people about an event, or None for events they need not see."""
    d = event.data
    match event.type:
        case "call":
            return f"Calling {d['to']} from {d['from_number']} (CallSid {d['call_sid']})"
        case "say":
            return f"  Line: {d['text']}"
        case "play":
            return f"  (plays {d['url']})"
        case "pause":
            return f"  (silence, {d['seconds']} s)"
        case "beep":
            return "  (beep)"
        case "prompt":
            note = ""
            mismatch = _primary(d["language"]) != _primary(caller_language)
            if d["verb"] == "Gather" and "speech" in d["listens_for"] and mismatch:
                note = (
                    f" -- it listens for {d['language']} speech and you speak "
                    f"{caller_language}: Twilio would likely mishear"
                )
            return f"  [{d['description']}]{note}"
        case "answer":
            return _describe_answer(d["kind"], d["value"], scripted)
        case "keys_taken":
            return f"  (the line takes {d['digits'] or 'nothing'} of {d['typed']})"
        case "refused":
            return f"  ! Not taken: {d['message']}. Answer again."
        case "dial":
            agent = {
                "answers": "the agent answers",
                "no-answer": "nobody answers",
                "busy": "the line is busy",
            }[d["agent"]]
            return f"  Ringing {', '.join(d['numbers'])}: {agent}."
        case "agent_hears":
            return f"  The agent hears: {d['text']}"
        case "agent_call":
            return f"  (you talk with the agent for {d['seconds']} s)"
        case "reject":
            return f"The line rejects the call ({d['reason']})."
        case "warning":
            return f"Warning: {d['message']}"
        case "request" if verbose:
            return f"    -> {d['method']} {d['url']}: {d['status']} ({d['latency_ms']} ms)"
        case "end":
            return f"Call ended: {d['ended']}." + (f"\nError: {d['error']}" if d["error"] else "")
    return None


def _describe_answer(kind: str, value: str, scripted: bool) -> str | None:
    if kind == "hangup":
        return f"You hang up ({value})."
    if not scripted:
        return None  # the person just typed it
    return {
        "keys": f"You press: {value}",
        "speech": f'You say: "{value}"',
        "silence": "You: (silence)",
    }[kind]


def _primary(language: str) -> str:
    return language.split("-")[0].lower()


@click.command("call", help=HELP)
@click.option(
    "--answer",
    "answers",
    multiple=True,
    metavar="ANSWER",
    help='Answer the next prompt (repeatable). Use "" or silence for silence.',
)
@click.option("--script", type=click.File("r"), help="Answers from a file, one a line.")
@click.option(
    "--agent",
    type=click.Choice(AGENT_CHOICES),
    help="What the agent does when the line rings a person "
    "(default: asked; 'answers' when scripted).",
)
@click.option(
    "--from",
    "from_number",
    default=DEFAULT_FROM,
    show_default=True,
    help="The caller's number (default: the first demo customer).",
)
@click.option("--to", "to_number", default=DEFAULT_TO, show_default=True, help="The line's number.")
@click.option(
    "--from-state",
    default=DEFAULT_FROM_STATE,
    show_default=True,
    help="Twilio's FromState: the US state of the caller's number, which decides the "
    "cancellation rules (voice_prompts/jurisdictions.yaml). '' sends none.",
)
@click.option(
    "--lang",
    "caller_language",
    default=None,
    help="The language the caller speaks, to warn when a prompt listens for another "
    "(default: the language on file for --from's customer, else en-US).",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="The Confidence sent with speech.",
)
@click.option(
    "--url",
    "server_url",
    help="Call a running server over HTTP, e.g. "
    "http://127.0.0.1:8000, instead of the app in this process.",
)
@click.option(
    "--public-base-url",
    help="With --url: the URL the server believes it has "
    "(its PUBLIC_BASE_URL), which requests are signed for. Default: --url.",
)
@click.option(
    "--fallback-url",
    default="/voice/fallback",
    show_default=True,
    help="Requested when a document fails, as Twilio's Fallback URL; '' for none.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(1),
    default=MAX_REQUESTS,
    show_default=True,
    help="Stop a call that makes this many requests (a loop).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the whole transcript as one JSON document on stdout.",
)
@click.option("--speak", is_flag=True, help="Speak the line's words with espeak-ng.")
@click.option("--verbose", "-v", is_flag=True, help="Show every request and its status.")
@with_appcontext
def call_command(
    answers: tuple[str, ...],
    script: IO[str] | None,
    agent: str | None,
    from_number: str,
    to_number: str,
    from_state: str,
    caller_language: str | None,
    confidence: float,
    server_url: str | None,
    public_base_url: str | None,
    fallback_url: str,
    max_requests: int,
    as_json: bool,
    speak: bool,
    verbose: bool,
) -> None:
    if answers and script:
        raise click.UsageError("Give answers with --answer or --script, not both.")
    if public_base_url and not server_url:
        raise click.UsageError("--public-base-url goes with --url.")
    scripted = bool(answers or script)
    caller: Caller
    if scripted:
        given = read_script(script) if script else list(answers)
        caller = ScriptedCaller(given, agent or "answers", confidence)
    else:
        caller = TerminalCaller(agent, confidence, err=as_json)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # A demo customer speaks the language they are greeted in: the one on file.
    caller_language = caller_language or language_on_file(app, from_number) or "en-US"
    transport: Transport
    if server_url:
        transport = HttpTransport(server_url, public_base_url)
        base_url = transport.public_base_url
    else:
        base_url = app.config.get("PUBLIC_BASE_URL") or "http://localhost"
        transport = FlaskTransport(app, base_url)

    # In --json mode stdout carries the JSON alone; a person at the keyboard
    # still needs to see the call, on stderr.
    show = not as_json or not scripted
    on_event = (
        _printer(
            scripted,
            caller_language,
            verbose,
            err=as_json,
            speaker=Speaker() if speak and show else None,
        )
        if show
        else None
    )
    simulator = CallSimulator(
        transport,
        base_url=base_url,
        auth_token=app.config["TWILIO_AUTH_TOKEN"],
        caller=caller,
        from_number=from_number,
        to_number=to_number,
        from_state=from_state or None,
        fallback_path=fallback_url or None,
        max_requests=max_requests,
        on_event=on_event,
        lookup=record_lookup(app),
    )
    transcript = simulator.run()
    if as_json:
        click.echo(json.dumps(transcript.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(
            f"Outcome: {transcript.outcome or 'unknown (no call record found)'}   "
            f"CallSid: {transcript.call_sid}   "
            f"(the caller listened {transcript.caller_seconds:.1f} s)"
        )
    if not transcript.ok:
        sys.exit(1)


def _printer(
    scripted: bool,
    caller_language: str,
    verbose: bool,
    err: bool,
    speaker: Speaker | None,
) -> Callable[[Event], None]:
    def on_event(event: Event) -> None:
        line = describe(event, scripted, caller_language, verbose)
        if line is not None:
            click.echo(line, err=err)
        if speaker is not None and event.type == "say":
            speaker(event.data["text"], event.data["language"])

    return on_event
