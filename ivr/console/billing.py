"""Billing changes in the console: each call's on its page (support), and
the changes still on their way or failed (ops), with a retry for a failed one."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from .. import db
from ..billing.retry import retry_change
from ..billing.status import summary
from ..models import BillingChange, Call
from . import bp
from .auth import audit, role_required


@bp.get("/ops/billing")
@role_required("ops")
def ops_billing() -> str:
    s = db.session()
    open_changes = s.execute(
        select(BillingChange, Call.call_sid)
        .join(Call, Call.id == BillingChange.call_id)
        .where(BillingChange.state != "applied")
        .order_by(BillingChange.created_at, BillingChange.id)
        .limit(200)
    ).all()
    return render_template(
        "console/ops/billing.html", changes=open_changes, summary=summary(s), can_retry=True
    )


@bp.post("/ops/billing/<int:change_id>/retry")
@role_required("ops")
def ops_billing_retry(change_id: int) -> BaseResponse:
    s = db.session()
    if s.get(BillingChange, change_id) is None:
        abort(404)
    outcome = retry_change(s, current_app.config, change_id)
    if outcome == "queued again":
        audit("billing_retry", {"change": change_id})
        s.commit()
        flash(f"Change {change_id} queued again.", "ok")
    else:
        s.rollback()
        flash(f"Change {change_id}: {outcome}.", "error")
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/console/") else url_for("console.ops_billing"))
