"""The staff console at /console/: call records, callbacks, analytics and
users (this package), prompts and offers (ops.py).

One blueprint; each module registers its pages on `bp`.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

bp = Blueprint("console", __name__, url_prefix="/console")
# Only what is decorated is limited (the sign-in form): the voice webhooks never are.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def init_app(app: Flask) -> None:
    from ..cli import ivr_cli
    from .commands import create_user_command, demo_calls_command

    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    # Behind https the cookie must never travel over plain http.
    if (app.config.get("PUBLIC_BASE_URL") or "").startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    limiter.init_app(app)
    app.after_request(_security_headers)
    app.register_blueprint(bp)
    # Globals, not context: imported macros (_macros.html) see them too.
    from .labels import TEMPLATE_HELPERS

    app.jinja_env.globals.update(TEMPLATE_HELPERS)
    ivr_cli.add_command(create_user_command)
    ivr_cli.add_command(demo_calls_command)


_SECURITY_HEADERS = {
    # The console's pages use their own stylesheet and no script from elsewhere.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _security_headers(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.headers.get("Content-Security-Policy") and _https():
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _https() -> bool:
    from flask import current_app, request

    public = current_app.config.get("PUBLIC_BASE_URL") or ""
    return public.startswith("https://") or request.scheme == "https"


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
# operations pages (prompts, offers), teach.py teaching the understanding.
from . import (  # noqa: E402, F401
    analytics,
    audit_log,
    auth,
    billing,
    calls,
    customers,
    errors,
    locks,
    ops,
    settings,
    teach,
    users,
)
