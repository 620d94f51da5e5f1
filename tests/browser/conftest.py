"""Browser fixtures: the app on a real HTTP server, headless Chromium, users.

Other browser test files reuse these: `live_server` (the base URL),
`browser_page`, `make_user(email, role, password)` and `sign_in(page, email, password)`;
`serve(app)` and `_need_chromium()` for modules (and scripts) with an app of their own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from ivr import db
from ivr.console.auth import create_user

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium (.ci/run)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); browser tests skipped")


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """The app served on 127.0.0.1 at a free port, in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    with serve(app) as base_url:
        yield base_url


# Per module, not per session: Playwright's sync API allows one running
# instance per thread, so a module that starts its own must find ours closed.
@pytest.fixture(scope="module")
def _browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(_browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh page (own cookies) for one test; downloads allowed."""
    context = _browser.new_context(base_url=live_server, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def make_user(app: Flask) -> Callable[[str, str, str], None]:
    def make(email: str, role: str, password: str) -> None:
        with app.app_context():
            s = db.session()
            create_user(s, email, role, password)
            s.commit()

    return make


def _sign_in(page: Any, email: str, password: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture
def sign_in() -> Callable[[Any, str, str], None]:
    """`sign_in(page, email, password)`; a fixture, as tests/ is not a package."""
    return _sign_in
