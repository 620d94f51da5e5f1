"""What operations staff do to the offers the line makes: check, change and
create them, and their history. The console and the CLI call the same
functions; none commits. Every change is stored as an OfferChange and
written to the audit log."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .admin_errors import NotFound, Refused
from .models import OFFER_KINDS, REASON_CODES, AuditLog, Offer, OfferChange
from .prompts import SAY_LIMIT, PromptError, placeholders
from .ssml import SsmlError, has_ssml, ssml_nodes

# kind -> term -> (minimum, maximum) for whole numbers, or the type of value
OFFER_TERMS: dict[str, dict[str, Any]] = {
    "discount": {"percent": (1, 100), "months": (1, 36)},
    "pause": {"months": (1, 12)},
    "free_period": {"months": (1, 12)},
    "downgrade": {"plan": str, "price": Decimal},
    "help": {},
}


def _languages(languages: Iterable[str] | None) -> list[str]:
    if languages is not None:
        return list(languages)
    from .prompts import baseline

    return list(baseline())


def validate_offer(
    kind: str,
    terms: Mapping[str, Any],
    wording: Mapping[str, str],
    languages: Iterable[str],
) -> dict[str, Any]:
    """The terms, normalised; raises Refused with every reason the offer is invalid."""
    reasons: list[str] = []
    if kind not in OFFER_KINDS:
        raise Refused(f"kind {kind!r} is not one of {', '.join(OFFER_KINDS)}")
    if not isinstance(terms, Mapping):
        raise Refused('terms must be a mapping, e.g. {"months": 3}')
    shape = OFFER_TERMS[kind]
    clean: dict[str, Any] = {}
    for name in terms:
        if name not in shape:
            expected = ", ".join(shape) or "no terms"
            reasons.append(f"a {kind} offer has no term {name!r} (it takes {expected})")
    for name, rule in shape.items():
        value = terms.get(name)
        if value is None or value == "":
            reasons.append(f"a {kind} offer needs the term {name!r}")
        elif isinstance(rule, tuple):
            number = _whole_number(value)
            lo, hi = rule
            if number is None or not lo <= number <= hi:
                reasons.append(f"{name} must be a whole number from {lo} to {hi}, not {value!r}")
            else:
                clean[name] = number
        elif rule is Decimal:
            try:
                price = Decimal(str(value)).quantize(Decimal("0.01"))
            except InvalidOperation:
                price = None
            if price is None or isinstance(value, bool) or price <= 0:
                reasons.append(f"{name} must be an amount like 9.99, not {value!r}")
            else:
                clean[name] = str(price)
        else:
            text = str(value).strip()
            if not text:
                reasons.append(f"a {kind} offer needs the term {name!r}")
            clean[name] = text
    known = set(shape) | {"plan"}
    for language in languages:
        words = (wording.get(language) or "").strip()
        if not words:
            reasons.append(f"{language} wording is empty (the line says it to every caller)")
            continue
        try:
            used = placeholders(words)
        except PromptError as exc:
            reasons.append(f"{language} wording: {exc}")
            continue
        unknown = sorted(used - known)
        if unknown:
            allowed = ", ".join("{" + n + "}" for n in sorted(known))
            reasons.append(
                f"{language} wording: unknown placeholder "
                + ", ".join("{" + n + "}" for n in unknown)
                + f" (a {kind} offer knows: {allowed})"
            )
        if has_ssml(words):
            try:
                ssml_nodes(words)
            except SsmlError as exc:
                reasons.append(f"{language} wording: {exc}")
        if len(words) > SAY_LIMIT:
            reasons.append(f"{language} wording: over {SAY_LIMIT} characters")
    for language in wording:
        if language not in languages:
            reasons.append(f"wording for {language}: the line does not speak it")
    if reasons:
        raise Refused(reasons)
    return clean


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def offer_snapshot(offer: Offer) -> dict[str, Any]:
    return {
        "code": offer.code,
        "reason_code": offer.reason_code,
        "kind": offer.kind,
        "terms": dict(offer.terms or {}),
        "wording": dict(offer.wording or {}),
        "active": bool(offer.active),
    }


def find_offer(session: Session, code: str) -> Offer:
    offer = session.scalars(select(Offer).where(Offer.code == code)).first()
    if offer is None:
        raise NotFound(f"no offer {code!r}; `ivr offers list` shows every code")
    return offer


def list_offers(session: Session) -> list[Offer]:
    """Every offer, in the order of the reasons they answer."""
    order = {code: i for i, code in enumerate(REASON_CODES)}
    offers = session.scalars(select(Offer).order_by(Offer.id)).all()
    return sorted(offers, key=lambda o: (order.get(o.reason_code, len(order)), o.id))


def _other_active(session: Session, offer_id: int | None, reason_code: str) -> Offer | None:
    query = select(Offer).where(Offer.reason_code == reason_code, Offer.active.is_(True))
    if offer_id is not None:
        query = query.where(Offer.id != offer_id)
    return session.scalars(query.limit(1)).first()


def update_offer(
    session: Session,
    code: str,
    actor: str,
    *,
    kind: str | None = None,
    terms: Mapping[str, Any] | None = None,
    wording: Mapping[str, str | None] | None = None,
    active: bool | None = None,
    languages: Iterable[str] | None = None,
) -> Offer:
    """Change an offer; the next caller with that reason hears the new one.

    Wording given for some languages replaces theirs only. Changing the kind
    needs terms for the new kind.
    """
    if not actor:
        raise Refused("who is changing the offer? (an actor is required)")
    offer = find_offer(session, code)
    before = offer_snapshot(offer)
    new_kind = kind or offer.kind
    new_terms: Mapping[str, Any] = (
        terms if terms is not None else (offer.terms if new_kind == offer.kind else {})
    )
    new_wording = dict(offer.wording or {})
    for language, words in (wording or {}).items():
        new_wording[language] = (words or "").replace("\r\n", "\n").strip()
    clean_terms = validate_offer(new_kind, new_terms, new_wording, _languages(languages))
    new_active = offer.active if active is None else active
    if new_active and not offer.active:
        other = _other_active(session, offer.id, offer.reason_code)
        if other is not None:
            raise Refused(
                f"{other.code} is already the active offer for {offer.reason_code}; "
                f"switch it off first (one offer per reason)"
            )
    after = {
        **before,
        "kind": new_kind,
        "terms": clean_terms,
        "wording": new_wording,
        "active": bool(new_active),
    }
    if after == before:
        raise Refused(f"nothing changed: {code} already is this")
    offer.kind = new_kind
    offer.terms = clean_terms
    offer.wording = new_wording
    offer.active = bool(new_active)
    session.add(OfferChange(offer_id=offer.id, changed_by=actor, before=before, after=after))
    changed = [name for name in after if after[name] != before[name]]
    session.add(
        AuditLog(actor=actor, action="offer.update", detail={"code": code, "changed": changed})
    )
    session.flush()
    return offer


def create_offer(
    session: Session,
    code: str,
    reason_code: str,
    kind: str,
    terms: Mapping[str, Any],
    wording: Mapping[str, str],
    actor: str,
    *,
    active: bool = True,
    languages: Iterable[str] | None = None,
) -> Offer:
    """A new offer for a reason (one active offer per reason)."""
    code = code.strip()
    if not re.fullmatch(r"[a-z0-9_]{2,60}", code):
        raise Refused("code: 2 to 60 lower-case letters, digits or _ (e.g. discount_25_2m)")
    if reason_code not in REASON_CODES:
        raise Refused(f"reason {reason_code!r} is not one of {', '.join(REASON_CODES)}")
    if session.scalars(select(Offer.id).where(Offer.code == code)).first() is not None:
        raise Refused(f"an offer {code!r} exists already")
    clean_wording = {k: (v or "").strip() for k, v in wording.items()}
    clean_terms = validate_offer(kind, terms, clean_wording, _languages(languages))
    other = _other_active(session, None, reason_code) if active else None
    if other is not None:
        raise Refused(
            f"{other.code} is already the active offer for {reason_code}; "
            f"switch it off first, or create this one switched off"
        )
    offer = Offer(
        code=code,
        reason_code=reason_code,
        kind=kind,
        terms=clean_terms,
        wording=clean_wording,
        active=active,
    )
    session.add(offer)
    session.flush()
    session.add(
        OfferChange(offer_id=offer.id, changed_by=actor, before=None, after=offer_snapshot(offer))
    )
    session.add(AuditLog(actor=actor, action="offer.create", detail={"code": code}))
    session.flush()
    return offer


@dataclass(frozen=True)
class OfferHistoryEntry:
    changed_by: str
    changed_at: dt.datetime
    before: Mapping[str, Any] | None
    after: Mapping[str, Any]
    changes: list[tuple[str, Any, Any]]  # (field, before, after)


def offer_history(session: Session, code: str) -> list[OfferHistoryEntry]:
    """Every change of an offer, oldest first."""
    offer = find_offer(session, code)
    rows = session.scalars(
        select(OfferChange).where(OfferChange.offer_id == offer.id).order_by(OfferChange.id)
    ).all()
    entries = []
    for row in rows:
        before = row.before or {}
        changes = []
        for name in ("kind", "terms", "wording", "active"):
            if name == "wording":
                for language in sorted(
                    set(before.get("wording") or {}) | set(row.after["wording"])
                ):
                    old = (before.get("wording") or {}).get(language)
                    new = row.after["wording"].get(language)
                    if old != new:
                        changes.append((f"wording {language}", old, new))
            elif before.get(name) != row.after.get(name):
                changes.append((name, before.get(name), row.after.get(name)))
        entries.append(
            OfferHistoryEntry(row.changed_by, row.changed_at, row.before, row.after, changes)
        )
    return entries
