"""The call simulator's own behaviour, against hand-written TwiML.

A tiny app stands in for the line: it serves fixed documents, checks every
X-Twilio-Signature the way the line does (403 otherwise) and remembers each
request, so the tests see exactly what Twilio would have sent.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

from ivr.simulator import (
    WORDS_PER_SECOND,
    CallSimulator,
    FlaskTransport,
    HttpTransport,
    ScriptedCaller,
    Transcript,
    parse_answer,
    simulate_call,
)
from ivr.simulator import cli as simulator_cli
from ivr.simulator.engine import APPLICATION_ERROR, SECONDS_PER_KEY

TOKEN = "simulator-test-token"
SID = re.compile(r"^CA[0-9a-f]{32}$")

Doc = str | tuple[int, str] | Callable[[Mapping[str, str]], str]


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    params: dict[str, str]


def make_app(docs: Mapping[str, Doc], token: str = TOKEN, public_base_url: str | None = None):
    """A stand-in for the line: serves `docs` by path and validates signatures as the line does."""
    app = Flask(__name__)
    app.config.update(TWILIO_AUTH_TOKEN=token, PUBLIC_BASE_URL=public_base_url)
    hits: list[Hit] = []
    app.extensions["hits"] = hits
    validator = RequestValidator(token)

    @app.route("/<path:path>", methods=["GET", "POST"])
    def serve(path: str) -> Response:
        url = request.url
        if public_base_url:
            query = request.query_string.decode()
            url = public_base_url + request.path + (f"?{query}" if query else "")
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        params = dict(request.form if request.method == "POST" else request.args)
        hits.append(Hit(request.method, request.path, params))
        doc = docs.get(request.path)
        if doc is None:
            if request.path == "/voice/status":
                return Response(status=204)
            abort(404)
        if callable(doc):
            doc = doc(params)
        status, body = doc if isinstance(doc, tuple) else (200, doc)
        return Response(body, status=status, mimetype="text/xml")

    return app


def run(docs: Mapping[str, Doc], answers: list[str] | tuple[str, ...] = (), **options: Any):
    app = make_app(docs)
    transcript = simulate_call(app, answers, read_record=False, **options)
    return transcript, app.extensions["hits"]


def twiml(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def hits_to(hits: list[Hit], path: str) -> list[Hit]:
    return [hit for hit in hits if hit.path == path]


MENU = twiml(
    '<Gather numDigits="1" action="/voice/menu" timeout="3">'
    "<Say>Press 1 to cancel.</Say></Gather>"
    "<Say>We did not hear you.</Say>"
)


# --- what every request carries ------------------------------------------------


def test_every_request_is_signed_and_carries_twilios_call_parameters():
    transcript, hits = run({"/voice/incoming": MENU, "/voice/menu": twiml("<Hangup/>")}, ["1"])

    # The app answers 403 to a bad signature; every request got through.
    assert [r["status"] for r in transcript.requests()] == [200, 200, 204]
    first, menu, status = hits
    assert SID.match(first.params["CallSid"])
    assert re.match(r"^AC[0-9a-f]{32}$", first.params["AccountSid"])
    assert first.params["CallStatus"] == "ringing"
    assert menu.params["CallStatus"] == "in-progress"
    for hit in hits:
        assert hit.params["CallSid"] == transcript.call_sid
        assert hit.params["From"] == hit.params["Caller"] == "+15550100001"
        assert hit.params["To"] == hit.params["Called"] == "+15550109999"
        assert hit.params["Direction"] == "inbound"
        assert hit.params["ApiVersion"] == "2010-04-01"
    assert menu.params["Digits"] == "1"
    assert status.params["CallStatus"] == "completed"


def test_a_wrong_token_is_refused_by_the_app_and_reported_clearly():
    app = make_app({"/voice/incoming": MENU}, token="the-servers-token")
    simulator = CallSimulator(
        FlaskTransport(app, "http://localhost"),
        base_url="http://localhost",
        auth_token="another-token",
        caller=ScriptedCaller(["1"]),
        fallback_path=None,
    )

    transcript = simulator.run()

    assert not transcript.ok
    assert transcript.ended == "application error"
    assert "HTTP 403 from POST /voice/incoming" in transcript.error
    assert "TWILIO_AUTH_TOKEN" in transcript.error
    assert app.extensions["hits"] == []


def test_signatures_use_the_public_base_url_the_app_believes_it_has():
    app = make_app(
        {"/voice/incoming": twiml("<Say>Hi</Say>")}, public_base_url="https://ivr.example.com"
    )

    transcript = simulate_call(app, read_record=False)

    assert transcript.ok
    assert transcript.requests()[0]["url"] == "https://ivr.example.com/voice/incoming"


# --- Gather ------------------------------------------------------------------------


def test_a_silent_gather_falls_through_to_the_next_verb():
    transcript, hits = run({"/voice/incoming": MENU}, [""])

    assert transcript.heard() == ["Press 1 to cancel.", "We did not hear you."]
    assert hits_to(hits, "/voice/menu") == []
    assert transcript.ended == "end of TwiML"


def test_action_on_empty_result_posts_the_action_without_digits():
    doc = twiml(
        '<Gather action="/voice/menu" actionOnEmptyResult="true"><Say>Press a key.</Say></Gather>'
        "<Say>Never heard.</Say>"
    )
    transcript, hits = run(
        {"/voice/incoming": doc, "/voice/menu": twiml("<Say>Again.</Say>")}, [""]
    )

    (menu,) = hits_to(hits, "/voice/menu")
    assert "Digits" not in menu.params
    assert transcript.heard() == ["Press a key.", "Again."]


@pytest.mark.parametrize(
    ("attributes", "keys", "digits", "finished_on"),
    [
        ("", "1234#99", "1234", "#"),
        ('finishOnKey="*"', "12#3*4", "12#3", "*"),
        ('finishOnKey="" numDigits="3"', "1#2#", "1#2", ""),
        ('numDigits="4"', "123456", "1234", ""),
        ('numDigits="4"', "12#", "12", "#"),
    ],
)
def test_finish_on_key_and_num_digits_decide_the_digits_sent(attributes, keys, digits, finished_on):
    doc = twiml(f'<Gather action="/voice/menu" {attributes}><Say>Enter it.</Say></Gather>')
    _, hits = run({"/voice/incoming": doc, "/voice/menu": twiml("")}, [keys])

    (menu,) = hits_to(hits, "/voice/menu")
    assert menu.params["Digits"] == digits
    assert menu.params["FinishedOnKey"] == finished_on


def test_keys_the_gather_did_not_take_are_shown():
    doc = twiml('<Gather numDigits="1" action="/voice/menu"><Say>Press.</Say></Gather>')
    transcript, _ = run({"/voice/incoming": doc, "/voice/menu": twiml("")}, ["1234"])

    (taken,) = transcript.of_type("keys_taken")
    assert (taken["typed"], taken["digits"]) == ("1234", "1")


def test_finish_key_alone_is_an_empty_result():
    _, hits = run({"/voice/incoming": MENU.replace('numDigits="1" ', "")}, ["#"])

    assert hits_to(hits, "/voice/menu") == []


def test_keys_that_do_not_complete_the_gather_wait_for_its_timeout():
    doc = twiml('<Gather numDigits="4" timeout="3" action="/voice/menu"></Gather>')
    transcript, hits = run({"/voice/incoming": doc, "/voice/menu": twiml("")}, ["12"])

    assert hits_to(hits, "/voice/menu")[0].params["Digits"] == "12"
    assert transcript.caller_seconds == 3


def test_speech_is_refused_by_a_gather_that_listens_for_keys_only():
    transcript, hits = run(
        {"/voice/incoming": MENU, "/voice/menu": twiml("")}, ["too expensive", "1"]
    )

    (refused,) = transcript.of_type("refused")
    assert "listens for keys only" in refused["message"]
    assert hits_to(hits, "/voice/menu")[0].params["Digits"] == "1"


def test_keys_are_refused_by_a_gather_that_listens_for_speech_only():
    doc = twiml('<Gather input="speech" action="/voice/reason"><Say>Why?</Say></Gather>')
    transcript, hits = run(
        {"/voice/incoming": doc, "/voice/reason": twiml("")},
        ["2", "too  expensive"],
        confidence=0.5,
    )

    assert "listens for speech only" in transcript.of_type("refused")[0]["message"]
    (reason,) = hits_to(hits, "/voice/reason")
    assert reason.params["SpeechResult"] == "too expensive"
    assert reason.params["Confidence"] == "0.50"
    assert "Digits" not in reason.params


def test_a_gather_without_action_posts_to_its_own_document():
    doc = twiml('<Gather numDigits="1"><Say>Press.</Say></Gather>')
    _, hits = run({"/voice/incoming": lambda p: doc if "Digits" not in p else twiml("")}, ["5"])

    assert [(h.path, h.params.get("Digits")) for h in hits[:2]] == [
        ("/voice/incoming", None),
        ("/voice/incoming", "5"),
    ]


# --- Redirect and URLs -------------------------------------------------------------


def test_redirect_resolves_relative_urls_against_the_current_document():
    docs = {
        "/voice/incoming": twiml("<Redirect>menu/start</Redirect>"),
        "/voice/menu/start": twiml('<Redirect method="GET">../other?step=2</Redirect>'),
        "/voice/other": twiml("<Say>Arrived.</Say>"),
    }
    transcript, hits = run(docs)

    assert [(h.method, h.path) for h in hits] == [
        ("POST", "/voice/incoming"),
        ("POST", "/voice/menu/start"),
        ("GET", "/voice/other"),
        ("POST", "/voice/status"),
    ]
    # GET carries the parameters in the query string, signed with it.
    assert hits[2].params["step"] == "2"
    assert hits[2].params["CallSid"] == transcript.call_sid
    assert transcript.heard() == ["Arrived."]


# --- Dial --------------------------------------------------------------------------


DIAL = twiml(
    '<Dial action="/voice/after-dial" timeout="20">'
    '<Number url="/voice/whisper">+15550102000</Number></Dial>'
)
AFTER_DIAL = {
    "/voice/incoming": DIAL,
    "/voice/whisper": twiml("<Say>Caller wants to cancel.</Say>"),
    "/voice/after-dial": twiml("<Say>Back on the line.</Say>"),
}


@pytest.mark.parametrize(
    ("agent", "dial_status", "duration"),
    [("answers", "completed", "60"), ("no-answer", "no-answer", "0"), ("busy", "busy", "0")],
)
def test_the_dial_action_gets_the_dial_call_status(agent, dial_status, duration):
    transcript, hits = run(AFTER_DIAL, agent=agent)

    (after,) = hits_to(hits, "/voice/after-dial")
    assert after.params["DialCallStatus"] == dial_status
    assert after.params["DialCallDuration"] == duration
    assert SID.match(after.params["DialCallSid"])
    assert after.params["DialCallSid"] != transcript.call_sid
    assert transcript.heard() == ["Back on the line."]
    assert len(hits_to(hits, "/voice/whisper")) == (1 if agent == "answers" else 0)


def test_the_whisper_is_fetched_for_the_agents_call_and_not_heard_by_the_caller():
    transcript, hits = run(AFTER_DIAL)

    (whisper,) = hits_to(hits, "/voice/whisper")
    (after,) = hits_to(hits, "/voice/after-dial")
    assert whisper.params["ParentCallSid"] == transcript.call_sid
    assert whisper.params["CallSid"] == after.params["DialCallSid"]
    assert whisper.params["Direction"] == "outbound-dial"
    assert whisper.params["To"] == "+15550102000"
    assert [e["text"] for e in transcript.of_type("agent_hears")] == ["Caller wants to cancel."]
    assert "Caller wants to cancel." not in transcript.heard()


def test_a_dial_without_action_goes_on_with_the_next_verb():
    doc = twiml("<Dial>+15550102000</Dial><Say>After the agent.</Say>")
    transcript, hits = run({"/voice/incoming": doc}, agent="no-answer")

    assert transcript.heard() == ["After the agent."]
    assert [h.path for h in hits] == ["/voice/incoming", "/voice/status"]


# --- the end of the call -------------------------------------------------------------


def test_the_status_callback_reports_the_call_duration_when_the_call_ends():
    doc = twiml('<Say>one two three four five</Say><Pause length="3"/>')
    transcript, hits = run({"/voice/incoming": doc})

    status = hits[-1]
    assert status.path == "/voice/status"
    assert status.params["CallStatus"] == "completed"
    assert status.params["CallDuration"] == "5"
    assert transcript.call_duration == 5


def test_a_caller_who_hangs_up_ends_the_call_at_once():
    transcript, hits = run({"/voice/incoming": MENU, "/voice/menu": twiml("")}, ["hangup"])

    assert transcript.ended == "caller hung up"
    assert transcript.ok
    assert [h.path for h in hits] == ["/voice/incoming", "/voice/status"]
    assert hits[-1].params["CallStatus"] == "completed"


def test_a_script_that_runs_out_hangs_up_instead_of_waiting():
    docs = {"/voice/incoming": MENU, "/voice/menu": twiml("<Redirect>/voice/incoming</Redirect>")}
    transcript, hits = run(docs, ["1"])

    assert transcript.ended == "caller hung up"
    assert "no answers left" in transcript.of_type("answer")[-1]["value"]
    assert [h.path for h in hits] == [
        "/voice/incoming",
        "/voice/menu",
        "/voice/incoming",
        "/voice/status",
    ]


def test_reject_as_the_first_verb_leaves_the_call_unanswered():
    _, hits = run({"/voice/incoming": twiml('<Reject reason="busy"/>')})

    assert hits[-1].params["CallStatus"] == "busy"
    assert hits[-1].params["CallDuration"] == "0"


def test_hangup_stops_the_document():
    transcript, _ = run(
        {"/voice/incoming": twiml("<Say>Bye.</Say><Hangup/><Say>Unreachable.</Say>")}
    )

    assert transcript.heard() == ["Bye."]
    assert transcript.ended == "the line hung up"


# --- Record ------------------------------------------------------------------------


def test_record_posts_the_recording_and_an_empty_recording_falls_through():
    doc = twiml('<Record action="/voice/recorded" maxLength="30"/><Say>No message.</Say>')
    docs = {"/voice/incoming": doc, "/voice/recorded": twiml("")}

    _, hits = run(docs, ["please call me back tomorrow morning"])
    (recorded,) = hits_to(hits, "/voice/recorded")
    assert recorded.params["RecordingDuration"] == "2"
    assert recorded.params["RecordingUrl"].startswith("https://api.twilio.com/")

    silent, hits = run(docs, [""])
    assert hits_to(hits, "/voice/recorded") == []
    assert silent.heard() == ["No message."]


# --- errors as Twilio reports them -----------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ((500, "Traceback ..."), "HTTP 500 from POST /voice/incoming"),
        ("hello, not TwiML", "not XML"),
        ("<Html><Body/></Html>", "root is <Html>"),
    ],
)
def test_an_answer_twilio_cannot_run_is_an_application_error(doc, problem):
    transcript, _ = run({"/voice/incoming": doc}, fallback_path=None)

    assert not transcript.ok
    assert f"Twilio would say: '{APPLICATION_ERROR}'" in transcript.error
    assert problem in transcript.error


def test_the_fallback_url_gets_the_error_code_and_url():
    docs = {
        "/voice/incoming": MENU,
        "/voice/menu": (500, "boom"),
        "/voice/fallback": twiml("<Say>Sorry, something went wrong.</Say>"),
    }
    transcript, hits = run(docs, ["1"])

    (fallback,) = hits_to(hits, "/voice/fallback")
    assert fallback.params["ErrorCode"] == "11200"
    assert fallback.params["ErrorUrl"] == "http://localhost/voice/menu"
    assert transcript.heard()[-1] == "Sorry, something went wrong."
    assert transcript.ok


def test_a_missing_fallback_still_reports_the_original_failure():
    transcript, _ = run({"/voice/incoming": "not xml"})

    assert "not XML" in transcript.error
    assert "fallback URL /voice/fallback failed too" in transcript.error


def test_an_unknown_verb_is_warned_about_and_skipped():
    transcript, _ = run({"/voice/incoming": twiml("<say>lowercase</say><Say>Still here.</Say>")})

    (warning,) = transcript.of_type("warning")
    assert "<say>" in warning["message"]
    assert "case-sensitive" in warning["message"]
    assert transcript.heard() == ["Still here."]


def test_the_max_requests_guard_stops_a_loop():
    loop = {"/voice/incoming": twiml("<Redirect>/voice/incoming</Redirect>")}
    transcript, hits = run(loop, max_requests=10)

    assert transcript.ended == "too many requests"
    assert "loop" in transcript.error
    assert len(hits_to(hits, "/voice/incoming")) == 10
    assert hits[-1].path == "/voice/status"


def test_an_unreachable_server_is_reported_without_a_traceback():
    simulator = CallSimulator(
        HttpTransport(f"http://127.0.0.1:{free_port()}"),
        base_url="http://127.0.0.1",
        auth_token=TOKEN,
        caller=ScriptedCaller([]),
    )

    transcript = simulator.run()

    assert transcript.ended == "unreachable"
    assert "Cannot reach" in transcript.error
    assert "gunicorn wsgi:app" in transcript.error
    assert [r["purpose"] for r in transcript.requests()] == []


# --- caller_seconds ------------------------------------------------------------------


def test_caller_seconds_count_words_pauses_and_silent_timeouts():
    doc = twiml(
        '<Say loop="2">one two three four five</Say>'  # 2 x 5 words
        '<Pause length="2"/>'
        "<Play>https://example.com/hold.mp3</Play>"  # unknown length: 0 s, listed
        '<Gather timeout="3"><Say>Press 1 2 3</Say></Gather>'  # 4 words, then silence
    )
    transcript, _ = run({"/voice/incoming": doc}, [""])

    expected = (10 + 4) / WORDS_PER_SECOND + 2 + 3
    assert transcript.caller_seconds == pytest.approx(expected)
    assert transcript.to_dict()["plays"] == ["https://example.com/hold.mp3"]
    # The call also lasts while the caller answers; here they stayed silent.
    assert transcript.call_duration == math.ceil(expected)


def test_pressing_keys_adds_to_the_call_but_not_to_what_the_caller_hears():
    transcript, _ = run({"/voice/incoming": MENU, "/voice/menu": twiml("")}, ["1"])

    assert transcript.caller_seconds == pytest.approx(4 / WORDS_PER_SECOND)
    assert transcript.call_duration == math.ceil(4 / WORDS_PER_SECOND + SECONDS_PER_KEY)


# --- answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("1234", "keys", "1234"),
        (" 12 34# ", "keys", "1234#"),
        ("*", "keys", "*"),
        ("", "silence", ""),
        ("silence", "silence", ""),
        ("HANGUP", "hangup", "the caller hung up"),
        ("too  expensive", "speech", "too expensive"),
        ("one two three four", "speech", "one two three four"),
    ],
)
def test_parse_answer(text, kind, value):
    answer = parse_answer(text)
    assert (answer.kind, answer.value) == (kind, value)


def test_script_files_skip_comments_and_blank_lines_but_keep_keys():
    lines = ["# identify\n", "\n", "1234#\n", "#\n", "too expensive\n", "silence\n", "# done\n"]
    assert simulator_cli.read_script(lines) == ["1234#", "#", "too expensive", "silence"]


# --- the command -----------------------------------------------------------------------


@pytest.fixture
def cli_app(monkeypatch):
    app = make_app({"/voice/incoming": MENU, "/voice/menu": twiml("<Say>Cancelled.</Say>")})
    monkeypatch.setattr(
        simulator_cli,
        "record_lookup",
        lambda _app: lambda sid: {"call_sid": sid, "outcome": "cancelled"},
    )
    # The stand-in has no customers on file.
    monkeypatch.setattr(simulator_cli, "language_on_file", lambda _app, _phone: None)
    return app


def test_the_command_prints_what_the_caller_hears_and_the_outcome(cli_app):
    result = cli_app.test_cli_runner().invoke(simulator_cli.call_command, ["--answer", "1"])

    assert result.exit_code == 0, result.output
    assert "Line: Press 1 to cancel." in result.output
    assert "You press: 1" in result.output
    assert re.search(r"Outcome: cancelled\s+CallSid: CA[0-9a-f]{32}", result.output)


def test_the_command_reads_typed_answers_when_not_scripted(cli_app):
    result = cli_app.test_cli_runner().invoke(simulator_cli.call_command, [], input="1\n")

    assert result.exit_code == 0, result.output
    assert "Line: Cancelled." in result.output


def test_json_mode_prints_one_json_document(cli_app):
    result = cli_app.test_cli_runner().invoke(
        simulator_cli.call_command, ["--json", "--answer", "1"]
    )

    transcript = json.loads(result.stdout)
    assert transcript["outcome"] == "cancelled"
    assert SID.match(transcript["call_sid"])
    assert transcript["heard"] == ["Press 1 to cancel.", "Cancelled."]
    assert transcript["answers"][0]["value"] == "1"
    assert all({"status", "latency_ms"} <= set(r) for r in transcript["requests"])


def test_the_command_exits_non_zero_on_an_application_error(monkeypatch):
    app = make_app({"/voice/incoming": (500, "boom")})
    monkeypatch.setattr(simulator_cli, "record_lookup", lambda _app: lambda sid: None)
    monkeypatch.setattr(simulator_cli, "language_on_file", lambda _app, _phone: None)

    result = app.test_cli_runner().invoke(simulator_cli.call_command, ["--fallback-url", ""])

    assert result.exit_code == 1
    assert "HTTP 500 from POST /voice/incoming" in result.output
    assert "Outcome: unknown" in result.output
    assert "Traceback" not in result.output


def test_the_command_refuses_answers_and_script_together(cli_app, tmp_path):
    script = tmp_path / "answers.txt"
    script.write_text("1\n")
    result = cli_app.test_cli_runner().invoke(
        simulator_cli.call_command, ["--answer", "1", "--script", str(script)]
    )

    assert result.exit_code == 2
    assert "not both" in result.output


# --- over real HTTP, against gunicorn ------------------------------------------------------

HTTP_DOCS: dict[str, Doc] = {
    "/voice/incoming": MENU,
    "/voice/menu": twiml("<Redirect>done</Redirect>"),
    "/voice/done": twiml("<Say>Done over HTTP.</Say>"),
}


def gunicorn_app() -> Flask:
    """The app gunicorn serves in the HTTP test (it runs in another process)."""
    return make_app(HTTP_DOCS, public_base_url=os.environ["SIMULATOR_TEST_PUBLIC_BASE_URL"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gunicorn_server():
    port = free_port()
    env = {**os.environ, "SIMULATOR_TEST_PUBLIC_BASE_URL": "https://ivr.example.com"}
    root = Path(__file__).resolve().parent
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(root),
            "--pythonpath",
            str(root.parent),
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "test_simulator:gunicorn_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_a_call_over_http_against_gunicorn(gunicorn_server):
    simulator = CallSimulator(
        HttpTransport(gunicorn_server, public_base_url="https://ivr.example.com"),
        base_url="https://ivr.example.com",
        auth_token=TOKEN,
        caller=ScriptedCaller(["1"]),
    )

    transcript: Transcript = simulator.run()

    assert transcript.ok, transcript.error
    assert transcript.heard() == ["Press 1 to cancel.", "Done over HTTP."]
    assert [r["status"] for r in transcript.requests()] == [200, 200, 200, 204]
    assert transcript.requests()[2]["url"] == "https://ivr.example.com/voice/done"
