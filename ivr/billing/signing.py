"""The signature of the http billing contract (docs/billing-http.md).

X-Ivr-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + method + " " +
path-with-query + "." + body>, keyed with BILLING_HTTP_SECRET. Both the line
(the client) and the reference billing service (the server) use this.
"""

from __future__ import annotations

import hashlib
import hmac
import time

# A request signed longer ago than this (or this far in the future) is refused.
MAX_SKEW_SECONDS = 300


def signature(secret: str, timestamp: str, method: str, target: str, body: bytes) -> str:
    message = f"{timestamp}.{method.upper()} {target}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def headers(secret: str, method: str, target: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "X-Ivr-Timestamp": timestamp,
        "X-Ivr-Signature": signature(secret, timestamp, method, target, body),
    }


def verify(
    secret: str,
    timestamp: str | None,
    given: str | None,
    method: str,
    target: str,
    body: bytes,
    now: float | None = None,
) -> str | None:
    """None if the request is signed with `secret` and fresh; else why not."""
    if not timestamp or not given:
        return "missing signature"
    try:
        age = (now if now is not None else time.time()) - int(timestamp)
    except ValueError:
        return "bad timestamp"
    if abs(age) > MAX_SKEW_SECONDS:
        return "stale timestamp"
    if not hmac.compare_digest(signature(secret, timestamp, method, target, body), given):
        return "bad signature"
    return None
