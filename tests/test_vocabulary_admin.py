"""Operations add the words the line missed, without a developer and without a
restart: vocabulary entries are published, validated, versioned, rolled back
and exported through the same service as prompts (ivr/language/), from
the CLI and the console."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from console_helpers import PASSWORD, TOKEN, errors, page, signed_in
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from ivr import db, prompts
from ivr.admin_errors import NotFound, Refused
from ivr.console.auth import create_user
from ivr.language import check, export, vocabulary
from ivr.language import publish as publishing
from ivr.models import AuditLog, PromptVersion
from ivr.simulator import simulate_call

ADA = "+15550100001"
AGENT = "vocabulary.intents.agent"
PROMPTS_DIR = Path(__file__).resolve().parent.parent / "voice_prompts"


# The demo customers: what each says up to the question why they cancel
# (the second has two subscriptions and picks the first).
SIGN_IN = {ADA: ["1234"], "+15550100002": ["5678", "1"]}


def asks_for_a_person(app: Flask, caller: str = ADA) -> bool:
    """A caller who asks for "ombudsman" when asked why they cancel (a word
    the trained understanding never saw: "get me a supervisor" it knows): put
    through to a person, or not an agent request: the caller is asked again or
    to confirm the cancellation, hangs up there, and nothing is cancelled."""
    t = simulate_call(app, [*SIGN_IN[caller], "ombudsman"], from_number=caller)
    connected = bool(t.of_type("dial"))
    assert connected == (t.outcome == "agent"), t.outcome
    assert connected or t.outcome == "abandoned", t.outcome
    return connected


def live_phrases(app: Flask, key: str = AGENT, language: str = "en-US") -> list[str]:
    with app.app_context():
        return vocabulary.live_vocabulary(db.session(), language)[key][1]


def add(app: Flask, key: str, language: str, *phrases: str) -> int:
    with app.app_context():
        s = db.session()
        v = publishing.add_phrases(s, key, language, phrases, actor="ops@example.com")
        s.commit()
        return v.version


def publish(app: Flask, key: str, language: str, text: str) -> int:
    with app.app_context():
        s = db.session()
        v = publishing.publish(s, key, language, text, actor="ops@example.com")
        s.commit()
        return v.version


def versions(app: Flask) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count(PromptVersion.id))) or 0


# --- publishing through the service ---------------------------------------------------


def test_a_published_synonym_is_understood_on_the_next_call(app: Flask) -> None:
    assert not asks_for_a_person(app)  # the line does not know "ombudsman" yet
    assert add(app, "intents.agent", "en-US", "ombudsman") == 1
    assert asks_for_a_person(app, caller="+15550100002")
    phrases = live_phrases(app)
    assert phrases[-1] == "ombudsman" and "representative" in phrases
    with app.app_context():
        s = db.session()
        row = s.scalars(select(PromptVersion)).one()
        assert (row.key, row.language, row.version) == (AGENT, "en-US", 1)
        assert row.text.splitlines()[-1] == "ombudsman" and row.note == "added 'ombudsman'"
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "vocabulary.publish")).one()
        assert audit.detail["key"] == AGENT and audit.detail["version"] == 1


def test_a_new_reason_phrase_changes_the_reason_recorded(app: Flask) -> None:
    before = simulate_call(app, ["1234", "my wallet is empty", "2"], from_number=ADA)
    assert before.record.get("reason") != "too_expensive"
    add(app, "reasons.too_expensive", "en-US", "wallet is empty")
    after = simulate_call(app, ["5678", "1", "my wallet is empty", "2"], from_number="+15550100002")
    assert after.record["reason"] == "too_expensive"
    assert after.record["reason_text"] == "my wallet is empty"


def test_spanish_words_are_edited_on_their_own(app: Flask) -> None:
    add(app, "intents.agent", "es-US", "ombudsman")
    assert "ombudsman" in live_phrases(app, language="es-US")
    assert "ombudsman" not in live_phrases(app)
    assert not asks_for_a_person(app)


def test_every_worker_understands_it_without_a_restart(app: Flask, second_worker: Flask) -> None:
    assert not asks_for_a_person(second_worker)  # it has the catalog cached now
    add(app, "intents.agent", "en-US", "ombudsman")
    assert asks_for_a_person(second_worker, caller="+15550100002")


def test_phrases_are_stored_one_a_line_spaces_and_blank_lines_dropped(app: Flask) -> None:
    publish(app, "vocabulary.fillers", "en-US", "  um \n\n  you   know\r\nlike\n")
    assert live_phrases(app, "vocabulary.fillers") == ["um", "you know", "like"]


def test_fillers_negations_and_hints_may_be_empty(app: Flask) -> None:
    publish(app, "vocabulary.hints.verify", "en-US", "")
    assert live_phrases(app, "vocabulary.hints.verify") == []
    with app.app_context():
        vocab = prompts.live_catalog(db.session()).vocabulary("en-US")
        assert vocab.hints.get("verify") == ()


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        (AGENT, "", "intents.agent needs at least one phrase"),
        ("vocabulary.reasons.unused", "\n  \n", "reasons.unused needs at least one phrase"),
        (AGENT, "agent\nombudsman\nOmbudsman", "'Ombudsman' is listed twice"),
        (AGENT, "agent\n?!", "'?!' has no words"),
        (AGENT, "agent\n" + "very " * 25 + "long", "characters; a phrase holds at most 100"),
        (AGENT, "agent\nsupport", "'support' is already a phrase of reasons.customer_service"),
        ("vocabulary.intents.no", "no\nnope\nsure", "'sure' is already a phrase of intents.yes"),
        (AGENT, "agent\nlike", "'like' is a filler"),
        ("vocabulary.fillers", "um\nokay", "'okay' is a phrase of intents.yes"),
    ],
)
def test_a_refused_edit_publishes_nothing(app: Flask, key: str, text: str, reason: str) -> None:
    with app.app_context():
        s = db.session()
        with pytest.raises(Refused) as refused:
            publishing.publish(s, key, "en-US", text, actor="ops@example.com")
        s.rollback()
    assert any(reason in r for r in refused.value.reasons), refused.value.reasons
    assert versions(app) == 0


def test_a_clash_is_checked_against_the_live_entries_not_only_the_file(app: Flask) -> None:
    add(app, "intents.agent", "en-US", "ombudsman")
    with app.app_context():
        s = db.session()
        with pytest.raises(Refused, match="'ombudsman' is already a phrase of intents.agent"):
            publishing.add_phrases(
                s, "reasons.customer_service", "en-US", ["ombudsman"], actor="ops@example.com"
            )
        s.rollback()
    assert versions(app) == 1


def test_unknown_entries_and_languages_are_not_found(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        with pytest.raises(NotFound, match="no vocabulary entry 'intents.boss'"):
            publishing.publish(s, "vocabulary.intents.boss", "en-US", "boss", actor="ops")
        with pytest.raises(NotFound, match="no language 'fr-FR'"):
            publishing.publish(s, AGENT, "fr-FR", "agent", actor="ops")
        with pytest.raises(Refused, match="phrases only"):
            publishing.publish(s, AGENT, "en-US", "agent", "a re-prompt", actor="ops")
        with pytest.raises(Refused, match="already a phrase of intents.agent"):
            publishing.add_phrases(s, AGENT, "en-US", ["Agent"], actor="ops")
        with pytest.raises(Refused, match="'boss' is not a phrase of intents.agent"):
            publishing.remove_phrases(s, AGENT, "en-US", ["boss"], actor="ops")
        with pytest.raises(Refused, match="nothing changed"):
            live = "\n".join(vocabulary.live_vocabulary(s, "en-US")[AGENT][1])
            publishing.publish(s, AGENT, "en-US", live, actor="ops")
        s.rollback()
    assert versions(app) == 0


def test_accented_and_plain_spellings_may_both_be_listed(app: Flask) -> None:
    # The shipped files list "sí" and "si", "inglés" and "ingles" on purpose.
    add(app, "intents.agent", "es-US", "ombudsman", "ombudsmán")
    assert live_phrases(app, language="es-US")[-2:] == ["ombudsman", "ombudsmán"]


# --- history and rollback ------------------------------------------------------------------


def test_history_and_rollback_restore_the_old_behaviour(app: Flask) -> None:
    add(app, "intents.agent", "en-US", "ombudsman")
    add(app, "intents.agent", "en-US", "a manager")
    with app.app_context():
        entries = publishing.history(db.session(), AGENT, "en-US")
    assert [e.version for e in entries] == [0, 1, 2]
    assert entries[0].created_by == "voice_prompts/en-US.yaml" and not entries[0].diff
    assert "representative" in entries[0].text.splitlines()
    assert "+ombudsman\n" in entries[1].diff and "-" not in entries[1].diff.split("@@")[-1]
    assert "+a manager\n" in entries[2].diff and entries[2].live
    assert asks_for_a_person(app)

    with app.app_context():
        s = db.session()
        v = publishing.rollback(s, AGENT, "en-US", 0, actor="ops@example.com")
        s.commit()
        assert v.version == 3 and v.note == "rollback to version 0"
        entries = publishing.history(s, AGENT, "en-US")
        assert "-ombudsman\n" in entries[-1].diff and "-a manager\n" in entries[-1].diff
        assert s.scalars(select(AuditLog).where(AuditLog.action == "vocabulary.rollback")).one()
    assert "ombudsman" not in live_phrases(app)
    assert not asks_for_a_person(app, caller="+15550100002")


# --- checking the files ---------------------------------------------------------------------


def test_the_shipped_vocabulary_passes_the_checks(app: Flask) -> None:
    assert check.check_prompts(PROMPTS_DIR) == []


def test_check_reports_the_vocabulary_problems_of_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, folder)
    path = folder / "en-US.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('"no": ["no", nope,', '"no": [no, nope, nope,')
    text = text.replace("  hints:\n", '  hints:\n    offer: ["' + "x" * 101 + '"]\n')
    text = text.replace("skip: [skip,", "skip: [skip, support, '...',")
    path.write_text(text, encoding="utf-8")
    found = {(p.key, p.message) for p in check.check_prompts(folder)}
    messages = "\n".join(f"{k}: {m}" for k, m in sorted(found))
    assert "vocabulary.intents.no: False is not a phrase" in messages
    assert "quote it" in messages
    assert "vocabulary.intents.no: 'nope' is listed twice" in messages
    assert "vocabulary.hints.offer: " in messages and "at most 100" in messages
    assert "vocabulary.intents.skip: '...' has no words" in messages
    # a clash is reported once, at the later entry
    assert (
        "vocabulary.reasons.customer_service: 'support' is already a phrase of intents.skip"
        in messages
    )
    assert "vocabulary.intents.skip: 'support'" not in messages


def test_check_reports_an_unquoted_yes_key(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, folder)
    path = folder / "es-US.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('    "yes": [sí,', "    yes: [sí,"),
        encoding="utf-8",
    )
    problems = [str(p) for p in check.check_prompts(folder)]
    assert any("vocabulary.intents.True: True is not a phrase" in p for p in problems), problems


# --- export ---------------------------------------------------------------------------------


def test_export_writes_the_live_vocabulary_with_a_minimal_diff(app: Flask, tmp_path: Path) -> None:
    add(app, "intents.agent", "en-US", "ombudsman")
    publish(app, "vocabulary.fillers", "en-US", "um\nuh")
    add(app, "intents.yes", "es-US", "sale pues")
    out = tmp_path / "export"
    with app.app_context():
        s = db.session()
        export.export(s, out, catalog=prompts.live_catalog(s))
    shipped = (PROMPTS_DIR / "en-US.yaml").read_text(encoding="utf-8").splitlines()
    exported = (out / "en-US.yaml").read_text(encoding="utf-8").splitlines()
    assert exported[0] == shipped[0]  # the comments stay
    assert '  # Spoken numbers, for account numbers and PINs ("one two three four",' in exported
    changed = set(shipped) - set(exported)
    assert all("fillers" in line or "agent" in line or line.startswith("   ") for line in changed)
    assert len(changed) <= 8, changed
    data = yaml.safe_load((out / "en-US.yaml").read_text(encoding="utf-8"))
    assert data["vocabulary"]["intents"]["agent"][-1] == "ombudsman"
    assert data["vocabulary"]["fillers"] == ["um", "uh"]
    assert data["vocabulary"]["intents"]["yes"][0] == "yes"  # still a string, not True
    es = yaml.safe_load((out / "es-US.yaml").read_text(encoding="utf-8"))
    assert es["vocabulary"]["intents"]["yes"][-1] == "sale pues"
    assert check.check_prompts(out) == []
    reloaded = prompts.load_baseline(out)
    assert prompts.vocabulary_entries(reloaded["en-US"])[AGENT][-1] == "ombudsman"


# --- the CLI ------------------------------------------------------------------------------------


def run(runner: FlaskCliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["ivr", "prompts", *args])


def test_cli_adds_a_synonym_and_the_next_call_understands_it(
    app: Flask, runner: FlaskCliRunner
) -> None:
    assert not asks_for_a_person(app)
    result = run(runner, "words", "add", "intents.agent", "ombudsman", "--lang", "en-US")
    assert result.exit_code == 0, result.output
    assert "Published vocabulary.intents.agent en-US version 1" in result.stdout
    assert asks_for_a_person(app, caller="+15550100002")

    listed = run(runner, "words", "list", "intents.agent", "--lang", "en-US")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.startswith("== intents")
    assert "intents.agent [en-US v1] agent, an agent," in listed.stdout
    assert listed.stdout.rstrip().endswith("ombudsman")

    result = run(runner, "words", "list", "--json")
    rows = json.loads(result.stdout)
    agent = next(r for r in rows if r["entry"] == "intents.agent" and r["language"] == "en-US")
    assert (agent["key"], agent["version"], agent["phrases"][-1]) == (AGENT, 1, "ombudsman")
    assert len(rows) == 2 * len(
        prompts.vocabulary_entries(prompts.load_baseline(PROMPTS_DIR)["en-US"])
    )


def test_cli_remove_set_history_and_rollback(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert (
        run(runner, "words", "add", "intents.agent", "ombudsman", "--lang", "en-US").exit_code == 0
    )
    result = run(
        runner, "words", "remove", "vocabulary.intents.agent", "rep", "human", "--lang", "en-US"
    )
    assert result.exit_code == 0, result.output
    assert "rep" not in live_phrases(app) and "human" not in live_phrases(app)

    file = tmp_path / "fillers.txt"
    file.write_text("um\nuh\nyou know\n", encoding="utf-8")
    result = run(
        runner, "words", "set", "fillers", "--lang", "en-US", "--phrases-file", str(file),
        "--note", "fewer fillers", "--as", "ops:jo",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert live_phrases(app, "vocabulary.fillers") == ["um", "uh", "you know"]

    history = run(runner, "history", AGENT, "--lang", "en-US")
    assert history.exit_code == 0, history.output
    assert "+ombudsman" in history.stdout and "-rep" in history.stdout
    assert "version 0  file  voice_prompts/en-US.yaml" in history.stdout
    assert "  agent, an agent, representative" in history.stdout

    result = run(runner, "rollback", AGENT, "--lang", "en-US", "--to", "0")
    assert result.exit_code == 0, result.output
    assert "now version 3" in result.stdout
    assert "ombudsman" not in live_phrases(app) and "rep" in live_phrases(app)
    assert not asks_for_a_person(app)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "intents.agent", "support"], "'support' is already a phrase of reasons.customer"),
        (["add", "intents.agent", "agent"], "'agent' is already a phrase of intents.agent"),
        (["add", "intents.boss", "boss"], "no vocabulary entry 'intents.boss'"),
        (["remove", "intents.agent", "boss"], "'boss' is not a phrase of intents.agent"),
    ],
)
def test_cli_refusals_are_one_line_and_publish_nothing(
    app: Flask, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    result = run(runner, "words", *args, "--lang", "en-US")
    assert result.exit_code == 1
    assert message in result.stderr and "Nothing was changed." in result.stderr
    assert "Traceback" not in result.output
    assert versions(app) == 0


def test_cli_set_refuses_an_emptied_intent(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    file = tmp_path / "empty.txt"
    file.write_text("\n", encoding="utf-8")
    result = run(
        runner, "words", "set", "intents.agent", "--lang", "en-US", "--phrases-file", str(file)
    )
    assert result.exit_code == 1 and "needs at least one phrase" in result.stderr
    assert versions(app) == 0


def test_prompts_set_points_vocabulary_to_words(app: Flask, runner: FlaskCliRunner) -> None:
    result = run(runner, "set", AGENT, "--lang", "en-US", "--text", "agent\\nombudsman")
    assert result.exit_code == 2 and "prompts words" in result.output
    assert versions(app) == 0


# --- the console ---------------------------------------------------------------------------------


@pytest.fixture
def ops(app: Flask, client: FlaskClient) -> FlaskClient:
    return signed_in(app, client, "ops", "support")


EDIT = f"/console/words/{AGENT}/en-US"


@pytest.mark.parametrize("url", ["/console/words", EDIT, f"/console/prompts/{AGENT}/en-US/history"])
def test_words_pages_are_for_ops_only(app: Flask, client: FlaskClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 302 and "/console/login" in r.location
    with app.app_context():
        s = db.session()
        create_user(s, "support@example.com", "support", PASSWORD)
        s.commit()
    with client.session_transaction() as session:
        session["csrf_token"] = TOKEN
    client.post(
        "/console/login",
        data={"email": "support@example.com", "password": PASSWORD, "csrf_token": TOKEN},
    )
    assert client.get(url).status_code == 403


def test_the_words_page_lists_every_entry_per_language(ops: FlaskClient) -> None:
    html = page(ops.get("/console/words"))
    assert "Words the line understands" in html
    assert 'id="entry-intents.agent"' in html and 'id="entry-reasons.too_expensive"' in html
    assert "agent, an agent, representative" in html and "agente, un agente" in html
    assert f'href="/console/words/{AGENT}/es-US"' in html
    assert "Words the line understands" in page(ops.get("/console/prompts"))


def test_ops_edits_an_entry_and_the_next_call_understands_it(app: Flask, ops: FlaskClient) -> None:
    html = page(ops.get(EDIT))
    assert 'name="csrf_token"' in html and 'name="phrases"' in html
    phrases = re.search(r'<textarea id="phrases" name="phrases"[^>]*>(.*?)</textarea>', html, re.S)
    assert phrases is not None and "representative\n" in phrases.group(1)
    text = phrases.group(1) + "\nombudsman"

    # Check (with a sentence to try) stores nothing.
    r = ops.post(
        EDIT,
        data={"phrases": text, "sentence": "ombudsman", "action": "check",
              "csrf_token": TOKEN},
    )  # fmt: skip
    html = page(r)
    assert r.status_code == 200 and not errors(html)
    assert re.search(r'id="tried-agent">yes<', html)
    assert versions(app) == 0

    r = ops.post(
        EDIT,
        data={"phrases": text, "note": "callers ask for one", "action": "publish",
              "csrf_token": TOKEN},
    )  # fmt: skip
    assert r.status_code == 302 and r.location.endswith(EDIT)
    assert "Published intents.agent (en-US) version 1" in page(ops.get(r.location))
    assert live_phrases(app)[-1] == "ombudsman"
    with app.app_context():
        row = db.session().scalars(select(PromptVersion)).one()
        assert row.created_by == "ops@example.com" and row.note == "callers ask for one"
    assert asks_for_a_person(app)


def test_a_refused_console_edit_shows_why_and_publishes_nothing(
    app: Flask, ops: FlaskClient
) -> None:
    r = ops.post(
        EDIT, data={"phrases": "agent\nsupport\nagent", "action": "publish", "csrf_token": TOKEN}
    )
    assert r.status_code == 422
    html = page(r)
    assert "'support' is already a phrase of reasons.customer_service" in " ".join(errors(html))
    assert "'agent' is listed twice" in " ".join(errors(html))
    assert "agent\nsupport\nagent" in html  # what was typed stays in the form
    r = ops.post(EDIT, data={"phrases": "", "action": "publish", "csrf_token": TOKEN})
    assert r.status_code == 422 and "needs at least one phrase" in page(r)
    assert versions(app) == 0


def test_a_console_post_without_csrf_is_refused(app: Flask, ops: FlaskClient) -> None:
    r = ops.post(EDIT, data={"phrases": "agent\nombudsman", "action": "publish"})
    assert r.status_code in (400, 403)
    assert versions(app) == 0


def test_console_history_and_rollback_of_an_entry(app: Flask, ops: FlaskClient) -> None:
    add(app, "intents.agent", "en-US", "ombudsman")
    history = f"/console/prompts/{AGENT}/en-US/history"
    html = page(ops.get(history))
    assert "Version 1" in html and "Version 0" in html
    assert "<ins>+ombudsman</ins>" in html
    assert f'href="/console/words/{AGENT}/en-US"' in html  # "Edit" goes to the words form
    r = ops.post(
        f"/console/prompts/{AGENT}/en-US/rollback", data={"version": "0", "csrf_token": TOKEN}
    )
    assert r.status_code == 302
    assert "Version 0 is live again (as version 2)" in page(ops.get(r.location))
    assert "ombudsman" not in live_phrases(app)
    assert not asks_for_a_person(app)


def test_prompt_urls_send_vocabulary_to_the_words_form(ops: FlaskClient) -> None:
    r = ops.get(f"/console/prompts/{AGENT}/en-US")
    assert r.status_code == 302 and r.location.endswith(EDIT)
    r = ops.post(f"/console/prompts/{AGENT}/en-US", data={"text": "x", "csrf_token": TOKEN})
    assert r.status_code == 404
    assert ops.get("/console/words/vocabulary.intents.boss/en-US").status_code == 404
    assert ops.get(f"/console/words/{AGENT}/fr-FR").status_code == 404
