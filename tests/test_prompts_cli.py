"""`flask --app wsgi ivr prompts ...` and `ivr offers ...`: the same changes as
the console, from a terminal or a script; refusals are one clear line on
stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from ivr import db, prompts
from ivr.models import Offer, PromptVersion

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "voice_prompts"


def run(runner: FlaskCliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["ivr", *args])


def test_check_passes_on_the_shipped_prompts(runner: FlaskCliRunner) -> None:
    result = run(runner, "prompts", "check")
    assert result.exit_code == 0, result.output
    assert "All prompts ok" in result.stdout


def test_check_lists_each_problem_on_its_own_line_and_fails(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, folder)
    path = folder / "es-US.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["prompts"]["goodbye"]
    data["prompts"]["cancelled"]["text"] = "Cancelada {plan} {code} {end_date} {extra}"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run(runner, "prompts", "check", "--dir", str(folder))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "es-US.yaml: es-US goodbye: missing prompt (en-US has it)" in lines
    assert any(
        line.startswith("es-US.yaml: es-US cancelled: text: unknown placeholder {extra}")
        for line in lines
    )
    assert "2 problem(s)" in result.stderr


def test_check_follows_voice_prompts_dir(app: Flask, tmp_path: Path) -> None:
    folder = tmp_path / "other"
    shutil.copytree(PROMPTS_DIR, folder)
    (folder / "es-US.yaml").unlink()
    (folder / "en-US.yaml").write_text(
        (folder / "en-US.yaml").read_text(encoding="utf-8").replace("text: Goodbye.", "text: ''"),
        encoding="utf-8",
    )
    app.config["VOICE_PROMPTS_DIR"] = str(folder)
    result = run(app.test_cli_runner(), "prompts", "check")
    assert result.exit_code == 1
    assert "en-US.yaml: en-US goodbye: empty text" in result.stdout.splitlines()


def test_set_publishes_and_the_line_says_it(app: Flask, runner: FlaskCliRunner) -> None:
    result = run(
        runner,
        "prompts",
        "set",
        "goodbye",
        "--lang",
        "en-US",
        "--text",
        "Take care.",
        "--note",
        "warmer",
        "--as",
        "ops@example.com",
    )
    assert result.exit_code == 0, result.output
    assert "Published goodbye en-US version 1" in result.stdout
    with app.app_context():
        s = db.session()
        assert prompts.live_catalog(s).prompt("en-US", "goodbye").text == "Take care."
        row = s.scalars(select(PromptVersion)).one()
        assert (row.created_by, row.note) == ("ops@example.com", "warmer")


def test_set_keeps_the_live_reprompt_unless_told(app: Flask, runner: FlaskCliRunner) -> None:
    run(runner, "prompts", "set", "ask_pin", "--lang", "en-US", "--text", "Your PIN, please.")
    with app.app_context():
        live = prompts.live_catalog(db.session()).prompt("en-US", "ask_pin")
        assert live.text == "Your PIN, please." and live.reprompt
    run(
        runner,
        "prompts",
        "set",
        "ask_pin",
        "--lang",
        "en-US",
        "--text",
        "Your PIN, please.",
        "--no-reprompt",
    )
    with app.app_context():
        assert prompts.live_catalog(db.session()).prompt("en-US", "ask_pin").reprompt is None


def test_the_default_actor_is_the_os_user(app: Flask, runner: FlaskCliRunner) -> None:
    run(runner, "prompts", "set", "goodbye", "--lang", "en-US", "--text", "Bye.")
    with app.app_context():
        assert db.session().scalars(select(PromptVersion)).one().created_by.startswith("cli:")


def test_a_refused_edit_says_why_on_stderr_and_exits_1(app: Flask, runner: FlaskCliRunner) -> None:
    result = run(
        runner,
        "prompts",
        "set",
        "cancelled",
        "--lang",
        "es-US",
        "--text",
        "Listo, {plan} cancelada.",
    )
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Refused: text: missing placeholder {code}, {end_date}" in result.stderr
    assert "Nothing was changed." in result.stderr
    assert result.stdout == ""
    with app.app_context():
        assert db.session().scalars(select(PromptVersion)).first() is None


def test_unknown_key_is_a_clear_error(runner: FlaskCliRunner) -> None:
    result = run(runner, "prompts", "set", "nope", "--lang", "en-US", "--text", "Hi.")
    assert result.exit_code == 1
    assert "Refused: no prompt 'nope'" in result.stderr


def test_a_missing_option_is_a_usage_error(runner: FlaskCliRunner) -> None:
    result = run(runner, "prompts", "set", "goodbye", "--text", "Hi.")
    assert result.exit_code == 2
    assert "--lang" in result.stderr


def test_list_json_has_every_key_in_both_languages(runner: FlaskCliRunner) -> None:
    run(runner, "prompts", "set", "goodbye", "--lang", "es-US", "--text", "Hasta pronto.")
    result = run(runner, "prompts", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    baseline = prompts.load_baseline(PROMPTS_DIR)
    assert {(r["key"], r["language"]) for r in rows} == {
        (k, lang) for lang in ("en-US", "es-US") for k in baseline["en-US"].prompts
    }
    goodbye = next(r for r in rows if (r["key"], r["language"]) == ("goodbye", "es-US"))
    assert goodbye["text"] == "Hasta pronto." and goodbye["version"] == 1
    assert goodbye["step"] == "anywhere"


def test_list_groups_by_step_of_the_call(runner: FlaskCliRunner) -> None:
    out = run(runner, "prompts", "list", "--lang", "en-US").stdout
    assert out.index("== greeting") < out.index("== identify") < out.index("== verify")
    assert out.index("ask_pin [en-US v0]") > out.index("== verify")


def test_history_and_rollback(app: Flask, runner: FlaskCliRunner) -> None:
    run(runner, "prompts", "set", "goodbye", "--lang", "en-US", "--text", "Bye now.")
    run(runner, "prompts", "set", "goodbye", "--lang", "en-US", "--text", "Farewell.")
    result = run(runner, "prompts", "rollback", "goodbye", "--lang", "en-US", "--to", "0")
    assert result.exit_code == 0, result.output
    assert "now version 3" in result.stdout
    history = run(runner, "prompts", "history", "goodbye", "--lang", "en-US").stdout
    assert "version 0  file  voice_prompts/en-US.yaml" in history
    assert "-text: Bye now.\n" in history.replace("  -", "-")
    assert "note: rollback to version 0" in history and "(live)" in history
    entries = json.loads(
        run(runner, "prompts", "history", "goodbye", "--lang", "en-US", "--json").stdout
    )
    assert [e["text"] for e in entries] == ["Goodbye.", "Bye now.", "Farewell.", "Goodbye."]
    bad = run(runner, "prompts", "rollback", "goodbye", "--lang", "en-US", "--to", "9")
    assert bad.exit_code == 1 and "Refused: no version 9" in bad.stderr


def test_export_writes_a_folder_that_passes_the_check(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    run(runner, "prompts", "set", "goodbye", "--lang", "es-US", "--text", "Hasta pronto.")
    run(runner, "offers", "set", "pause_3m", "--terms", '{"months": 2}')
    out = tmp_path / "export"
    result = run(runner, "prompts", "export", str(out))
    assert result.exit_code == 0, result.output
    assert "Hasta pronto." in (out / "es-US.yaml").read_text(encoding="utf-8")
    offers = yaml.safe_load((out / "offers.yaml").read_text(encoding="utf-8"))["offers"]
    assert next(o for o in offers if o["code"] == "pause_3m")["terms"] == {"months": 2}
    check = run(runner, "prompts", "check", "--dir", str(out))
    assert check.exit_code == 0, check.output


# --- offers ------------------------------------------------------------------------


def test_offers_list_json(runner: FlaskCliRunner) -> None:
    rows = json.loads(run(runner, "offers", "list", "--json").stdout)
    discount = next(r for r in rows if r["code"] == "discount_50_3m")
    assert discount["reason_code"] == "too_expensive" and discount["kind"] == "discount"
    assert discount["terms"] == {"percent": 50, "months": 3} and discount["active"] is True


def test_offers_set_changes_terms_and_wording(app: Flask, runner: FlaskCliRunner) -> None:
    result = run(
        runner,
        "offers",
        "set",
        "discount_50_3m",
        "--terms",
        '{"percent": 25, "months": 2}',
        "--wording-en",
        "Take {percent} percent off {plan} for {months} months.",
        "--as",
        "ops@example.com",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        offer = db.session().scalars(select(Offer).where(Offer.code == "discount_50_3m")).one()
        assert offer.terms == {"percent": 25, "months": 2}
        assert offer.wording["en-US"].startswith("Take {percent}")
        assert "es-US" in offer.wording
    history = run(runner, "offers", "history", "discount_50_3m").stdout
    assert "ops@example.com" in history and '"percent": 50' in history


def test_offers_set_refuses_bad_terms(runner: FlaskCliRunner) -> None:
    result = run(runner, "offers", "set", "discount_50_3m", "--terms", '{"percent": 0}')
    assert result.exit_code == 1
    assert "Refused: percent must be a whole number from 1 to 100, not 0" in result.stderr
    assert "Refused: a discount offer needs the term 'months'" in result.stderr
    not_json = run(runner, "offers", "set", "discount_50_3m", "--terms", "{percent: 5")
    assert not_json.exit_code == 2 and "--terms is not JSON" in not_json.stderr


def test_offers_can_be_switched_off(app: Flask, runner: FlaskCliRunner) -> None:
    result = run(runner, "offers", "set", "pause_3m", "--inactive")
    assert result.exit_code == 0 and "off" in result.stdout
    with app.app_context():
        assert not db.session().scalars(select(Offer).where(Offer.code == "pause_3m")).one().active
