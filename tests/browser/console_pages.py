"""Every console page, with data on it: what tests/browser/test_console_pages.py
checks at two widths and what scripts/console_screenshots.py photographs.

`seed_console(app)` fills a database that has the demo customers
(`seed_demo`) with what each page shows: 150 demo calls over 90 days, two
calls placed through the line's webhooks (so their pages have the webhook
inspector), a note, a billing change that failed, two published versions of
the greeting, a changed vocabulary entry and offer, a locked caller, and a
user per role. Everything
staff do goes through the console's own forms (Flask's test client), so the
audit log has their entries.

`PAGES` lists the pages: who opens it, its address, the heading it shows and
one element it must have, and, for a step such as a preview or a confirmation,
what to click first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import db
from ivr.console.auth import create_user
from ivr.console.demo_calls import write_demo_calls
from ivr.models import BillingChange, Call, CallNote, VerifyLock
from ivr.simulator import simulate_call

PASSWORD = "correct horse battery"
EMAILS = {role: f"{role}@example.com" for role in ("admin", "support", "ops")}
ACCOUNT = "100001"  # Ada Lovelace, a demo customer
WORDS_KEY = "vocabulary.intents.agent"
OFFER = "discount_50_3m"
GREETINGS = (
    "Thanks for calling {company}. This call may be recorded. You can say cancel at any time.",
    "Thanks for calling {company}. This call may be recorded. Say cancel at any time, "
    "or press 0 for a person.",
)


@dataclass(frozen=True)
class Seeded:
    call_sid: str  # placed through the webhooks: its page has the inspector


def _form_client(app: Flask, email: str) -> tuple[FlaskClient, str]:
    """A test client signed in through the sign-in form, and its form token."""
    client = app.test_client()
    client.get("/console/login")
    with client.session_transaction() as session:
        token = str(session["csrf_token"])
    r = client.post(
        "/console/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    with client.session_transaction() as session:
        return client, str(session["csrf_token"])


def _post(client: FlaskClient, path: str, token: str, **form: str) -> None:
    r = client.post(path, data={"csrf_token": token, **form})
    assert r.status_code == 302, (path, r.status_code, r.get_data(as_text=True)[:2000])


def seed_console(app: Flask) -> Seeded:
    """Fill the app's database (demo customers already seeded) for every page."""
    with app.app_context():
        write_demo_calls(db.engine(), 150, app.config["VOICE_PROMPTS_DIR"], seed=11)
        s = db.session()
        for role, email in EMAILS.items():
            create_user(s, email, role, PASSWORD)
        now = dt.datetime.now(dt.UTC)
        s.add(
            VerifyLock(
                kind="caller",
                key="+15550100042",
                failures=5,
                locks=2,
                locked_until=now + dt.timedelta(minutes=40),
                last_failure_at=now - dt.timedelta(minutes=20),
            )
        )
        s.commit()

    # Ada calls and cancels (PIN, "other" reason, confirm), through the webhooks.
    ada = simulate_call(app, ["1234", "9", "1"], from_number="+15550100001")
    call_sid = str(ada.record["call_sid"])
    # Juana cancels too (in Spanish); her change is then written as billing refusing it
    # after its retries (no failing billing service runs here), so the
    # billing page has a change to retry.
    juana = simulate_call(app, ["2468", "9", "1"], from_number="+15550100004")
    with app.app_context():
        s = db.session()
        change = s.scalars(
            select(BillingChange).join(Call).where(Call.call_sid == juana.record["call_sid"])
        ).one()
        change.state, change.attempts, change.applied_at, change.result = "failed", 5, None, None
        change.last_error = "billing answered 503 Service Unavailable"
        s.commit()

    # Grace answers the reason question in words the line cannot place, is asked
    # again, presses 2 and takes the offer: the Teach page has a wording to show.
    grace = simulate_call(
        app,
        ["5678", "cloud storage", "the thing with the stuff", "2", "1"],
        from_number="+15550100002",
    )
    assert grace.outcome == "saved", grace.outcome

    support, token = _form_client(app, EMAILS["support"])
    _post(
        support,
        f"/console/calls/{call_sid}/notes",
        token,
        text="Asked whether the discount could be applied to the family plan; told no.",
    )
    ops, token = _form_client(app, EMAILS["ops"])
    for text, note in zip(GREETINGS, ("mention cancel up front", "offer a person"), strict=True):
        _post(ops, "/console/prompts/greeting/en-US", token, text=text, note=note, action="publish")
    with app.app_context():
        from ivr.language import publish as publishing

        _, live = publishing.live_content(db.session(), WORDS_KEY, "en-US")
    _post(
        ops,
        f"/console/words/{WORDS_KEY}/en-US",
        token,
        phrases=live.text.rstrip("\n") + "\nget me a supervisor",
        note="a caller asked for a supervisor",
        action="publish",
    )
    _post(
        ops,
        f"/console/offers/{OFFER}",
        token,
        kind="discount",
        term_percent="40",
        term_months="3",
        **{
            "wording_en-US": "We can take {percent} percent off {plan} for {months} months. "
            "Would you like that?",
            "wording_es-US": "Podemos descontar un {percent} por ciento de {plan} durante "
            "{months} meses. ¿Le interesa?",
        },
        active="on",
    )
    with app.app_context():
        assert db.session().query(CallNote).count() == 1
        assert db.session().query(Call).count() == 153
    return Seeded(call_sid=call_sid)


Action = Callable[[Any], None]


def _open_first_webhook(page: Any) -> None:
    page.locator("details.webhook summary").first.click()


def _preview(page: Any) -> None:
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state()


def _ask_to_publish(page: Any) -> None:
    page.get_by_label("Text", exact=True).fill(
        "Thanks for calling {company}. Say cancel at any time; this call may be recorded."
    )
    page.get_by_role("button", name="Publish").click()


def _ask_to_roll_back(page: Any) -> None:
    page.get_by_role("button", name="Roll back to version 1").click()


def _ask_to_turn_off(page: Any) -> None:
    page.locator("tr", has_text=EMAILS["support"]).get_by_role(
        "button", name="Turn off access"
    ).click()


@dataclass(frozen=True)
class Page:
    slug: str  # the screenshot's name
    title: str  # for the docs
    role: str | None  # who opens it (None: signed out)
    path: str  # may name {call_sid}
    heading: str  # the h1 (or the dialog's h2 after `action`)
    shows: str  # a selector that must match a visible element
    action: Action | None = None
    status: int = 200
    wait_for: str | None = field(default=None)  # drawn by script, e.g. the chart
    view: str | None = None  # what the screenshot scrolls to, when not the top

    def url(self, seeded: Seeded) -> str:
        return self.path.format(call_sid=seeded.call_sid)


PAGES: list[Page] = [
    Page("sign-in", "Sign in", None, "/console/login", "Sign in", "form input#email"),
    Page("calls", "Calls", "admin", "/console/calls", "Calls", "table.calls tbody tr"),
    Page(
        "calls-filtered",
        "Calls, filtered and sorted",
        "admin",
        "/console/calls?outcome=cancelled&language=en-US&sort=duration&order=desc",
        "Calls",
        "#share-link",
    ),
    Page(
        "call",
        "A call, with its webhook inspector",
        "admin",
        "/console/calls/{call_sid}",
        "Ada Lovelace: Cancelled",
        "details.webhook[open] table.params",
        action=_open_first_webhook,
        view="#inspector",
    ),
    Page(
        "customer",
        "A customer",
        "admin",
        f"/console/customers/{ACCOUNT}",
        "Ada Lovelace",
        "article.subscription",
    ),
    Page(
        "callbacks",
        "Call backs",
        "admin",
        "/console/callbacks",
        "Callers waiting for a call back",
        "table.callbacks tbody tr",
    ),
    Page(
        "analytics",
        "Analytics",
        "admin",
        "/console/analytics",
        "Analytics",
        "#t-outcomes tbody tr",
        wait_for=".series-chart canvas",  # drawn by uPlot
    ),
    Page("audit", "Audit log", "admin", "/console/audit", "Audit log", "#audit tbody tr"),
    Page("users", "Users", "admin", "/console/users", "Users", "table tbody tr"),
    Page(
        "deactivate",
        "Turning off a user's access: the confirmation",
        "admin",
        "/console/users",
        "Turn off access for support@example.com?",
        "dialog.confirm[open]",
        action=_ask_to_turn_off,
    ),
    Page("settings", "Your settings", "admin", "/console/settings", "Your settings", "#timezone"),
    Page(
        "locks",
        "Locked verifications",
        "admin",
        "/console/locks",
        "Locked verifications",
        "table tbody tr",
    ),
    Page(
        "prompts",
        "Prompts",
        "admin",
        "/console/prompts",
        "What the line says",
        "table.prompts tbody tr",
    ),
    Page(
        "prompt-preview",
        "Editing a prompt, with its preview",
        "admin",
        "/console/prompts/greeting/en-US",
        "greeting in en-US",
        "#preview #twiml",
        action=_preview,
        view="#preview",
    ),
    Page(
        "publish",
        "Publishing a prompt: the confirmation",
        "admin",
        "/console/prompts/greeting/en-US",
        "Publish greeting (en-US)?",
        "dialog.confirm[open] .diff ins",
        action=_ask_to_publish,
    ),
    Page(
        "prompt-history",
        "A prompt's history",
        "admin",
        "/console/prompts/greeting/en-US/history",
        "History of greeting in en-US",
        "pre.diff ins",
    ),
    Page(
        "rollback",
        "Rolling back a prompt: the confirmation",
        "admin",
        "/console/prompts/greeting/en-US/history",
        "Roll back to version 1?",
        "dialog.confirm[open]",
        action=_ask_to_roll_back,
    ),
    Page(
        "words",
        "Words the line understands",
        "admin",
        "/console/words",
        "Words the line understands",
        "table.prompts tbody tr",
    ),
    Page(
        "words-edit",
        "Editing a vocabulary entry",
        "admin",
        f"/console/words/{WORDS_KEY}/en-US",
        "intents.agent in en-US",
        "textarea#phrases",
    ),
    Page("offers", "Offers", "admin", "/console/offers", "Offers", f"tr#offer-{OFFER}"),
    Page(
        "offer-edit",
        "Editing an offer",
        "admin",
        f"/console/offers/{OFFER}",
        f"Offer {OFFER}",
        "textarea#wording_en-US",
    ),
    Page(
        "offer-history",
        "An offer's history",
        "admin",
        f"/console/offers/{OFFER}/history",
        f"History of offer {OFFER}",
        "table tbody tr",
    ),
    Page(
        "teach",
        "Teach the line",
        "admin",
        "/console/teach",
        "Teach the line what callers mean",
        "#unplaced-count",
    ),
    Page(
        "teach-history",
        "What is taught at a question",
        "admin",
        "/console/teach/history?lang=en-US&step=reason",
        "Taught at the reason question in English",
        "section#version-0",
    ),
    Page(
        "billing",
        "Billing changes",
        "admin",
        "/console/ops/billing",
        "Billing changes",
        "table tbody tr",
    ),
    Page(
        "forbidden",
        "Not allowed (403)",
        "ops",
        "/console/calls",
        "This page is not open to your role",
        "section.error-page",
        status=403,
    ),
    Page(
        "not-found",
        "Not found (404)",
        "admin",
        "/console/calls/CA0000000000000000000000000000dead",
        "Nothing here",
        "section.error-page",
        status=404,
    ),
]
