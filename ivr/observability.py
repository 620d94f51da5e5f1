"""What operations watch: JSON log lines, `GET /healthz` and `GET /metrics`.

- Logs: one JSON object a line (time, level, logger, message, call_sid when
  a webhook is being answered, exc_info). Gunicorn's logs use the same
  formatter (gunicorn.conf.py), its access lines with their fields split out.
- `/healthz`: 200 when this process can run `SELECT 1` on the database,
  503 otherwise; for load balancers and orchestrators.
- `/metrics`: Prometheus text. Webhook latency per endpoint and step, webhook
  errors by kind, and calls by outcome (counted in the database at scrape
  time, so it is the same whichever worker or machine answers the scrape).
  With several worker processes, set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py
  does) so every scrape adds up all workers. METRICS_TOKEN, when set, is the
  bearer token a scrape must carry.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select, text

from . import db

# Webhooks answer in milliseconds; Twilio gives up at 15 s.
LATENCY_BUCKETS = (
    0.0025,
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    15.0,
)
# Postgres gives up on the health query after this long, so a stuck database
# answers 503 quickly instead of holding the load balancer's probe.
HEALTH_STATEMENT_TIMEOUT_MS = 2000
CALL_SID_MAX = 64
# The environ key that carries the CallSid to gunicorn's access log.
CALL_SID_ENVIRON = "ivr.call_sid"
# How gunicorn names an environ key among its access log atoms.
_ENVIRON_ATOM = "{" + CALL_SID_ENVIRON + "}e"

# Made once per process: prometheus_client refuses to register a name twice,
# and tests build many apps in one process.
_METRICS = CollectorRegistry(auto_describe=True)
WEBHOOK_SECONDS = Histogram(
    "ivr_webhook_seconds",
    "Time to answer a Twilio webhook, by endpoint and by the step of the call it answered.",
    ["endpoint", "step"],
    buckets=LATENCY_BUCKETS,
    registry=_METRICS,
)
WEBHOOK_ERRORS = Counter(
    "ivr_webhook_errors",
    "Webhooks that went wrong, by endpoint and kind: refused (bad signature, 403), "
    "bad_request (other 4xx), server_error (5xx), exception (unhandled), fallback "
    "(Twilio used the Fallback URL), or a kind the handler reported (count_error).",
    ["endpoint", "kind"],
    registry=_METRICS,
)


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"])
    app.before_request(_start_timer)
    app.after_request(_note_status)
    app.teardown_request(_observe)
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET", "HEAD"])
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])


def count_error(kind: str) -> None:
    """Count a webhook failure the handler dealt with itself (say, an apology
    played because the database was down): Flask never sees those as errors."""
    endpoint = _endpoint_label()
    WEBHOOK_ERRORS.labels(endpoint, kind).inc()
    if has_request_context():
        g._ivr_error_counted = True


# --- logs ----------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object a line. Gunicorn's access records (their args are its
    log atoms) become fields: method, path, status, duration_ms, call_sid."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        atoms = record.args if isinstance(record.args, Mapping) else None
        if record.name == "gunicorn.access" and atoms is not None:
            line.update(_access_fields(atoms))
        else:
            line["message"] = record.getMessage()
            call_sid = getattr(record, "call_sid", None) or current_call_sid()
            if call_sid:
                line["call_sid"] = call_sid
        if record.exc_info:
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            line["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.stack_info:
            line["stack_info"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def _access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    def atom(key: str) -> Any:
        value = atoms.get(key)
        return None if value in (None, "-") else value

    status = atom("s")
    duration_us = atom("D")
    fields = {
        "message": f"{atom('m')} {atom('U')} {status}",
        "method": atom("m"),
        "path": atom("U"),
        "query": atom("q") or None,
        "status": int(status) if str(status).isdigit() else status,
        "duration_ms": round(duration_us / 1000, 1) if isinstance(duration_us, int) else None,
        "bytes": atom("B"),
        "remote": atom("h"),
        "user_agent": atom("a"),
        "call_sid": atom(_ENVIRON_ATOM),
    }
    return {name: value for name, value in fields.items() if value is not None}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now (test runners and gunicorn swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str | int = "INFO") -> None:
    """JSON lines for the line's loggers ("ivr" and below). Idempotent."""
    logger = logging.getLogger("ivr")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)


def current_call_sid() -> str | None:
    """The CallSid of the webhook being answered, if any (never parses a body)."""
    if not has_request_context():
        return None
    sid = g.get("call_sid") or request.environ.get(CALL_SID_ENVIRON)
    # request.form is cached once parsed; reading it here must not parse the body.
    form = request.__dict__.get("form")
    if not sid and form is not None:
        sid = form.get("CallSid") or request.args.get("call")
    return str(sid)[:CALL_SID_MAX] if sid else None


# --- timing and errors of webhooks --------------------------------------------


def _is_webhook() -> bool:
    return request.blueprint == "voice"


def _start_timer() -> None:
    if _is_webhook():
        g._ivr_started = time.perf_counter()


def _note_status(response: Response) -> Response:
    if _is_webhook():
        g._ivr_status = response.status_code
    return response


def _observe(exc: BaseException | None) -> None:
    started = g.pop("_ivr_started", None)
    if started is None:
        return
    endpoint = _endpoint_label()
    WEBHOOK_SECONDS.labels(endpoint, _step_label(endpoint)).observe(time.perf_counter() - started)
    kind = _error_kind(exc, g.pop("_ivr_status", None))
    if kind is not None and not g.pop("_ivr_error_counted", False):
        WEBHOOK_ERRORS.labels(endpoint, kind).inc()
    call_sid = current_call_sid()
    if call_sid:
        request.environ[CALL_SID_ENVIRON] = call_sid


def _error_kind(exc: BaseException | None, status: int | None) -> str | None:
    if exc is not None:
        return "exception"
    # The voice routes set g.ivr_error when they turned a failure into an apology.
    if g.get("ivr_error"):
        return str(g.ivr_error)
    if status is None or status >= 500:
        return "server_error"
    if status == 403:
        return "refused"
    if status >= 400:
        return "bad_request"
    if request.endpoint == "voice.fallback":
        return "fallback"
    return None


def _endpoint_label() -> str:
    if not has_request_context() or not request.endpoint:
        return "none"
    return request.endpoint.removeprefix("voice.")


def _known_steps() -> frozenset[str]:
    from .flow.steps import STEPS

    return frozenset(STEPS)


def _step_label(endpoint: str) -> str:
    """The step the webhook answered ("none" for endpoints without steps).
    Only known step names become labels: a label value taken from the query
    string would let anyone create time series."""
    step = g.get("ivr_step") or request.args.get("step")
    if not step or step == endpoint:
        return "none"
    return step if step in _known_steps() else "other"


# --- /healthz --------------------------------------------------------------------


def healthz() -> tuple[Response, int]:
    started = time.perf_counter()
    try:
        with db.engine().connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL statement_timeout = {HEALTH_STATEMENT_TIMEOUT_MS}"))
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means: do not send calls here
        logging.getLogger("ivr.health").warning("health check: database unreachable: %s", exc)
        body, status = {"status": "unavailable", "database": "unreachable"}, 503
    else:
        body, status = {"status": "ok", "database": "ok"}, 200
    body["database_ms"] = round((time.perf_counter() - started) * 1000, 1)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, status


# --- /metrics ---------------------------------------------------------------------


class _CallsByOutcome:
    """Calls by outcome, counted in the database when scraped."""

    def collect(self) -> Iterator[Metric]:
        from .models import OUTCOMES, Call

        up = GaugeMetricFamily("ivr_database_up", "1 when the scrape could read the database.")
        try:
            with db.new_session() as session:
                rows = session.execute(select(Call.outcome, func.count()).group_by(Call.outcome))
                counts = {outcome: n for outcome, n in rows}
        except Exception:
            logging.getLogger("ivr.metrics").warning("metrics: cannot count calls", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        calls = GaugeMetricFamily(
            "ivr_calls", "Calls on record, by outcome (from the database).", labels=["outcome"]
        )
        for outcome in sorted(set(OUTCOMES) | set(counts)):
            calls.add_metric([outcome], counts.get(outcome, 0))
        yield calls


class _BillingChanges:
    """Billing changes by state, and how long the oldest unapplied one has waited."""

    def collect(self) -> Iterator[Metric]:
        from .billing.status import summary

        try:
            with db.new_session() as session:
                found = summary(session)
        except Exception:
            logging.getLogger("ivr.metrics").warning("metrics: cannot count billing changes")
            return
        changes = GaugeMetricFamily(
            "ivr_billing_changes",
            "Billing changes (cancellations, offers) on record, by state.",
            labels=["state"],
        )
        for state, n in found.by_state.items():
            changes.add_metric([state], n)
        yield changes
        yield GaugeMetricFamily(
            "ivr_billing_oldest_unapplied_seconds",
            "Age of the oldest billing change still pending or retrying (0: none).",
            value=found.oldest_unfinished_seconds or 0,
        )


class _AfterTheCall:
    """Call backs waiting and overdue; texts by kind and state."""

    def collect(self) -> Iterator[Metric]:
        from sqlalchemy import func, select

        from .models import CallbackRequest, SmsMessage, utcnow

        try:
            with db.new_session() as s:
                waiting = CallbackRequest.done_at.is_(None)
                open_count = s.scalar(select(func.count()).where(waiting)) or 0
                overdue = (
                    s.scalar(select(func.count()).where(waiting, CallbackRequest.due_at < utcnow()))
                    or 0
                )
                texts = s.execute(
                    select(SmsMessage.kind, SmsMessage.state, func.count()).group_by(
                        SmsMessage.kind, SmsMessage.state
                    )
                ).all()
        except Exception:
            logging.getLogger("ivr.metrics").warning("metrics: cannot count call backs and texts")
            return
        yield GaugeMetricFamily(
            "ivr_callbacks_waiting", "Call backs not done yet.", value=open_count
        )
        yield GaugeMetricFamily(
            "ivr_callbacks_overdue", "Call backs not done by the time the caller was told.",
            value=overdue,
        )  # fmt: skip
        family = GaugeMetricFamily(
            "ivr_texts", "Texts to callers, by kind and state.", labels=["kind", "state"]
        )
        for kind, state, n in texts:
            family.add_metric([kind, state], n)
        yield family


class _ThisProcess:
    def collect(self) -> Iterator[Metric]:
        return _METRICS.collect()


def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response(
                "A bearer token is required (METRICS_TOKEN).\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"'},
                mimetype="text/plain",
            )
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(_CallsByOutcome())
    registry.register(_BillingChanges())
    registry.register(_AfterTheCall())
    response = Response(generate_latest(registry), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response
