"""What operations watch: /healthz, /metrics and JSON log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import AUTH_TOKEN, Twilio
from flask import Flask, request
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from ivr import create_app
from ivr.observability import JsonFormatter

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nothing_listens_here"


def samples(client: FlaskClient, headers: dict[str, str] | None = None) -> dict[tuple, float]:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def webhook_count(metrics: dict[tuple, float], endpoint: str, step: str) -> float:
    key = ("ivr_webhook_seconds_count", (("endpoint", endpoint), ("step", step)))
    return metrics.get(key, 0.0)


def errors(metrics: dict[tuple, float], endpoint: str, kind: str) -> float:
    return metrics.get(("ivr_webhook_errors_total", (("endpoint", endpoint), ("kind", kind))), 0.0)


def unreachable_app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": UNREACHABLE_DATABASE,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "test-secret-key",
            "PUBLIC_BASE_URL": None,
            "AGENT_NUMBER": "+15550109000",
            "IVR_ENV": "test",
        }
    )


def test_healthz_is_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["status"] == "ok"
    assert response.json["database"] == "ok"
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    response = unreachable_app(tmp_path).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["database"] == "unreachable"
    assert response.json["status"] != "ok"


def test_healthz_needs_no_signature_and_answers_head(client: FlaskClient) -> None:
    assert client.head("/healthz").status_code == 200


def test_metrics_time_each_webhook_by_endpoint_and_step(client: FlaskClient) -> None:
    before = samples(client)
    call = Twilio(client)
    assert call.post("/voice/incoming").status_code == 200
    assert call.post("/voice/gather?step=verify&turn=1", Digits="1234").status_code == 200
    after = samples(client)

    assert webhook_count(after, "incoming", "none") == webhook_count(before, "incoming", "none") + 1
    assert webhook_count(after, "gather", "verify") == webhook_count(before, "gather", "verify") + 1
    bucket = (
        "ivr_webhook_seconds_bucket",
        (("endpoint", "gather"), ("le", "+Inf"), ("step", "verify")),
    )
    assert after[bucket] >= 1


def test_metrics_do_not_take_label_values_from_the_query_string(client: FlaskClient) -> None:
    call = Twilio(client)
    call.post("/voice/incoming")
    call.post("/voice/gather?step=made-up-by-anyone&turn=1", Digits="1")
    metrics = samples(client)
    assert not any(dict(labels).get("step") == "made-up-by-anyone" for _, labels in metrics)
    assert webhook_count(metrics, "gather", "other") >= 1


def test_metrics_count_refused_webhooks(client: FlaskClient) -> None:
    before = errors(samples(client), "incoming", "refused")
    response = client.post("/voice/incoming", data={"CallSid": "CA" + "1" * 32})
    assert response.status_code == 403
    assert errors(samples(client), "incoming", "refused") == before + 1


def test_metrics_count_calls_by_outcome_from_the_database(client: FlaskClient) -> None:
    Twilio(client).post("/voice/incoming")
    Twilio(client).post("/voice/incoming")
    metrics = samples(client)
    assert metrics[("ivr_calls", (("outcome", "in_progress"),))] == 2
    assert metrics[("ivr_calls", (("outcome", "cancelled"),))] == 0
    assert metrics[("ivr_database_up", ())] == 1


def test_metrics_still_answer_when_the_database_is_unreachable(tmp_path: Path) -> None:
    metrics = samples(unreachable_app(tmp_path).test_client())
    assert metrics[("ivr_database_up", ())] == 0
    assert not any(name == "ivr_calls" for name, _ in metrics)


def test_metrics_can_require_a_bearer_token(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = "scrape-me"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert samples(client, {"Authorization": "Bearer scrape-me"})


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_log_lines_are_json_carrying_the_call_sid(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = "CA" + "7" * 32
    capsys.readouterr()
    # A request signed with the wrong token is refused, and the refusal is logged.
    client.post(
        "/voice/incoming",
        data={"CallSid": sid, "From": "+15550100001"},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    lines = log_lines(capsys.readouterr().err)
    refused = [line for line in lines if line["logger"] == "ivr.voice"]
    assert refused, lines
    assert refused[0]["call_sid"] == sid
    assert refused[0]["level"] == "warning"
    assert {"time", "message"} <= refused[0].keys()


def test_log_lines_carry_the_exception(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    with app.test_request_context("/voice/gather", method="POST", data={"CallSid": "CA42"}):
        request.form.get("CallSid")  # read, as a webhook reads it
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("ivr.test").exception("it broke")
    [line] = log_lines(capsys.readouterr().err)
    assert line["call_sid"] == "CA42"
    assert line["message"] == "it broke"
    assert line["exc_type"] == "ValueError"
    assert "boom" in line["exc_info"]


def test_gunicorn_access_lines_become_fields() -> None:
    atoms = {
        "m": "POST",
        "U": "/voice/gather",
        "q": "step=verify&turn=1",
        "s": "200",
        "D": 12345,
        "B": 321,
        "h": "10.0.0.7",
        "a": "TwilioProxy/1.1",
        "{ivr.call_sid}e": "CA99",
    }
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(r)s", (), None)
    record.args = atoms
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "gunicorn.access"
    assert line["status"] == 200
    assert line["duration_ms"] == 12.3
    assert line["path"] == "/voice/gather"
    assert line["call_sid"] == "CA99"
