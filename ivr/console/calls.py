"""Call records for support: the list, one call's page, notes, the CSV
export and the callback queue."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import case, func, select
from werkzeug.wrappers import Response as BaseResponse

from .. import compliance, db
from ..models import (
    OUTCOMES,
    REASON_CODES,
    BillingChange,
    Call,
    CallbackRequest,
    CallEvent,
    CallNote,
    Customer,
    Offer,
    SavedView,
    utcnow,
)
from ..records import find_call
from . import bp
from .auth import audit, current_user, has_role, role_required
from .confirm import review_page, wants_review
from .queries import (
    FIRST_ORDER,
    LANGUAGES,
    CallFilters,
    Cursor,
    calls_page,
    count_calls,
    iter_calls,
)
from .timeline import describe_event

NOTE_MAX = 4000

# Events that say something went wrong with, or about, a request.
REQUEST_TROUBLE = ("billing_unreachable", "unknown_call", "stale_request", "repeated_request")


def inspected_webhooks(events: list[CallEvent]) -> list[dict[str, Any]]:
    """Each webhook Twilio sent, as the inspector shows it: the request, the
    TwiML answered, how long it took, and what went wrong with it (the
    trouble events written with it, which precede its `webhook` event)."""
    out: list[dict[str, Any]] = []
    trouble: list[str] = []
    for e in events:
        if e.type in REQUEST_TROUBLE:
            trouble.append(describe_event(e))
        elif e.type == "webhook":
            d = e.detail or {}
            out.append(
                {
                    "at": e.at,
                    "step": e.step,
                    "path": d.get("path", ""),
                    "params": d.get("params") or {},
                    "twiml": d.get("twiml", ""),
                    "ms": d.get("ms"),
                    "trouble": trouble,
                }
            )
            trouble = []
    return out


def _offer_codes() -> list[str]:
    return list(db.session().scalars(select(Offer.code).order_by(Offer.code)))


@bp.get("/calls")
@role_required("support")
def calls() -> str:
    filters = CallFilters.from_args(request.args)
    after = Cursor.decode(request.args.get("after"), filters.sort)
    page = calls_page(db.session(), filters, after)
    matching, over = count_calls(db.session(), filters)
    return render_template(
        "console/calls.html",
        filters=filters,
        first_order=FIRST_ORDER,
        views=_saved_views(),
        view_max=VIEW_NAME_MAX,
        page=page,
        matching=matching,
        over=over,
        first_page=after is None,
        outcomes=OUTCOMES,
        reasons=REASON_CODES,
        offers=_offer_codes(),
        languages=LANGUAGES,
    )


VIEW_NAME_MAX = 100


def _saved_views() -> list[SavedView]:
    user = current_user()
    assert user is not None
    return list(
        db.session().scalars(
            select(SavedView).where(SavedView.user_id == user.id).order_by(SavedView.name)
        )
    )


@bp.post("/calls/views")
@role_required("support")
def save_view() -> BaseResponse:
    """Name the filters and order shown: the view is listed on the calls page
    (for its owner) as a link with the same query string as the page had."""
    user = current_user()
    assert user is not None
    filters = CallFilters.from_args(request.form)
    query = urlencode(filters.as_args())
    back = url_for("console.calls", **filters.as_args())
    name = request.form.get("name", "").strip()
    if not name:
        flash("Give the view a name.", "error")
        return redirect(back)
    if len(name) > VIEW_NAME_MAX:
        flash(f"A view's name has at most {VIEW_NAME_MAX} characters.", "error")
        return redirect(back)
    if filters.errors:
        flash("Not saved: " + "; ".join(filters.errors) + ".", "error")
        return redirect(back)
    s = db.session()
    view = s.scalars(
        select(SavedView).where(SavedView.user_id == user.id, SavedView.name == name)
    ).first()
    if view is None:
        s.add(SavedView(user_id=user.id, name=name, query=query))
        flash(f"Saved “{name}”.", "ok")
    else:
        view.query = query
        flash(f"“{name}” now shows these filters.", "ok")
    audit("save_view", {"name": name, "query": query})
    s.commit()
    return redirect(back)


@bp.post("/calls/views/<int:view_id>/delete")
@role_required("support")
def delete_view(view_id: int) -> BaseResponse:
    user = current_user()
    assert user is not None
    s = db.session()
    view = s.get(SavedView, view_id)
    if view is None or view.user_id != user.id:
        abort(404)
    s.delete(view)
    audit("delete_view", {"name": view.name, "query": view.query})
    s.commit()
    flash(f"Deleted the view “{view.name}”; saving these filters again brings it back.", "ok")
    return redirect(url_for("console.calls") + ("?" + view.query if view.query else ""))


CSV_HEADER = (
    "call_sid",
    "started_at",
    "from",
    "account",
    "verified",
    "language",
    "outcome",
    "outcome_step",
    "reason",
    "reason_text",
    "offer",
    "offer_accepted",
    "confirmation",
    "agent_requested",
    "agent_result",
    "duration_seconds",
)


def _spreadsheet_safe(value: Any) -> Any:
    """Cells go into a spreadsheet, and callers choose some of them (their
    words, and a forged From): no text cell may start a formula."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def _csv_row(row: Any) -> tuple[Any, ...]:
    return tuple(_spreadsheet_safe(cell) for cell in _csv_cells(row))


def _csv_cells(row: Any) -> tuple[Any, ...]:
    return (
        row.call_sid,
        row.started_at.isoformat(),
        row.from_number or "",
        row.account_number or "",
        "yes" if row.verified else "no",
        row.language,
        row.outcome,
        row.outcome_step or "",
        row.reason_code or "",
        row.reason_text or "",
        row.offer_code or "",
        "" if row.offer_accepted is None else ("yes" if row.offer_accepted else "no"),
        row.confirmation or "",
        "yes" if row.agent_requested else "no",
        row.agent_result or "",
        "" if row.duration_seconds is None else row.duration_seconds,
    )


def _csv_lines(filters: CallFilters) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield flush()
    for n, row in enumerate(iter_calls(db.session(), filters), start=1):
        writer.writerow(_csv_row(row))
        if n % 500 == 0:
            yield flush()
    yield flush()


@bp.get("/calls.csv")
@role_required("support")
def calls_csv() -> Response:
    filters = CallFilters.from_args(request.args)
    if filters.errors:
        abort(400, description="; ".join(filters.errors))
    audit("export_calls_csv", {"filters": filters.as_args()})
    # Committed before streaming: the export is on record even if the download stops.
    db.session().commit()
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(_csv_lines(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="calls-{stamp}.csv"'},
    )


@bp.get("/calls/<call_sid>")
@role_required("support")
def call_detail(call_sid: str) -> str:
    s = db.session()
    call = find_call(s, call_sid)
    if call is None:
        abort(404)
    notes = s.scalars(select(CallNote).where(CallNote.call_id == call.id).order_by(CallNote.id))
    callbacks = s.scalars(
        select(CallbackRequest)
        .where(CallbackRequest.call_id == call.id)
        .order_by(CallbackRequest.id)
    )
    timeline = [
        (e, describe_event(e), (e.at - call.started_at).total_seconds())
        for e in call.events
        if e.type != "webhook"
    ]
    changes = [
        (c, call.call_sid)
        for c in s.scalars(
            select(BillingChange).where(BillingChange.call_id == call.id).order_by(BillingChange.id)
        )
    ]
    return render_template(
        "console/call.html",
        call=call,
        timeline=timeline,
        notes=list(notes),
        callbacks=list(callbacks),
        changes=changes,
        proof=compliance.proof_of(call, call.events),
        webhooks=inspected_webhooks(call.events),
        can_retry=has_role(current_user(), "ops"),
        note_max=NOTE_MAX,
    )


@bp.post("/calls/<call_sid>/notes")
@role_required("support")
def add_note(call_sid: str) -> BaseResponse:
    s = db.session()
    # Only the row: adding a note does not need the call's whole timeline.
    call = s.scalars(select(Call).where(Call.call_sid == call_sid)).first()
    if call is None:
        abort(404)
    text = request.form.get("text", "").strip()
    if not text:
        flash("A note needs some text.", "error")
    elif len(text) > NOTE_MAX:
        flash(f"A note has at most {NOTE_MAX} characters.", "error")
    else:
        user = current_user()
        assert user is not None
        s.add(CallNote(call_id=call.id, author=user.email, text=text))
        audit("add_note", {"call_sid": call.call_sid})
        s.commit()
        flash("Note added.", "ok")
    return redirect(url_for("console.call_detail", call_sid=call.call_sid) + "#notes")


CALLBACK_PAGE = 50
# How the queue can be sorted; overdue call backs always come first.
CALLBACK_SORTS = {
    "due": (
        CallbackRequest.due_at.is_(None),
        CallbackRequest.due_at,
        CallbackRequest.requested_at,
        CallbackRequest.id,
    ),
    "requested": (CallbackRequest.requested_at, CallbackRequest.id),
}
ATTEMPT_RESULTS = ("answered", "no answer", "voicemail")
CLOSE_OUTCOMES = ("resolved", "cancelled", "kept", "no reply")


@bp.get("/callbacks")
@role_required("support")
def callbacks() -> str:
    """Callers waiting for a call back: overdue first, then by due time
    (or by when they asked), paged."""
    s = db.session()
    now = utcnow()
    sort = request.args.get("sort", "due")
    if sort not in CALLBACK_SORTS:
        sort = "due"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    waiting = CallbackRequest.done_at.is_(None)
    overdue_first = case((CallbackRequest.due_at < now, 0), else_=1)
    total = s.scalar(select(func.count()).select_from(CallbackRequest).where(waiting)) or 0
    rows = s.execute(
        select(CallbackRequest, Call, Customer)
        .join(CallbackRequest.call)
        .outerjoin(Customer, Customer.id == Call.customer_id)
        .where(waiting)
        .order_by(overdue_first, *CALLBACK_SORTS[sort])
        .limit(CALLBACK_PAGE)
        .offset((page - 1) * CALLBACK_PAGE)
    ).all()
    overdue = s.scalar(
        select(func.count())
        .select_from(CallbackRequest)
        .where(waiting, CallbackRequest.due_at < now)
    )
    return render_template(
        "console/callbacks.html",
        waiting=rows,
        now=now,
        total=total,
        overdue=overdue or 0,
        sort=sort,
        page=page,
        pages=max((total + CALLBACK_PAGE - 1) // CALLBACK_PAGE, 1),
        results=ATTEMPT_RESULTS,
        outcomes=CLOSE_OUTCOMES,
    )


def _callback_for_update(callback_id: int) -> CallbackRequest:
    callback = db.session().get(CallbackRequest, callback_id, with_for_update=True)
    if callback is None:
        abort(404)
    return callback


@bp.post("/callbacks/<int:callback_id>/claim")
@role_required("support")
def callback_claim(callback_id: int) -> BaseResponse:
    callback = _callback_for_update(callback_id)
    user = current_user()
    assert user is not None
    if callback.done_at is None and callback.assignee != user.email:
        callback.assignee = user.email
        audit("callback_claim", {"callback_id": callback.id})
        db.session().commit()
        flash(f"You have the call back to {callback.phone or 'unknown number'}.", "ok")
    return redirect(url_for("console.callbacks", **request.args))


@bp.post("/callbacks/<int:callback_id>/attempt")
@role_required("support")
def callback_attempt(callback_id: int) -> BaseResponse:
    callback = _callback_for_update(callback_id)
    result = request.form.get("result", "")
    if result not in ATTEMPT_RESULTS:
        flash(f"Say how the try went: {', '.join(ATTEMPT_RESULTS)}.", "error")
        return redirect(url_for("console.callbacks"))
    user = current_user()
    assert user is not None
    if callback.done_at is None:
        attempt = {"at": utcnow().isoformat(), "by": user.email, "result": result}
        callback.attempts = [*(callback.attempts or []), attempt]
        callback.assignee = callback.assignee or user.email
        audit("callback_attempt", {"callback_id": callback.id, "result": result})
        db.session().commit()
        flash(f"Try logged: {result}.", "ok")
    return redirect(url_for("console.callbacks"))


@bp.post("/callbacks/<int:callback_id>/done")
@role_required("support")
def callback_done(callback_id: int) -> str | BaseResponse:
    callback = _callback_for_update(callback_id)
    outcome = request.form.get("outcome") or "resolved"
    if outcome not in CLOSE_OUTCOMES:
        flash(f"Close with one of: {', '.join(CLOSE_OUTCOMES)}.", "error")
        return redirect(url_for("console.callbacks"))
    if wants_review() and callback.done_at is None:
        tries = len(callback.attempts or [])
        return review_page(
            f"Close the call back to {callback.phone or 'an unknown number'} as “{outcome}”?",
            f"It leaves the queue ({tries} {'try' if tries == 1 else 'tries'} logged); "
            "the call's page keeps it, with who closed it and when.",
            yes="Close the call back",
            back=url_for("console.callbacks"),
            undo="A closed call back cannot be reopened from the console.",
        )
    if callback.done_at is None:
        user = current_user()
        assert user is not None
        callback.done_at = utcnow()
        callback.done_by = user.email
        callback.outcome = outcome
        audit(
            "callback_done",
            {"callback_id": callback.id, "phone": callback.phone, "outcome": outcome},
        )
        db.session().commit()
        flash(f"Callback to {callback.phone or 'unknown number'} marked as done.", "ok")
    return redirect(url_for("console.callbacks"))
