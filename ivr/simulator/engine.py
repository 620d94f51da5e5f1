"""Run one call the way Twilio runs it.

The engine fetches TwiML, executes it verb by verb with Twilio's documented
semantics, signs every request as Twilio does and keeps a transcript. It
knows nothing of Flask or sockets: a *transport* delivers each request, a
*caller* answers each prompt, so tests, the terminal and the benchmark can
each plug in their own.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

# How fast Twilio's text-to-speech talks, near enough: caller_seconds and
# the simulated call length are built on it.
WORDS_PER_SECOND = 2.5
# A caller pressing keys, for the simulated call length (not caller_seconds).
SECONDS_PER_KEY = 0.3
# How long a connected agent talks before hanging up, for DialCallDuration.
AGENT_CALL_SECONDS = 60
# A loop in the TwiML (a Redirect to itself, say) must not run forever.
MAX_REQUESTS = 200

DEFAULT_FROM = "+15550100001"  # the first demo customer
DEFAULT_TO = "+15550109999"
# Twilio sends the state the caller's number is from (FromState). The demo
# numbers are fictional, so the simulator says New York (a state with no
# rules of its own in voice_prompts/jurisdictions.yaml) unless told otherwise.
DEFAULT_FROM_STATE = "NY"
SIMULATOR_ACCOUNT_SID = "AC" + "5" * 32
APPLICATION_ERROR = "We are sorry, an application error has occurred."
KEYS = frozenset("0123456789*#")
AGENT_CHOICES = ("answers", "no-answer", "busy")
DIAL_CALL_STATUS = {"answers": "completed", "no-answer": "no-answer", "busy": "busy"}
# Twilio's error codes for a document it could not fetch or could not parse.
HTTP_RETRIEVAL_FAILURE = "11200"
DOCUMENT_PARSE_FAILURE = "12100"
# Verbs Twilio runs that the simulator does not, so the warning can say so.
NOT_SIMULATED = frozenset(
    {
        "Connect",
        "Echo",
        "Enqueue",
        "Leave",
        "Pay",
        "Prompt",
        "Queue",
        "Refer",
        "Sms",
        "Message",
        "Start",
        "Stop",
    }
)


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """The request got no HTTP answer at all; the message says why, for people."""


class Transport(Protocol):
    def __call__(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply: ...


AnswerKind = Literal["keys", "speech", "silence", "hangup"]


@dataclass(frozen=True)
class Answer:
    kind: AnswerKind
    value: str = ""
    confidence: float = 0.9


def parse_answer(text: str, confidence: float = 0.9) -> Answer:
    """What a typed or scripted answer means.

    Empty or "silence": the caller says nothing. "hangup": the caller hangs
    up. Only digits, * and # (spaces allowed): keys. Anything else: speech.
    """
    stripped = text.strip()
    if stripped.lower() in ("", "silence"):
        return Answer("silence")
    if stripped.lower() == "hangup":
        return Answer("hangup", "the caller hung up")
    keys = stripped.replace(" ", "")
    if set(keys) <= KEYS:
        return Answer("keys", keys)
    return Answer("speech", " ".join(stripped.split()), confidence)


@dataclass(frozen=True)
class Prompt:
    """A <Gather> or <Record> waiting for the caller."""

    verb: Literal["Gather", "Record"]
    listens_for: tuple[str, ...]
    heard: str
    num_digits: int | None = None
    finish_on_key: str = ""
    timeout: float = 5
    language: str = "en-US"

    def refusal(self, answer: Answer) -> str | None:
        """Why this prompt cannot take the answer, or None when it can."""
        if answer.kind == "keys" and "dtmf" not in self.listens_for:
            if self.verb == "Record":
                return "this prompt records your voice; say something, or answer with silence"
            return "this prompt listens for speech only; say something instead of pressing keys"
        if answer.kind == "speech" and "speech" not in self.listens_for:
            return "this prompt listens for keys only; press keys (digits, * or #)"
        return None

    def describe(self) -> str:
        if self.verb == "Record":
            return "recording: say your message"
        parts = [" or ".join("keys" if kind == "dtmf" else "speech" for kind in self.listens_for)]
        if self.num_digits:
            parts.append(f"{self.num_digits} digit{'s' if self.num_digits > 1 else ''}")
        if self.finish_on_key and "dtmf" in self.listens_for:
            parts.append(f"{self.finish_on_key} to finish")
        return "listening for " + ", ".join(parts)


@dataclass(frozen=True)
class DialAttempt:
    numbers: tuple[str, ...]
    timeout: int


class Caller(Protocol):
    def answer(self, prompt: Prompt) -> Answer: ...

    def agent(self, dial: DialAttempt) -> str:
        """One of AGENT_CHOICES: what the person the line rings does."""
        ...


class ScriptedCaller:
    """Answers prompts from a list; hangs up when the list runs out."""

    def __init__(self, answers: Iterable[str], agent: str = "answers", confidence: float = 0.9):
        if agent not in AGENT_CHOICES:
            raise ValueError(f"agent must be one of {', '.join(AGENT_CHOICES)}, not {agent!r}")
        self._answers = list(answers)
        self._agent = agent
        self._confidence = confidence

    def answer(self, prompt: Prompt) -> Answer:
        if not self._answers:
            return Answer("hangup", "no answers left, so the caller hangs up")
        return parse_answer(self._answers.pop(0), self._confidence)

    def agent(self, dial: DialAttempt) -> str:
        return self._agent


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.data}


@dataclass
class Transcript:
    call_sid: str
    from_number: str
    to_number: str
    events: list[Event] = field(default_factory=list)
    caller_seconds: float = 0.0
    call_duration: int = 0
    ended: str = ""
    error: str | None = None
    record: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def outcome(self) -> str | None:
        return self.record.get("outcome") if self.record else None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event.to_dict() for event in self.events if event.type == kind]

    def heard(self) -> list[str]:
        """Every sentence the line said to the caller, in order."""
        return [event.data["text"] for event in self.events if event.type == "say"]

    def requests(self) -> list[dict[str, Any]]:
        return self.of_type("request")

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "from": self.from_number,
            "to": self.to_number,
            "outcome": self.outcome,
            "record": self.record,
            "ended": self.ended,
            "error": self.error,
            "caller_seconds": round(self.caller_seconds, 2),
            "call_duration": self.call_duration,
            "heard": self.heard(),
            "answers": self.of_type("answer"),
            "plays": [event["url"] for event in self.of_type("play")],
            "requests": self.requests(),
            "events": [event.to_dict() for event in self.events],
        }


@dataclass(frozen=True)
class _Document:
    url: str
    root: ET.Element


class _CallEnded(Exception):
    def __init__(self, ended: str, error: str | None = None, status: str = "completed"):
        super().__init__(ended)
        self.ended = ended
        self.error = error
        self.status = status


class _Unreachable(_CallEnded):
    """No status callback after this: Twilio could not reach the app either."""


Lookup = Callable[[str], dict[str, Any] | None]


class CallSimulator:
    """One inbound call, from the first ring to the status callback."""

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        auth_token: str,
        caller: Caller,
        from_number: str = DEFAULT_FROM,
        to_number: str = DEFAULT_TO,
        from_state: str | None = DEFAULT_FROM_STATE,
        voice_path: str = "/voice/incoming",
        status_path: str = "/voice/status",
        fallback_path: str | None = "/voice/fallback",
        max_requests: int = MAX_REQUESTS,
        on_event: Callable[[Event], None] | None = None,
        lookup: Lookup | None = None,
    ):
        self._transport = transport
        self._base_url = base_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._caller = caller
        self._from_state = from_state
        self._voice_url = self._absolute(voice_path)
        self._status_url = self._absolute(status_path)
        self._fallback_url = self._absolute(fallback_path) if fallback_path else None
        self._max_requests = max_requests
        self._on_event = on_event
        self._lookup = lookup
        self._requests = 0
        self._verbs_run = 0
        self._clock = 0.0
        self._answered = False
        self.transcript = Transcript("CA" + uuid.uuid4().hex, from_number, to_number)

    def run(self) -> Transcript:
        t = self.transcript
        self._emit(
            "call",
            call_sid=t.call_sid,
            from_number=t.from_number,
            to=t.to_number,
            url=self._voice_url,
        )
        ended: _CallEnded
        try:
            document = self._fetch_twiml("POST", self._voice_url, {}, "voice")
            while True:
                document = self._execute(document)
        except _CallEnded as exc:
            ended = exc
        t.ended, t.error = ended.ended, ended.error
        t.call_duration = math.ceil(self._clock) if self._answered else 0
        self._emit("end", ended=ended.ended, error=ended.error)
        if not isinstance(ended, _Unreachable):
            self._status_callback(ended.status)
            if self._lookup is not None:
                t.record = self._lookup(t.call_sid)
        return t

    # --- requests ---------------------------------------------------------

    def _absolute(self, path_or_url: str) -> str:
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return self._base_url + "/" + path_or_url.lstrip("/")

    def _params(self, call_status: str) -> dict[str, str]:
        t = self.transcript
        return {
            "AccountSid": SIMULATOR_ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": t.call_sid,
            "CallStatus": call_status,
            "Direction": "inbound",
            "From": t.from_number,
            "Caller": t.from_number,
            "To": t.to_number,
            "Called": t.to_number,
            **({"FromState": self._from_state} if self._from_state else {}),
        }

    def _send(self, method: str, url: str, params: Mapping[str, str], purpose: str) -> HttpReply:
        """Sign and deliver one request as Twilio would; raises TransportError."""
        method = method.upper()
        if method == "GET":
            parts = urlsplit(url)
            query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
            url, form = urlunsplit(parts._replace(query=query)), {}
        else:
            method, form = "POST", dict(params)
        headers = {
            "X-Twilio-Signature": self._validator.compute_signature(url, form),
            "User-Agent": "TwilioProxy/1.1",
        }
        self._requests += 1
        started = time.perf_counter()
        try:
            reply = self._transport(method, url, form, headers)
        finally:
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
        self._emit(
            "request",
            purpose=purpose,
            method=method,
            url=url,
            params=dict(params),
            status=reply.status,
            latency_ms=latency_ms,
        )
        return reply

    def _fetch_twiml(
        self, method: str, url: str, extra: Mapping[str, str], purpose: str
    ) -> _Document:
        """Fetch the next document, with Twilio's fallback and error handling."""
        if self._requests >= self._max_requests:
            raise _CallEnded(
                "too many requests",
                f"the call made {self._max_requests} requests without ending; "
                "stopped it (is there a loop in the TwiML?)",
            )
        params = {**self._params("in-progress" if self._requests else "ringing"), **extra}
        try:
            reply = self._send(method, url, params, purpose)
        except TransportError as exc:
            raise _Unreachable("unreachable", str(exc)) from exc
        try:
            root = _read_twiml(reply)
        except _TwimlProblem as problem:
            return self._failed(method, url, reply, problem, purpose)
        self._answered = True
        return _Document(url, root)

    def _failed(
        self, method: str, url: str, reply: HttpReply, problem: _TwimlProblem, purpose: str
    ) -> _Document:
        """Do what Twilio does with a document it cannot run: the fallback, or give up."""
        where = f"{method.upper()} {_path(url)}"
        self._emit("warning", message=f"Twilio error {problem.code}: {problem} from {where}")
        hint = ""
        if reply.status == 403:
            hint = (
                " The app refused the request's signature: does the simulator sign with "
                "the server's TWILIO_AUTH_TOKEN and its PUBLIC_BASE_URL?"
            )
        if self._fallback_url and purpose != "fallback":
            fallback = {"ErrorCode": problem.code, "ErrorUrl": url}
            try:
                return self._fetch_twiml("POST", self._fallback_url, fallback, "fallback")
            except _CallEnded as exc:
                if isinstance(exc, _Unreachable) or exc.ended != "application error":
                    raise
                hint += f" The fallback URL {_path(self._fallback_url)} failed too."
        raise _CallEnded(
            "application error",
            f"Twilio would say: '{APPLICATION_ERROR}' ({problem} from {where}).{hint}",
        )

    def _status_callback(self, status: str) -> None:
        params = {
            **self._params(status),
            "CallDuration": str(self.transcript.call_duration),
            "Timestamp": email.utils.format_datetime(dt.datetime.now(dt.UTC)),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
        }
        try:
            reply = self._send("POST", self._status_url, params, "status-callback")
        except TransportError as exc:
            self._emit("warning", message=f"status callback not delivered: {exc}")
            return
        if not 200 <= reply.status < 300:
            self._emit(
                "warning",
                message=f"the status callback got HTTP {reply.status} (Twilio logs warning 15003)",
            )

    # --- verbs --------------------------------------------------------------

    def _execute(self, document: _Document) -> _Document:
        """Run a document's verbs; return the next document to run."""
        for verb in document.root:
            if not isinstance(verb.tag, str):
                continue  # comments and processing instructions
            handler = self._VERBS.get(verb.tag)
            if handler is None:
                self._unknown(verb, "<Response>")
                continue
            # Only the call's very first verb can refuse the call.
            first_verb = self._verbs_run == 0
            self._verbs_run += 1
            next_document = handler(self, verb, document, first_verb)
            if next_document is not None:
                return next_document
        raise _CallEnded("end of TwiML")

    def _say(self, verb: ET.Element, *_: Any) -> None:
        text = " ".join("".join(verb.itertext()).split())
        loop = _int(verb.get("loop"), 1)
        if loop == 0:
            self._emit("warning", message='<Say loop="0"> repeats until the call ends; played once')
        for _ in range(max(loop, 1)):
            self._emit(
                "say", text=text, language=verb.get("language", "en-US"), voice=verb.get("voice")
            )
            self._listen(len(text.split()) / WORDS_PER_SECOND)

    def _play(self, verb: ET.Element, *_: Any) -> None:
        # The length of an audio file is unknown here: it counts as 0 s.
        url = (verb.text or "").strip()
        for _ in range(max(_int(verb.get("loop"), 1), 1)):
            self._emit("play", url=url, digits=verb.get("digits"))

    def _pause(self, verb: ET.Element, *_: Any) -> None:
        seconds = _int(verb.get("length"), 1)
        self._emit("pause", seconds=seconds)
        self._listen(seconds)

    def _hangup(self, *_: Any) -> None:
        raise _CallEnded("the line hung up")

    def _reject(self, verb: ET.Element, _document: _Document, first_verb: bool) -> None:
        reason = verb.get("reason", "rejected")
        self._emit("reject", reason=reason)
        if first_verb:
            # Twilio never picks up: no duration, and the status tells why.
            self._answered = False
            raise _CallEnded("rejected", status="busy" if reason == "busy" else "no-answer")
        raise _CallEnded("the line hung up")

    def _redirect(self, verb: ET.Element, document: _Document, _first: bool) -> _Document | None:
        target = (verb.text or "").strip()
        if not target:
            self._emit("warning", message="<Redirect> without a URL; skipped")
            return None
        url = urljoin(document.url, target)
        return self._fetch_twiml(verb.get("method", "POST"), url, {}, "redirect")

    def _gather(self, verb: ET.Element, document: _Document, _first: bool) -> _Document | None:
        heard = self._play_nested(verb)
        listens_for = tuple(verb.get("input", "dtmf").split())
        prompt = Prompt(
            verb="Gather",
            listens_for=listens_for,
            heard=heard,
            num_digits=_int(verb.get("numDigits"), 0) or None,
            finish_on_key=verb.get("finishOnKey", "#"),
            timeout=_int(verb.get("timeout"), 5),
            language=verb.get("language", "en-US"),
        )
        answer = self._ask(prompt)
        result, waited = _gather_result(prompt, answer)
        if answer.kind == "keys" and result.get("Digits") != answer.value:
            self._emit("keys_taken", typed=answer.value, digits=result.get("Digits", ""))
        if waited:
            self._listen(prompt.timeout)
        action = urljoin(document.url, verb.get("action") or document.url)
        method = verb.get("method", "POST")
        if result:
            return self._fetch_twiml(method, action, result, "gather")
        if verb.get("actionOnEmptyResult", "false").lower() == "true":
            return self._fetch_twiml(method, action, {}, "gather")
        return None  # nothing heard: Twilio falls through to the next verb

    def _play_nested(self, verb: ET.Element) -> str:
        said: list[str] = []
        for child in verb:
            if not isinstance(child.tag, str):
                continue
            if child.tag == "Say":
                self._say(child)
                said.append(" ".join("".join(child.itertext()).split()))
            elif child.tag == "Play":
                self._play(child)
            elif child.tag == "Pause":
                self._pause(child)
            else:
                self._unknown(child, f"<{verb.tag}>")
        return " ".join(said)

    def _record(self, verb: ET.Element, document: _Document, _first: bool) -> _Document | None:
        prompt = Prompt(
            verb="Record", listens_for=("speech",), heard="", timeout=_int(verb.get("timeout"), 5)
        )
        if verb.get("playBeep", "true").lower() != "false":
            self._emit("beep")
        answer = self._ask(prompt)
        if answer.kind == "silence":
            # An empty recording: Twilio skips the action and goes on.
            self._listen(prompt.timeout)
            return None
        words = len(answer.value.split())
        max_length = _int(verb.get("maxLength"), 3600)
        recording_sid = "RE" + uuid.uuid4().hex
        recording = {
            "RecordingSid": recording_sid,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{SIMULATOR_ACCOUNT_SID}"
            f"/Recordings/{recording_sid}",
            "RecordingDuration": str(min(max_length, max(1, round(words / WORDS_PER_SECOND)))),
        }
        callback = verb.get("transcribeCallback")
        if callback:
            self._transcription(urljoin(document.url, callback), recording, answer.value)
        action = urljoin(document.url, verb.get("action") or document.url)
        return self._fetch_twiml(verb.get("method", "POST"), action, recording, "record")

    def _transcription(self, url: str, recording: Mapping[str, str], text: str) -> None:
        params = {
            **self._params("in-progress"),
            **recording,
            "TranscriptionSid": "TR" + uuid.uuid4().hex,
            "TranscriptionText": text,
            "TranscriptionStatus": "completed",
        }
        try:
            self._send("POST", url, params, "transcription")
        except TransportError as exc:
            self._emit("warning", message=f"transcription callback not delivered: {exc}")

    def _dial(self, verb: ET.Element, document: _Document, _first: bool) -> _Document | None:
        people = [child for child in verb if child.tag in ("Number", "Client", "Sip")]
        for child in verb:
            if isinstance(child.tag, str) and child not in people:
                self._unknown(child, "<Dial>")
        numbers = tuple((p.text or "").strip() for p in people)
        if not people and (verb.text or "").strip():
            numbers = ((verb.text or "").strip(),)
        if not numbers:
            self._emit("warning", message="<Dial> with nobody to ring; skipped")
            return None
        timeout = _int(verb.get("timeout"), 30)
        agent = self._caller.agent(DialAttempt(numbers, timeout))
        if agent not in AGENT_CHOICES:
            raise ValueError(f"the agent must be one of {', '.join(AGENT_CHOICES)}, not {agent!r}")
        dial_status = DIAL_CALL_STATUS[agent]
        child_sid = "CA" + uuid.uuid4().hex
        self._emit("dial", numbers=list(numbers), agent=agent, dial_call_sid=child_sid)
        talked = 0
        if agent == "answers":
            if people and people[0].get("url"):
                dial_status = self._whisper(people[0], document, child_sid, verb)
            if dial_status == "completed":
                talked = AGENT_CALL_SECONDS
                self._emit("agent_call", seconds=talked)
        elif agent == "no-answer":
            self._clock += timeout
        self._clock += talked
        action = verb.get("action")
        if not action:
            return None  # without an action, the call goes on after <Dial>
        result = {
            "DialCallStatus": dial_status,
            "DialCallSid": child_sid,
            "DialCallDuration": str(talked),
        }
        return self._fetch_twiml(
            verb.get("method", "POST"), urljoin(document.url, action), result, "dial"
        )

    def _whisper(
        self, number: ET.Element, document: _Document, child_sid: str, dial: ET.Element
    ) -> str:
        """Fetch the TwiML played to the agent before the calls are joined."""
        t = self.transcript
        params = {
            "AccountSid": SIMULATOR_ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": child_sid,
            "ParentCallSid": t.call_sid,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
            "From": dial.get("callerId") or t.from_number,
            "To": (number.text or "").strip(),
        }
        params["Caller"], params["Called"] = params["From"], params["To"]
        url = urljoin(document.url, number.get("url", ""))
        try:
            reply = self._send(number.get("method", "POST"), url, params, "whisper")
        except TransportError as exc:
            raise _Unreachable("unreachable", str(exc)) from exc
        try:
            root = _read_twiml(reply)
        except _TwimlProblem as problem:
            self._emit(
                "warning",
                message=f"the whisper URL failed ({problem} from {_path(url)}); "
                "Twilio plays the application error to the agent and drops the agent's leg",
            )
            return "failed"
        for verb in root:
            if verb.tag == "Say":
                self._emit("agent_hears", text=" ".join("".join(verb.itertext()).split()))
            elif verb.tag == "Hangup":
                self._emit("agent_hears", text="(the whisper hangs up on the agent)")
                return "no-answer"
            elif verb.tag not in ("Pause", "Play"):
                self._emit("warning", message=f"<{verb.tag}> in the whisper is not simulated")
        return "completed"

    _VERBS: ClassVar[dict[str, Callable[..., _Document | None]]] = {
        "Say": _say,
        "Play": _play,
        "Pause": _pause,
        "Gather": _gather,
        "Record": _record,
        "Redirect": _redirect,
        "Dial": _dial,
        "Hangup": _hangup,
        "Reject": _reject,
    }

    # --- the caller -----------------------------------------------------------

    def _ask(self, prompt: Prompt) -> Answer:
        self._emit(
            "prompt",
            verb=prompt.verb,
            listens_for=list(prompt.listens_for),
            num_digits=prompt.num_digits,
            finish_on_key=prompt.finish_on_key,
            timeout=prompt.timeout,
            language=prompt.language,
            description=prompt.describe(),
        )
        while True:
            answer = self._caller.answer(prompt)
            refusal = prompt.refusal(answer)
            if refusal is None:
                break
            self._emit("refused", kind=answer.kind, value=answer.value, message=refusal)
        self._emit("answer", kind=answer.kind, value=answer.value)
        if answer.kind == "hangup":
            raise _CallEnded("caller hung up")
        if answer.kind == "keys":
            self._clock += len(answer.value) * SECONDS_PER_KEY
        elif answer.kind == "speech":
            self._clock += len(answer.value.split()) / WORDS_PER_SECOND
        return answer

    def _listen(self, seconds: float) -> None:
        self.transcript.caller_seconds += seconds
        self._clock += seconds

    def _unknown(self, verb: ET.Element, parent: str) -> None:
        if verb.tag in NOT_SIMULATED:
            message = f"Twilio supports <{verb.tag}>, but the simulator does not run it; skipped"
        else:
            message = (
                f"<{verb.tag}> is not a verb the simulator knows inside {parent}; "
                "skipped (TwiML verbs are case-sensitive)"
            )
        self._emit("warning", message=message)

    def _emit(self, event_type: str, /, **data: Any) -> None:
        event = Event(event_type, data)
        self.transcript.events.append(event)
        if self._on_event is not None:
            self._on_event(event)


def _gather_result(prompt: Prompt, answer: Answer) -> tuple[dict[str, str], bool]:
    """The Gather's action parameters, and whether it waited out its timeout."""
    if answer.kind == "speech":
        return {"SpeechResult": answer.value, "Confidence": f"{answer.confidence:.2f}"}, False
    if answer.kind != "keys":
        return {}, True
    digits, finished_on = "", ""
    for key in answer.value:
        if prompt.finish_on_key and key == prompt.finish_on_key:
            finished_on = key
            break
        digits += key
        if prompt.num_digits and len(digits) == prompt.num_digits:
            break
    complete = bool(finished_on) or (
        prompt.num_digits is not None and len(digits) == prompt.num_digits
    )
    if not digits:
        return {}, not complete
    return {"Digits": digits, "FinishedOnKey": finished_on}, not complete


class _TwimlProblem(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def _read_twiml(reply: HttpReply) -> ET.Element:
    """The reply's <Response>, or _TwimlProblem saying why Twilio could not run it."""
    if not 200 <= reply.status < 300:
        raise _TwimlProblem(f"HTTP {reply.status}", HTTP_RETRIEVAL_FAILURE)
    try:
        root = ET.fromstring(reply.body)
    except ET.ParseError:
        raise _TwimlProblem(
            f"HTTP {reply.status} with a body that is not XML", DOCUMENT_PARSE_FAILURE
        ) from None
    if root.tag != "Response":
        raise _TwimlProblem(
            f"XML whose root is <{root.tag}>, not <Response>", DOCUMENT_PARSE_FAILURE
        )
    return root


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default
