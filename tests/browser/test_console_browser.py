"""Staff use the console in a real browser: sign in per role, filter calls,
open one, export, read the analytics."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from ivr import db
from ivr.console.demo_calls import write_demo_calls
from ivr.models import Call

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture
def demo(app: Flask) -> None:
    with app.app_context():
        write_demo_calls(db.engine(), 150, app.config["VOICE_PROMPTS_DIR"], seed=11)


def test_support_filters_opens_a_call_adds_a_note_and_exports(
    browser_page: Any,
    make_user: Callable[[str, str, str], None],
    sign_in: Callable[[Any, str, str], None],
    demo: None,
    app: Flask,
) -> None:
    page = browser_page
    make_user("support@example.com", "support", PASSWORD)
    sign_in(page, "support@example.com", PASSWORD)
    expect(page).to_have_url(re.compile(r"/console/calls$"))
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    assert page.locator("table.calls tbody tr").count() == 50

    page.get_by_label("Outcome").select_option("saved")
    page.get_by_label("Language").select_option("en-US")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"outcome=saved"))
    with app.app_context():
        expected = (
            db.session()
            .scalars(
                select(Call.call_sid)
                .where(Call.outcome == "saved", Call.language == "en-US")
                .order_by(Call.started_at.desc(), Call.id.desc())
            )
            .all()
        )
    rows = page.locator("table.calls tbody tr")
    expect(rows).to_have_count(min(50, len(expected)))
    expect(rows.locator("td:nth-child(5)")).to_have_text(
        ["Saved by the offer"] * min(50, len(expected))
    )

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    exported = download_info.value
    text = Path(exported.path()).read_text(encoding="utf-8")
    exported_rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["call_sid"] for r in exported_rows] == list(expected)

    rows.first.locator("td:last-child a").click()
    expect(page).to_have_url(re.compile(r"/console/calls/CA[0-9a-f]{32}$"))
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator("table.timeline")).to_contain_text("Call started")
    page.get_by_label("Add a note").fill("Customer called about the discount.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".note")).to_contain_text("Customer called about the discount.")

    page.goto("/console/calls")
    first_sid = page.locator("table.calls tbody tr").first.get_by_role("link").get_attribute("href")
    assert first_sid is not None
    page.get_by_label("Name, phone, account, code or CallSid").fill(first_sid.rsplit("/", 1)[1])
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.calls tbody tr")).to_have_count(1)

    page.get_by_role("link", name="Callbacks").click()
    expect(page.get_by_role("heading", name="Callers waiting for a call back")).to_be_visible()


def test_support_pages_through_older_calls(
    browser_page: Any,
    make_user: Callable[[str, str, str], None],
    sign_in: Callable[[Any, str, str], None],
    demo: None,
) -> None:
    page = browser_page
    make_user("support@example.com", "support", PASSWORD)
    sign_in(page, "support@example.com", PASSWORD)
    seen: list[str] = []
    while True:
        seen += page.locator("table.calls tbody tr td:last-child a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        older = page.get_by_role("link", name="Next page →")
        if older.count() == 0:
            break
        older.click()
        page.wait_for_load_state()
    assert len(seen) == 150 and len(set(seen)) == 150


def test_ops_sees_analytics_but_not_call_records(
    browser_page: Any,
    make_user: Callable[[str, str, str], None],
    sign_in: Callable[[Any, str, str], None],
    demo: None,
) -> None:
    page = browser_page
    make_user("ops@example.com", "ops", PASSWORD)
    sign_in(page, "ops@example.com", PASSWORD)
    expect(page).to_have_url(re.compile(r"/console/analytics$"))
    # The demo's 150 calls started over the last 90 days; a range a few days
    # wider on both sides holds them all whatever the hour and the console's
    # time zone (an exact 90 days missed the oldest two just after midnight UTC).
    today = dt.datetime.now(dt.UTC).date()
    page.get_by_label("From", exact=True).fill((today - dt.timedelta(days=95)).isoformat())
    page.get_by_label("To", exact=True).fill((today + dt.timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#total-calls")).to_have_text("150")
    expect(page.get_by_role("img", name="Calls by outcome")).to_be_visible()
    expect(page.locator("#t-outcomes")).to_contain_text("Cancelled")
    expect(page.locator("#t-offers")).to_contain_text("50% off for 3 months")
    expect(page.get_by_role("heading", name="Time to cancel")).to_be_visible()
    expect(page.get_by_role("link", name="Calls")).to_have_count(0)
    response = page.goto("/console/calls")
    assert response is not None and response.status == 403


def test_admin_adds_a_user_and_signs_out(
    browser_page: Any,
    make_user: Callable[[str, str, str], None],
    sign_in: Callable[[Any, str, str], None],
) -> None:
    page = browser_page
    make_user("admin@example.com", "admin", PASSWORD)
    sign_in(page, "admin@example.com", PASSWORD)
    for name in ("Calls", "Callbacks", "Analytics", "Users"):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Email").fill("new.support@example.com")
    page.get_by_label("Role", exact=True).select_option("support")
    page.get_by_label("Password (at least 10 characters)").fill("another long one")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("new.support@example.com can now sign in")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    sign_in(page, "new.support@example.com", "another long one")
    expect(page).to_have_url(re.compile(r"/console/calls$"))


def test_a_wrong_password_shows_an_error_and_stays_signed_out(
    browser_page: Any,
    make_user: Callable[[str, str, str], None],
    sign_in: Callable[[Any, str, str], None],
) -> None:
    page = browser_page
    make_user("support@example.com", "support", PASSWORD)
    sign_in(page, "support@example.com", "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    page.goto("/console/calls")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
