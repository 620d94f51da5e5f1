"""In headless Chromium: an operations user edits a prompt in the console,
a bad edit is refused, the good one is published, and the next call hears it.

The first test uses the console's browser fixtures (tests/browser/conftest.py:
the test app on a real HTTP server). The second runs the line under gunicorn
with two worker processes on one database, as in production, and checks that
every worker says the new text without a restart.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from twilio.request_validator import RequestValidator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-test-token-" + "1" * 16
EMAIL, PASSWORD = "ops@example.com", "a long ops password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def line(tmp_path: Path) -> Iterator[str]:
    """The line under gunicorn (2 workers), demo data and one ops user; its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "line.sqlite3"),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SECRET_KEY": "browser-test-secret",
        "PUBLIC_BASE_URL": base,
        "AGENT_NUMBER": "+15550109000",
        "IVR_ENV": "test",
    }
    bin_dir = Path(sys.executable).parent
    flask = [str(bin_dir / "flask"), "--app", "wsgi", "ivr"]
    subprocess.run([*flask, "seed-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "create-user", "--email", EMAIL, "--role", "ops", "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base + "/console/login", timeout=5)
                break
            except requests.RequestException:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode() if server.stderr else ""
                    pytest.fail(f"the server did not start: {err[-2000:]}")
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def call_says(base: str, caller: str, token: str = TOKEN) -> str:
    """Place a call the way Twilio does (signed POST) and return what it says."""
    url = base + "/voice/incoming"
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA" + uuid.uuid4().hex,
        "From": caller,
        "To": "+15550109999",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "FromState": "NY",  # as Twilio sends for a US number
    }
    signature = RequestValidator(token).compute_signature(url, params)
    r = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert r.status_code == 200, r.text
    return " ".join(el.text or "" for el in ET.fromstring(r.content).iter("Say"))


NEW_GREETING = "Hello from {company}. This call is recorded, and cancelling is quick."
NEW_SAID = "Hello from Acme Streaming. This call is recorded, and cancelling is quick."


def edit_and_publish(page, base: str) -> None:  # type: ignore[no-untyped-def]
    """On the signed-in page: a refused edit, a preview, a publish, the history."""
    from playwright.sync_api import expect

    page.goto(base + "/console/prompts")
    page.get_by_role("link", name="Edit greeting in en-US").click()
    page.wait_for_url("**/console/prompts/greeting/en-US")

    page.get_by_label("Text", exact=True).fill("Hello from {companny}.")
    page.get_by_role("button", name="Publish").click()
    page.locator("dialog.confirm button").first.click()
    expect(page.locator("#errors")).to_contain_text("unknown placeholder {companny}")

    page.get_by_label("Text", exact=True).fill(NEW_GREETING)
    page.get_by_label("Note for the history (why)").fill("friendlier greeting")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-text")).to_contain_text(NEW_SAID)
    expect(page.locator("#twiml")).to_contain_text("<Say")
    expect(page.locator("#duration")).to_contain_text(" s")
    page.get_by_role("button", name="Publish").click()
    page.locator("dialog.confirm button").first.click()
    expect(page.locator(".flash")).to_contain_text("Published greeting (en-US) version 1")

    page.get_by_role("link", name="History").click()
    expect(page.locator("#version-1")).to_contain_text("friendlier greeting")
    expect(page.locator("#version-1")).to_contain_text(EMAIL)


def test_ops_publishes_a_prompt_in_the_console_and_the_next_call_says_it(
    app: Flask,
    live_server: str,
    browser_page,
    make_user,
    sign_in,  # type: ignore[no-untyped-def]
) -> None:
    token = app.config["TWILIO_AUTH_TOKEN"]
    make_user(EMAIL, "ops", PASSWORD)
    assert "Thanks for calling" in call_says(live_server, "+15550107001", token)
    sign_in(browser_page, EMAIL, PASSWORD)
    edit_and_publish(browser_page, live_server)
    said = call_says(live_server, "+15550107002", token)
    assert NEW_SAID in said and "Thanks for calling" not in said


def test_every_gunicorn_worker_says_the_published_text(line: str, _browser) -> None:  # type: ignore[no-untyped-def]
    # Every worker has answered (and cached the prompts) before the change.
    for n in range(4):
        assert "Thanks for calling" in call_says(line, f"+1555010700{n}")
    # The console's Chromium (one Playwright per thread), on our server.
    context = _browser.new_context(base_url=line)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(line + "/console/login")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        edit_and_publish(page, line)
    finally:
        context.close()
    for n in range(6):
        said = call_says(line, f"+1555010710{n}")
        assert NEW_SAID in said and "Thanks for calling" not in said
