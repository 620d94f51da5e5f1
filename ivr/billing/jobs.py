"""Billing changes as jobs: recorded in the webhook's transaction, applied
by a worker (`flask --app wsgi ivr worker`), with procrastinate as the
job engine (docs/decisions/0010).

The webhook inserts the change's row and defers its job on the same
PostgreSQL connection, in the same transaction as the call's record: both
are committed, or neither. A worker applies the change with its
idempotency key; if billing is slow, down or answers 5xx the job is retried
with backoff, the same key each time, until billing has it. A 4xx fails
the job and the change (ops can retry it from the console). A worker that
dies mid-job stops sending heartbeats; another worker's sweep puts its jobs
back in the queue, and the idempotency key keeps a change that billing had
already applied from being applied again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Any

import procrastinate
from flask import Flask
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.engine import make_url

from .. import db
from ..models import BillingChange, Call, Subscription, utcnow
from . import BillingRejected, BillingUnavailable, ChangeRequest, backend_for

log = logging.getLogger("ivr.billing")

QUEUE = "billing"
TASK = "ivr.apply_billing_change"
# The queues a worker runs: billing changes, and texts to callers.
QUEUES = [QUEUE, "messages"]
CHANGES = BillingChange.__table__

# The Flask app the worker process runs jobs in (set by `run_worker`).
_worker_app: Flask | None = None


class UntilApplied(BaseRetryStrategy):
    """Retry while the other side is unavailable (billing, or Twilio for a
    text), waiting twice as long each time (up to `max_wait` seconds); never
    after a refusal."""

    def __init__(self, first_wait: float, max_wait: float, retry_on: tuple[type, ...] = ()):
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.retry_on = retry_on or (BillingUnavailable,)

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        if not isinstance(exception, self.retry_on):
            return None
        wait = min(self.max_wait, self.first_wait * 2 ** min(job.attempts, 30))
        return RetryDecision(retry_in={"seconds": round(wait)})


def conninfo(database_url: str) -> str:
    """libpq's form of DATABASE_URL (procrastinate connects with psycopg)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@functools.cache
def _engine_app(conn_string: str, first_wait: float, max_wait: float) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conn_string))
    app.task(
        name=TASK,
        queue=QUEUE,
        retry=UntilApplied(first_wait, max_wait),
    )(_apply_change_job)
    # Texts to callers run on the same engine and workers (ivr/messaging/jobs.py).
    from ..messaging import jobs as texts

    texts.register(app, UntilApplied(first_wait, max_wait, (texts.TextingUnavailable,)))
    return app


def engine_app(config: Mapping[str, Any]) -> procrastinate.App:
    return _engine_app(
        conninfo(config["DATABASE_URL"]),
        float(config.get("BILLING_RETRY_FIRST_WAIT") or 1),
        float(config.get("BILLING_RETRY_MAX_WAIT") or 300),
    )


def defer(
    conn: Connection, config: Mapping[str, Any], change_id: int, subscription_id: int
) -> None:
    """Queue the change's job on the webhook's own connection: it commits
    (or rolls back) with the call's record."""
    task = engine_app(config).tasks[TASK]
    driver_connection = conn.connection.driver_connection
    # One job at a time per subscription, in the order the changes were
    # decided (a reinstatement before the offer taken with it), whoever
    # queued them (the call, ops' retry).
    lock = f"billing-subscription-{subscription_id}"
    task.configure(connection=driver_connection, lock=lock).defer(change_id=change_id)


# --- the job ------------------------------------------------------------------------

_READ_CHANGE = (
    select(
        CHANGES,
        Subscription.__table__.c.external_id,
        Call.__table__.c.call_sid,
    )
    .join(Subscription.__table__, Subscription.__table__.c.id == CHANGES.c.subscription_id)
    .join(Call.__table__, Call.__table__.c.id == CHANGES.c.call_id)
    .where(CHANGES.c.id == bindparam("id"))
    .with_for_update(of=CHANGES)
)


def worker_app() -> Flask:
    assert _worker_app is not None, "jobs run in `flask --app wsgi ivr worker`"
    return _worker_app


def _apply_change_job(change_id: int) -> None:
    with worker_app().app_context():
        apply_change(change_id, worker_app().config)


def apply_change(change_id: int, config: Mapping[str, Any]) -> str:
    """Apply one change in billing; its new state. Raises BillingUnavailable
    (the job is retried) or BillingRejected (the job fails)."""
    backend = backend_for(config)
    assert backend is not None, "billing changes are queued only for an external backend"
    with db.new_session() as s:
        conn = s.connection()
        row = conn.execute(_READ_CHANGE, {"id": change_id}).mappings().first()
        if row is None:
            log.warning("billing change %s is gone; nothing to apply", change_id)
            return "missing"
        if row["state"] in ("applied", "failed"):
            # Applied by an earlier try that lost its job; or failed, until ops retry it.
            return str(row["state"])
        request = ChangeRequest(
            kind=row["kind"],
            subscription=row["external_id"],
            body={
                **row["payload"],
                "call_sid": row["call_sid"],
                "confirmation": row["confirmation"],
            },
            idempotency_key=row["idempotency_key"],
        )
        # The row stays locked while billing is asked: two workers never apply
        # one change at once (the job's lock already sees to it; this is the
        # database's word for it).
        try:
            result = backend.apply(request)
        except BillingUnavailable as exc:
            _record(conn, change_id, row, "retrying", str(exc))
            s.commit()
            log.warning("billing change %s: %s; will retry", change_id, exc)
            raise
        except BillingRejected as exc:
            _record(conn, change_id, row, "failed", str(exc))
            s.commit()
            log.error("billing change %s refused: %s", change_id, exc)
            raise
        _record(conn, change_id, row, "applied", None, result)
        s.commit()
        return "applied"


def _record(
    conn: Connection,
    change_id: int,
    row: Mapping[str, Any],
    state: str,
    error: str | None,
    result: Mapping[str, Any] | None = None,
) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "state": state,
        "attempts": row["attempts"] + 1,
        "updated_at": now,
    }
    if error is not None:
        values["last_error"] = error[:2000]
    if state == "applied":
        values["applied_at"] = now
        values["result"] = dict(result or {})
    conn.execute(update(CHANGES).where(CHANGES.c.id == change_id).values(values))


# --- the worker ---------------------------------------------------------------------


def run_worker(flask_app: Flask, concurrency: int) -> None:
    """Run jobs until SIGTERM/SIGINT, and put back the jobs of workers that
    died (their heartbeats stopped)."""
    global _worker_app
    _worker_app = flask_app
    config = flask_app.config
    heartbeat = float(config.get("BILLING_WORKER_HEARTBEAT") or 2)
    stalled_after = float(config.get("BILLING_WORKER_STALLED_AFTER") or 10)
    app = engine_app(config)

    async def main() -> None:
        async with app.open_async():
            sweeper = asyncio.create_task(_sweep_stalled(app, stalled_after))
            calls_sweeper = asyncio.create_task(
                sweep_calls_periodically(flask_app, float(config["CALL_SWEEP_INTERVAL"]))
            )
            try:
                await app.run_worker_async(
                    queues=QUEUES,
                    concurrency=concurrency,
                    update_heartbeat_interval=heartbeat,
                    stalled_worker_timeout=stalled_after,
                    install_signal_handlers=True,
                )
            finally:
                sweeper.cancel()
                calls_sweeper.cancel()

    asyncio.run(main())


async def _sweep_stalled(app: procrastinate.App, stalled_after: float) -> None:
    """Every few seconds: jobs 'doing' on a worker without a recent heartbeat
    go back to the queue (procrastinate's stalled-job retrieval)."""
    while True:
        await asyncio.sleep(max(1.0, stalled_after / 3))
        try:
            stalled = [
                job
                for queue in QUEUES
                for job in await app.job_manager.get_stalled_jobs(
                    queue=queue, seconds_since_heartbeat=stalled_after
                )
            ]
            for job in stalled:
                log.warning("putting back job %s of a stalled worker", job.id)
                await app.job_manager.retry_job(job)
        except procrastinate.exceptions.ConnectorException as exc:
            log.warning("stalled-job sweep failed: %s", exc)


async def sweep_calls_periodically(flask_app: Flask, interval: float) -> None:
    """Every `interval` seconds: close the calls whose status callback never
    came (`ivr sweep-calls`). Every worker may run it: each call is read
    under its row lock and closed once."""
    from ..cli import sweep_calls

    def once() -> list[tuple[str, str]]:
        with flask_app.app_context():
            return sweep_calls()

    while True:
        await asyncio.sleep(interval)
        try:
            closed = await asyncio.to_thread(once)
        except Exception:
            log.exception("sweep of calls left in progress failed")
            continue
        if closed:
            log.info("closed %d call(s) left in progress", len(closed))
