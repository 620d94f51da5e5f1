"""A staff member's own settings: the time zone the console shows, and the
language of its words for codes (outcomes, reasons, offers, steps, events)."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import db
from ..models import utcnow
from . import bp
from .auth import audit, current_user, role_required
from .labels import CONSOLE_LANGUAGES, format_time, valid_timezone


@bp.get("/settings")
@role_required("support", "ops")
def settings() -> str:
    user = current_user()
    assert user is not None
    return render_template(
        "console/settings.html",
        zones=sorted(available_timezones()),
        current=user.timezone or "",
        languages=CONSOLE_LANGUAGES,
        language=user.console_language,
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
    language = request.form.get("language") or user.console_language
    if language not in CONSOLE_LANGUAGES:
        flash(f"{language} is not a console language ({', '.join(CONSOLE_LANGUAGES)}).", "error")
        return redirect(url_for("console.settings"))
    said = []
    if (zone or None) != user.timezone:
        before, user.timezone = user.timezone, zone or None
        audit("change_timezone", {"from": before, "to": user.timezone})
    said.append(f"Times show in {zone or current_app.config['AGENT_TIMEZONE']}")
    if language != user.console_language:
        before, user.console_language = user.console_language, language
        audit("change_console_language", {"from": before, "to": language})
    said.append(f"labels in {CONSOLE_LANGUAGES[language]}")
    db.session().commit()
    flash("; ".join(said) + ".", "ok")
    return redirect(url_for("console.settings"))
