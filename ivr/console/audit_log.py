"""The audit log, for admins: who did what in the console, and when;
filtered, paged newest first by id (keyset), exported as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, render_template, request, stream_with_context
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from .. import db
from ..models import AuditLog, utcnow
from . import bp
from .auth import audit, role_required

PAGE_SIZE = 100

ACTION_LABELS = {
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "add_note": "Added a note",
    "export_calls_csv": "Exported calls",
    "export_audit_csv": "Exported the audit log",
    "callback_done": "Marked a call back done",
    "callback_claim": "Took a call back",
    "callback_attempt": "Logged a call back try",
    "create_user": "Added a user",
    "change_role": "Changed a role",
    "deactivate_user": "Turned access off",
    "activate_user": "Turned access on",
    "unlock_user": "Lifted a sign-in lock",
    "change_timezone": "Changed their time zone",
    "change_console_language": "Changed their console language",
    "save_view": "Saved a view of the calls list",
    "delete_view": "Deleted a saved view",
    "unlock_phone_verification": "Lifted a verification lock",
    "billing_retry": "Retried a billing change",
    "prompt.publish": "Published a prompt",
    "prompt.rollback": "Rolled a prompt back",
    "vocabulary.publish": "Published words the line understands",
    "vocabulary.rollback": "Rolled words back",
    "offer.update": "Changed an offer",
    "offer.create": "Added an offer",
}


def action_label(code: str) -> str:
    return ACTION_LABELS.get(code) or code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> tuple[AuditFilters, list[str]]:
        errors: list[str] = []
        dates: dict[str, dt.date | None] = {}
        for name in ("date_from", "date_to"):
            value = args.get(name) or ""
            try:
                dates[name] = dt.date.fromisoformat(value) if value else None
            except ValueError:
                errors.append(f"{name.replace('_', ' ')} is not a date (YYYY-MM-DD)")
                dates[name] = None
        return (
            cls(
                actor=(args.get("actor") or "").strip().lower(),
                action=(args.get("action") or "").strip(),
                date_from=dates["date_from"],
                date_to=dates["date_to"],
            ),
            errors,
        )

    def as_args(self) -> dict[str, str]:
        out = {"actor": self.actor, "action": self.action}
        if self.date_from:
            out["date_from"] = self.date_from.isoformat()
        if self.date_to:
            out["date_to"] = self.date_to.isoformat()
        return {k: v for k, v in out.items() if v}

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.actor:
            where.append(AuditLog.actor == self.actor)
        if self.action:
            where.append(AuditLog.action == self.action)
        if self.date_from:
            start = dt.datetime.combine(self.date_from, dt.time(0), tzinfo=dt.UTC)
            where.append(AuditLog.at >= start)
        if self.date_to:
            day_after = self.date_to + dt.timedelta(days=1)
            end = dt.datetime.combine(day_after, dt.time(0), tzinfo=dt.UTC)
            where.append(AuditLog.at < end)
        return where


def audit_page(
    s: Session, filters: AuditFilters, before_id: int | None, size: int = PAGE_SIZE
) -> tuple[list[AuditLog], int | None]:
    where = filters.conditions()
    if before_id is not None:
        where.append(AuditLog.id < before_id)
    rows = list(
        s.scalars(select(AuditLog).where(*where).order_by(AuditLog.id.desc()).limit(size + 1))
    )
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more and rows else None)


def _detail_text(detail: dict[str, Any] | None) -> str:
    return json.dumps(detail or {}, sort_keys=True, ensure_ascii=False)


@bp.get("/audit")
@role_required("admin")
def audit_log() -> str:
    filters, errors = AuditFilters.from_args(request.args)
    before = request.args.get("before", "")
    before_id = int(before) if before.isdigit() else None
    s = db.session()
    rows, next_id = audit_page(s, filters, before_id)
    return render_template(
        "console/audit.html",
        rows=rows,
        next_id=next_id,
        first_page=before_id is None,
        filters=filters,
        errors=errors,
        # Distinct actors come from ix_audit_log_actor_id; actions are the known ones.
        actors=list(s.scalars(select(AuditLog.actor).distinct().order_by(AuditLog.actor))),
        actions=sorted(ACTION_LABELS, key=action_label),
        action_label=action_label,
        detail_text=_detail_text,
    )


def _spreadsheet_safe(text: str) -> str:
    return "'" + text if text and text[0] in "=+-@\t\r" else text


def _csv_lines(filters: AuditFilters) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("at", "actor", "action", "detail"))
    before: int | None = None
    s = db.session()
    while True:
        rows, before = audit_page(s, filters, before, 2000)
        for row in rows:
            writer.writerow(
                (
                    row.at.astimezone(dt.UTC).isoformat(),
                    _spreadsheet_safe(row.actor),
                    row.action,
                    _spreadsheet_safe(_detail_text(row.detail)),
                )
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if before is None:
            return


@bp.get("/audit.csv")
@role_required("admin")
def audit_csv() -> Response:
    filters, _ = AuditFilters.from_args(request.args)
    audit("export_audit_csv", {"filters": filters.as_args()})
    db.session().commit()
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(_csv_lines(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
