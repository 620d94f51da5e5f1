"""Errors inside the console look like the console, with a way back.

The handlers are the app's (a 404 for an unknown /console/ URL never reaches
a blueprint handler), so each answers only for console paths and leaves the
voice webhooks' plain answers alone.
"""

from __future__ import annotations

from flask import render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from . import bp

TITLES = {
    400: "That request could not be used",
    403: "This page is not open to your role",
    404: "Nothing here",
    500: "Something went wrong on our side",
}


def _console_page(error: HTTPException) -> HTTPException | tuple[str, int]:
    if not request.path.startswith(bp.url_prefix or "/console"):
        return error
    code = error.code or 500
    return (
        render_template(
            "console/error.html",
            code=code,
            title=TITLES.get(code, error.name),
            description=error.description if code in (400, 403, 404) else None,
        ),
        code,
    )


@bp.app_errorhandler(400)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def _client_error(error: HTTPException) -> HTTPException | tuple[str, int] | Response:
    return _console_page(error)


@bp.app_errorhandler(InternalServerError)
def _server_error(error: InternalServerError) -> HTTPException | tuple[str, int]:
    return _console_page(error)
