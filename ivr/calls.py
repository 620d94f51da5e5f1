"""The call service: one webhook in, one answer out.

It locks the call's row (so overlapping webhooks for one call take turns),
recognises a request Twilio repeats (and gives the same answer without
applying anything again), asks the flow what to do, applies the effects,
writes every input, prompt and decision as an event, and returns the
TwiML. The caller of `answer` commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, column, delete, func, insert, select, update
from sqlalchemy.orm import Session

from . import billing, messaging
from .billing import changes as billing_changes
from .flow.steps import STEPS, account_unreachable, ask, decide, whisper
from .flow.types import (
    Answer,
    ApplyOffer,
    CallState,
    Cancel,
    Decision,
    Digits,
    Effect,
    Hangup,
    LookupUnavailable,
    RecordConsent,
    Reinstate,
    RequestCallback,
    Say,
    SendText,
)
from .hours import callback_due, parse_hours
from .language.understanding import CALL_STEPS
from .language.unplaced import what_happened
from .models import (
    BillingChange,
    Call,
    CallbackRequest,
    CallEvent,
    Consent,
    Offer,
    Subscription,
    WebhookReply,
    utcnow,
)
from .prompts import Catalog, Spoken, stamp_query
from .ssml import unescape
from .world import DbWorld

FINAL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}

# Fields of CallState kept in their own columns; the rest live in calls.flow.
_COLUMNS = (
    "step",
    "language",
    "customer_id",
    "account_number",
    "verified",
    "subscription_id",
    "reason_code",
    "reason_text",
    "offer_id",
    "offer_accepted",
    "outcome",
    "outcome_step",
    "agent_requested",
    "agent_result",
)
_FLOW_FIELDS = (
    "subscription_ids",
    "receipt",
    "consent",
    "consent_text",
    "pending_ids",
    "from_state",
    "region",
    "region_source",
    "offer_timing",
    "recording_notice",
    "offer_permission",
    "misses",
    "pin_tries",
    "account_tries",
    "pending",
    "return_step",
    "transferred",
    "agent_reason",
)


@dataclass(frozen=True)
class Webhook:
    call_sid: str
    answer: Answer
    from_number: str | None = None
    to_number: str | None = None
    # The turn the TwiML was rendered for; None for the first request.
    turn: int | None = None
    request_key: str = ""
    # Twilio's FromState: where the caller's number is from.
    from_state: str | None = None
    # The request as Twilio sent it (path and POST parameters), kept on the
    # call's record for the console's webhook inspector; the PIN is masked.
    path: str = ""
    params: Mapping[str, str] | None = None


Renderer = Callable[[Decision, list[Spoken], int, Catalog], str]


# What the caller typed or said at the PIN question is never written down.
_SECRET_PARAMS = ("Digits", "SpeechResult", "UnstableSpeechResult")


def record_webhook(
    call: CallRow,
    path: str,
    params: Mapping[str, str] | None,
    step: str,
    twiml: str,
    started: float,
) -> None:
    """One `webhook` event: the request, the TwiML answered and how long the
    answer took (up to the write that stores it). It rides in the same INSERT
    as the request's other events, so it costs no round trip."""
    shown = dict(params or {})
    if step == "verify":
        for name in _SECRET_PARAMS:
            if name in shown:
                shown[name] = "****"
    ms = round((time.perf_counter() - started) * 1000, 1)
    event(call, "webhook", {"path": path, "params": shown, "twiml": twiml, "ms": ms}, step=step)


def request_key(path: str, params: Mapping[str, str]) -> str:
    """Identifies a request, so a repeat of it is recognised."""
    h = hashlib.sha256(path.encode())
    for name in sorted(params):
        h.update(b"\0" + name.encode() + b"=" + str(params[name]).encode())
    return h.hexdigest()


# --- the call's row -----------------------------------------------------------------
#
# Every webhook reads one calls row and writes it back, so this path uses
# SQLAlchemy Core rather than the ORM: one SELECT ... FOR UPDATE reads it
# (with the prompts' version stamp in the same round trip), and `save` writes
# it back with the request's events and reply (docs/decisions/0008).

CALLS = Call.__table__
EVENTS = CallEvent.__table__
REPLIES = WebhookReply.__table__
SUBSCRIPTIONS = Subscription.__table__
OFFERS = Offer.__table__
CALLBACKS = CallbackRequest.__table__
CONSENTS = Consent.__table__
CHANGES = BillingChange.__table__


class Row:
    """A table's row, read with Core: its columns as attributes. Setting one
    records that the row changed."""

    def __init__(self, values: Mapping[str, Any]):
        self.__dict__["_values"] = dict(values)
        self.__dict__["_changed"] = set()

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        values = self.__dict__["_values"]
        if name not in values:
            raise AttributeError(f"no column {name!r}")
        if values[name] != value or type(values[name]) is not type(value):
            values[name] = value
            self.__dict__["_changed"].add(name)

    def changes(self) -> dict[str, Any]:
        return {name: self._values[name] for name in sorted(self._changed)}


class CallRow(Row):
    """A calls row and the events this request adds to the call's record;
    `save` writes both."""

    def __init__(self, values: Mapping[str, Any]):
        super().__init__(values)
        self.__dict__["new_events"] = []


_TUPLE_FIELDS = ("subscription_ids", "receipt", "pending_ids")


def state_of(call: CallRow) -> CallState:
    values: dict[str, Any] = {name: getattr(call, name) for name in _COLUMNS}
    flow = call.flow or {}
    for name in _FLOW_FIELDS:
        if name in flow:
            value = flow[name]
            # JSON keeps tuples as lists.
            values[name] = tuple(value) if name in _TUPLE_FIELDS else value
    return CallState(caller=call.from_number, **values)


def store_state(call: CallRow, state: CallState) -> None:
    for name in _COLUMNS:
        setattr(call, name, getattr(state, name))
    call.flow = {
        name: list(value) if name in _TUPLE_FIELDS else value
        for name in _FLOW_FIELDS
        for value in (getattr(state, name),)
    }


# The statements of every webhook are built once, with bound parameters: SQLAlchemy
# then skips building them and computing their cache keys on each request.

# Read with the call's row: tells a worker whether its catalog is current.
_PROMPTS_STAMP = stamp_query().scalar_subquery().label("prompts_stamp")
_LOCK_CALL = (
    select(CALLS, _PROMPTS_STAMP)
    .where(CALLS.c.call_sid == bindparam("call_sid"))
    .with_for_update(of=CALLS)
)
_READ_CALL = select(CALLS).where(CALLS.c.call_sid == bindparam("call_sid"))
_REPLAY = select(REPLIES.c.twiml).where(
    REPLIES.c.call_sid == bindparam("call_sid"), REPLIES.c.request_key == bindparam("request_key")
)
# A confirmation code names a call, or one of its billing changes.
_CODE_TAKEN = (
    select(CALLS.c.id)
    .where(CALLS.c.confirmation == bindparam("code"))
    .union_all(select(CHANGES.c.call_id).where(CHANGES.c.confirmation == bindparam("code")))
)
_LOCK_SUBSCRIPTION = (
    select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == bindparam("id")).with_for_update()
)
_READ_OFFER = select(OFFERS).where(OFFERS.c.id == bindparam("id"))


@functools.cache
def _new_call(dialect: str) -> Any:
    """INSERT of a call's row that does nothing where the row exists (another
    worker made it a moment ago)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return (
        dialect_insert(CALLS)
        .values(
            call_sid=bindparam("call_sid"),
            from_number=bindparam("from_number", type_=CALLS.c.from_number.type),
            to_number=bindparam("to_number", type_=CALLS.c.to_number.type),
        )
        .on_conflict_do_nothing(index_elements=[CALLS.c.call_sid])
        .returning(*CALLS.c, _PROMPTS_STAMP)
    )


def lock_call(conn: Connection, call_sid: str) -> tuple[CallRow, Any] | None:
    """The call's row, locked until commit (FOR UPDATE; SQLite locks the
    database), and the prompts' stamp."""
    row = conn.execute(_LOCK_CALL, {"call_sid": call_sid}).mappings().first()
    if row is None:
        return None
    values = dict(row)
    stamp = values.pop("prompts_stamp")
    return CallRow(values), stamp


_LOCK_CALL_BY_ID = select(CALLS).where(CALLS.c.id == bindparam("id")).with_for_update(of=CALLS)


def lock_call_by_id(conn: Connection, call_id: int) -> CallRow | None:
    """A call's row by its id, locked until commit (to add to its record)."""
    row = conn.execute(_LOCK_CALL_BY_ID, {"id": call_id}).mappings().first()
    return CallRow(row) if row is not None else None


def open_call(conn: Connection, hook: Webhook) -> tuple[CallRow, Any]:
    """The call's row, locked, and the prompts' stamp; the row is made at the first request."""
    found = lock_call(conn, hook.call_sid)
    if found is not None:
        return found
    params = {
        "call_sid": hook.call_sid,
        "from_number": hook.from_number,
        "to_number": hook.to_number,
    }
    row = conn.execute(_new_call(conn.dialect.name), params).mappings().first()
    if row is None:
        # Another worker created it a moment ago: take theirs, locked.
        found = lock_call(conn, hook.call_sid)
        assert found is not None
        return found
    values = dict(row)
    stamp = values.pop("prompts_stamp")
    call = CallRow(values)
    event(call, "call_started", {"from": hook.from_number, "to": hook.to_number})
    return call, stamp


def event(call: CallRow, type_: str, detail: Mapping[str, Any], step: str | None = None) -> None:
    """Add an event to the call's record (written by `save`, in one INSERT)."""
    call.new_events.append(
        {
            "call_id": call.id,
            "at": utcnow(),
            "type": type_,
            "step": step or call.step,
            "detail": dict(detail),
        }
    )


# Columns a webhook may change. When one changes, all are written, so the
# UPDATE has one shape (one cached statement, one prepared plan).
_WRITTEN = tuple(c.name for c in CALLS.c if c.name not in ("id", "call_sid", "started_at"))


def save(conn: Connection, call: CallRow, reply: Mapping[str, str] | None = None) -> None:
    """Write the call's changed row, its new events and the request's reply.

    On PostgreSQL they go in one statement, the INSERTs riding along as
    data-modifying CTEs of the UPDATE, the events as one JSON array: one
    round trip instead of three, in one shape whatever the number of events
    (so SQLAlchemy compiles it once and PostgreSQL plans it once).
    """
    row = {name: call._values[name] for name in _WRITTEN} if call._changed else None
    events, call.__dict__["new_events"] = call.new_events, []
    call._changed.clear()
    if conn.dialect.name == "postgresql":
        statement = _write_in_one(row is not None, bool(events), reply is not None)
        if statement is not None:
            params: dict[str, Any] = {"call_id": call.id}
            if row is not None:
                params.update({f"new_{name}": value for name, value in row.items()})
            if events:
                params["events"] = [
                    {**e, "n": n, "at": e["at"].isoformat()} for n, e in enumerate(events)
                ]
            if reply is not None:
                params.update({f"reply_{name}": value for name, value in reply.items()})
                params["reply_at"] = utcnow()
            conn.execute(statement, params)
        return
    if row is not None:
        conn.execute(update(CALLS).where(CALLS.c.id == call.id).values(row))
    if events:
        conn.execute(insert(EVENTS), events)
    if reply is not None:
        conn.execute(insert(REPLIES).values(dict(reply)))


@functools.cache
def _write_in_one(row: bool, events: bool, reply: bool) -> Any:
    """save's statement for PostgreSQL: which of the three writes it makes."""
    from sqlalchemy.dialects.postgresql import JSONB

    statements: list[Any] = []
    if row:
        statements.append(
            update(CALLS)
            .where(CALLS.c.id == bindparam("call_id"))
            .values({name: bindparam(f"new_{name}", type_=CALLS.c[name].type) for name in _WRITTEN})
        )
    if events:
        fields = [EVENTS.c[name] for name in ("at", "type", "step", "detail")]
        rows = (
            func.jsonb_to_recordset(bindparam("events", type_=JSONB))
            .table_valued(column("n", Integer), *(column(c.name, c.type) for c in fields))
            .render_derived(with_types=True)
        )
        statements.append(
            insert(EVENTS).from_select(
                ["call_id", *(c.name for c in fields)],
                # In the order they happened: ids are handed out in row order.
                select(
                    bindparam("call_id", type_=EVENTS.c.call_id.type),
                    *(rows.c[c.name] for c in fields),
                ).order_by(rows.c.n),
            )
        )
    if reply:
        statements.append(
            insert(REPLIES).values(
                {
                    name: bindparam(f"reply_{name}", type_=REPLIES.c[name].type)
                    for name in ("call_sid", "request_key", "twiml", "at")
                }
            )
        )
    if not statements:
        return None
    first, *rest = statements
    return first.add_cte(*(s.cte(f"write_{i}") for i, s in enumerate(rest))) if rest else first


CatalogFor = Callable[[Session, Any], Catalog]


def answer(
    session: Session,
    hook: Webhook,
    catalog_for: CatalogFor,
    config: Mapping[str, Any],
    render: Renderer,
) -> str:
    """The TwiML answer to one webhook of a call. `catalog_for(session, stamp)`
    gives the prompts current at the stamp read with the call's row."""
    started = time.perf_counter()
    conn = session.connection()
    call, stamp = open_call(conn, hook)
    if call.completed_at is not None:
        # The call is over (its status came, or the sweep closed it): a request
        # of it now is a replay or a straggler. Goodbye, and the record stays
        # as it was: nothing reopens a finished call.
        catalog = catalog_for(session, stamp)
        goodbye = Decision(state_of(call), (Say("goodbye"),), Hangup())
        spoken, _ = render_lines(catalog, goodbye, {})
        return render(goodbye, spoken, call.turn, catalog)
    heard_at = call.step
    # An answer to the open question (its turn is the call's) is new by
    # construction; only other requests can be repeats, so only they look.
    answers_open_question = hook.turn is not None and hook.turn == call.turn
    if call.turn > 0 and not answers_open_question:
        replay = conn.scalar(_REPLAY, {"call_sid": hook.call_sid, "request_key": hook.request_key})
        if replay is not None:
            event(call, "repeated_request", {"answer": "the same as before"})
            record_webhook(call, hook.path, hook.params, heard_at, replay, started)
            save(conn, call)
            return replay

    catalog = catalog_for(session, stamp)
    world = DbWorld(session, catalog, config, external=billing.current(), caller=call.from_number)
    state = state_of(call)
    if state.from_state is None and hook.from_state:
        state = state.but(from_state=hook.from_state)
    _record_input(call, hook.answer)
    try:
        decision = _decide(call, state, hook, world)
    except LookupUnavailable as exc:
        # Billing did not answer within its deadline: the caller hears so,
        # with a way forward; the record says why.
        event(call, "billing_unreachable", {"error": str(exc.__cause__ or exc)})
        greet = call.turn == 0 or hook.answer.kind == "start"
        decision = account_unreachable(state, world, greet)

    # Failed verifications counted across calls (ivr/lockout.py).
    for kind, detail in world.notes:
        event(call, kind, detail)
    # What was understood and asked for, then what was done about it.
    if decision.understood:
        event(call, "understood", _understood_detail(decision.understood, hook.answer, heard_at))
    for kind, detail in decision.records:
        event(call, kind, detail)
    results = apply_effects(session, call, decision.effects, config)
    for text in (e for e in decision.effects if isinstance(e, SendText)):
        if text.kind == "callback":
            _text_callback(conn, call, catalog, decision, config)
        else:
            _text_confirmation(conn, call, catalog, decision, results, config)
    if any(isinstance(e, RecordConsent) for e in decision.effects):
        _record_consent(conn, call, catalog, decision, config)
    spoken, marks = render_lines(catalog, decision, results)
    said = {
        mark: tuple(line.text for line, m in zip(spoken, marks, strict=True) if m == mark)
        for mark in ("receipt", "consent")
    }
    if said["receipt"]:
        # Said again, word for word, when the caller presses star.
        decision = replace(decision, state=decision.state.but(receipt=said["receipt"]))
    if said["consent"]:
        # The exact words of the question, kept with a yes.
        consent_text = " ".join(said["consent"])
        decision = replace(decision, state=decision.state.but(consent_text=consent_text))
    if decision.state.step != state.step:
        event(call, "step", {"from": state.step, "to": decision.state.step})
    store_state(call, decision.state)
    if call.offer_id is not None and call.offer_code is None:
        offer = world.offer(call.offer_id)
        call.offer_code = offer.code if offer else None
    if decision.state.outcome != state.outcome:
        event(call, "outcome", {"outcome": decision.state.outcome})
    call.turn += 1

    for line, mark in zip(spoken, marks, strict=True):
        event(call, "prompt", _spoken_detail(line, mark))
    twiml = render(decision, spoken, call.turn, catalog)
    record_webhook(call, hook.path, hook.params, heard_at, twiml, started)
    save(conn, call, {"call_sid": hook.call_sid, "request_key": hook.request_key, "twiml": twiml})
    return twiml


def _decide(call: CallRow, state: CallState, hook: Webhook, world: DbWorld) -> Decision:
    if call.turn == 0 and hook.answer.kind != "start":
        # We hold no record of this call (it began before a database restore,
        # say): greet the caller afresh rather than guess where they were.
        event(call, "unknown_call", {"answer": hook.answer.kind})
        return decide(state, Answer("start"), world)
    if hook.turn is not None and hook.turn != call.turn and hook.answer.kind != "start":
        # An answer to a question that is no longer open (a stale or reordered
        # request): ask the current question again rather than act on it.
        event(call, "stale_request", {"turn": hook.turn, "current_turn": call.turn})
        return ask(state, world) if state.step in STEPS else decide(state, hook.answer, world)
    return decide(state, hook.answer, world)


Results = Mapping[int, Mapping[str, Any]]


def render_lines(
    catalog: Catalog, decision: Decision, results: Results
) -> tuple[list[Spoken], list[str | None]]:
    """The prompts of a decision, filled in with what its effects produced;
    and, line by line, what each is for the record (Say.mark)."""
    spoken: list[Spoken] = []
    marks: list[str | None] = []
    for line in decision.lines:
        rendered = catalog.render(decision.state.language, _with_results(line, results))
        spoken.extend(rendered)
        marks.extend(line.mark for _ in rendered)
    return spoken, marks


def _with_results(say: Say, results: Results, inherited: Mapping[str, Any] | None = None) -> Say:
    """The Say with the results of the effect it names (and its nested Says too)."""
    own = results.get(say.results_of) if say.results_of is not None else inherited
    if not own:
        return say
    params = {
        name: _with_results(value, results, own) if isinstance(value, Say) else value
        for name, value in say.params.items()
    }
    return replace(say, params={**params, **own})


def _spoken_detail(line: Spoken, mark: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"key": line.key, "text": line.text, "language": line.language}
    if line.audio:
        detail["audio"] = line.audio
    if mark:
        # What the line is, for the proof of what the caller heard (compliance).
        detail["mark"] = mark
    return detail


def _understood_detail(
    understood: Mapping[str, Any], answer: Answer, step: str | None
) -> Mapping[str, Any]:
    """What was understood; where the trained understanding listens (the
    reason and yes/no questions) and the line did not place the words, or
    placed them unsure, with the caller's words too: they are listed for
    operations to teach it (the console's Teach page, ivr/language/unplaced.py)."""
    if (
        answer.kind == "speech"
        and step in CALL_STEPS
        and "words" not in understood
        and what_happened(understood) is not None
    ):
        return {**understood, "words": answer.speech}
    return understood


def _record_input(call: CallRow, a: Answer) -> None:
    if a.kind == "digits":
        detail: dict[str, Any] = {"digits": _mask(call, a.digits)}
    elif a.kind == "speech":
        detail = {"speech": _mask(call, a.speech), "confidence": a.confidence}
    elif a.kind == "silence":
        detail = {"silence": True}
    elif a.kind == "dial":
        detail = {"dial_status": a.dial_status}
    else:
        return
    event(call, "input", detail)


def _mask(call: CallRow, heard: str) -> str:
    """A PIN is never written down; everything else the caller said is."""
    return "****" if call.step == "verify" else heard


def apply_effects(
    session: Session,
    call: CallRow,
    effects: tuple[Effect, ...],
    config: Mapping[str, Any] | None = None,
) -> dict[int, dict[str, Any]]:
    """Apply a decision's effects; what each produced (its confirmation code,
    the date service ends...), by the subscription it changed.

    Each Cancel or ApplyOffer is one billing change with its own confirmation
    code (the call's code is its first change's). The line's subscription row
    is changed here: with the embedded backend it is the billing record; with
    an external one it is the mirror, and billing gets the change from a job
    queued in this transaction (ivr/billing/jobs.py).
    """
    conn = session.connection()
    config = config or {}
    results: dict[int, dict[str, Any]] = {}
    help_booked = False
    for effect in effects:
        if isinstance(effect, Cancel):
            sub = _lock_subscription(conn, effect.subscription_id)
            changed = billing.cancel(sub, effect.reason_code, effect.reason_text)
            _save_subscription(conn, sub)
            payload = {
                "account": call.account_number,
                "reason": effect.reason_code,
                "comment": effect.reason_text,
            }
            code = _record_change(session, config, call, sub.id, "cancel", payload)
            event(
                call,
                "cancelled",
                {"subscription": sub.plan, "ends": str(sub.cancel_at), "confirmation": code},
            )
        elif isinstance(effect, ApplyOffer):
            sub = _lock_subscription(conn, effect.subscription_id)
            found = conn.execute(_READ_OFFER, {"id": effect.offer_id}).mappings().first()
            assert found is not None
            offer = Row(found)
            changed = billing.apply_offer(sub, offer)
            _save_subscription(conn, sub)
            if offer.kind == "help" and not help_booked:
                # One specialist's call back, whatever the number of subscriptions.
                _book_callback(conn, call, "offer_help", config, effect.callback_due)
                help_booked = True
            payload = {
                "account": call.account_number,
                "offer": offer.code,
                "kind": offer.kind,
                "terms": dict(offer.terms or {}),
            }
            code = _record_change(session, config, call, sub.id, "offer", payload)
            event(
                call,
                "offer_applied",
                {
                    "offer": offer.code,
                    "kind": offer.kind,
                    "subscription": sub.plan,
                    "confirmation": code,
                    **{k: str(v) for k, v in changed.items()},
                },
            )
        elif isinstance(effect, Reinstate):
            sub = _lock_subscription(conn, effect.subscription_id)
            changed = billing.reinstate(sub)
            _save_subscription(conn, sub)
            # A change of its own (with an offer taken after cancelling, the
            # caller hears the offer's code, which follows).
            payload = {"account": call.account_number}
            code = _record_change(session, config, call, sub.id, "reinstate", payload)
            event(call, "reinstated", {"subscription": sub.plan, "confirmation": code})
        elif isinstance(effect, RequestCallback):
            _book_callback(conn, call, effect.reason, config, effect.due)
            continue
        else:
            # SendText and RecordConsent need what was said: see answer().
            continue
        results[sub.id] = {**changed, "code": Digits(code)}
    return results


def _text_confirmation(
    conn: Connection,
    call: CallRow,
    catalog: Catalog,
    decision: Decision,
    results: Results,
    config: Mapping[str, Any],
) -> None:
    """Queue the written copy of this decision's confirmation: each change as
    said, with its code as plain digits, in the caller's language."""
    language = decision.state.language
    company = config.get("COMPANY_NAME") or ""
    plain = {
        sub: {k: (v.value if isinstance(v, Digits) else v) for k, v in produced.items()}
        for sub, produced in results.items()
    }
    parts = [
        catalog.text(
            language,
            _with_results(
                replace(line, key=f"sms_{line.key}", params={**line.params, "company": company}),
                plain,
            ),
        )
        for line in decision.lines
        if line.mark == "receipt"
    ]
    assert call.from_number is not None
    message_id = messaging.queue(
        conn,
        config,
        phone=call.from_number,
        kind="confirmation",
        language=language,
        body="\n".join(parts),
        call_id=call.id,
    )
    event(call, "sms_queued", {"message": message_id, "kind": "confirmation"})


def _text_callback(
    conn: Connection, call: CallRow, catalog: Catalog, decision: Decision, config: Mapping[str, Any]
) -> None:
    """Queue "we'll call you by 5 PM tomorrow from this number"."""
    [confirmed] = [line for line in decision.lines if line.key == "callback_confirmed"]
    language = decision.state.language
    body = catalog.text(
        language,
        Say("sms_callback", {"company": config.get("COMPANY_NAME") or "", **confirmed.params}),
    )
    assert call.from_number is not None
    message_id = messaging.queue(
        conn, config, phone=call.from_number, kind="callback", language=language, body=body,
        call_id=call.id,
    )  # fmt: skip
    event(call, "sms_queued", {"message": message_id, "kind": "callback"})


def _record_consent(
    conn: Connection, call: CallRow, catalog: Catalog, decision: Decision, config: Mapping[str, Any]
) -> None:
    """The caller's yes to one win-back text: the words they heard, when, from
    which number; and the one text, queued for later."""
    [consent] = [e for e in decision.effects if isinstance(e, RecordConsent)]
    assert call.from_number is not None
    conn.execute(
        insert(CONSENTS).values(
            call_id=call.id,
            phone=call.from_number,
            kind="winback_sms",
            words=consent.words,
            answer=consent.answer[:200],
            given_at=utcnow(),
        )
    )
    event(
        call, "consent", {"kind": "winback_sms", "words": consent.words, "answer": consent.answer}
    )
    language = decision.state.language
    plan = ""
    if call.subscription_id is not None:
        sub = conn.execute(_LOCK_SUBSCRIPTION, {"id": call.subscription_id}).mappings().first()
        plan = sub["plan"] if sub else ""
    body = catalog.text(
        language, Say("sms_winback", {"company": config.get("COMPANY_NAME") or "", "plan": plan})
    )
    days = float(config.get("WINBACK_AFTER_DAYS") or 30)
    message_id = messaging.queue(
        conn,
        config,
        phone=call.from_number,
        kind="winback",
        language=language,
        body=body,
        call_id=call.id,
        send_at=utcnow() + dt.timedelta(days=days),
    )
    event(call, "sms_queued", {"message": message_id, "kind": "winback", "days": days})


def _record_change(
    session: Session,
    config: Mapping[str, Any],
    call: CallRow,
    subscription_id: int,
    kind: str,
    payload: Mapping[str, Any],
) -> str:
    """One billing change of the call, with its own confirmation code (returned)."""
    code = _change_code(session, call)
    billing_changes.record(
        session.connection(),
        config,
        call_id=call.id,
        subscription_id=subscription_id,
        kind=kind,
        payload=payload,
        confirmation=code,
    )
    return code


def _change_code(session: Session, call: CallRow) -> str:
    """The call's code for its first change; a code of its own for each other
    (in this webhook or a later one: an offer taken after cancelling)."""
    if not call.confirmation:
        return confirmation_code(session, call)
    return _new_code(session)


def _lock_subscription(conn: Connection, subscription_id: int) -> Row:
    found = conn.execute(_LOCK_SUBSCRIPTION, {"id": subscription_id}).mappings().first()
    assert found is not None
    return Row(found)


def _save_subscription(conn: Connection, sub: Row) -> None:
    changes = sub.changes()
    if changes:
        conn.execute(update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == sub.id).values(changes))


def _book_callback(
    conn: Connection,
    call: CallRow,
    reason: str,
    config: Mapping[str, Any],
    due: dt.datetime | None = None,
) -> None:
    if due is None:
        timezone = config.get("AGENT_TIMEZONE") or "America/New_York"
        due = callback_due(
            parse_hours(config.get("AGENT_HOURS") or ""),
            utcnow(),
            timezone,
            int(config.get("CALLBACK_TARGET_DAYS") or 1),
        )
    conn.execute(
        insert(CALLBACKS).values(
            call_id=call.id, phone=call.from_number, reason=reason, due_at=due, attempts=[]
        )
    )
    event(
        call,
        "callback_requested",
        {"phone": call.from_number, "reason": reason, "due": due.isoformat()},
    )


def confirmation_code(session: Session, call: CallRow) -> str:
    """Eight digits, unique among calls, read to the caller one by one."""
    if not call.confirmation:
        call.confirmation = _new_code(session)
    return str(call.confirmation)


def _new_code(session: Session) -> str:
    """Eight digits no call and no billing change has."""
    while True:
        code = f"{secrets.randbelow(10**8):08d}"
        if session.connection().scalar(_CODE_TAKEN, {"code": code}) is None:
            return code


def whisper_lines(
    session: Session, call_sid: str, catalog: Catalog, config: Mapping[str, Any]
) -> list[Spoken]:
    """What the agent hears before the caller is put through."""
    conn = session.connection()
    row = conn.execute(_READ_CALL, {"call_sid": call_sid}).mappings().first()
    language = config.get("AGENT_LANGUAGE") or "en-US"
    if row is None or not being_transferred(CallRow(row)):
        # Only while the caller is being put through: at any other time (a
        # replay, a guessed CallSid) the agent's leg learns nothing about anyone.
        return catalog.render(language, Say("whisper_unknown", {"phone": "unknown"}))
    spoken: list[Spoken] = []
    call = CallRow(row)
    for line in whisper(state_of(call), DbWorld(session, catalog, config)):
        spoken.extend(catalog.render(language, line))
    said = " ".join(unescape(s.text) for s in spoken)
    event(call, "whisper", {"text": said}, step="agent")
    save(conn, call)
    return spoken


def being_transferred(call: Row) -> bool:
    """The line has dialled a person for this call and heard nothing back yet."""
    return (
        call.completed_at is None
        and call.step == "agent"
        and bool((call.flow or {}).get("transferred"))
        and call.agent_result is None
    )


def finish_call(
    session: Session,
    call_sid: str,
    status: str,
    duration: str | None,
    from_number: str | None = None,
    to_number: str | None = None,
    request: tuple[str, Mapping[str, str], str] | None = None,
) -> None:
    """The status callback: the record is finished; a caller who hung up
    mid-way is `abandoned` at the step they left. `request` is (path,
    parameters, TwiML answered), for the webhook inspector."""
    started = time.perf_counter()
    conn = session.connection()
    call, _ = open_call(conn, Webhook(call_sid, Answer("start"), from_number, to_number))
    event(call, "status", {"status": status, "duration": duration})
    if request is not None:
        record_webhook(call, request[0], request[1], call.step, request[2], started)
    if status not in FINAL_STATUSES or call.completed_at is not None:
        save(conn, call)
        return
    now = utcnow()
    call.completed_at = now
    if duration is not None and re.fullmatch(r"[0-9]{1,7}", duration):
        # Twilio's CallDuration runs from the answer, when started_at is taken, to
        # the hang-up; the end follows from it. So a simulated call (a minute of
        # simulated talk placed in a second) shows one length in all three fields.
        call.duration_seconds = int(duration)
        call.ended_at = call.started_at + dt.timedelta(seconds=call.duration_seconds)
    else:
        call.ended_at = now
        call.duration_seconds = int((now - call.started_at).total_seconds())
    # The call is over, so no request of it will be repeated: its stored replies go.
    conn.execute(delete(REPLIES).where(REPLIES.c.call_sid == call_sid))
    if call.outcome == "in_progress":
        call.outcome = "abandoned"
        call.outcome_step = call.step
        event(call, "outcome", {"outcome": "abandoned", "at_step": call.step})
    call.step = "done"
    save(conn, call)


# The Dial's answers that mean the person picked up and the caller was put through.
PUT_THROUGH = {"completed", "answered"}

_STALE_CALLS = (
    select(CALLS.c.id)
    .where(
        CALLS.c.outcome == "in_progress",
        CALLS.c.completed_at.is_(None),
        CALLS.c.started_at < bindparam("cutoff"),
        ~select(EVENTS.c.id)
        .where(EVENTS.c.call_id == CALLS.c.id, EVENTS.c.at >= bindparam("cutoff"))
        .exists(),
    )
    .order_by(CALLS.c.id)
)
_LAST_EVENT_AT = select(func.max(EVENTS.c.at)).where(EVENTS.c.call_id == bindparam("id"))


def close_stale_calls(
    session: Session, idle: dt.timedelta, now: dt.datetime | None = None
) -> list[tuple[str, str]]:
    """Close the calls still `in_progress` whose last event is older than
    `idle`: their status callback never came (lost, or Twilio gave up), so
    nothing else will ever end them. Each ends at its last event, `agent` if
    the caller was put through to a person, else `abandoned` at the step it
    was at. Returns (CallSid, outcome) of each; the caller commits."""
    now = now or utcnow()
    cutoff = now - idle
    conn = session.connection()
    closed: list[tuple[str, str]] = []
    for call_id in conn.scalars(_STALE_CALLS, {"cutoff": cutoff}).all():
        call = lock_call_by_id(conn, call_id)
        # Read again under the lock: a webhook may have come in meanwhile.
        if call is None or call.outcome != "in_progress" or call.completed_at is not None:
            continue
        last = conn.scalar(_LAST_EVENT_AT, {"id": call_id}) or call.started_at
        if last >= cutoff:
            continue
        # Transferred, and no Dial answer saying nobody picked up.
        dialled = (call.flow or {}).get("transferred")
        if dialled and (call.agent_result is None or call.agent_result in PUT_THROUGH):
            outcome, at_step = "agent", "agent"
        else:
            outcome, at_step = "abandoned", call.step
        call.completed_at = now
        call.ended_at = last
        call.duration_seconds = max(0, int((last - call.started_at).total_seconds()))
        call.outcome = outcome
        call.outcome_step = at_step
        event(call, "swept", {"idle_since": last.isoformat(), "idle_for": str(idle)})
        event(call, "outcome", {"outcome": outcome, "at_step": at_step})
        call.step = "done"
        conn.execute(delete(REPLIES).where(REPLIES.c.call_sid == call.call_sid))
        save(conn, call)
        closed.append((call.call_sid, outcome))
    return closed
