"""A staff member's own settings: for now the time zone the console shows."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import db
from ..models import utcnow
from . import bp
from .auth import audit, current_user, role_required
from .labels import format_time, valid_timezone


@bp.get("/settings")
@role_required("support", "ops")
def settings() -> str:
    user = current_user()
    assert user is not None
    return render_template(
        "console/settings.html",
        zones=sorted(available_timezones()),
        current=user.timezone or "",
        default=current_app.config["AGENT_TIMEZONE"],
        now=format_time(utcnow()),
    )


@bp.post("/settings")
@role_required("support", "ops")
def settings_post() -> Response:
    user = current_user()
    assert user is not None
    zone = request.form.get("timezone", "").strip()
    if zone and not valid_timezone(zone):
        flash(f"{zone} is not a time zone (for example America/Chicago).", "error")
        return redirect(url_for("console.settings"))
    before, user.timezone = user.timezone, zone or None
    audit("change_timezone", {"from": before, "to": user.timezone})
    db.session().commit()
    flash(f"Times now show in {zone or current_app.config['AGENT_TIMEZONE']}.", "ok")
    return redirect(url_for("console.settings"))
