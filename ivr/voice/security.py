"""X-Twilio-Signature: every webhook is checked with twilio's RequestValidator."""

from __future__ import annotations

from flask import Request, current_app
from twilio.request_validator import RequestValidator, get_signature_algorithm


def signed_url(request: Request) -> str:
    """The URL Twilio signed. Behind a TLS proxy request.url says http://...,
    so with PUBLIC_BASE_URL set we rebuild the public URL from it."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + ("?" + query if query else "")


def is_from_twilio(request: Request) -> bool:
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    return bool(
        RequestValidator(token).validate(signed_url(request), request.form, signature, algorithm)
    )
