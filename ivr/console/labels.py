"""Words for the codes the line records, and times in the staff member's
time zone: what the console shows instead of `too_expensive` and UTC.

Labels come in the staff member's console language (English or Spanish, a
setting per user); the rest of the console's wording is English. Codes stay
in URLs, CSV exports and `show-call`; people read the labels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, g, has_request_context
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

# The same words in Spanish, the line's other language (es-US).
SPANISH = {
    "outcome": {
        "cancelled": "Cancelada",
        "saved": "Retenida con la oferta",
        "agent": "Pasada a una persona",
        "callback": "Devolución de llamada programada",
        "unverified": "No se pudo verificar",
        "no_subscription": "Sin suscripción activa",
        "abandoned": "Colgó",
        "in_progress": "En curso",
        "reinstated": "Conservó un plan cancelado",
    },
    "reason": {
        "too_expensive": "Demasiado caro",
        "unused": "No lo usa",
        "missing_features": "Le faltan funciones",
        "switched_service": "Cambia de proveedor",
        "customer_service": "Descontento con la atención al cliente",
        "too_complex": "Demasiado difícil de usar",
        "low_quality": "Problemas con el servicio",
        "other": "Otro motivo",
        "none": "Sin motivo",
    },
    "step": {
        "start": "Inicio",
        "greeting": "Saludo",
        "identify": "Número de cuenta",
        "verify": "PIN",
        "choose": "Elección de la suscripción",
        "reason": "Motivo",
        "offer": "Oferta",
        "offer_after": "Oferta después de cancelar",
        "confirm_cancel": "Confirmación de la cancelación",
        "confirm": "Comprobación «¿dijo…?»",
        "last_chance": "Persona o devolución de llamada",
        "agent_unavailable": "Nadie libre para atender",
        "agent": "Con una persona",
        "receipt": "Confirmación",
        "way_back": "Conservar un plan cancelado",
        "done": "Terminada",
    },
    "event": {
        "call_started": "Llamada iniciada",
        "prompt": "La línea dijo",
        "input": "Cliente",
        "understood": "Entendido",
        "step": "Paso siguiente",
        "outcome": "Resultado",
        "cancelled": "Cancelada",
        "offer_applied": "Oferta aplicada",
        "callback_requested": "Devolución de llamada programada",
        "whisper": "Aviso al agente",
        "status": "Estado en Twilio",
        "repeated_request": "Solicitud repetida",
        "stale_request": "Solicitud tardía",
        "billing_unreachable": "Facturación no respondió",
        "unknown_call": "Llamada desconocida",
        "webhook": "Webhook",
        "jurisdiction": "Normas aplicadas",
        "cancel_requested": "Dijo cancelar",
        "offer_permission": "Pidió oír una oferta",
        "reinstated": "Cancelación deshecha",
        "sms_queued": "SMS en cola",
        "sms_status": "Estado del SMS",
        "consent": "Consentimiento para un SMS",
        "verify_locked": "Verificación bloqueada",
        "verify_lockout": "Bloqueado",
    },
    "meaning": {
        "agent": "pide una persona",
        "cancel": "cancelar",
        "keep": "conservar la suscripción",
        "yes": "sí",
        "no": "no",
        "skip": "omitir",
        "reason": "un motivo",
        "callback": "una devolución de llamada",
        "language": "elección de idioma",
        "verify": "un número de cuenta o PIN",
        "hear_offer": "quiere oír la oferta",
        "no_offer": "sin oferta, gracias",
        "all": "todas las suscripciones",
        "repeat": "repetir",
        "consent": "sí a un SMS con una oferta",
        "no_consent": "sin SMS, gracias",
        "not_an_answer": "no es una respuesta",
        "not_understood": "no se entendió",
        "question": "una pregunta",
        "forgot": "no lo tiene a mano",
    },
    "agent_result": {
        "completed": "habló con una persona",
        "answered": "habló con una persona",
        "busy": "línea ocupada",
        "no-answer": "nadie contestó",
        "failed": "falló la transferencia",
        "canceled": "el cliente colgó antes",
    },
    "callback_reason": {
        "agent_unavailable": "Nadie libre para atender",
        "offer_help": "Aceptó la oferta de ayuda",
        "unverified": "No se pudo verificar",
        "asked": "Pidió que le llamen",
        "closed": "Lo pidió fuera de horario",
        "no-answer": "Nadie contestó la transferencia",
        "billing_unreachable": "Facturación no respondió",
    },
    "billing_state": {
        "pending": "Pendiente de aplicar",
        "retrying": "Reintentando",
        "applied": "Aplicado",
        "failed": "Falló",
    },
    "language": {"en-US": "Inglés", "es-US": "Español"},
}

ENGLISH = {
    "outcome": OUTCOME_LABELS,
    "reason": REASON_LABELS,
    "step": STEP_LABELS,
    "event": EVENT_LABELS,
    "meaning": MEANING_LABELS,
    "agent_result": AGENT_RESULT_LABELS,
    "callback_reason": CALLBACK_REASON_LABELS,
    "billing_state": BILLING_STATE_LABELS,
    "language": LANGUAGE_LABELS,
}

# Console languages a staff member can choose: code -> its name in itself.
CONSOLE_LANGUAGES = {"en": "English", "es": "Español"}
_TABLES = {"en": ENGLISH, "es": SPANISH}
# Words a label is made of, per language.
_WORDS = {
    "en": {"none_given": "None given", "no_offer": "No offer", "reason": "reason “{}”"},
    "es": {"none_given": "Sin motivo", "no_offer": "Sin oferta", "reason": "motivo «{}»"},
}


def console_language() -> str:
    """The signed-in user's console language ("en" or "es"); English otherwise."""
    from .auth import current_user

    user = current_user() if has_request_context() else None
    language = user.console_language if user is not None else None
    return language if language in _TABLES else "en"


def _humanize(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _lookup(kind: str, code: str | None, empty: str = "—") -> str:
    if code is None or code == "":
        return empty
    table = _TABLES[console_language()][kind]
    return table.get(code) or ENGLISH[kind].get(code) or _humanize(str(code))


def outcome_label(code: str | None) -> str:
    return _lookup("outcome", code)


def reason_label(code: str | None) -> str:
    return _lookup("reason", code, _WORDS[console_language()]["none_given"])


def step_label(code: str | None) -> str:
    return _lookup("step", code)


def event_label(code: str | None) -> str:
    return _lookup("event", code)


def meaning_label(code: str | None) -> str:
    if code in REASON_LABELS:
        return _WORDS[console_language()]["reason"].format(reason_label(code).lower())
    return _lookup("meaning", code)


def agent_result_label(code: str | None) -> str:
    return _lookup("agent_result", code)


def callback_reason_label(code: str | None) -> str:
    return _lookup("callback_reason", code)


def billing_state_label(code: str | None) -> str:
    return _lookup("billing_state", code)


def language_label(code: str | None) -> str:
    return _lookup("language", code)


def describe_offer(kind: str, terms: dict[str, Any], language: str = "en") -> str:
    """What an offer gives, in words, from its kind and terms."""
    spanish = language == "es"

    def months(n: Any) -> str:
        if spanish:
            return f"{n} mes" if str(n) == "1" else f"{n} meses"
        return f"{n} month" if str(n) == "1" else f"{n} months"

    if kind == "discount" and terms.get("percent"):
        if spanish:
            span = f" durante {months(terms['months'])}" if terms.get("months") else ""
            return f"{terms['percent']} % de descuento{span}"
        span = f" for {months(terms['months'])}" if terms.get("months") else ""
        return f"{terms['percent']}% off{span}"
    if kind == "pause" and terms.get("months"):
        return (
            f"Pausa de {months(terms['months'])}"
            if spanish
            else (f"Pause for {months(terms['months'])}")
        )
    if kind == "free_period" and terms.get("months"):
        return f"{months(terms['months'])} gratis" if spanish else f"{months(terms['months'])} free"
    if kind == "downgrade":
        plan = terms.get("plan")
        if spanish:
            return f"Bajar a {plan}" if plan else "Bajar a un plan más barato"
        return f"Move down to {plan}" if plan else "Move down to a cheaper plan"
    if kind == "help":
        return "Un especialista le devuelve la llamada" if spanish else "A specialist calls back"
    return kind.replace("_", " ").capitalize()


def _offer_labels() -> dict[str, str]:
    """Offer code -> words, read once per request (a handful of rows)."""
    if "offer_labels" not in g:
        language = console_language()
        rows = db.session().execute(select(Offer.code, Offer.kind, Offer.terms, Offer.reason_code))
        # Help offers differ only by the reason they answer: say which.
        g.offer_labels = {
            code: describe_offer(kind, terms or {}, language)
            + (f" ({reason_label(reason).lower()})" if kind == "help" else "")
            for code, kind, terms, reason in rows
        }
    return g.offer_labels  # type: ignore[no-any-return]


def offer_label(code: str | None) -> str:
    if not code or code == "none":
        return _WORDS[console_language()]["no_offer"]
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
    """ "3 min ago" ("hace 3 min") for the last day; None when a date reads better."""
    seconds = ((now or utcnow()) - value).total_seconds()
    if seconds < 0 or seconds >= 86400:
        return None
    spanish = console_language() == "es"
    if seconds < 60:
        return "ahora mismo" if spanish else "just now"
    if seconds < 3600:
        minutes = int(seconds // 60)
        return f"hace {minutes} min" if spanish else f"{minutes} min ago"
    hours = int(seconds // 3600)
    if spanish:
        return f"hace {hours} hora{'s' if hours != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''} ago"


MONTHS = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    "es": "ene feb mar abr may jun jul ago sep oct nov dic".split(),
}


def format_time(value: dt.datetime, seconds: bool = False) -> str:
    """One line in the staff member's zone: "Mar 10, 2026 08:00 EDT"
    ("10 mar 2026 08:00 EDT" in Spanish)."""
    at = local(value)
    clock = at.strftime("%H:%M:%S" if seconds else "%H:%M")
    language = console_language()
    month = MONTHS[language][at.month - 1]
    if language == "es":
        return f"{at.day} {month} {at.year} {clock} {at.tzname()}"
    return f"{month} {at.day}, {at.year} {clock} {at.tzname()}"


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
