"""Every console page at 1,280 and 390 px wide, in headless Chromium: it shows
its content, nothing scrolls sideways but a table inside its own box, and
axe-core finds no serious or critical problem (WCAG 2.0/2.1 A and AA, best
practices). Plus the keyboard: Tab reaches the calls filter, Enter submits it,
and focus is visible.

One seeded database, one server and one browser for the module
(console_pages.py says what is seeded and which pages there are).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from ivr import create_app, db
from ivr.demo import seed_demo

from .conftest import serve
from .console_pages import EMAILS, PAGES, PASSWORD, Page, Seeded, seed_console

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
WIDTHS = {"1280": (1280, 800), "390": (390, 844)}


@pytest.fixture(scope="module")
def site(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    """The console on a database seeded for every page; (base URL, what was seeded)."""
    from conftest import _config, empty_tables

    config = _config(migrated, tmp_path_factory.mktemp("pages"))
    app: Flask = create_app({**config, "LOGIN_RATE_LIMIT": "1000 per minute"})
    empty_tables(app)
    with app.app_context():
        s = db.session()
        seed_demo(s, app.config["VOICE_PROMPTS_DIR"])
        s.commit()
    seeded = seed_console(app)
    with serve(app) as base_url:
        yield base_url, seeded
    with app.app_context():
        db.engine().dispose()


@pytest.fixture(scope="module")
def tab(_browser: Any, site: tuple[str, Seeded]) -> Iterator[Callable[[str | None, str], Any]]:
    """tab(role, width): a page signed in as that role (None: signed out), one per pair."""
    if not AXE.exists():
        pytest.fail(
            f"{AXE} is missing: run `bash scripts/setup.sh --dev` "
            "(it installs axe-core with npm ci; it needs npm)"
        )
    base_url, _ = site
    tabs: dict[tuple[str | None, str], Any] = {}
    contexts = []

    def get(role: str | None, width: str) -> Any:
        if (role, width) not in tabs:
            w, h = WIDTHS[width]
            context = _browser.new_context(base_url=base_url, viewport={"width": w, "height": h})
            context.set_default_timeout(10_000)
            # Before the page's own scripts, and not subject to its CSP (an
            # added <script> would be, and the console allows none inline).
            context.add_init_script(path=str(AXE))
            contexts.append(context)
            page = context.new_page()
            page.problems = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda e, p=page: p.problems.append(f"script error: {e}"))
            page.on("console", lambda m, p=page: _console_error(p, m))
            page.on("response", lambda r, p=page: _failed_response(p, r))
            if role is not None:
                page.goto("/console/login")
                page.get_by_label("Email").fill(EMAILS[role])
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            tabs[role, width] = page
        return tabs[role, width]

    yield get
    for context in contexts:
        context.close()


def _console_error(page: Any, message: Any) -> None:
    # A failed load is reported with its address by _failed_response.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        page.problems.append(f"console: {message.text}")


def _failed_response(page: Any, response: Any) -> None:
    request = response.request
    if response.status >= 400 and not request.is_navigation_request():
        page.problems.append(f"{response.status} for {request.url}")


def sideways_overflow(page: Any) -> dict[str, int]:
    """How far the page scrolls sideways (0 when it does not), and the widest culprit."""
    return page.evaluate(
        """() => {
          const w = window.innerWidth;
          const out = {
            documentElement: document.documentElement.scrollWidth - w,
            body: document.body.scrollWidth - w,
          };
          return out;
        }"""
    )


def widest_elements(page: Any) -> list[str]:
    """The elements reaching past the viewport's right edge (for the failure message)."""
    return page.evaluate(
        """() => {
          const w = window.innerWidth, found = [];
          for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (r.right > w + 1) {
              let inScroller = false;
              for (let p = el.parentElement; p; p = p.parentElement) {
                const s = getComputedStyle(p).overflowX;
                if (s === 'auto' || s === 'scroll' || s === 'hidden') { inScroller = true; break; }
              }
              const cls = typeof el.className === 'string' && el.className.trim()
                ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
              if (!inScroller) found.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                + cls + ' right=' + Math.round(r.right));
            }
          }
          return found.slice(0, 12);
        }"""
    )


def serious_axe_violations(page: Any) -> list[str]:
    """axe-core's violations of impact serious or critical, described."""
    results = page.evaluate(
        """tags => axe.run(document, {
          runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
        })""",
        AXE_TAGS,
    )
    found = []
    for v in results["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        nodes = "; ".join(
            " ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
            for n in v["nodes"][:8]
        )
        found.append(f"{v['id']} ({v['impact']}): {v['help']} at {nodes}")
    return found


def open_page(page: Any, spec: Page, seeded: Seeded) -> None:
    page.problems.clear()
    response = page.goto(spec.url(seeded))
    assert response is not None and response.status == spec.status, spec.url(seeded)
    if spec.action is not None:
        spec.action(page)
    if spec.wait_for:
        expect(page.locator(spec.wait_for).first).to_be_visible()


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("spec", PAGES, ids=[p.slug for p in PAGES])
def test_each_page_fits_shows_its_content_and_passes_axe(
    tab: Callable[[str | None, str], Any], site: tuple[str, Seeded], spec: Page, width: str
) -> None:
    page = tab(spec.role, width)
    open_page(page, spec, site[1])

    level = 2 if spec.shows.startswith("dialog") else 1
    expect(page.get_by_role("heading", level=level, name=spec.heading)).to_be_visible()
    expect(page.locator(spec.shows).first).to_be_visible()

    overflow = sideways_overflow(page)
    assert overflow["documentElement"] <= 0 and overflow["body"] <= 0, (
        f"{spec.slug} at {width} px scrolls sideways by {overflow}: {widest_elements(page)}"
    )

    if width == "1280":
        # Every date and time reads on one line.
        wrapped = page.evaluate(
            """() => [...document.querySelectorAll('time')]
                 .filter(t => t.getClientRects().length > 1).map(t => t.textContent)"""
        )
        assert not wrapped, f"{spec.slug}: times broken over lines: {wrapped}"

    problems = serious_axe_violations(page)
    assert not problems, f"{spec.slug} at {width} px:\n" + "\n".join(problems)
    # Its scripts ran without error, the CSP blocked nothing, every file loaded.
    assert not page.problems, page.problems


FOCUS_RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), id: el.id, text: (el.textContent || '').trim(),
          outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
}"""


def test_the_keyboard_signs_in_reaches_the_filter_and_sees_where_it_is(
    _browser: Any, site: tuple[str, Seeded]
) -> None:
    context = _browser.new_context(base_url=site[0], viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.bring_to_front()
        page.goto("/console/login")
        # The email field has focus on arrival (autofocus, applied once the page has
        # settled); Tab moves to the password; Enter signs in.
        page.wait_for_function("document.activeElement && document.activeElement.id === 'email'")
        page.keyboard.type(EMAILS["support"])
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        typed = page.evaluate(
            "['email', 'password'].map((id) => document.getElementById(id).value)"
        )
        assert typed == [EMAILS["support"], PASSWORD], "the keyboard did not fill the form"
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/calls")

        passed: list[dict[str, Any]] = []
        for _ in range(30):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUS_RING)
            if focused["id"] == "q":
                break
            passed.append(focused)
        else:
            pytest.fail(f"30 presses of Tab did not reach the search field: {passed}")
        # Every link and button on the way showed where focus was.
        assert {"a", "button"} <= {f["tag"] for f in passed}
        unseen = [f for f in passed if f["outline"] == "none" or f["width"] < 2]
        assert not unseen, unseen

        page.keyboard.type("Lovelace")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/console/calls\?q=Lovelace"))
        expect(page.locator("#call-count")).to_have_text("1")
        expect(page.locator("table.calls tbody tr")).to_have_count(1)
        expect(page.locator("table.calls tbody tr")).to_contain_text("Ada Lovelace")
    finally:
        context.close()


def test_a_table_too_wide_for_a_phone_scrolls_in_its_box_from_the_keyboard(
    tab: Callable[[str | None, str], Any],
) -> None:
    narrow, wide = tab("admin", "390"), tab("admin", "1280")
    for page in (narrow, wide):
        page.goto("/console/ops/billing")
    box = narrow.locator(".table-scroll").first
    # On a phone the table is wider than its box: the box is a named region
    # in the tab order, and the arrow keys scroll it (the page does not move).
    expect(box).to_have_attribute("tabindex", "0")
    expect(box).to_have_attribute("role", "region")
    expect(box).to_have_attribute("aria-label", re.compile(r"\(scrolls sideways\)$"))
    box.focus()
    assert narrow.evaluate(FOCUS_RING)["outline"] != "none"
    for _ in range(5):
        narrow.keyboard.press("ArrowRight")
    narrow.wait_for_function("() => document.querySelector('.table-scroll').scrollLeft > 0")
    assert narrow.evaluate("() => window.scrollX") == 0
    # Where it fits, the box is no tab stop.
    expect(wide.locator(".table-scroll").first).not_to_have_attribute("tabindex", "0")
