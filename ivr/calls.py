"""The call service: one webhook in, one answer out.

It locks the call's row (so overlapping webhooks for one call take turns),
recognises a request Twilio repeats (and gives the same answer without
applying anything again), asks the flow what to do, applies the effects,
writes every input, prompt and decision as an event, and returns the
TwiML. The caller of `answer` commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import billing
from .flow.steps import STEPS, ask, decide, whisper
from .flow.types import (
    Answer,
    ApplyOffer,
    CallState,
    Cancel,
    Decision,
    Digits,
    Effect,
    RequestCallback,
    Say,
)
from .models import (
    Call,
    CallbackRequest,
    CallEvent,
    Offer,
    Subscription,
    WebhookReply,
    utcnow,
)
from .prompts import Catalog, Spoken
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


Renderer = Callable[[Decision, list[Spoken], int], str]


def request_key(path: str, params: Mapping[str, str]) -> str:
    """Identifies a request, so a repeat of it is recognised."""
    h = hashlib.sha256(path.encode())
    for name in sorted(params):
        h.update(b"\0" + name.encode() + b"=" + str(params[name]).encode())
    return h.hexdigest()


def state_of(call: Call) -> CallState:
    values: dict[str, Any] = {name: getattr(call, name) for name in _COLUMNS}
    flow = call.flow or {}
    values.update({name: flow[name] for name in _FLOW_FIELDS if name in flow})
    return CallState(caller=call.from_number, **values)


def store_state(call: Call, state: CallState) -> None:
    for name in _COLUMNS:
        setattr(call, name, getattr(state, name))
    call.flow = {name: getattr(state, name) for name in _FLOW_FIELDS}


def lock_call(session: Session, call_sid: str) -> Call | None:
    """The call's row, locked until commit (FOR UPDATE; SQLite locks the database)."""
    return session.scalars(select(Call).where(Call.call_sid == call_sid).with_for_update()).first()


def open_call(session: Session, hook: Webhook) -> Call:
    call = lock_call(session, hook.call_sid)
    if call is not None:
        return call
    call = Call(
        call_sid=hook.call_sid,
        from_number=hook.from_number,
        to_number=hook.to_number,
        flow={},
    )
    try:
        with session.begin_nested():
            session.add(call)
    except IntegrityError:
        # Another worker created it a moment ago: take theirs, locked.
        found = lock_call(session, hook.call_sid)
        assert found is not None
        return found
    event(session, call, "call_started", {"from": hook.from_number, "to": hook.to_number})
    return call


_EVENTS = "ivr.call_events"


def event(
    session: Session, call: Call, type_: str, detail: Mapping[str, Any], step: str | None = None
) -> None:
    """Add an event to the call's record. Events are written in one INSERT
    just before the transaction commits (and dropped with it on rollback)."""
    session.info.setdefault(_EVENTS, []).append(
        {
            "call": call,
            "at": utcnow(),
            "type": type_,
            "step": step or call.step,
            "detail": dict(detail),
        }
    )


@sa_event.listens_for(Session, "before_commit")
def _write_events(session: Session) -> None:
    pending = session.info.pop(_EVENTS, None)
    if pending:
        session.flush()  # new calls get their ids
        rows = [{**e, "call_id": e.pop("call").id} for e in pending]
        session.execute(insert(CallEvent), rows)


@sa_event.listens_for(Session, "after_rollback")
def _drop_events(session: Session) -> None:
    session.info.pop(_EVENTS, None)


def answer(
    session: Session,
    hook: Webhook,
    catalog: Catalog,
    config: Mapping[str, Any],
    render: Renderer,
) -> str:
    call = open_call(session, hook)
    # An answer to the open question (its turn is the call's) is new by
    # construction; only other requests can be repeats, so only they look.
    answers_open_question = hook.turn is not None and hook.turn == call.turn
    if call.turn > 0 and not answers_open_question:
        replay = session.scalars(
            select(WebhookReply).where(
                WebhookReply.call_sid == hook.call_sid,
                WebhookReply.request_key == hook.request_key,
            )
        ).first()
        if replay is not None:
            event(session, call, "repeated_request", {"answer": "the same as before"})
            return replay.twiml

    world = DbWorld(session, catalog, config)
    state = state_of(call)
    _record_input(session, call, hook.answer)
    if call.turn == 0 and hook.answer.kind != "start":
        # We hold no record of this call (it began before a database restore,
        # say): greet the caller afresh rather than guess where they were.
        event(session, call, "unknown_call", {"answer": hook.answer.kind})
        decision = decide(state, Answer("start"), world)
    elif hook.turn is not None and hook.turn != call.turn and hook.answer.kind != "start":
        # An answer to a question that is no longer open (a stale or reordered
        # request): ask the current question again rather than act on it.
        event(session, call, "stale_request", {"turn": hook.turn, "current_turn": call.turn})
        decision = ask(state, world) if state.step in STEPS else decide(state, hook.answer, world)
    else:
        decision = decide(state, hook.answer, world)

    results = apply_effects(session, call, decision.effects)
    if decision.understood:
        event(session, call, "understood", decision.understood)
    if decision.state.step != state.step:
        event(session, call, "step", {"from": state.step, "to": decision.state.step})
    store_state(call, decision.state)
    if call.offer_id is not None and call.offer_code is None:
        offer = session.get(Offer, call.offer_id)
        call.offer_code = offer.code if offer else None
    if decision.state.outcome != state.outcome:
        event(session, call, "outcome", {"outcome": decision.state.outcome})
    call.turn += 1

    spoken = render_lines(catalog, decision, results)
    for line in spoken:
        event(session, call, "prompt", _spoken_detail(line))
    twiml = render(decision, spoken, call.turn)
    session.add(WebhookReply(call_sid=hook.call_sid, request_key=hook.request_key, twiml=twiml))
    return twiml


def render_lines(catalog: Catalog, decision: Decision, results: Mapping[str, Any]) -> list[Spoken]:
    """The prompts of a decision, filled in with what its effects produced."""
    spoken: list[Spoken] = []
    for line in decision.lines:
        spoken.extend(catalog.render(decision.state.language, _with_results(line, results)))
    return spoken


def _with_results(say: Say, results: Mapping[str, Any]) -> Say:
    if not results:
        return say
    params = {
        name: _with_results(value, results) if isinstance(value, Say) else value
        for name, value in say.params.items()
    }
    return Say(say.key, {**params, **results}, say.short, say.text)


def _spoken_detail(line: Spoken) -> dict[str, Any]:
    detail: dict[str, Any] = {"key": line.key, "text": line.text, "language": line.language}
    if line.audio:
        detail["audio"] = line.audio
    return detail


def _record_input(session: Session, call: Call, a: Answer) -> None:
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
    event(session, call, "input", detail)


def _mask(call: Call, heard: str) -> str:
    """A PIN is never written down; everything else the caller said is."""
    return "****" if call.step == "verify" else heard


def apply_effects(session: Session, call: Call, effects: tuple[Effect, ...]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for effect in effects:
        if isinstance(effect, Cancel):
            sub = session.get(Subscription, effect.subscription_id, with_for_update=True)
            assert sub is not None
            results.update(billing.cancel(sub, effect.reason_code, effect.reason_text))
            results["code"] = Digits(confirmation_code(session, call))
            event(
                session, call, "cancelled", {"subscription": sub.plan, "ends": str(sub.cancel_at)}
            )
        elif isinstance(effect, ApplyOffer):
            sub = session.get(Subscription, effect.subscription_id, with_for_update=True)
            offer = session.get(Offer, effect.offer_id)
            assert sub is not None and offer is not None
            changed = billing.apply_offer(sub, offer)
            results.update(changed)
            if offer.kind == "help":
                _book_callback(session, call, "offer_help")
            results["code"] = Digits(confirmation_code(session, call))
            event(
                session,
                call,
                "offer_applied",
                {
                    "offer": offer.code,
                    "kind": offer.kind,
                    **{k: str(v) for k, v in changed.items()},
                },
            )
        elif isinstance(effect, RequestCallback):
            _book_callback(session, call, effect.reason)
    return results


def _book_callback(session: Session, call: Call, reason: str) -> None:
    session.add(CallbackRequest(call=call, phone=call.from_number, reason=reason))
    event(session, call, "callback_requested", {"phone": call.from_number, "reason": reason})


def confirmation_code(session: Session, call: Call) -> str:
    """Eight digits, unique among calls, read to the caller one by one."""
    if call.confirmation:
        return call.confirmation
    while True:
        code = f"{secrets.randbelow(10**8):08d}"
        taken = session.scalar(select(Call.id).where(Call.confirmation == code))
        if taken is None:
            call.confirmation = code
            return code


def whisper_lines(
    session: Session, call_sid: str, catalog: Catalog, config: Mapping[str, Any]
) -> list[Spoken]:
    """What the agent hears before the caller is put through."""
    call = session.scalars(select(Call).where(Call.call_sid == call_sid)).first()
    if call is None:
        return catalog.render("en-US", Say("whisper_unknown", {"phone": "unknown"}))
    language = config.get("AGENT_LANGUAGE") or "en-US"
    spoken: list[Spoken] = []
    for line in whisper(state_of(call), DbWorld(session, catalog, config)):
        spoken.extend(catalog.render(language, line))
    event(session, call, "whisper", {"text": " ".join(s.text for s in spoken)}, step="agent")
    return spoken


def finish_call(
    session: Session,
    call_sid: str,
    status: str,
    duration: str | None,
    from_number: str | None = None,
    to_number: str | None = None,
) -> None:
    """The status callback: the record is finished; a caller who hung up
    mid-way is `abandoned` at the step they left."""
    call = lock_call(session, call_sid)
    if call is None:
        call = open_call(session, Webhook(call_sid, Answer("start"), from_number, to_number))
    event(session, call, "status", {"status": status, "duration": duration})
    if status not in FINAL_STATUSES or call.completed_at is not None:
        return
    now = utcnow()
    call.completed_at = now
    call.ended_at = now
    if duration is not None and re.fullmatch(r"[0-9]{1,7}", duration):
        call.duration_seconds = int(duration)
    else:
        call.duration_seconds = int((now - call.started_at).total_seconds())
    # The call is over, so no request of it will be repeated: its stored replies go.
    session.execute(delete(WebhookReply).where(WebhookReply.call_sid == call_sid))
    if call.outcome == "in_progress":
        call.outcome = "abandoned"
        call.outcome_step = call.step
        event(session, call, "outcome", {"outcome": "abandoned", "at_step": call.step})
    call.step = "done"
