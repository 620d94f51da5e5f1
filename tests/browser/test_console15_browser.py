"""In a real browser: the analytics' day-by-day charts draw with uPlot
(solid and dashed lines, values on hover), and a change confirmed in the
dialog is made at once, without the confirmation page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from ivr import db
from ivr.console.demo_calls import write_demo_calls
from ivr.language import publish as publishing

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def test_the_daily_charts_draw_and_show_each_days_numbers_on_hover(
    app: Flask,
    browser_page: Any,
    make_user: Callable[[str, str, str], None],
    sign_in: Callable[[Any, str, str], None],
) -> None:
    with app.app_context():
        write_demo_calls(db.engine(), 300, app.config["VOICE_PROMPTS_DIR"], seed=3, days=60)
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    make_user("ops@example.com", "ops", PASSWORD)
    sign_in(page, "ops@example.com", PASSWORD)
    page.goto("/console/analytics")
    for chart in ("calls", "offers", "time"):
        expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
    legend = page.locator("#chart-calls .u-legend")
    # One solid and one dashed ("before") line per figure, plus the day.
    expect(legend.locator(".u-series")).to_have_count(9)
    expect(legend).to_contain_text("Cancelled, before")
    over = page.locator("#chart-calls .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    # Point at the last day (today), at the right end of the plot.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2, steps=5)
    today = dt.datetime.now(dt.UTC).date()
    expect(legend.locator(".u-series").first).to_contain_text(f"{today:%b} {today.day}")
    assert not errors, errors


def test_publishing_through_the_dialog_needs_no_second_page(
    app: Flask,
    browser_page: Any,
    make_user: Callable[[str, str, str], None],
    sign_in: Callable[[Any, str, str], None],
) -> None:
    page = browser_page
    make_user("ops@example.com", "ops", PASSWORD)
    sign_in(page, "ops@example.com", PASSWORD)
    page.goto("/console/prompts/goodbye/en-US")
    page.get_by_label("Text", exact=True).fill("Thank you for calling. Goodbye.")
    page.get_by_role("button", name="Publish").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Publish goodbye (en-US)?")
    dialog.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published goodbye (en-US) version 1.")).to_be_visible()
    with app.app_context():
        live = publishing.live_content(db.session(), "goodbye", "en-US")[1]
        assert live.text == "Thank you for calling. Goodbye."
