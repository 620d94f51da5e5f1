"""One line of plain words per call event, for the call page's timeline."""

from __future__ import annotations

from typing import Any

from ..models import CallEvent


def _confidence(value: Any) -> str:
    try:
        return f" (confidence {float(value):.2f})"
    except (TypeError, ValueError):
        return ""


def describe_event(event: CallEvent) -> str:
    d: dict[str, Any] = event.detail or {}
    kind = event.type
    if kind == "call_started":
        return "Call started" + (f" from {d['from']}" if d.get("from") else "")
    if kind == "prompt":
        key = f"[{d['key']}] " if d.get("key") else ""
        return f"Line said {key}“{d.get('text', '')}”"
    if kind == "input":
        if "digits" in d:
            return f"Caller pressed {d['digits']}"
        if "speech" in d:
            return f"Caller said “{d['speech']}”" + _confidence(d.get("confidence"))
        if d.get("silence"):
            return "Caller said nothing"
        if "dial_status" in d:
            return f"Transfer ended: {d['dial_status']}"
    if kind == "understood":
        certainty = "confident" if d.get("confident") else "not sure"
        return f"Understood as {d.get('meaning')} ({certainty})"
    if kind == "step":
        return f"Moved from {d.get('from')} to {d.get('to')}"
    if kind == "outcome":
        where = f" at {d['at_step']}" if d.get("at_step") else ""
        return f"Outcome: {d.get('outcome')}{where}"
    if kind == "cancelled":
        return f"Cancelled {d.get('subscription', '')}, service ends {d.get('ends', '?')}"
    if kind == "offer_applied":
        return f"Offer {d.get('offer')} applied ({d.get('kind')})"
    if kind == "callback_requested":
        return f"Callback requested to {d.get('phone')} ({d.get('reason')})"
    if kind == "whisper":
        return f"Agent heard “{d.get('text', '')}”"
    if kind == "status":
        duration = f", {d['duration']} s" if d.get("duration") else ""
        return f"Twilio status {d.get('status')}{duration}"
    if kind == "repeated_request":
        return "Twilio repeated a request; answered the same again"
    if kind == "stale_request":
        return "A late request for an earlier prompt was ignored"
    return ", ".join(f"{k}: {v}" for k, v in d.items()) or kind
