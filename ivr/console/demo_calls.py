"""Realistic call records in bulk (`flask --app wsgi ivr demo-calls --count N`),
for trying the console and measuring it at scale.

Rows go in with Core `insert()` in batches (one transaction each), with ids
assigned here so each call's events can be written in the same batch. Same
seed and same starting database give the same calls.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, func, select, text

from ..demo import DEMO_CUSTOMERS
from ..models import Call, CallbackRequest, CallEvent, Customer, Offer, Subscription, utcnow

BATCH = 5000
DAYS = 90

# A plausible mix for a cancellation line (weights, not exact shares).
OUTCOME_WEIGHTS = {
    "cancelled": 46,
    "saved": 14,
    "agent": 7,
    "callback": 3,
    "unverified": 5,
    "no_subscription": 3,
    "abandoned": 22,
}
REASON_WEIGHTS = {
    "too_expensive": 30,
    "unused": 22,
    "switched_service": 12,
    "low_quality": 10,
    "missing_features": 8,
    "customer_service": 6,
    "too_complex": 5,
    "other": 7,
}
# Where callers who hang up do so.
HANGUP_WEIGHTS = {"greeting": 18, "identify": 22, "verify": 25, "reason": 17, "offer": 14}
KEYPAD_REASONS = {"too_expensive": "1", "unused": "2", "low_quality": "3", "switched_service": "4"}
# Fictional numbers: NXX-555-0100..0199 in these area codes.
AREA_CODES = (
    "201 202 206 212 213 214 303 305 312 313 404 415 425 469 503 512 602 617 646 702 "
    "713 718 773 786 801 818 832 858 909 917 919 954"
).split()
DEMO_SHARE = 500  # one call in this many is from a demo customer


@cache
def _phrases() -> dict[str, dict[str, list[str]]]:
    with (Path(__file__).parent / "demo_phrases.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)  # type: ignore[no-any-return]


class _Blanks(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return {
            "company": "Acme Streaming",
            "plan": "Premium",
            "percent": "50",
            "months": "3",
            "end_date": "the end of this period",
            "code": "1 2 3 4 5 6 7 8",
            "change": "your plan is updated.",
        }.get(key, key)


@dataclass(frozen=True)
class Lines:
    """What the line says, per language, filled with sample values once."""

    prompts: dict[str, dict[str, str]]
    offers: dict[str, dict[str, str]]  # language -> offer code -> wording

    @classmethod
    def load(cls, prompts_dir: Path, offer_wording: dict[str, dict[str, str]]) -> Lines:
        prompts: dict[str, dict[str, str]] = {}
        for language in ("en-US", "es-US"):
            with (prompts_dir / f"{language}.yaml").open(encoding="utf-8") as f:
                data = yaml.safe_load(f)
            prompts[language] = {
                key: str(spec.get("text", "")).format_map(_Blanks())
                for key, spec in (data.get("prompts") or {}).items()
                if isinstance(spec, dict)
            }
        offers: dict[str, dict[str, str]] = {"en-US": {}, "es-US": {}}
        for code, wording in offer_wording.items():
            for language in offers:
                offers[language][code] = str(wording.get(language, "")).format_map(_Blanks())
        return cls(prompts, offers)


class Generator:
    """Makes the rows of one call at a time; ids and codes are handed out here."""

    def __init__(
        self,
        rng: random.Random,
        lines: Lines,
        offer_for_reason: dict[str, tuple[int, str]],
        demo: list[tuple[int, str, str, int | None]],
        first_call_id: int,
        first_event_id: int,
        first_callback_id: int,
        stamp: Callable[[dt.datetime], Any],
    ) -> None:
        self.rng = rng
        self.stamp = stamp
        self.prompt_json: dict[tuple[str, str, str | None], str] = {}
        self.lines = lines
        self.offer_for_reason = offer_for_reason
        self.demo = demo  # (customer id, phone, account, subscription id)
        self.call_id = first_call_id
        self.event_id = first_event_id
        self.callback_id = first_callback_id
        self.code_start = rng.randrange(10**8)
        self.codes_used = 0
        self.outcomes = list(OUTCOME_WEIGHTS)
        self.outcome_weights = list(OUTCOME_WEIGHTS.values())
        self.reasons = list(REASON_WEIGHTS)
        self.reason_weights = list(REASON_WEIGHTS.values())
        self.hangup_steps = list(HANGUP_WEIGHTS)
        self.hangup_weights = list(HANGUP_WEIGHTS.values())

    def confirmation(self) -> str:
        # 7919 is prime, so consecutive codes never repeat within 10^8 of them.
        code = (self.code_start + self.codes_used * 7919) % 10**8
        self.codes_used += 1
        return f"{code:08d}"

    def call(
        self, started_at: dt.datetime
    ) -> tuple[dict[str, Any], list[tuple[Any, ...]], dict[str, Any] | None]:
        """One call (a naive UTC start): its row, its events' rows, its callback."""
        rng = self.rng
        call_id = self.call_id
        self.call_id += 1
        language = "es-US" if rng.random() < 0.18 else "en-US"
        outcome = rng.choices(self.outcomes, self.outcome_weights)[0]
        customer_id: int | None = None
        subscription_id: int | None = None
        if self.demo and rng.randrange(DEMO_SHARE) == 0:
            customer_id, phone, account, subscription_id = rng.choice(self.demo)
            caller_known = True
        else:
            phone = f"+1{rng.choice(AREA_CODES)}55501{rng.randrange(100):02d}"
            account = str(rng.randrange(200000, 1000000))
            caller_known = False
        hangup = rng.choices(self.hangup_steps, self.hangup_weights)[0]
        # How far the call gets decides which steps it has.
        reach = {
            "cancelled": "done",
            "saved": "done",
            "agent": rng.choice(["greeting", "verify", "reason", "offer"]),
            "callback": rng.choice(["greeting", "verify", "reason"]),
            "unverified": "verify",
            "no_subscription": "choose",
            "abandoned": hangup,
        }[outcome]
        order = ["greeting", "identify", "verify", "choose", "reason", "offer", "done"]
        depth = order.index(reach)

        events: list[tuple[Any, ...]] = []
        clock = 0.0
        prompts = self.lines.prompts[language]
        stamp = self.stamp

        def add(
            kind: str, step: str, detail: dict[str, Any] | str, gap: tuple[float, float]
        ) -> None:
            nonlocal clock
            clock += rng.uniform(*gap)
            events.append(
                (
                    self.event_id,
                    call_id,
                    stamp(started_at + dt.timedelta(seconds=clock)),
                    kind,
                    step,
                    detail if isinstance(detail, str) else json.dumps(detail),
                )
            )
            self.event_id += 1

        def say(key: str, step: str, text: str | None = None) -> None:
            # The same few prompts again and again: serialise each once.
            cached = self.prompt_json.get((language, key, text))
            if cached is None:
                cached = self.prompt_json[(language, key, text)] = json.dumps(
                    {"key": key, "text": text or prompts.get(key, key), "language": language}
                )
            add("prompt", step, cached, (0.2, 1.0))

        def press(step: str, digits: str) -> None:
            add("input", step, {"digits": digits}, (2.0, 7.0))

        def speak(step: str, words: str) -> None:
            confidence = round(rng.uniform(0.55, 0.97), 2)
            add("input", step, {"speech": words, "confidence": confidence}, (3.0, 9.0))

        def move(old: str, new: str) -> None:
            cached = self.prompt_json.get((old, new, "step"))
            if cached is None:
                cached = self.prompt_json[(old, new, "step")] = json.dumps({"from": old, "to": new})
            add("step", old, cached, (0.0, 0.1))

        def passes(name: str) -> bool:
            """The caller answered this step and went on (rather than stopping there)."""
            return depth > order.index(name)

        add("call_started", "greeting", {"from": phone, "to": "+15550109999"}, (0.0, 0.0))
        say("greeting", "greeting")
        verified = False
        reason: str | None = None
        reason_text: str | None = None
        offer_id: int | None = None
        offer_code: str | None = None
        offer_accepted: bool | None = None
        confirmation: str | None = None
        known_account = caller_known
        step = "greeting"
        if passes("greeting") and not caller_known:
            move(step, "identify")
            step = "identify"
            say("ask_account", step)
            if passes("identify"):
                known_account = True
                if rng.random() < 0.6:
                    press(step, account + "#")
                else:
                    speak(step, " ".join(account))
        if passes("identify"):
            move(step, "verify")
            step = "verify"
            for n in range(3 if outcome == "unverified" else 1):
                if n:
                    say("pin_wrong", step)
                say("ask_pin", step)
                if passes("verify") or outcome == "unverified":
                    press(step, "****")
            verified = passes("verify")
            if outcome == "unverified":
                say("unverified", step)
        if verified and outcome == "no_subscription":
            move(step, "choose")
            step = "choose"
            say("no_subscription", step)
        elif passes("choose"):
            move(step, "reason")
            step = "reason"
            say("ask_reason", step)
        if passes("reason"):
            choices = self.reasons
            weights = self.reason_weights
            if reach == "offer" or outcome == "saved":
                # Only reasons with an offer reach the offer step (or save anyone).
                pairs = [
                    (r, w)
                    for r, w in zip(choices, weights, strict=True)
                    if r in self.offer_for_reason
                ]
                choices, weights = [r for r, _ in pairs], [w for _, w in pairs]
            reason = rng.choices(choices, weights)[0] if choices else "other"
            if rng.random() < 0.65 or reason not in KEYPAD_REASONS:
                reason_text = rng.choice(_phrases()[language][reason])
                speak(step, reason_text)
            else:
                press(step, KEYPAD_REASONS[reason])
            add("understood", step, {"meaning": reason, "confident": True}, (0.0, 0.1))
            offer = self.offer_for_reason.get(reason)
            if offer is not None:
                offer_id, offer_code = offer
                move(step, "offer")
                step = "offer"
                say("offer", step, self.lines.offers[language].get(offer_code))
                say("offer_question", step)
                if passes("offer"):
                    offer_accepted = outcome == "saved"
                    if rng.random() < 0.5:
                        press(step, "1" if offer_accepted else "2")
                    else:
                        yes = "sí" if language == "es-US" else "yes"
                        speak(step, yes if offer_accepted else "no")
            elif outcome == "saved":
                # Nothing to offer for this reason, so nobody is saved by one.
                outcome = "cancelled"
        agent_requested = outcome in ("agent", "callback")
        agent_result: str | None = None
        if agent_requested:
            if rng.random() < 0.5:
                press(step, "0")
            else:
                speak(step, "representative" if language == "en-US" else "agente")
            add("understood", step, {"meaning": "agent", "confident": True}, (0.0, 0.1))
            move(step, "agent")
            step = "agent"
            say("transfer", step)
            agent_result = "completed" if outcome == "agent" else rng.choice(["no-answer", "busy"])
            if outcome == "agent":
                add("whisper", step, {"text": "Caller wants to cancel."}, (2.0, 6.0))
            add("input", step, {"dial_status": agent_result}, (10.0, 240.0))
        callback: dict[str, Any] | None = None
        if outcome == "callback":
            callback = {
                "id": self.callback_id,
                "call_id": call_id,
                "phone": phone,
                "reason": "agent_unavailable",
                "requested_at": stamp(started_at + dt.timedelta(seconds=clock + 1)),
                "done_at": None,
                "done_by": None,
            }
            self.callback_id += 1
            add("callback_requested", step, {"phone": phone, "reason": "agent_unavailable"}, (1, 2))
            say("callback_confirmed", step)
        if outcome == "cancelled":
            confirmation = self.confirmation()
            add("cancelled", step, {"subscription": "Premium", "ends": "period end"}, (0.1, 0.5))
            say("cancelled", "done")
        elif outcome == "saved":
            confirmation = self.confirmation()
            add("offer_applied", step, {"offer": offer_code}, (0.1, 0.5))
            say("saved", "done")
        outcome_step = step
        add("outcome", step, {"outcome": outcome, "at_step": outcome_step}, (0.0, 0.2))
        duration = int(clock + rng.uniform(2.0, 9.0))
        add("status", "done", {"status": "completed", "duration": str(duration)}, (0.0, 0.0))
        ended_at = started_at + dt.timedelta(seconds=duration)
        call = {
            "id": call_id,
            "call_sid": f"CA{rng.getrandbits(128):032x}",
            "from_number": phone,
            "to_number": "+15550109999",
            "language": language,
            "step": "done",
            "turn": len(events),
            "flow": "{}",
            "customer_id": customer_id,
            "account_number": account if known_account else None,
            "verified": verified,
            "subscription_id": subscription_id if verified else None,
            "reason_code": reason,
            "reason_text": reason_text,
            "offer_id": offer_id,
            "offer_code": offer_code,
            "offer_accepted": offer_accepted,
            "outcome": outcome,
            "outcome_step": outcome_step,
            "confirmation": confirmation,
            "agent_requested": agent_requested,
            "agent_result": agent_result,
            "started_at": stamp(started_at),
            "ended_at": stamp(ended_at),
            "duration_seconds": duration,
            "completed_at": stamp(ended_at),
        }
        return call, events, callback


def _next_id(conn: Connection, column: Any) -> int:
    return int(conn.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1


def _fix_sequences(conn: Connection) -> None:
    """PostgreSQL hands out ids from sequences we bypassed: move them past ours."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("calls", "call_events", "callback_requests"):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )


def _free_codes(conn: Connection, gen: Generator, calls: list[dict[str, Any]]) -> None:
    """Confirmation codes are unique: swap any already taken by an earlier call."""
    while True:
        wanted = [c["confirmation"] for c in calls if c["confirmation"]]
        if not wanted:
            return
        taken = set(conn.scalars(select(Call.confirmation).where(Call.confirmation.in_(wanted))))
        if not taken:
            return
        for c in calls:
            if c["confirmation"] in taken:
                c["confirmation"] = gen.confirmation()


def _stamp_for(dialect: str) -> Callable[[dt.datetime], Any]:
    """Naive UTC datetimes as the driver should get them.

    Rows go straight to the driver (SQLAlchemy's per-value processing was
    most of the time spent), so this does what UTCDateTime would: SQLite gets
    SQLAlchemy's text format, PostgreSQL an aware datetime.
    """
    if dialect == "sqlite":
        return lambda d: d.isoformat(" ", "microseconds")
    return lambda d: d.replace(tzinfo=dt.UTC)


def _insert_rows(
    conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


CALL_COLUMNS = tuple(c.name for c in Call.__table__.columns)
EVENT_COLUMNS = ("id", "call_id", "at", "type", "step", "detail")
CALLBACK_COLUMNS = ("id", "call_id", "phone", "reason", "requested_at", "done_at", "done_by")


def write_demo_calls(
    engine: Engine,
    count: int,
    prompts_dir: str | Path,
    seed: int = 1,
    now: dt.datetime | None = None,
    days: int = DAYS,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add `count` calls started over the last `days` days; return how many."""
    now = (now or utcnow()).astimezone(dt.UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        first_call = _next_id(conn, Call.id)
        first_event = _next_id(conn, CallEvent.id)
        first_callback = _next_id(conn, CallbackRequest.id)
        offers = conn.execute(select(Offer.reason_code, Offer.id, Offer.code, Offer.wording)).all()
        demo_rows = conn.execute(
            select(Customer.id, Customer.phone, Customer.account_number, Subscription.id)
            .join(Subscription, Subscription.customer_id == Customer.id)
            .where(Customer.account_number.in_([c["account"] for c in DEMO_CUSTOMERS]))
            .order_by(Customer.id, Subscription.id)
        ).all()
    # The starting point is part of the seed: a second run adds new calls
    # instead of repeating the first run's CallSids.
    rng = random.Random(f"{seed}:{first_call}")
    gen = Generator(
        rng,
        Lines.load(Path(prompts_dir), {code: wording for _, _, code, wording in offers}),
        {reason: (offer_id, code) for reason, offer_id, code, _ in offers},
        [(cid, phone or "", account, sid) for cid, phone, account, sid in demo_rows],
        first_call,
        first_event,
        first_callback,
        _stamp_for(engine.dialect.name),
    )
    start = now - dt.timedelta(days=days)
    step = (now - start).total_seconds() / count
    done = 0
    while done < count:
        n = min(BATCH, count - done)
        calls: list[dict[str, Any]] = []
        events: list[tuple[Any, ...]] = []
        callbacks: list[dict[str, Any]] = []
        for i in range(done, done + n):
            # Calls in time order (so the newest sit together on disk), a little jitter.
            started_at = start + dt.timedelta(seconds=(i + rng.random()) * step)
            call, call_events, callback = gen.call(started_at)
            calls.append(call)
            events.extend(call_events)
            if callback is not None:
                callbacks.append(callback)
        with engine.begin() as conn:
            _free_codes(conn, gen, calls)
            _insert_rows(
                conn, "calls", CALL_COLUMNS, [tuple(c[k] for k in CALL_COLUMNS) for c in calls]
            )
            _insert_rows(conn, "call_events", EVENT_COLUMNS, events)
            _insert_rows(
                conn,
                "callback_requests",
                CALLBACK_COLUMNS,
                [tuple(c[k] for k in CALLBACK_COLUMNS) for c in callbacks],
            )
            _fix_sequences(conn)
        done += n
        if progress is not None:
            progress(n)
    return done
