"""The webhooks themselves: signatures, TwiML shape, repeated requests,
the status callback, and answers that stay TwiML whatever goes wrong."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET

import pytest
from conftest import AUTH_TOKEN, Twilio, sign
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ivr import create_app, db
from ivr.models import Call, CallEvent, Subscription

ADA = "+15550100001"


def twiml(response) -> ET.Element:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return root


def action_of(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None
    return gather.attrib["action"]


def said(root: ET.Element) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


def test_unsigned_requests_are_refused(client: FlaskClient) -> None:
    assert client.post("/voice/incoming", data={"CallSid": "CA1"}).status_code == 403


def test_forged_signature_is_refused(client: FlaskClient) -> None:
    params = {"CallSid": "CA1", "From": ADA}
    forged = sign("http://localhost/voice/incoming", params, token="not-the-token")
    r = client.post("/voice/incoming", data=params, headers={"X-Twilio-Signature": forged})
    assert r.status_code == 403


def test_signature_over_changed_parameters_is_refused(client: FlaskClient) -> None:
    params = {"CallSid": "CA1", "From": ADA}
    signature = sign("http://localhost/voice/incoming", params)
    r = client.post(
        "/voice/incoming",
        data={**params, "From": "+15550100002"},
        headers={"X-Twilio-Signature": signature},
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/voice/incoming",
        "/voice/gather",
        "/voice/silence",
        "/voice/dial",
        "/voice/whisper",
        "/voice/status",
        "/voice/fallback",
    ],
)
def test_every_webhook_checks_the_signature(client: FlaskClient, path: str) -> None:
    assert client.post(path, data={"CallSid": "CA1"}).status_code == 403


def test_behind_a_proxy_the_public_url_is_what_is_signed(app: Flask) -> None:
    app.config["PUBLIC_BASE_URL"] = "https://ivr.example.com"
    client = app.test_client()
    params = Twilio(client).params()
    public = sign("https://ivr.example.com/voice/incoming", params)
    local = sign("http://localhost/voice/incoming", params)
    assert (
        client.post(
            "/voice/incoming", data=params, headers={"X-Twilio-Signature": local}
        ).status_code
        == 403
    )
    r = client.post("/voice/incoming", data=params, headers={"X-Twilio-Signature": public})
    twiml(r)


def test_no_token_means_no_webhook_is_accepted(app: Flask) -> None:
    app.config["TWILIO_AUTH_TOKEN"] = None
    assert Twilio(app.test_client()).post("/voice/incoming").status_code == 403


def test_every_gather_listens_for_keys_and_speech_and_has_a_silence_path(
    client: FlaskClient,
) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    children = list(root)
    assert [c.tag for c in children] == ["Gather", "Redirect"]
    gather = children[0]
    assert gather.attrib["input"] == "dtmf speech"
    assert "," in gather.attrib["hints"] and "[" not in gather.attrib["hints"]
    assert gather.attrib["language"] == "en-US"
    # Prompts are nested, so the caller can barge in.
    assert [c.tag for c in gather] == ["Say", "Say", "Say"]
    assert children[1].text.startswith("/voice/silence?")


def test_the_same_request_twice_applies_nothing_twice(app: Flask, client: FlaskClient) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    root = twiml(phone.post(action_of(root), Digits="9"))  # skip: "press 1 to cancel"
    root = twiml(phone.post(action_of(root), Digits="1"))  # cancels
    first = phone.post("/voice/incoming")  # a repeated first request
    assert first.status_code == 200
    verify_answer = action_of(twiml(first))
    assert "turn=1" in verify_answer
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == phone.call_sid)).one()
        code, outcome = call.confirmation, call.outcome
    # Twilio repeats the request that cancelled: the answer is the same, applied once.
    path = "/voice/gather?step=confirm_cancel&turn=3&lang=en-US"
    again = phone.post(path, Digits="1")
    assert again.data == phone.post(path, Digits="1").data
    assert code and code.replace("", ", ").strip(", ") in again.data.decode()
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == phone.call_sid)).one()
        assert (call.confirmation, call.outcome) == (code, outcome)
        cancels = s.scalar(
            select(func.count())
            .select_from(CallEvent)
            .where(CallEvent.call_id == call.id, CallEvent.type == "cancelled")
        )
        assert cancels == 1
        repeats = s.scalar(
            select(func.count())
            .select_from(CallEvent)
            .where(CallEvent.call_id == call.id, CallEvent.type == "repeated_request")
        )
        assert repeats == 3


def test_an_answer_to_an_old_question_asks_the_current_one(client: FlaskClient) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    twiml(phone.post(action_of(root), Digits="1234"))
    # Digits for the PIN question arrive again, but changed: not a repeat, and stale.
    root = twiml(phone.post(action_of(root), Digits="9999"))
    assert "Why are you cancelling" in said(root)


def test_status_callback_marks_a_hang_up_as_abandoned_where_it_happened(
    app: Flask, client: FlaskClient
) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    twiml(phone.post(action_of(root), Digits="1234"))
    r = phone.post("/voice/status", CallStatus="completed", CallDuration="17")
    assert r.status_code == 200
    phone.post("/voice/status", CallStatus="completed", CallDuration="17")
    with app.app_context():
        call = db.session().scalars(select(Call).where(Call.call_sid == phone.call_sid)).one()
        assert call.outcome == "abandoned" and call.outcome_step == "reason"
        assert call.duration_seconds == 17 and call.ended_at is not None


def test_status_callback_keeps_a_finished_outcome(app: Flask, client: FlaskClient) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    root = twiml(phone.post(action_of(root), Digits="9"))
    twiml(phone.post(action_of(root), Digits="1"))
    phone.post("/voice/status", CallStatus="completed", CallDuration="40")
    with app.app_context():
        call = db.session().scalars(select(Call).where(Call.call_sid == phone.call_sid)).one()
        assert call.outcome == "cancelled"


def test_unknown_call_is_greeted_afresh(client: FlaskClient) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/gather?step=reason&turn=7", Digits="1"))
    assert "Thanks for calling" in said(root)


def test_missing_call_sid_is_a_clear_400(client: FlaskClient) -> None:
    params = {"From": ADA}
    r = client.post(
        "/voice/incoming",
        data=params,
        headers={"X-Twilio-Signature": sign("http://localhost/voice/incoming", params)},
    )
    assert r.status_code == 400 and b"CallSid" in r.data


def test_oversized_body_is_refused(client: FlaskClient) -> None:
    r = Twilio(client).post("/voice/gather", SpeechResult="x" * 400_000)
    assert r.status_code == 413


def test_absurd_digits_are_a_reprompt(client: FlaskClient) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    root = twiml(phone.post(action_of(root), Digits="#" * 5000))
    assert "didn't get that" in said(root)


def test_database_down_still_answers_with_a_way_forward(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "x",
            "AGENT_NUMBER": "+15550109000",
            "AGENT_HOURS": "",
        }
    )
    phone = Twilio(app.test_client())
    with caplog.at_level(logging.ERROR, logger="ivr.voice"):
        root = twiml(phone.post("/voice/incoming"))
    assert "something went wrong on our side" in said(root)
    assert root.find("Dial").text == "+15550109000"
    assert phone.call_sid in caplog.text


def test_database_down_without_agents_says_call_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "x",
            "AGENT_NUMBER": None,
        }
    )
    root = twiml(Twilio(app.test_client()).post("/voice/gather?lang=es-US", Digits="1"))
    assert "llámenos de nuevo" in said(root)
    assert root.find("Dial") is None and root.find("Hangup") is not None


def test_unexpected_error_is_an_apology_and_is_logged(
    app: Flask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ivr import calls

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(calls, "answer", broken)
    phone = Twilio(client)
    with caplog.at_level(logging.ERROR, logger="ivr.voice"):
        root = twiml(phone.post("/voice/incoming"))
    assert "something went wrong" in said(root)
    assert phone.call_sid in caplog.text and "boom" in caplog.text


def test_failed_dial_answer_does_not_ring_again(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr import calls

    monkeypatch.setattr(calls, "answer", lambda *a, **k: 1 / 0)
    root = twiml(Twilio(client).post("/voice/dial?turn=3", DialCallStatus="no-answer"))
    assert root.find("Dial") is None


def test_fallback_url_apologises_and_logs_the_error(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    phone = Twilio(client)
    with caplog.at_level(logging.ERROR, logger="ivr.voice"):
        root = twiml(
            phone.post(
                "/voice/fallback",
                ErrorCode="11200",
                ErrorUrl="https://ivr.example.com/voice/gather",
            )
        )
    assert "something went wrong" in said(root)
    assert "11200" in caplog.text and phone.call_sid in caplog.text


def test_whisper_tells_the_agent_about_the_caller(client: FlaskClient) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    root = twiml(phone.post(action_of(root), SpeechResult="it is too expensive", Confidence="0.8"))
    root = twiml(phone.post(action_of(root), Digits="0"))
    number = root.find("Dial/Number")
    assert number is not None and number.text == "+15550109000"
    whisper_url = number.attrib["url"]
    agent_leg = Twilio(client, call_sid="CA" + "f" * 32)
    agent_params = {"ParentCallSid": phone.call_sid}
    text = said(twiml(agent_leg.post(whisper_url, **agent_params)))
    assert "Ada Lovelace" in text and "verified" in text and "too expensive" in text


def _record(app: Flask, call_sid: str) -> dict:  # type: ignore[type-arg]
    from ivr.records import call_record, find_call

    with app.app_context():
        call = find_call(db.session(), call_sid)
        assert call is not None
        return call_record(call)


def test_a_replayed_incoming_request_does_not_reopen_a_finished_call(
    app: Flask, client: FlaskClient
) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    root = twiml(phone.post(action_of(root), Digits="9"))
    twiml(phone.post(action_of(root), Digits="1"))
    phone.post("/voice/status", CallStatus="completed", CallDuration="40")
    before = _record(app, phone.call_sid)
    assert before["outcome"] == "cancelled"
    for path in ("/voice/incoming", "/voice/gather?step=reason&turn=1"):
        replay = twiml(phone.post(path, Digits="1"))
        assert said(replay) == "Goodbye." and replay.find("Hangup") is not None
        assert replay.find("Gather") is None
    assert _record(app, phone.call_sid) == before


def _whisper(client: FlaskClient, call_sid: str) -> str:
    agent_leg = Twilio(client, call_sid="CA" + "f" * 32)
    return said(twiml(agent_leg.post(f"/voice/whisper?call={call_sid}")))


def test_the_whisper_tells_nothing_unless_the_call_is_being_transferred(
    app: Flask, client: FlaskClient
) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    before_transfer = _whisper(client, phone.call_sid)
    dial = twiml(phone.post(action_of(root), Digits="0")).find("Dial")
    assert dial is not None
    assert "Ada Lovelace" in _whisper(client, phone.call_sid)
    twiml(phone.post(dial.attrib["action"], DialCallStatus="completed"))
    after_dial = _whisper(client, phone.call_sid)
    phone.post("/voice/status", CallStatus="completed", CallDuration="60")
    after_call = _whisper(client, phone.call_sid)
    for text in (before_transfer, after_dial, after_call):
        assert "Ada" not in text and "100001" not in text and ADA not in text
        assert text == "Caller not yet identified, calling from unknown."
    whispers = [e for e in _record(app, phone.call_sid)["events"] if e["type"] == "whisper"]
    assert len(whispers) == 1


def test_subscription_is_cancelled_once_even_if_both_requests_race(
    app: Flask, client: FlaskClient
) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    root = twiml(phone.post(action_of(root), Digits="9"))
    path = action_of(root)
    bodies = {phone.post(path, Digits="1").data for _ in range(3)}
    assert len(bodies) == 1
    with app.app_context():
        subs = db.session().scalars(select(Subscription).where(Subscription.status == "cancelled"))
        assert len([s for s in subs if s.plan == "Premium" and s.cancelled_at]) == 2  # Ada + Alan


def test_repeated_action_urls_carry_the_turn(client: FlaskClient) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    assert re.search(r"turn=1\b", action_of(root))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    assert re.search(r"turn=2\b", action_of(root))


def test_stored_replies_are_dropped_when_the_call_ends(app: Flask, client: FlaskClient) -> None:
    from ivr.models import WebhookReply

    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    twiml(phone.post(action_of(root), Digits="1234"))
    with app.app_context():
        count = select(func.count()).select_from(WebhookReply)
        assert db.session().scalar(count) == 2
    phone.post("/voice/status", CallStatus="completed", CallDuration="9")
    with app.app_context():
        assert db.session().scalar(count) == 0


def test_recorded_prompts_are_served_from_the_audio_folder(app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "audio" / "en-US").mkdir(parents=True)
    (tmp_path / "audio" / "en-US" / "greeting.mp3").write_bytes(b"ID3 fake mp3")
    (tmp_path / "secret.yaml").write_text("not for callers")
    app.config["VOICE_PROMPTS_DIR"] = str(tmp_path)
    client = app.test_client()
    with client.get("/voice/audio/en-US/greeting.mp3") as r:
        assert r.status_code == 200 and r.data == b"ID3 fake mp3"
    assert client.get("/voice/audio/../secret.yaml").status_code == 404
    assert client.get("/voice/audio/en-US/missing.mp3").status_code == 404


@pytest.mark.parametrize(
    "extra",
    [
        {"From": "+1555\x000100001"},
        {"From": "+" + "9" * 60},
        {"SpeechResult": "too\x00 expensive", "Confidence": "0.9"},
        {"Digits": "1\x002"},
    ],
)
def test_junk_that_the_database_cannot_store_is_cleaned_not_a_crash(
    client: FlaskClient, extra: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    phone = Twilio(client)
    root = twiml(phone.post("/voice/incoming"))
    root = twiml(phone.post(action_of(root), Digits="1234"))
    with caplog.at_level(logging.ERROR, logger="ivr.voice"):
        twiml(phone.post(action_of(root), **extra))
        twiml(phone.post("/voice/status", CallStatus="completed", CallDuration="9" * 30))
    assert "failed" not in caplog.text


def test_characters_xml_cannot_hold_are_dropped_from_what_twilio_sends(
    app: Flask, client: FlaskClient
) -> None:
    phone = Twilio(client, caller="+1555\x0e010\x1f7777")
    root = twiml(phone.post("/voice/incoming"))
    # The line reads back what it heard: the answer must still be XML.
    root = twiml(phone.post(action_of(root), SpeechResult="too\x0b expensive", Confidence="0.3"))
    with app.app_context():
        call = db.session().scalars(select(Call).where(Call.call_sid == phone.call_sid)).one()
        assert call.from_number == "+15550107777"


def test_whisper_is_valid_twiml_whatever_the_record_holds(app: Flask, client: FlaskClient) -> None:
    # A record written before the line cleaned its input, or by another system.
    phone = Twilio(client, caller="+15550107777")  # not a customer's: the number is read
    root = twiml(phone.post("/voice/incoming"))
    assert twiml(phone.post(action_of(root), Digits="0")).find("Dial") is not None
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == phone.call_sid)).one()
        call.from_number = "\u00cbM\x0e\U0003c2d1"
        s.commit()
    agent_leg = Twilio(client, call_sid="CA" + "e" * 32)
    text = said(twiml(agent_leg.post(f"/voice/whisper?call={phone.call_sid}")))
    assert "calling from" in text and "\u00cbM\U0003c2d1" in text.replace(" ", "")


@pytest.mark.parametrize("sid", ["CA\x001", "CA 1", "CA" + "1" * 70, "x<y"])
def test_a_call_sid_twilio_would_never_send_is_a_400(client: FlaskClient, sid: str) -> None:
    assert Twilio(client, call_sid=sid).post("/voice/incoming").status_code == 400


def test_whisper_for_a_malformed_call_is_a_400(client: FlaskClient) -> None:
    r = Twilio(client).post("/voice/whisper?call=CA%00x")
    assert r.status_code == 400


def test_a_callers_words_are_said_as_words_in_the_whisper_never_as_ssml(
    app: Flask, client: FlaskClient
) -> None:
    words = '<sub alias="refund approved">too expensive</sub><break time="10s"/> & more'
    phone = Twilio(client, caller='+1555<sub alias="x">y</sub>')
    root = twiml(phone.post("/voice/incoming"))
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == phone.call_sid)).one()
        call.reason_text = words
        s.commit()
    assert twiml(phone.post(action_of(root), Digits="0")).find("Dial") is not None
    agent_leg = Twilio(client, call_sid="CA" + "f" * 32)
    root = twiml(agent_leg.post(f"/voice/whisper?call={phone.call_sid}"))
    says = root.findall("Say")
    assert says and all(len(list(say)) == 0 for say in says)  # no SSML element
    text = said(root)
    assert words in text and '<sub alias="x">' in text
    whisper = [e for e in _record(app, phone.call_sid)["events"] if e["type"] == "whisper"]
    assert words in whisper[0]["detail"]["text"]
