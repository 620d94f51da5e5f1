"""The vocabulary of the call flow: what the caller did, what the line knows,
and what the line decides to say and do next. Plain data, no Flask."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from ..jurisdictions import Jurisdiction
from .understand import Vocabulary

AnswerKind = Literal["start", "digits", "speech", "silence", "dial"]


@dataclass(frozen=True)
class Answer:
    """What Twilio posted for one turn."""

    kind: AnswerKind
    digits: str = ""
    speech: str = ""
    confidence: float | None = None
    dial_status: str = ""


@dataclass(frozen=True)
class CallState:
    """Everything the flow needs to remember between webhooks (kept in the DB)."""

    step: str = "greeting"
    language: str = "en-US"
    caller: str | None = None
    customer_id: int | None = None
    account_number: str | None = None
    verified: bool = False
    subscription_id: int | None = None
    # Every subscription being cancelled when the caller chose "all of them";
    # empty for one (subscription_id).
    subscription_ids: tuple[int, ...] = ()
    reason_code: str | None = None
    reason_text: str | None = None
    offer_id: int | None = None
    offer_accepted: bool | None = None
    outcome: str = "in_progress"
    outcome_step: str | None = None
    misses: int = 0
    pin_tries: int = 0
    account_tries: int = 0
    pending: Mapping[str, Any] | None = None
    return_step: str | None = None
    transferred: bool = False
    agent_requested: bool = False
    agent_result: str | None = None
    agent_reason: str | None = None
    # What the caller heard when their cancellation or offer was confirmed
    # (codes, dates), kept so "press star" can say it again word for word.
    receipt: tuple[str, ...] = ()
    # Where the caller's number is from, as Twilio says (FromState).
    from_state: str | None = None
    # The cancellation rules that apply (ivr/jurisdictions.py), settled when
    # the caller is verified: the state, where it came from, the offer's
    # timing (before | after | none) and whether a recording notice is due.
    region: str | None = None
    region_source: str | None = None
    offer_timing: str = "before"
    recording_notice: bool = False
    # With "after" rules: None, then "asked", "granted" or "declined";
    # "not_asked" when the caller said "cancel" (no offer follows it).
    offer_permission: str | None = None
    # May we text a better offer? None, "asked", "given" or "refused"; and
    # the question exactly as the caller heard it (the consent's record).
    consent: str | None = None
    consent_text: str | None = None
    # Cancellations not yet in effect, the caller may keep (the way back).
    pending_ids: tuple[int, ...] = ()

    def but(self, **changes: Any) -> CallState:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Digits:
    """A code read digit by digit."""

    value: str


@dataclass(frozen=True)
class DueBy:
    """A moment said the way people say it: "by 5 PM tomorrow" (in the
    time zone of the people who will call back), relative to `today`."""

    at: dt.datetime
    today: dt.date


@dataclass(frozen=True)
class Say:
    """One thing the line says: a prompt by key (with its placeholders), or
    text that is itself data (an offer's wording, edited by operations)."""

    key: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    short: bool = False
    text: str | None = None
    # Filled in with what the effect on this subscription produced (its
    # confirmation code, the date service ends); nested Says share it.
    results_of: int | None = None
    # What this line is, for the record: "receipt" (the confirmation, said
    # again on "press star"), "disclosure" (you can say cancel at any time),
    # "offer" (an offer heard), "permission" (may I tell you about an offer?).
    mark: str | None = None


@dataclass(frozen=True)
class Listen:
    """Ask the step's question and wait for keys or words."""

    step: str


@dataclass(frozen=True)
class Transfer:
    """Ring a person, who first hears who is calling (the whisper)."""


@dataclass(frozen=True)
class Hangup:
    pass


Then = Listen | Transfer | Hangup


@dataclass(frozen=True)
class Cancel:
    subscription_id: int
    reason_code: str | None
    reason_text: str | None


@dataclass(frozen=True)
class ApplyOffer:
    subscription_id: int
    offer_id: int
    # A help offer books a specialist's call back: due when the caller was told.
    callback_due: dt.datetime | None = None


@dataclass(frozen=True)
class RequestCallback:
    reason: str
    # When it is due (AGENT_HOURS and CALLBACK_TARGET); the caller hears it.
    due: dt.datetime | None = None


@dataclass(frozen=True)
class SendText:
    """Text the caller what this decision's changes were (codes, dates)."""

    kind: str = "confirmation"


@dataclass(frozen=True)
class RecordConsent:
    """The caller said yes to a win-back text: keep the words they heard, and
    queue the one text."""

    words: str
    answer: str


@dataclass(frozen=True)
class Reinstate:
    """Undo a cancellation that has not taken effect (the caller took an
    offer heard after cancelling)."""

    subscription_id: int


Effect = Cancel | ApplyOffer | RequestCallback | Reinstate | SendText | RecordConsent


@dataclass(frozen=True)
class Decision:
    state: CallState
    lines: tuple[Say, ...]
    then: Then
    effects: tuple[Effect, ...] = ()
    # What the line understood, for the call record: {"meaning": ..., ...}
    understood: Mapping[str, Any] | None = None
    # Further events for the call record: (type, detail), e.g. the rules applied.
    records: tuple[tuple[str, Mapping[str, Any]], ...] = ()


@dataclass(frozen=True)
class CustomerFacts:
    id: int
    name: str
    account_number: str
    language: str
    # The US state on file, when billing has one.
    state: str | None = None


@dataclass(frozen=True)
class SubscriptionFacts:
    id: int
    plan: str
    price: Decimal
    period_end: dt.date


@dataclass(frozen=True)
class OfferFacts:
    id: int
    code: str
    reason_code: str
    kind: str
    terms: Mapping[str, Any]
    wording: Mapping[str, str]


class LookupUnavailable(Exception):
    """The World could not find out in time (the billing system is slow or
    down). The call service answers with `steps.account_unreachable`: the
    line says so and offers a way forward, it never guesses."""


class World(Protocol):
    """What the flow may look up. Reads only: every change is an Effect.
    A look-up that cannot be answered in time raises LookupUnavailable."""

    company_name: str
    speech_threshold: float

    def vocabulary(self, language: str) -> Vocabulary: ...

    def customer(self, customer_id: int) -> CustomerFacts | None: ...

    def customer_by_phone(self, phone: str) -> CustomerFacts | None: ...

    def customer_by_account(self, account_number: str) -> CustomerFacts | None: ...

    def pin_matches(self, customer_id: int, pin: str) -> bool: ...

    def active_subscriptions(self, customer_id: int) -> Sequence[SubscriptionFacts]: ...

    def pending_cancellations(self, customer_id: int) -> Sequence[SubscriptionFacts]:
        """Cancelled subscriptions whose paid period has not ended yet."""
        ...

    def can_text(self, phone: str | None) -> bool:
        """Whether a text to this number would be queued (texts set up, no
        opt-out, not a number that cannot take texts)."""
        ...

    def subscription(self, subscription_id: int) -> SubscriptionFacts | None: ...

    def offer_for(self, reason_code: str) -> OfferFacts | None: ...

    def offer(self, offer_id: int) -> OfferFacts | None: ...

    def agents(self) -> Literal["open", "closed"]: ...

    def callback_due(self) -> DueBy:
        """When a call back asked for now would be due."""
        ...

    def jurisdiction(self, on_file: str | None, from_state: str | None) -> Jurisdiction:
        """The cancellation rules for a caller: by the state on file, else
        Twilio's FromState, else the strictest."""
        ...
