"""The line's data: customers and their subscriptions, offers, calls and
their append-only events, prompt versions, staff users and the audit log.

Models never commit: the request or command that changed them does.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base

OUTCOMES = (
    "cancelled",
    "saved",
    "agent",
    "callback",
    "unverified",
    "no_subscription",
    "abandoned",
    "in_progress",
    # A cancellation not yet in effect was undone by phone (the way back).
    "reinstated",
)

# Stripe's cancellation_details.feedback values, so reasons map onto billing systems.
REASON_CODES = (
    "too_expensive",
    "unused",
    "missing_features",
    "switched_service",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)

OFFER_KINDS = ("discount", "pause", "downgrade", "free_period", "help")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    # Null until a PIN is set (`ivr set-pin`): an external billing system's
    # customers are mirrored here by account number, PINs stay with the line.
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(10), default="en-US")
    # The US state on file (two letters), when billing has one: it decides
    # which cancellation rules apply (ivr/jurisdictions.py).
    state: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="customer", order_by="Subscription.id"
    )


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # The billing system's id of the subscription (BILLING_BACKEND=http); null
    # where this table is the billing system itself (embedded).
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    plan: Mapped[str] = mapped_column(String(100))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    interval: Mapped[str] = mapped_column(String(10), default="month")
    # active | cancelled (ends at cancel_at, never charged again) | paused
    status: Mapped[str] = mapped_column(String(20), default="active")
    current_period_end: Mapped[dt.date] = mapped_column(Date)
    cancel_at: Mapped[dt.date | None] = mapped_column(Date)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancellation_reason: Mapped[str | None] = mapped_column(String(40))
    cancellation_comment: Mapped[str | None] = mapped_column(Text)
    paused_until: Mapped[dt.date | None] = mapped_column(Date)
    discount_percent: Mapped[int | None] = mapped_column(Integer)
    discount_until: Mapped[dt.date | None] = mapped_column(Date)
    free_until: Mapped[dt.date | None] = mapped_column(Date)

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")


class Offer(Base):
    """The one offer made for a reason. Wording is per language: {"en-US": "..."}."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    reason_code: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    terms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    wording: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OfferChange(Base):
    """Append-only history of offer edits: who, when, what it was and became."""

    __tablename__ = "offer_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)


class Call(Base):
    """One call: its state (keyed by CallSid, so any worker can answer) and its record."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_started_at_id", "started_at", "id"),
        Index("ix_calls_outcome_started_at", "outcome", "started_at"),
        Index("ix_calls_reason_started_at", "reason_code", "started_at"),
        Index("ix_calls_language_started_at", "language", "started_at"),
        Index("ix_calls_offer_started_at", "offer_code", "started_at"),
        # The calls list sorted by duration, by keyset (migration 0005).
        Index("ix_calls_duration_id", "duration_seconds", "id"),
        # The calls list sorted by account or outcome, by keyset (migration 0009).
        Index("ix_calls_account_number_id", "account_number", "id"),
        Index("ix_calls_outcome_id", "outcome", "id"),
        # Analytics also reads two indexes on the UTC day of started_at
        # (ix_calls_day_groups, ix_calls_day_lengths): expressions that differ
        # per database, so they are in migration 0009 only (ivr/db.py).
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str | None] = mapped_column(String(32), index=True)
    to_number: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(10), default="en-US")
    step: Mapped[str] = mapped_column(String(40), default="start")
    # Each answered prompt is one turn; action URLs carry it, so a request
    # Twilio repeats is recognised and never applied twice.
    turn: Mapped[int] = mapped_column(Integer, default=0)
    # Counters and pending questions of the flow (retries, PIN tries, ...).
    flow: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    account_number: Mapped[str | None] = mapped_column(String(32), index=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason_text: Mapped[str | None] = mapped_column(Text)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    offer_code: Mapped[str | None] = mapped_column(String(60))
    offer_accepted: Mapped[bool | None] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(20), default="in_progress")
    outcome_step: Mapped[str | None] = mapped_column(String(40))
    confirmation: Mapped[str | None] = mapped_column(String(12), unique=True)
    agent_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_result: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    customer: Mapped[Customer | None] = relationship()
    subscription: Mapped[Subscription | None] = relationship()
    offer: Mapped[Offer | None] = relationship()
    events: Mapped[list[CallEvent]] = relationship(back_populates="call", order_by="CallEvent.id")


class CallEvent(Base):
    """Append-only: every prompt played, every input heard, every decision."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    type: Mapped[str] = mapped_column(String(30))
    step: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")


class WebhookReply(Base):
    """The answer given to each webhook request, so a repeat gets the same answer."""

    __tablename__ = "webhook_replies"
    __table_args__ = (UniqueConstraint("call_sid", "request_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    request_key: Mapped[str] = mapped_column(String(64))
    twiml: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CallbackRequest(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(40), default="agent_unavailable")
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # By when the caller was told to expect it (AGENT_HOURS, CALLBACK_TARGET_DAYS).
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Who is on it, and each try: [{"at", "by", "result"}] (answered, no answer, voicemail).
    assignee: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=list)
    # How it ended (e.g. "cancelled", "kept", "resolved"), with done_at and done_by.
    outcome: Mapped[str | None] = mapped_column(String(40))
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[str | None] = mapped_column(String(200))

    call: Mapped[Call] = relationship()


class CallNote(Base):
    __tablename__ = "call_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    text: Mapped[str] = mapped_column(Text)


class PromptVersion(Base):
    """A published version of one prompt in one language. The newest is live."""

    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("key", "language", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    reprompt: Mapped[str | None] = mapped_column(Text)
    audio: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Stored in each session at sign-in; raising it (sign-out, access turned
    # off) ends every session signed in before (ivr/console/auth.py).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The console shows times in this IANA zone; null means AGENT_TIMEZONE.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The language of the console's words for codes: "en" or "es".
    console_language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")


class SavedView(Base):
    """A staff member's named filters of the calls list (its query string)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_actor_id", "actor", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


BILLING_CHANGE_STATES = ("pending", "retrying", "applied", "failed")


class BillingChange(Base):
    """One change a call decided (a cancellation or an accepted offer) and
    where it stands in the billing system. Written in the webhook's
    transaction with the call's record; a job applies it (ivr/billing/jobs.py)."""

    __tablename__ = "billing_changes"
    __table_args__ = (Index("ix_billing_changes_state_created_at", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    # cancel | offer | reinstate
    kind: Mapped[str] = mapped_column(String(10))
    # What is sent to billing (reason and words, or offer and terms).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    backend: Mapped[str] = mapped_column(String(20))
    # The same on every retry of this change, so billing applies it once.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    confirmation: Mapped[str] = mapped_column(String(12), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What billing answered when it applied the change (e.g. {"ends_on": ...}).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    call: Mapped[Call] = relationship()
    subscription: Mapped[Subscription] = relationship()


class SmsMessage(Base):
    """A text to a caller: the written confirmation, or a win-back offer the
    caller consented to. Queued in the webhook's transaction; a job sends it
    through Twilio's Messaging API (ivr/messaging/jobs.py); Twilio's status
    callbacks say what became of it."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_phone_state", "phone", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    # confirmation | winback
    kind: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    # pending (to send) | queued | sending | sent | delivered | undelivered | failed
    # | cancelled (opted out, or consent revoked, before it went)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    send_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SmsOptOut(Base):
    """A number that replied STOP (or another opt-out word): no text goes to
    it again until it replies START."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    keyword: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Consent(Base):
    """A caller's yes to being texted a win-back offer: the exact words they
    heard, when, and from which number. Revoked by STOP."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="winback_sms")
    words: Mapped[str] = mapped_column(Text)
    # How the yes was given: the key pressed or the words said.
    answer: Mapped[str] = mapped_column(String(200))
    given_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class VerifyLock(Base):
    """Failed attempts to verify on the phone, counted across calls: by
    customer (wrong PINs) and by calling number (wrong PINs and account
    numbers nobody has). Every worker reads the same rows (ivr/lockout.py)."""

    __tablename__ = "verify_locks"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "customer" (key: the customer's id) or "caller" (key: the calling number).
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # How many times the key was locked since its last success: each lock is twice as long.
    locks: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
