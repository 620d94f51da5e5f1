"""The staff console at /console/: call records, callbacks, analytics and
users (this package), prompts and offers (ops.py).

One blueprint; each module registers its pages on `bp`.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, url_for
from werkzeug.wrappers import Response

bp = Blueprint("console", __name__, url_prefix="/console")


def init_app(app: Flask) -> None:
    from ..cli import ivr_cli
    from .commands import create_user_command, demo_calls_command

    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    # Behind https the cookie must never travel over plain http.
    if (app.config.get("PUBLIC_BASE_URL") or "").startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.register_blueprint(bp)
    # Globals, not context: imported macros (_macros.html) see them too.
    from .labels import TEMPLATE_HELPERS

    app.jinja_env.globals.update(TEMPLATE_HELPERS)
    ivr_cli.add_command(create_user_command)
    ivr_cli.add_command(demo_calls_command)


@bp.get("/")
def home() -> Response:
    from .auth import current_user, has_role

    user = current_user()
    if user is None:
        return redirect(url_for("console.login"))
    if has_role(user, "support"):
        return redirect(url_for("console.calls"))
    return redirect(url_for("console.analytics"))


# Each module adds its pages to `bp` when imported; ops.py holds the
# operations pages (prompts, offers).
from . import analytics, audit_log, auth, billing, calls, customers, errors, ops, settings, users  # noqa: E402, F401
