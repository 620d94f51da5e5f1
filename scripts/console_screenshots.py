"""Screenshots of every console page at 1,280 and 390 px wide, for docs/console.md.

    .venv/bin/python scripts/console_screenshots.py [--out docs/console]

Seeds a fresh SQLite database in a temporary folder with the demo customers
and what tests/browser/console_pages.py adds (demo calls, a call with its
webhooks, published prompt versions, an edited offer, a lock, users), serves
the console on 127.0.0.1, and saves one PNG per page and width
(<page>-1280.png, <page>-390.png): the browser's window, 1280x800 or 390x844,
scrolled to what the page is about. Needs Debian's chromium
(bash scripts/install-system-packages.sh chromium).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser.conftest import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402
from browser.console_pages import EMAILS, PAGES, PASSWORD, Page, seed_console  # noqa: E402

from ivr import create_app, db  # noqa: E402
from ivr.cli import upgrade_database  # noqa: E402
from ivr.demo import seed_demo  # noqa: E402

SIZES = {"1280": (1280, 800), "390": (390, 844)}


def _signed_in(browser: Any, base_url: str, role: str | None, size: tuple[int, int]) -> Any:
    w, h = size
    context = browser.new_context(base_url=base_url, viewport={"width": w, "height": h})
    context.set_default_timeout(15_000)
    page = context.new_page()
    if role is not None:
        page.goto("/console/login")
        page.get_by_label("Email").fill(EMAILS[role])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()
    return page


def _shoot(page: Any, spec: Page, url: str, path: Path) -> None:
    page.goto(url)
    if spec.action is not None:
        spec.action(page)
    if spec.wait_for:
        page.locator(spec.wait_for).first.wait_for()
    page.locator(spec.shows).first.wait_for()
    if spec.view:
        page.locator(spec.view).first.scroll_into_view_if_needed()
        page.evaluate(
            "sel => document.querySelector(sel).scrollIntoView({block: 'start'})", spec.view
        )
    else:
        page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "console", help="where the PNGs go"
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(
            f"{CHROMIUM} is missing: bash scripts/install-system-packages.sh chromium",
            file=sys.stderr,
        )
        return 1
    from playwright.sync_api import sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="console-shots-") as tmp:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/console.sqlite3",
                "TWILIO_AUTH_TOKEN": "screenshot-token-" + "0" * 16,
                "SECRET_KEY": "screenshot-secret",
                "PUBLIC_BASE_URL": None,
                "AGENT_NUMBER": "+15550109000",
                "AGENT_HOURS": "",
                "IVR_ENV": "development",
                "LOGIN_RATE_LIMIT": "1000 per minute",
            }
        )
        with app.app_context():
            upgrade_database()
            s = db.session()
            seed_demo(s, app.config["VOICE_PROMPTS_DIR"])
            s.commit()
        seeded = seed_console(app)
        with serve(app) as base_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for width, size in SIZES.items():
                    tabs: dict[str | None, Any] = {}
                    for spec in PAGES:
                        if spec.role not in tabs:
                            tabs[spec.role] = _signed_in(browser, base_url, spec.role, size)
                        path = args.out / f"{spec.slug}-{width}.png"
                        _shoot(tabs[spec.role], spec, spec.url(seeded), path)
                        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
                    for page in tabs.values():
                        page.context.close()
            finally:
                browser.close()
        with app.app_context():
            db.engine().dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
