"""In headless Chromium, on a desktop and on a phone's width: an operations
user finds what a caller said that the line did not place, teaches its
meaning (asked once), the next call understands it, and the history rolls
it back (asked once, saying what will change). No page scrolls sideways.

Uses the console's browser fixtures (tests/browser/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from ivr.simulator import simulate_call

pytestmark = [pytest.mark.browser]

EMAIL, PASSWORD = "ops@example.com", "a long ops password"
ADA = "+15550100001"
PARROT = "the parrot learned a new song"


def reason_heard(app: Flask, said: str) -> str | None:
    t = simulate_call(app, ["1234", said], from_number=ADA)
    return t.record.get("reason")  # type: ignore[no-any-return]


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    wide = page.evaluate(
        """Array.from(document.querySelectorAll('body *'))
        .filter(e => e.getBoundingClientRect().right > window.innerWidth)
        .map(e => e.tagName + '.' + e.className + ' ' + (e.id || '') + ' '
             + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"""
    )
    assert width[0] <= width[1], (
        f"{page.url} scrolls sideways at {width[1]} px: {width[0]} px wide {wide}"
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_ops_teach_a_wording_then_roll_it_back(
    app: Flask,
    live_server: str,
    browser_page: Any,
    make_user: Any,
    sign_in: Any,
    width: int,
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    make_user(EMAIL, "ops", PASSWORD)
    assert reason_heard(app, PARROT) != "too_expensive"
    sign_in(page, EMAIL, PASSWORD)

    page.get_by_role("link", name="Teach", exact=True).click()
    page.wait_for_url("**/console/teach")
    row = page.locator("li.heard-row", has_text=PARROT)
    expect(row.locator(".heard-count")).to_have_text("1")
    no_sideways_scroll(page)
    row.get_by_label("Means").select_option(label="Reason “too expensive”")
    row.get_by_role("button", name="Teach…").click()

    expect(page.locator("#will-mean")).to_have_text("Reason “too expensive”")
    no_sideways_scroll(page)
    page.get_by_role("button", name="Teach: it means reason “too expensive”").click()
    expect(page.locator(".flash-ok")).to_contain_text(
        f"Taught: “{PARROT}” means reason “too expensive”"
    )
    expect(page.locator("li.heard-row", has_text=PARROT)).to_have_count(0)
    assert reason_heard(app, PARROT) == "too_expensive"

    page.get_by_role("link", name="en-US reason").click()
    expect(page.locator("#version-1")).to_contain_text(EMAIL)
    no_sideways_scroll(page)
    page.locator("#version-0").get_by_role("button", name="Roll back to version 0").click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text(f"“{PARROT}” is no longer taught as reason “too expensive”")
    no_sideways_scroll(page)
    dialog.get_by_role("button", name="Roll back to version 0").click()
    expect(page.locator(".flash-ok")).to_contain_text("Version 0 is live again (as version 2)")
    assert reason_heard(app, PARROT) != "too_expensive"
