"""The console's Teach page: what callers said that the line did not place,
grouped and counted, newest first; one action teaches a wording its meaning
(asked once, published with who and when), understood on the next call of
every worker; its history rolls it back. Operations and admins only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AUTH_TOKEN
from console_helpers import PASSWORD, TOKEN, page, signed_in
from flask import Flask
from flask.testing import FlaskClient
from servers import Server, servers_on_one_database
from sqlalchemy import select

from ivr import db
from ivr.language import teaching
from ivr.models import AuditLog, PromptVersion
from ivr.simulator import CallSimulator, HttpTransport, ScriptedCaller, record_lookup, simulate_call

ADA = "+15550100001"
PARROT = "the parrot learned a new song"


@pytest.fixture
def ops(app: Flask, client: FlaskClient) -> FlaskClient:
    """A client signed in as an operations user (support and admin users exist too)."""
    return signed_in(app, client, "ops", "support", "admin")


def say_reason(app: Flask, said: str) -> str | None:
    """One call that gives `said` as the reason; the reason the record keeps."""
    t = simulate_call(app, ["1234", said], from_number=ADA)
    return t.record.get("reason")  # type: ignore[no-any-return]


def rows(html: str) -> list[tuple[str, int]]:
    """The listed wordings and their counts, in page order."""
    found = re.findall(
        r'<q lang="[^"]+">(.*?)</q>.*?<span class="heard-count">(\d+)</span>', html, re.S
    )
    return [(words, int(count)) for words, count in found]


def taught_versions(app: Flask) -> list[PromptVersion]:
    with app.app_context():
        return list(
            db.session().scalars(
                select(PromptVersion).where(PromptVersion.key == "understanding.reason")
            )
        )


def teach(client: FlaskClient, phrase: str, meaning: str, query: str = "", **extra: str):  # type: ignore[no-untyped-def]
    data = {
        "phrase": phrase,
        "language": "en-US",
        "step": "reason",
        "meaning": meaning,
        "csrf_token": TOKEN,
        **extra,
    }
    return client.post("/console/teach" + query, data=data)


def test_unplaced_words_are_grouped_and_counted_newest_first(app: Flask, ops: FlaskClient) -> None:
    assert say_reason(app, PARROT) != "too_expensive"
    say_reason(app, "The parrot learned a NEW song!")  # the same words, written otherwise
    say_reason(app, "zorp blivet quux")
    html = page(ops.get("/console/teach"))
    listed = rows(html)
    assert listed[:2] == [("zorp blivet quux", 1), ("The parrot learned a NEW song!", 2)]
    assert "<dt>Where</dt><dd>The reason question, English</dd>" in html
    assert "<dt>The line</dt><dd>not understood; asked again</dd>" in html
    # Each row has one action: a labelled choice of the step's meanings.
    assert re.search(r'<label for="meaning-1">Means</label>', html)
    assert '<option value="too_expensive"' in html and "Reason “too expensive”" in html
    assert '<option value="yes"' not in html  # not a meaning at the reason question

    # Filters: the yes/no questions heard none of these; nor did Spanish calls.
    assert rows(page(ops.get("/console/teach?step=yes_no"))) == []
    spanish = page(ops.get("/console/teach?lang=es-US"))
    assert rows(spanish) == [] and 'id="nothing-unplaced"' in spanish
    assert rows(page(ops.get("/console/teach?lang=en-US&step=reason")))[:2] == listed[:2]


def test_teaching_asks_once_then_publishes_with_who_and_when(app: Flask, ops: FlaskClient) -> None:
    say_reason(app, PARROT)
    # First the page that says what will change; nothing is stored yet.
    confirm = teach(ops, PARROT, "too_expensive", query="?lang=en-US&step=reason")
    assert confirm.status_code == 200
    html = page(confirm)
    assert "Teach “the parrot learned a new song”?" in html
    assert re.search(r'id="will-mean"><strong>Reason “too expensive”</strong>', html)
    assert "This publishes version 1 of what is taught at the reason question in en-US" in html
    assert 'name="confirmed" value="yes"' in html
    assert taught_versions(app) == []

    # The list's filters come along, to return to the same list.
    assert 'action="/console/teach?lang=en-US&step=reason"' in html
    done = teach(ops, PARROT, "too_expensive", query="?lang=en-US&step=reason", confirmed="yes")
    assert done.status_code == 303
    assert done.location.endswith("/console/teach?lang=en-US&step=reason")
    after = page(ops.get(done.location))
    assert "Taught: “the parrot learned a new song” means reason “too expensive”" in after
    assert "What the line now understands from it: reason “too expensive” (sure)" in after
    # Taught words are not listed as unplaced any more.
    assert PARROT not in [w for w, _ in rows(after)]
    assert "1 taught already, not listed" in after
    (version,) = taught_versions(app)
    assert (version.version, version.created_by) == (1, "ops@example.com")
    assert version.created_at is not None
    assert version.text == f"too_expensive: {PARROT}"
    with app.app_context():
        audit = (
            db.session()
            .scalars(select(AuditLog).where(AuditLog.action == "understanding.teach"))
            .one()
        )
        assert audit.actor == "ops@example.com"
        assert audit.detail["phrase"] == PARROT and audit.detail["meaning"] == "too_expensive"


def test_a_meaning_the_step_does_not_have_is_refused(app: Flask, ops: FlaskClient) -> None:
    for confirmed in ("", "yes"):
        r = teach(ops, PARROT, "yes", confirmed=confirmed)
        assert r.status_code == 400
        assert "Not taught: 'yes' is not a meaning at reason (one of: too_expensive," in page(r)
    r = teach(ops, "   ", "too_expensive", confirmed="yes")
    assert r.status_code == 400 and "Not taught: no phrasing to teach." in page(r)
    r = ops.post(
        "/console/teach",
        data={
            "phrase": PARROT,
            "language": "fr-FR",
            "step": "reason",
            "meaning": "unused",
            "confirmed": "yes",
            "csrf_token": TOKEN,
        },
    )
    assert r.status_code == 400 and "Not taught: no language 'fr-FR'" in page(r)
    assert taught_versions(app) == []


def test_a_form_without_the_csrf_token_is_refused(app: Flask, ops: FlaskClient) -> None:
    r = ops.post(
        "/console/teach",
        data={
            "phrase": PARROT,
            "language": "en-US",
            "step": "reason",
            "meaning": "unused",
            "confirmed": "yes",
        },
    )
    assert r.status_code == 400
    r = ops.post("/console/teach/rollback?lang=en-US&step=reason", data={"version": "0"})
    assert r.status_code == 400
    assert taught_versions(app) == []


TEACH_PAGES = ["/console/teach", "/console/teach/history?lang=en-US&step=reason"]


@pytest.mark.parametrize("url", TEACH_PAGES)
def test_the_pages_need_sign_in(client: FlaskClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 302 and "/console/login" in r.location


@pytest.mark.parametrize("url", TEACH_PAGES)
def test_support_staff_cannot_teach_admins_can(app: Flask, client: FlaskClient, url: str) -> None:
    support = signed_in(app, client, "support", "admin")
    assert support.get(url).status_code == 403
    assert teach(support, PARROT, "unused", confirmed="yes").status_code == 403
    assert taught_versions(app) == []
    support.post("/console/logout", data={"csrf_token": TOKEN})
    with client.session_transaction() as session:
        session["csrf_token"] = TOKEN
    client.post(
        "/console/login",
        data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": TOKEN},
    )
    with client.session_transaction() as session:
        session["csrf_token"] = TOKEN
    assert client.get(url).status_code == 200


def test_the_ops_navigation_links_the_page(ops: FlaskClient) -> None:
    assert '<a href="/console/teach">Teach</a>' in page(ops.get("/console/prompts"))


def test_history_shows_each_version_and_rollback_undoes(app: Flask, ops: FlaskClient) -> None:
    teach(ops, PARROT, "too_expensive", confirmed="yes")
    teach(ops, "my cat walks on the keyboard", "low_quality", confirmed="yes")
    html = page(ops.get("/console/teach/history?lang=en-US&step=reason"))
    assert (
        html.index('id="version-2"') < html.index('id="version-1"') < html.index('id="version-0"')
    )
    assert "“my cat walks on the keyboard”: reason “problems with the service”" in html
    # The rollback asks once, saying what will change.
    assert (
        "“my cat walks on the keyboard” is no longer taught as reason “problems with the service”;"
        " “the parrot learned a new song” is no longer taught as reason “too expensive”." in html
    )
    # Without JavaScript the form posts review=1: a page says what will change.
    form = {"lang": "en-US", "step": "reason", "version": "1", "csrf_token": TOKEN}
    review = ops.post("/console/teach/rollback", data={**form, "review": "1"})
    assert review.status_code == 200
    shown = page(review)
    assert "Roll back what is taught at the reason question (en-US) to version 1?" in shown
    assert "“my cat walks on the keyboard”" in shown and 'name="review"' not in shown
    assert len(taught_versions(app)) == 2  # nothing changed yet
    r = ops.post("/console/teach/rollback", data=form)
    assert r.status_code == 303
    assert "Version 1 is live again (as version 3)" in page(ops.get(r.location))
    with app.app_context():
        _, text = teaching.live_text(db.session(), "understanding.reason", "en-US")
        assert text == f"too_expensive: {PARROT}"
    # The live version cannot be rolled back to; an unknown version neither.
    r = ops.post(
        "/console/teach/rollback?lang=en-US&step=reason",
        data={"version": "9", "csrf_token": TOKEN},
    )
    assert "Not rolled back: no version 9 (versions 0 to 3)." in page(ops.get(r.location))
    assert ops.get("/console/teach/history?lang=en-US&step=verify").status_code == 404


def test_taught_in_the_console_understood_on_the_next_call_on_another_worker(
    app: Flask, second_worker: Flask, ops: FlaskClient
) -> None:
    # A caller on the second worker says it; the line does not place it.
    assert say_reason(second_worker, PARROT) != "too_expensive"
    listed = rows(page(ops.get("/console/teach?lang=en-US&step=reason")))
    assert listed[0] == (PARROT, 1)

    done = teach(ops, PARROT, "too_expensive", confirmed="yes")
    assert done.status_code == 303
    # The second worker has the old understanding cached; its next call retrains.
    assert say_reason(second_worker, PARROT) == "too_expensive"

    r = ops.post(
        "/console/teach/rollback?lang=en-US&step=reason",
        data={"version": "0", "csrf_token": TOKEN},
    )
    assert r.status_code == 303
    assert say_reason(second_worker, PARROT) != "too_expensive"
    assert say_reason(app, PARROT) != "too_expensive"
    # Rolled back, the wording is listed again to teach.
    assert rows(page(ops.get("/console/teach")))[0][0] == PARROT


# --- two gunicorn servers (2 workers each) on one database -----------------------------

PUBLIC_BASE_URL = "https://line.example.com"


@pytest.fixture
def servers(app: Flask, migrated: str, tmp_path: Path) -> Iterator[list[Server]]:
    with servers_on_one_database(migrated, tmp_path, PUBLIC_BASE_URL=PUBLIC_BASE_URL) as started:
        yield started


def reason_over_http(app: Flask, server: Server, said: str) -> str | None:
    t = CallSimulator(
        HttpTransport(server.url, PUBLIC_BASE_URL),
        base_url=PUBLIC_BASE_URL,
        auth_token=AUTH_TOKEN,
        caller=ScriptedCaller(["1234", said]),
        from_number=ADA,
        lookup=record_lookup(app),
    ).run()
    assert t.ok, t.error
    assert t.record is not None
    return t.record.get("reason")  # type: ignore[no-any-return]


@pytest.mark.slow
def test_taught_in_the_console_both_gunicorn_servers_understand_the_next_call(
    app: Flask, servers: list[Server], ops: FlaskClient
) -> None:
    # Every server has trained (and cached) its understanding before the change.
    for server in servers * 2:
        assert reason_over_http(app, server, PARROT) != "too_expensive"
    assert rows(page(ops.get("/console/teach")))[0] == (PARROT, 4)

    assert teach(ops, PARROT, "too_expensive", confirmed="yes").status_code == 303
    for server in servers * 2:
        assert reason_over_http(app, server, PARROT) == "too_expensive"

    r = ops.post(
        "/console/teach/rollback?lang=en-US&step=reason",
        data={"version": "0", "csrf_token": TOKEN},
    )
    assert r.status_code == 303
    for server in servers * 2:
        assert reason_over_http(app, server, PARROT) != "too_expensive"
