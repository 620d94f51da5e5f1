"""Recording the changes a call decides (ivr/calls.py calls these in the
webhook's transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert

from ..models import BillingChange, utcnow

CHANGES = BillingChange.__table__


def backend_name(config: Mapping[str, Any]) -> str:
    return str(config.get("BILLING_BACKEND") or "embedded")


def record(
    conn: Connection,
    config: Mapping[str, Any],
    *,
    call_id: int,
    subscription_id: int,
    kind: str,
    payload: Mapping[str, Any],
    confirmation: str,
) -> int:
    """One change of the call. The embedded backend has applied it already,
    in this transaction; for an external one it is pending, and its job is
    queued in this same transaction."""
    backend = backend_name(config)
    now = utcnow()
    embedded = backend == "embedded"
    change_id = conn.execute(
        insert(CHANGES)
        .values(
            call_id=call_id,
            subscription_id=subscription_id,
            kind=kind,
            payload=dict(payload),
            backend=backend,
            idempotency_key=uuid.uuid4().hex,
            confirmation=confirmation,
            state="applied" if embedded else "pending",
            attempts=1 if embedded else 0,
            created_at=now,
            updated_at=now,
            applied_at=now if embedded else None,
        )
        .returning(CHANGES.c.id)
    ).scalar_one()
    if not embedded:
        from .jobs import defer

        defer(conn, config, change_id, subscription_id)
    return int(change_id)
