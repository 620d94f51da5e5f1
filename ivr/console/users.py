"""Console users, for admins: who can sign in, and with which role."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import db
from ..models import User
from . import bp
from .auth import ROLES, audit, create_user, current_user, end_sessions, role_required
from .confirm import Change, review_page, wants_review


@bp.get("/users")
@role_required("admin")
def users() -> str:
    everyone = db.session().scalars(select(User).order_by(User.email))
    return render_template("console/users.html", users=list(everyone), roles=ROLES)


@bp.post("/users")
@role_required("admin")
def users_create() -> Response:
    s = db.session()
    email = request.form.get("email", "")
    role = request.form.get("role", "")
    try:
        user = create_user(s, email, role, request.form.get("password", ""))
    except ValueError as e:
        s.rollback()
        flash(f"User not added: {e}.", "error")
        return redirect(url_for("console.users"))
    audit("create_user", {"email": user.email, "role": user.role})
    s.commit()
    flash(f"{user.email} can now sign in as {user.role}.", "ok")
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>")
@role_required("admin")
def users_update(user_id: int) -> str | Response:
    """Change a role, or turn access off or on. (Sign-in locks are on the Locks page.)"""
    s = db.session()
    user = s.get(User, user_id)
    if user is None:
        abort(404)
    me = current_user()
    action = request.form.get("action", "")
    if wants_review() and action == "role" and request.form.get("role") in ROLES:
        return review_page(
            f"Change the role of {user.email}?",
            "What they may open changes at their next click.",
            yes="Change the role",
            back=url_for("console.users"),
            undo="Setting the role back undoes this.",
            changes=[Change("Role", user.role, request.form["role"])],
        )
    if wants_review() and action == "deactivate":
        return review_page(
            f"Turn off access for {user.email}?",
            "They are signed out at their next click and cannot sign in again.",
            yes="Turn off access",
            back=url_for("console.users"),
            undo="Turning access on again undoes this (they sign in again).",
        )
    if action == "role" and request.form.get("role") in ROLES:
        if me is not None and user.id == me.id:
            flash("You cannot change your own role.", "error")
            return redirect(url_for("console.users"))
        before, user.role = user.role, request.form["role"]
        audit("change_role", {"email": user.email, "from": before, "to": user.role})
    elif action in ("deactivate", "activate"):
        if action == "deactivate" and me is not None and user.id == me.id:
            flash("You cannot turn off your own access.", "error")
            return redirect(url_for("console.users"))
        user.active = action == "activate"
        if not user.active:
            end_sessions(user)
        audit(f"{action}_user", {"email": user.email})
    else:
        abort(400, description="unknown change")
    s.commit()
    flash(f"{user.email} updated.", "ok")
    return redirect(url_for("console.users"))
