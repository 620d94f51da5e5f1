"""Words for the codes the line records, and times in the staff member's
time zone: what the console shows instead of `too_expensive` and UTC.

Codes stay in URLs, CSV exports and `show-call`; people read the labels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, g
from markupsafe import Markup, escape
from sqlalchemy import select

from .. import db
from ..models import Offer, utcnow

OUTCOME_LABELS = {
    "cancelled": "Cancelled",
    "saved": "Saved by the offer",
    "agent": "Put through to a person",
    "callback": "Call back booked",
    "unverified": "Could not verify",
    "no_subscription": "No active subscription",
    "abandoned": "Hung up",
    "in_progress": "In progress",
    "reinstated": "Kept a cancelled plan",
}

REASON_LABELS = {
    "too_expensive": "Too expensive",
    "unused": "Not using it",
    "missing_features": "Missing features",
    "switched_service": "Switching provider",
    "customer_service": "Unhappy with customer service",
    "too_complex": "Too hard to use",
    "low_quality": "Problems with the service",
    "other": "Something else",
    "none": "None given",
}

STEP_LABELS = {
    "start": "Start",
    "greeting": "Greeting",
    "identify": "Account number",
    "verify": "PIN",
    "choose": "Choosing a subscription",
    "reason": "Reason",
    "offer": "Offer",
    "offer_after": "Offer after cancelling",
    "confirm_cancel": "Confirming the cancellation",
    "confirm": "Did-you-say check",
    "last_chance": "Person or call back",
    "agent_unavailable": "Nobody free to answer",
    "agent": "With a person",
    "receipt": "Confirmation",
    "way_back": "Keeping a cancelled plan",
    "done": "Finished",
}

EVENT_LABELS = {
    "call_started": "Call started",
    "prompt": "Line said",
    "input": "Caller",
    "understood": "Understood",
    "step": "Next step",
    "outcome": "Outcome",
    "cancelled": "Cancelled",
    "offer_applied": "Offer applied",
    "callback_requested": "Call back booked",
    "whisper": "Whisper to the agent",
    "status": "Twilio status",
    "repeated_request": "Repeated request",
    "stale_request": "Late request",
    "billing_unreachable": "Billing did not answer",
    "unknown_call": "Unknown call",
    "webhook": "Webhook",
    "jurisdiction": "Rules applied",
    "cancel_requested": "Said cancel",
    "offer_permission": "Asked to hear an offer",
    "reinstated": "Cancellation undone",
    "sms_queued": "Text queued",
    "sms_status": "Text status",
    "consent": "Consent to a text",
    "verify_locked": "Verification locked",
    "verify_lockout": "Locked out",
}

MEANING_LABELS = {
    "agent": "asking for a person",
    "cancel": "cancel",
    "keep": "keep the subscription",
    "yes": "yes",
    "no": "no",
    "skip": "skip",
    "reason": "a reason",
    "callback": "a call back",
    "language": "a language choice",
    "verify": "an account number or PIN",
    "hear_offer": "wants to hear the offer",
    "no_offer": "no offer, please",
    "all": "all subscriptions",
    "repeat": "repeat that",
    "consent": "yes to a text with an offer",
    "no_consent": "no text, thanks",
    "not_an_answer": "not an answer",
    "not_understood": "not understood",
    "question": "a question",
    "forgot": "does not have it at hand",
}

AGENT_RESULT_LABELS = {
    "completed": "talked to a person",
    "answered": "talked to a person",
    "busy": "line busy",
    "no-answer": "nobody answered",
    "failed": "transfer failed",
    "canceled": "caller hung up first",
}

CALLBACK_REASON_LABELS = {
    "agent_unavailable": "Nobody free to answer",
    "offer_help": "Took the help offer",
    "unverified": "Could not verify",
    "asked": "Asked for a call back",
    "closed": "Asked while nobody was in",
    "no-answer": "Nobody answered the transfer",
    "billing_unreachable": "Billing did not answer",
}

BILLING_STATE_LABELS = {
    "pending": "Waiting to be applied",
    "retrying": "Retrying",
    "applied": "Applied",
    "failed": "Failed",
}

LANGUAGE_LABELS = {"en-US": "English", "es-US": "Spanish"}


def _humanize(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _lookup(table: dict[str, str], code: str | None, empty: str = "—") -> str:
    if code is None or code == "":
        return empty
    return table.get(code) or _humanize(str(code))


def outcome_label(code: str | None) -> str:
    return _lookup(OUTCOME_LABELS, code)


def reason_label(code: str | None) -> str:
    return _lookup(REASON_LABELS, code, "None given")


def step_label(code: str | None) -> str:
    return _lookup(STEP_LABELS, code)


def event_label(code: str | None) -> str:
    return _lookup(EVENT_LABELS, code)


def meaning_label(code: str | None) -> str:
    if code in REASON_LABELS:
        return f"reason “{REASON_LABELS[code].lower()}”"
    return _lookup(MEANING_LABELS, code)


def agent_result_label(code: str | None) -> str:
    return _lookup(AGENT_RESULT_LABELS, code)


def callback_reason_label(code: str | None) -> str:
    return _lookup(CALLBACK_REASON_LABELS, code)


def billing_state_label(code: str | None) -> str:
    return _lookup(BILLING_STATE_LABELS, code)


def language_label(code: str | None) -> str:
    return _lookup(LANGUAGE_LABELS, code)


def describe_offer(kind: str, terms: dict[str, Any]) -> str:
    """What an offer gives, in words, from its kind and terms."""

    def months(n: Any) -> str:
        return f"{n} month" if str(n) == "1" else f"{n} months"

    if kind == "discount" and terms.get("percent"):
        span = f" for {months(terms['months'])}" if terms.get("months") else ""
        return f"{terms['percent']}% off{span}"
    if kind == "pause" and terms.get("months"):
        return f"Pause for {months(terms['months'])}"
    if kind == "free_period" and terms.get("months"):
        return f"{months(terms['months'])} free"
    if kind == "downgrade":
        plan = terms.get("plan")
        return f"Move down to {plan}" if plan else "Move down to a cheaper plan"
    if kind == "help":
        return "A specialist calls back"
    return kind.replace("_", " ").capitalize()


def _offer_labels() -> dict[str, str]:
    """Offer code -> words, read once per request (a handful of rows)."""
    if "offer_labels" not in g:
        rows = db.session().execute(
            select(Offer.code, Offer.kind, Offer.terms, Offer.reason_code)
        )
        # Help offers differ only by the reason they answer: say which.
        g.offer_labels = {
            code: describe_offer(kind, terms or {})
            + (f" ({reason_label(reason).lower()})" if kind == "help" else "")
            for code, kind, terms, reason in rows
        }
    return g.offer_labels  # type: ignore[no-any-return]


def offer_label(code: str | None) -> str:
    if not code or code == "none":
        return "No offer"
    return _offer_labels().get(code) or _humanize(code)


# --- times --------------------------------------------------------------------------


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def staff_zone() -> ZoneInfo:
    """The signed-in user's time zone, else the line's AGENT_TIMEZONE."""
    from .auth import current_user

    user = current_user()
    name = (user.timezone if user is not None else None) or current_app.config["AGENT_TIMEZONE"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(staff_zone())


def relative(value: dt.datetime, now: dt.datetime | None = None) -> str | None:
    """"3 min ago" for the last day; None when a date reads better."""
    seconds = ((now or utcnow()) - value).total_seconds()
    if seconds < 0 or seconds >= 86400:
        return None
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    hours = int(seconds // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''} ago"


def format_time(value: dt.datetime, seconds: bool = False) -> str:
    """One line: "Mar 10, 2026 08:00 EDT" in the staff member's zone."""
    at = local(value)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{at.strftime('%b')} {at.day}, {at.year} {at.strftime(clock)} {at.tzname()}"


def when_html(value: dt.datetime | None, seconds: bool = False, rel: bool = True) -> Markup:
    """A <time> element: relative for the last day, else the local date and
    time; the exact time in UTC on hover."""
    if value is None:
        return Markup("—")
    exact = format_time(value, seconds)
    shown = (relative(value) if rel else None) or exact
    utc = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    title = utc if shown == exact else f"{exact} ({utc})"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.astimezone(dt.UTC).isoformat(), title, escape(shown)
    )


def clock_html(value: dt.datetime) -> Markup:
    """Only the local time of day (the timeline's column)."""
    at = local(value)
    return Markup('<time datetime="{}">{}</time>').format(
        value.astimezone(dt.UTC).isoformat(), at.strftime("%H:%M:%S")
    )


def duration_text(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


TEMPLATE_HELPERS = {
    "outcome_label": outcome_label,
    "reason_label": reason_label,
    "offer_label": offer_label,
    "step_label": step_label,
    "event_label": event_label,
    "agent_result_label": agent_result_label,
    "callback_reason_label": callback_reason_label,
    "billing_state_label": billing_state_label,
    "language_label": language_label,
    "when_html": when_html,
    "clock_html": clock_html,
    "duration_text": duration_text,
}
