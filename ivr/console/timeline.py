"""One line of plain words per call event, for the call page's timeline."""

from __future__ import annotations

from typing import Any

from ..models import CallEvent
from .labels import (
    agent_result_label,
    callback_reason_label,
    meaning_label,
    offer_label,
    outcome_label,
    step_label,
)


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
            return f"Transfer ended: {agent_result_label(d['dial_status'])}"
    if kind == "understood":
        meaning = d.get("meaning")
        if meaning == "not_an_answer":
            why = str(d.get("heard_as", "")).replace("_", " ")
            return f"Not taken as an answer ({why}); asked again"
        if meaning == "not_understood":
            return "Not understood; asked again"
        if meaning == "question":
            return f"Question answered ({str(d.get('about', '')).removeprefix('ask_')})"
        if meaning == "forgot":
            return "Caller does not have it at hand; told where to find it"
        what = meaning_label(meaning)
        if d.get("value"):
            what += f" ({str(d['value']).replace('_', ' ')})"
        if "confident" not in d:
            return f"Understood: {what}"
        if d.get("confident"):
            return f"Understood: {what}"
        return f"Probably {what}; checked with the caller"
    if kind == "step":
        return f"{step_label(d.get('from'))} → {step_label(d.get('to'))}"
    if kind == "outcome":
        where = f" at {step_label(d['at_step'])}" if d.get("at_step") else ""
        return f"{outcome_label(d.get('outcome'))}{where}"
    code = f", confirmation {d['confirmation']}" if d.get("confirmation") else ""
    if kind == "cancelled":
        ends = d.get("ends", "?")
        return f"Cancelled {d.get('subscription', '')}, service ends {ends}{code}"
    if kind == "offer_applied":
        return f"Offer applied: {offer_label(d.get('offer'))}{code}"
    if kind == "callback_requested":
        return f"Call back booked to {d.get('phone')} ({callback_reason_label(d.get('reason'))})"
    if kind == "whisper":
        return f"Agent heard “{d.get('text', '')}”"
    if kind == "status":
        duration = f", {d['duration']} s" if d.get("duration") else ""
        return f"Twilio status {d.get('status')}{duration}"
    if kind == "repeated_request":
        return "Twilio repeated a request; answered the same again"
    if kind == "webhook":
        return f"Twilio asked {d.get('path', '?')}; answered in {d.get('ms', '?')} ms"
    if kind == "stale_request":
        return "A late request for an earlier prompt was ignored"
    return ", ".join(f"{k}: {v}" for k, v in d.items()) or kind
