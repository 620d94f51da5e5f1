"""Random signed requests at every voice endpoint: whatever arrives, the
answer is a clear 4xx or valid TwiML, never a 500 (nor a refusal: they are
signed). Property-based, with hypothesis."""

from __future__ import annotations

import hashlib
import string
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import BASE_URL, sign
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.flow.steps import STEPS

ENDPOINTS = ["incoming", "gather", "silence", "dial", "whisper", "status", "fallback"]
DEMO_PHONES = ["+15550100001", "+15550100002", "+15550100003", "+15550100004", "+15550107777"]
# A few CallSids that recur, so requests also reach calls that exist.
KNOWN_SIDS = ["CA" + c * 32 for c in "abcdef"]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    # The app and its database are made once per test, not per example: the
    # examples share them on purpose (later requests meet earlier calls).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

printable = st.characters(exclude_categories=("Cs",))
junk = st.text(alphabet=printable, max_size=40)
huge = st.builds(
    lambda piece, times: piece * times,
    st.text(alphabet=printable, min_size=1, max_size=8),
    st.integers(min_value=200, max_value=40_000),
)
keys = st.text(alphabet="0123456789*#", max_size=12)
digits = st.one_of(keys, junk, huge)
speech = st.one_of(
    st.sampled_from(
        ["too expensive", "agent", "a real person", "yes", "no", "one two three four", "espanol"]
    ),
    junk,
    huge,
)
number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str), st.integers().map(str), junk
)
call_sid = st.one_of(st.sampled_from(KNOWN_SIDS), st.just("CA" + "0" * 32), junk, huge, st.just(""))
call_status = st.one_of(
    st.sampled_from(
        ["queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"]
    ),
    junk,
)
dial_status = st.one_of(
    st.sampled_from(["completed", "answered", "busy", "no-answer", "failed", "canceled"]), junk
)
phone = st.one_of(st.sampled_from(DEMO_PHONES), junk)

form_fields = st.fixed_dictionaries(
    {},
    optional={
        "CallSid": call_sid,
        "AccountSid": junk,
        "From": phone,
        "To": phone,
        "Digits": digits,
        "SpeechResult": speech,
        "Confidence": number,
        "CallStatus": call_status,
        "CallDuration": number,
        "DialCallStatus": dial_status,
        "DialCallDuration": number,
        "ParentCallSid": call_sid,
        "ErrorCode": junk,
        "ErrorUrl": junk,
        "FinishedOnKey": junk,
    },
)
extra_fields = st.dictionaries(
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=12),
    junk,
    max_size=3,
)
query = st.fixed_dictionaries(
    {},
    optional={
        "step": st.one_of(st.sampled_from(sorted(STEPS)), junk, huge),
        "turn": st.one_of(st.integers(min_value=-5, max_value=10**12).map(str), junk),
        "call": call_sid,
        "lang": st.one_of(st.sampled_from(["en-US", "es-US"]), junk),
    },
)


@pytest.fixture
def signed_client(app: Flask, client: FlaskClient) -> FlaskClient:
    # Signatures cover the URL: with a public base URL the app checks exactly
    # the query string sent, however it is encoded.
    app.config["PUBLIC_BASE_URL"] = BASE_URL
    return client


def post_signed(client: FlaskClient, path: str, params: dict[str, str]) -> Any:
    return client.post(
        path, data=params, headers={"X-Twilio-Signature": sign(BASE_URL + path, params)}
    )


def assert_answered(response: Any, where: str, caplog: pytest.LogCaptureFixture) -> None:
    # Junk is answered on purpose (a re-prompt, a 4xx), never by the apology
    # for an unexpected exception, which would end the call.
    failures = [r for r in caplog.records if r.exc_info]
    caplog.clear()
    assert not failures, f"{where}: {failures[0].getMessage()}\n{failures[0].exc_text or ''}"
    status = response.status_code
    body = response.get_data(as_text=True)
    assert status < 500, f"{where}: HTTP {status}\n{body[:2000]}"
    assert status != 403, f"{where}: a signed request was refused"
    if status >= 400:
        assert body.strip(), f"{where}: HTTP {status} without a word of explanation"
        return
    assert status == 200, f"{where}: HTTP {status}"
    assert response.mimetype in ("text/xml", "application/xml"), where
    root = ET.fromstring(body)  # raises on anything that is not XML
    assert root.tag == "Response", f"{where}: {body[:500]}"


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    params=query,
    fields=form_fields,
    extra=extra_fields,
)
def test_any_signed_request_gets_twiml_or_a_clear_4xx(
    signed_client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    endpoint: str,
    params: dict[str, str],
    fields: dict[str, str],
    extra: dict[str, str],
) -> None:
    path = f"/voice/{endpoint}" + ("?" + urlencode(params) if params else "")
    response = post_signed(signed_client, path, {**extra, **fields})
    assert_answered(response, f"POST {path}", caplog)


answer = st.one_of(
    st.tuples(st.just("Digits"), digits),
    st.tuples(st.just("SpeechResult"), speech),
    st.tuples(st.just("silence"), st.just("")),
    st.tuples(st.just("status"), call_status),
    st.tuples(st.just("stale"), keys),
)


@FUZZ
@given(caller=phone, answers=st.lists(answer, max_size=10), confidence=number)
def test_random_answers_in_a_call_get_twiml(
    signed_client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    caller: str,
    answers: list[tuple[str, str]],
    confidence: str,
) -> None:
    """A call that follows the line's own TwiML, answering each prompt with
    anything at all: deep steps (verify, reason, offer) meet junk too."""
    sid = "CA" + hashlib.sha256(repr((caller, answers, confidence)).encode()).hexdigest()[:32]
    base = {"CallSid": sid, "From": caller, "To": "+15550109999", "CallStatus": "in-progress"}
    response = post_signed(signed_client, "/voice/incoming", base)
    assert_answered(response, "POST /voice/incoming", caplog)
    next_path = "/voice/incoming"
    for kind, value in answers:
        if response.status_code == 200:
            next_path = follow(response.get_data(as_text=True)) or next_path
        if kind == "status":
            path, params = "/voice/status", {**base, "CallStatus": value, "CallDuration": "7"}
        elif kind == "stale":
            path, params = "/voice/gather?step=verify&turn=0", {**base, "Digits": value}
        elif kind == "SpeechResult":
            path, params = next_path, {**base, kind: value, "Confidence": confidence}
        elif kind == "silence":
            path, params = next_path, base
        else:
            path, params = next_path, {**base, kind: value}
        response = post_signed(signed_client, path, params)
        assert_answered(response, f"POST {path} {kind}", caplog)


def follow(twiml: str) -> str | None:
    """Where the caller's next answer goes: the Gather's action, or the Redirect."""
    root = ET.fromstring(twiml)
    for element in root.iter():
        target = element.get("action") if element.tag == "Gather" else None
        if element.tag == "Redirect":
            target = (element.text or "").strip()
        if target:
            parts = urlsplit(target)
            return parts.path + ("?" + parts.query if parts.query else "")
    return None
