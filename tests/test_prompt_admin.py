"""Operations change what the line says: publishing is validated, versioned,
audited, live on the next call of every worker, and can be rolled back;
the files are checked; the live text exports back to YAML."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from ivr import db, prompts, ssml
from ivr.admin_errors import NotFound, Refused
from ivr.language import check, export, preview
from ivr.language import publish as publishing
from ivr.language.catalog import load_samples
from ivr.models import AuditLog, PromptVersion
from ivr.simulator import simulate_call

ADA = "+15550100001"
PROMPTS_DIR = Path(__file__).resolve().parent.parent / "voice_prompts"
NEW_CANCELLED = (
    "All set: {plan} is cancelled. Your code: {code}. You keep it until {end_date}. Bye for now."
)


def heard(t) -> str:  # type: ignore[no-untyped-def]
    return " ".join(t.heard())


def publish(app: Flask, key: str, language: str, text: str, **kw) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        s = db.session()
        v = publishing.publish(s, key, language, text, actor="ops@example.com", **kw)
        s.commit()
        return v.version


# --- publishing ------------------------------------------------------------------


def test_a_published_prompt_is_said_on_the_next_call(app: Flask) -> None:
    assert publish(app, "cancelled", "en-US", NEW_CANCELLED) == 1
    t = simulate_call(app, ["1234", "1", "2"], from_number=ADA)
    assert t.outcome == "cancelled"
    said = heard(t)
    assert "All set: Premium is cancelled." in said
    assert ", ".join(t.record["confirmation"]) in said


def test_every_worker_serves_the_new_version_without_a_restart(
    app: Flask, second_worker: Flask
) -> None:
    # The second worker has the old catalog cached when the first publishes.
    first = simulate_call(second_worker, ["1234", "1", "2"], from_number=ADA)
    assert "Thanks for calling" in heard(first)
    publish(app, "greeting", "en-US", "Hello from {company}. This call is recorded.")
    again = simulate_call(second_worker, ["1234", "1", "2"], from_number="+15550100002")
    assert "Hello from Acme Streaming. This call is recorded." in heard(again)
    assert "Thanks for calling" not in heard(again)


def test_spanish_is_edited_on_its_own(app: Flask) -> None:
    publish(app, "goodbye", "es-US", "Hasta pronto.")
    with app.app_context():
        catalog = prompts.live_catalog(db.session())
        assert catalog.prompt("es-US", "goodbye").text == "Hasta pronto."
        assert catalog.prompt("en-US", "goodbye").text == "Goodbye."


def test_publishing_stores_who_when_and_why_and_audits_it(app: Flask) -> None:
    publish(app, "goodbye", "en-US", "Bye now.", note="shorter")
    with app.app_context():
        s = db.session()
        row = s.scalars(select(PromptVersion)).one()
        assert (row.key, row.language, row.version) == ("goodbye", "en-US", 1)
        assert row.created_by == "ops@example.com" and row.note == "shorter"
        assert row.created_at is not None
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "prompt.publish")).one()
        assert audit.actor == "ops@example.com"
        assert audit.detail["key"] == "goodbye" and audit.detail["version"] == 1


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        (
            "cancelled",
            "Done: {plan} is cancelled. Code {code}, until {end_date}. {dog}",
            "unknown placeholder {dog}",
        ),
        ("cancelled", "Done: {plan} is cancelled until {end_date}.", "missing placeholder {code}"),
        ("goodbye", "   ", "empty text"),
        ("goodbye", "Bye {", "malformed placeholder"),
        ("goodbye", "Bye <foo>now</foo>", "unknown tag <foo>"),
        ("goodbye", "Bye <break time='1s'>", "invalid SSML"),
        ("goodbye", "word " * 900, "a <Say> holds at most 4096"),
    ],
)
def test_a_bad_edit_is_refused_with_its_reason_and_nothing_is_published(
    app: Flask, key: str, text: str, reason: str
) -> None:
    with app.app_context():
        s = db.session()
        with pytest.raises(Refused) as refused:
            publishing.publish(s, key, "en-US", text, actor="ops@example.com")
        assert reason in str(refused.value)
        s.rollback()
        assert s.scalars(select(PromptVersion)).first() is None
        assert s.scalars(select(AuditLog)).first() is None


def test_the_spanish_text_needs_the_same_placeholders(app: Flask) -> None:
    with app.app_context(), pytest.raises(Refused, match=r"missing placeholder \{code\}"):
        publishing.publish(
            db.session(),
            "cancelled",
            "es-US",
            "Listo: {plan} cancelada hasta {end_date}.",
            actor="ops@example.com",
        )


def test_the_reprompt_may_leave_placeholders_out_but_not_invent_them(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        text = "You have {count} subscriptions. {options} Which one?"
        v = publishing.publish(
            s, "choose_subscription", "en-US", text, "Which one?", actor="ops@example.com"
        )
        assert v.reprompt == "Which one?"
        with pytest.raises(Refused, match=r"re-prompt: unknown placeholder \{plan\}"):
            publishing.publish(
                s, "choose_subscription", "en-US", text, "Which {plan}?", actor="ops@example.com"
            )


def test_unknown_keys_and_languages_are_refused(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        with pytest.raises(NotFound, match="no prompt 'nope'"):
            publishing.publish(s, "nope", "en-US", "Hi.", actor="ops@example.com")
        with pytest.raises(NotFound, match="no language 'fr-FR'"):
            publishing.publish(s, "goodbye", "fr-FR", "Au revoir.", actor="ops@example.com")


def test_publishing_the_live_text_again_is_refused(app: Flask) -> None:
    with app.app_context(), pytest.raises(Refused, match="nothing changed"):
        publishing.publish(db.session(), "goodbye", "en-US", "Goodbye.", actor="ops@example.com")


def test_audio_must_be_a_url_or_an_existing_file(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        with pytest.raises(Refused, match="missing audio file audio/en-US/none.mp3"):
            publishing.publish(
                s,
                "goodbye",
                "en-US",
                "Goodbye.",
                audio="audio/en-US/none.mp3",
                actor="ops@example.com",
            )
        with pytest.raises(Refused, match="use an https:// URL"):
            publishing.publish(
                s, "goodbye", "en-US", "Goodbye.", audio="/etc/passwd", actor="ops@example.com"
            )
        v = publishing.publish(
            s,
            "goodbye",
            "en-US",
            "Goodbye.",
            audio="https://cdn.example.com/bye.mp3",
            actor="ops@example.com",
        )
        s.commit()
        assert v.audio == "https://cdn.example.com/bye.mp3"


# --- history and rollback ---------------------------------------------------------


def test_history_starts_with_the_file_and_shows_each_change_as_a_diff(app: Flask) -> None:
    publish(app, "pin_wrong", "en-US", "That PIN didn't match. Let's try once more.")
    publish(app, "pin_wrong", "en-US", "Sorry, that PIN didn't match.")
    with app.app_context():
        entries = publishing.history(db.session(), "pin_wrong", "en-US")
    assert [e.version for e in entries] == [0, 1, 2]
    assert entries[0].text == "That PIN didn't match." and entries[0].created_at is None
    assert "+text: Let's try once more." in entries[1].diff
    assert "-text: That PIN didn't match." in entries[2].diff
    assert "+text: Sorry, that PIN didn't match." in entries[2].diff
    assert [e.live for e in entries] == [False, False, True]


def test_rollback_publishes_the_old_text_as_a_new_version(app: Flask) -> None:
    publish(app, "goodbye", "en-US", "Bye now.")
    publish(app, "goodbye", "en-US", "Farewell.")
    with app.app_context():
        s = db.session()
        v = publishing.rollback(s, "goodbye", "en-US", 1, actor="lead@example.com")
        s.commit()
        assert (v.version, v.text, v.note) == (3, "Bye now.", "rollback to version 1")
        assert prompts.live_catalog(s).prompt("en-US", "goodbye").text == "Bye now."
        v0 = publishing.rollback(s, "goodbye", "en-US", 0, actor="lead@example.com")
        s.commit()
        assert v0.version == 4 and v0.text == "Goodbye."
        assert len(s.scalars(select(PromptVersion)).all()) == 4  # nothing was deleted
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "prompt.rollback")).all()
        assert [a.detail["to_version"] for a in audit] == [1, 0]


def test_rollback_to_a_missing_or_live_version_is_refused(app: Flask) -> None:
    publish(app, "goodbye", "en-US", "Bye now.")
    with app.app_context():
        s = db.session()
        with pytest.raises(NotFound, match="no version 7"):
            publishing.rollback(s, "goodbye", "en-US", 7, actor="ops@example.com")
        with pytest.raises(Refused, match="already"):
            publishing.rollback(s, "goodbye", "en-US", 1, actor="ops@example.com")


# --- the files ----------------------------------------------------------------------


def test_the_shipped_prompts_pass_the_check() -> None:
    assert [str(p) for p in check.check_prompts(PROMPTS_DIR)] == []


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "voice_prompts"
    shutil.copytree(PROMPTS_DIR, target)
    return target


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_the_check_finds_every_kind_of_problem(tmp_path: Path) -> None:
    folder = _copy(tmp_path)

    def spanish(data):  # type: ignore[no-untyped-def]
        p = data["prompts"]
        del p["goodbye"]
        p["hola"] = {"step": "greeting", "text": "Hola."}
        p["cancelled"]["text"] = "Cancelada: {plan} hasta {fecha}."
        p["pin_wrong"]["text"] = ""
        p["transfer"]["text"] = "Le comunico <break time='soon'/> ya."
        p["try_again"]["audio"] = "audio/es-US/try_again.mp3"
        p["kept"]["text"] = "Su {plan} sigue. " + "Gracias. " * 600
        del data["vocabulary"]["intents"]["agent"]

    _edit(folder / "es-US.yaml", spanish)
    problems = [str(p) for p in check.check_prompts(folder)]
    expected = [
        "es-US.yaml: es-US goodbye: missing prompt (en-US has it)",
        "es-US.yaml: es-US hola: extra prompt (not in en-US)",
        "es-US.yaml: es-US cancelled: text: unknown placeholder {fecha}",
        "es-US.yaml: es-US cancelled: text: missing placeholder {code}, {end_date}",
        "es-US.yaml: es-US pin_wrong: empty text",
        'es-US.yaml: es-US transfer: text: invalid SSML: <break time="soon">',
        "es-US.yaml: es-US try_again: missing audio file audio/es-US/try_again.mp3",
        "es-US.yaml: es-US kept: text: ",
        "es-US.yaml: es-US vocabulary.intents.agent: missing (en-US has it)",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in problems), (start, problems)
    assert any("a <Say> holds at most 4096" in line for line in problems if " kept:" in line)


def test_an_audio_file_under_the_folder_passes(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "audio" / "es-US").mkdir(parents=True)
    (folder / "audio" / "es-US" / "try_again.mp3").write_bytes(b"ID3")
    _edit(
        folder / "es-US.yaml",
        lambda d: d["prompts"]["try_again"].update(audio="audio/es-US/try_again.mp3"),
    )
    assert check.check_prompts(folder) == []


def test_the_check_reads_offers_too(tmp_path: Path) -> None:
    folder = _copy(tmp_path)

    def offers(data):  # type: ignore[no-untyped-def]
        data["offers"][0]["terms"]["percent"] = 150
        data["offers"][1]["wording"]["es-US"] = "Pausa de {weeks} semanas."

    _edit(folder / "offers.yaml", offers)
    problems = [str(p) for p in check.check_prompts(folder)]
    assert any(p.startswith("offers.yaml: - discount_50_3m: percent must be") for p in problems)
    assert any(
        p.startswith("offers.yaml: es-US pause_3m: es-US wording: unknown placeholder {weeks}")
        for p in problems
    )


def test_a_broken_file_is_one_problem_not_a_crash(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "es-US.yaml").write_text("prompts: [unclosed\n", encoding="utf-8")
    problems = [str(p) for p in check.check_prompts(folder)]
    assert len(problems) == 1 and problems[0].startswith("es-US.yaml: es-US -: cannot read")


def test_export_writes_the_live_text_and_round_trips(app: Flask, tmp_path: Path) -> None:
    publish(app, "cancelled", "en-US", NEW_CANCELLED)
    publish(app, "goodbye", "es-US", "Hasta pronto.")
    out = tmp_path / "export"
    with app.app_context():
        s = db.session()
        export.export(s, out, catalog=prompts.live_catalog(s))
    assert check.check_prompts(out) == []
    packs = prompts.load_baseline(out)
    original = prompts.load_baseline(PROMPTS_DIR)
    assert packs["en-US"].prompts["cancelled"].text == NEW_CANCELLED
    assert packs["es-US"].prompts["goodbye"].text == "Hasta pronto."
    for lang in ("en-US", "es-US"):
        assert packs[lang].labels == original[lang].labels
        assert packs[lang].vocabulary == original[lang].vocabulary
        assert packs[lang].voice == original[lang].voice
        for key, prompt in original[lang].prompts.items():
            if (lang, key) not in {("en-US", "cancelled"), ("es-US", "goodbye")}:
                assert packs[lang].prompts[key] == prompt
    # Only the changed prompts differ from the file: the diff in git is small.
    exported = (out / "en-US.yaml").read_text(encoding="utf-8").splitlines()
    shipped = (PROMPTS_DIR / "en-US.yaml").read_text(encoding="utf-8").splitlines()
    assert len(set(shipped) - set(exported)) <= 4
    assert exported[0] == shipped[0]  # the comments stay


LONG_GREETING = (
    "Thanks for calling {company}. Cancelling takes about a minute, and nothing changes "
    "until you confirm; for a person, press 0 or say agent anytime."
)


def test_export_keeps_comments_key_order_and_quoting(app: Flask, tmp_path: Path) -> None:
    """One prompt and one vocabulary entry change; everything else of the file
    is as it was written: comments, the order of keys, quoted words."""
    publish(app, "greeting", "en-US", LONG_GREETING)
    with app.app_context():
        s = db.session()
        # "on" is a word to the line, but true to YAML 1.1 unless quoted.
        publishing.add_phrases(s, "intents.yes", "en-US", ["on", "yes please"], actor="ops")
        s.commit()
        out = tmp_path / "export"
        export.export(s, out, catalog=prompts.live_catalog(s))
        live = prompts.live_catalog(s).packs["en-US"]
    shipped_text = (PROMPTS_DIR / "en-US.yaml").read_text(encoding="utf-8")
    exported_text = (out / "en-US.yaml").read_text(encoding="utf-8")
    shipped, exported = shipped_text.splitlines(), exported_text.splitlines()

    # Comments: the header, and one inside a prompt's entry.
    assert exported[:9] == shipped[:9] and exported[0].startswith("# What the line says")
    assert "    # The other language's option is said in that language's voice." in exported
    # Quoting: the quoted key and word stay quoted; the new "on" is quoted too.
    yes_line = next(line for line in exported if line.startswith('    "yes": ["yes", yeah'))
    assert "    \"no\": [\"no\", nope" in exported_text
    yes_block = exported_text[exported_text.index(yes_line) :].split("]", 1)[0]
    assert yes_block.endswith('"on", yes please')
    assert '  choose_subscription:\n    step: choose\n' in exported_text
    assert '    reprompt: "{options}"' in exported
    # Key order: top-level keys, prompts and vocabulary intents as in the file.
    data, original = yaml.safe_load(exported_text), yaml.safe_load(shipped_text)
    assert list(data) == list(original)
    assert list(data["prompts"]) == list(original["prompts"])
    assert list(data["vocabulary"]["intents"]) == list(original["vocabulary"]["intents"])
    assert list(data["prompts"]["greeting"]) == ["step", "text"]
    # Only the two changed entries differ from the file (a small diff in git);
    # the long text is folded (text: >-) as the file writes long texts.
    changed = [line for line in exported if line not in set(shipped)]
    assert changed and all(
        "yes please" in line or line.startswith("      ") for line in changed
    ), changed
    assert "  greeting:\n    step: greeting\n    text: >-\n" in exported_text
    assert all(len(line) <= 100 for line in changed)
    # What was written passes the check and reloads as what the line says now.
    assert check.check_prompts(out) == []
    reloaded = prompts.load_baseline(out)["en-US"]
    assert {k: replace(p, version=0) for k, p in live.prompts.items()} == reloaded.prompts
    assert reloaded.vocabulary.raw == live.vocabulary.raw
    assert prompts.vocabulary_entries(reloaded)["vocabulary.intents.yes"][-2:] == [
        "on",
        "yes please",
    ]
    assert reloaded.labels == prompts.load_baseline(PROMPTS_DIR)["en-US"].labels


# --- SSML, previews, durations -------------------------------------------------------


def test_ssml_in_a_prompt_becomes_ssml_in_the_twiml() -> None:
    response = VoiceResponse()
    ssml.say(
        response,
        'Your code is <say-as interpret-as="digits">123</say-as>.<break time="1s"/> Q&A',
        voice="Polly.Joanna-Neural",
        language="en-US",
    )
    say = ET.fromstring(str(response)).find("Say")
    assert say is not None and say.attrib["voice"] == "Polly.Joanna-Neural"
    assert say.text == "Your code is "
    say_as, pause = list(say)
    assert say_as.tag == "say-as" and say_as.attrib == {"interpret-as": "digits"}
    assert say_as.text == "123" and say_as.tail == "."
    assert pause.tag == "break" and pause.attrib == {"time": "1s"} and pause.tail == " Q&A"


def test_text_with_a_stray_angle_bracket_is_said_as_plain_text() -> None:
    response = VoiceResponse()
    ssml.say(response, "Plan <HD & more", language="en-US")
    say = ET.fromstring(str(response)).find("Say")
    assert say is not None and say.text == "Plan <HD & more" and not list(say)


def test_the_spoken_duration_counts_words_and_pauses() -> None:
    assert ssml.estimated_seconds("one two three four five") == 2.0
    assert ssml.estimated_seconds('one two three four five <break time="500ms"/>') == 2.5
    assert ssml.estimated_seconds("<sub alias='T V'>television</sub>") == 0.8


def test_the_preview_is_the_twiml_the_line_answers_with(app: Flask) -> None:
    with app.app_context():
        catalog = prompts.live_catalog(db.session())
        samples = load_samples(PROMPTS_DIR)
        p = preview.preview(
            catalog,
            "cancelled",
            "es-US",
            "Listo: {plan}. Código {code}. Hasta el {end_date}.",
            "Listo.",
            samples=samples,
        )
    assert p.text == "Listo: Premium. Código 4, 8, 2, 9, 1, 7, 3, 5. Hasta el 30 de junio de 2026."
    say = ET.fromstring(p.twiml).find("Say")
    assert say is not None and say.attrib == {"language": "es-US", "voice": "Polly.Lupe-Neural"}
    assert say.text == p.text
    assert p.reprompt_text == "Listo." and p.seconds > p.reprompt_seconds  # type: ignore[operator]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_listen_makes_a_wav_with_espeak() -> None:
    wav = preview.synthesize_wav("Hola, <break time='1s'/> adiós.", "es-US")
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 1000
