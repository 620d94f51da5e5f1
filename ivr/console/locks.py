"""Phone verification locks (ivr/lockout.py): which customers and calling
numbers are locked after failed PINs or account numbers, and lifting one
once support knows who is calling."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import db, lockout
from ..models import Customer
from . import bp
from .auth import audit, role_required
from .confirm import review_page, wants_review

_KINDS = {
    "customer": "account",
    "caller": "calling number",
    "sign_in": "console sign-in (address, email)",
}


@bp.get("/locks")
@role_required("support")
def locks() -> str:
    conn = db.session().connection()
    rows = lockout.locked_now(conn)
    ids = [int(r["key"]) for r in rows if r["kind"] == "customer"]
    names = dict(
        conn.execute(select(Customer.id, Customer.account_number).where(Customer.id.in_(ids))).all()
    )
    shown = [
        {**r, "who": names.get(int(r["key"]), "?") if r["kind"] == "customer" else r["key"]}
        for r in rows
    ]
    return render_template("console/locks.html", locks=shown)


@bp.post("/locks/<int:lock_id>")
@role_required("support")
def locks_unlock(lock_id: int) -> str | Response:
    s = db.session()
    if wants_review():
        conn = s.connection()
        shown = {r["id"]: r for r in lockout.locked_now(conn)}.get(lock_id)
        if shown is None:
            flash("That lock has ended or was lifted already.", "ok")
            return redirect(url_for("console.locks"))
        who = shown["key"]
        if shown["kind"] == "customer":
            who = (
                conn.scalar(select(Customer.account_number).where(Customer.id == int(shown["key"])))
                or "?"
            )
        return review_page(
            f"Lift the lock on {_KINDS.get(shown['kind'], shown['kind'])} {who}?",
            "Verification is tried again at the next attempt, before the lock would end "
            f"({shown['locked_until']:%Y-%m-%d %H:%M} UTC). Lift it only once you know who "
            "is calling.",
            yes="Lift the lock",
            back=url_for("console.locks"),
            undo="This cannot be undone from the console: the line locks again after "
            "more failed tries.",
        )
    row = lockout.unlock(s.connection(), lock_id)
    if row is None:
        abort(404)
    audit("unlock_phone_verification", {"kind": row["kind"], "key": row["key"]})
    s.commit()
    flash("Unlocked: the caller can verify again.", "ok")
    return redirect(url_for("console.locks"))
