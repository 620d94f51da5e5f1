"""`flask --app wsgi ivr understand ...`: what the line understands, how
well (on the test split), and teaching it."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from .. import db, prompts
from ..prompts_cli import _default_actor, actor_option
from . import evaluation, teaching


@click.group("understand", cls=AppGroup)
def understand_group() -> None:
    """What callers mean: try it, measure it, teach it."""


def _languages() -> list[str]:
    return sorted(prompts.baseline())


def _catalog() -> prompts.Catalog:
    """The live understanding (what ops taught included); before the database
    has its tables (no `ivr init-db` yet), what the repository's files teach."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        return prompts.live_catalog(db.session())
    except (OperationalError, ProgrammingError):
        db.discard_session()
        click.echo("(No database yet: the repository's files only.)", err=True)
        return prompts.baseline_catalog()


def _refused(message: str) -> None:
    db.session().rollback()
    click.echo(f"Refused: {message}", err=True)
    click.echo("Nothing was changed.", err=True)
    sys.exit(1)


@understand_group.command("eval")
@click.option("--lang", "language", default=None, help="One language (default: all).")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--validate",
    "folds",
    type=click.IntRange(2, 20),
    default=None,
    help="Cross-validate on the TRAINING split in this many folds instead (for tuning;"
    " the test split is not read).",
)
def eval_command(language: str | None, as_json: bool, folds: int | None) -> None:
    """Accuracy per step on the test split (never trained or tuned on), a
    confusion matrix, and the phrasings it gets wrong; with --validate N,
    the same from N-fold cross-validation on the training split."""
    directory = current_app.config["VOICE_PROMPTS_DIR"]
    # Cross-validation reads the repository's files alone: what ops taught
    # is not part of the training split.
    catalog = prompts.baseline_catalog() if folds else _catalog()
    floors = {} if folds else evaluation.floors(directory)
    results: dict[str, Any] = {}
    for lang in [language] if language else _languages():
        if folds:
            reports = evaluation.validate(catalog, directory, lang, folds)
        else:
            reports = evaluation.evaluate(catalog, directory, lang)
        results[lang] = {
            step: {**r.as_dict(), "floor": floors.get(lang, {}).get(step)}
            for step, r in reports.items()
        }
        if as_json:
            continue
        for step, report in reports.items():
            floor = floors.get(lang, {}).get(step)
            click.echo(
                f"{lang} {step}: {report.accuracy:.1%} of {report.total} test phrasings"
                f' ({report.asked} after "did you say ...?"; classifier alone'
                f" {report.model_accuracy:.1%}; floor {floor:.0%})"
                if floor is not None
                else f"{lang} {step}: {report.accuracy:.1%} of {report.total}"
                f" {'training phrasings, cross-validated' if folds else 'test phrasings'}"
                f' ({report.asked} after "did you say ...?"; classifier alone'
                f" {report.model_accuracy:.1%})"
            )
            if len(report.file_total) > 1:
                click.echo(
                    "  by file: "
                    + "; ".join(
                        f"{name} {f['accuracy']:.1%} of {f['phrasings']}"
                        for name, f in report.by_file().items()
                    )
                )
            for line in evaluation.confusion_table(report):
                click.echo("  " + line)
            for w in report.wrong:
                click.echo(
                    f"  wrong: {w['phrase']!r} is {w['expected']}, understood {w['understood']}"
                    f" (classifier: {w['classifier']} {w['confidence']})"
                )
            click.echo("")
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))


@understand_group.command("test")
@click.argument("phrase")
@click.option("--lang", "language", required=True)
@click.option("--step", required=True, help="reason, offer or confirm")
@click.option("--json", "as_json", is_flag=True)
def test_command(phrase: str, language: str, step: str, as_json: bool) -> None:
    """What the line would understand from PHRASE at STEP, and how sure."""
    if language not in _languages():
        raise click.UsageError(f"no language {language!r} (one of: {', '.join(_languages())})")
    try:
        teaching.step_of(step)
    except teaching.TeachError as exc:
        raise click.UsageError(str(exc)) from None
    catalog = _catalog()
    got = evaluation.understand(catalog, language, step, phrase)
    classes = evaluation.word_classes_of(catalog, language, step, phrase)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "phrase": phrase,
                    "language": language,
                    "step": step,
                    "meaning": got.meaning,
                    "sure": got.sure,
                    "classifier": got.model,
                    "confidence": got.confidence,
                    "likeliest": got.likeliest,
                    "likeness": got.likeness,
                    "word_classes": classes,
                },
                ensure_ascii=False,
            )
        )
        return
    how = "sure" if got.sure else 'asks "did you say ...?" first'
    conf = f"{got.confidence:.2f}" if got.confidence is not None else "-"
    like = (
        f"; likeness to the nearest {got.likeliest} phrasing {got.likeness:.2f}"
        if got.likeness is not None
        else ""
    )
    read = f"; word classes: {', '.join(classes)}" if classes else ""
    click.echo(f"{got.meaning} ({how}; classifier: {got.model}, confidence {conf}{like}{read})")


@understand_group.command("teach")
@click.argument("phrase")
@click.option("--lang", "language", required=True)
@click.option("--step", required=True, help="reason, offer or confirm")
@click.option("--meaning", required=True)
@click.option("--note", default=None)
@actor_option
def teach_command(
    phrase: str, language: str, step: str, meaning: str, note: str | None, actor: str | None
) -> None:
    """Teach that PHRASE means MEANING at STEP; understood from the next call on."""
    session = db.session()
    try:
        version = teaching.teach(
            session,
            phrase,
            language=language,
            step=step,
            meaning=meaning,
            actor=actor or _default_actor(),
            languages=_languages(),
            note=note,
        )
    except teaching.TeachError as exc:
        _refused(str(exc))
    session.commit()
    click.echo(
        f"Published {version.key} {language} version {version.version}: {phrase!r} means"
        f" {meaning}; understood from the next call on."
    )


@understand_group.command("history")
@click.option("--lang", "language", required=True)
@click.option("--step", required=True)
def history_command(language: str, step: str) -> None:
    """Every taught version, oldest first."""
    try:
        entries = teaching.history(db.session(), language=language, step=step)
    except teaching.TeachError as exc:
        raise click.UsageError(str(exc)) from None
    for e in entries:
        when = e.created_at.isoformat(timespec="seconds") if e.created_at else "-"
        live = " (live)" if e.live else ""
        click.echo(f"version {e.version}{live}: {e.created_by} {when} {e.note or ''}".rstrip())
        for meaning, phrase in e.taught:
            click.echo(f"  {meaning}: {phrase}")


@understand_group.command("rollback")
@click.option("--lang", "language", required=True)
@click.option("--step", required=True)
@click.option("--to", "to_version", required=True, type=int)
@actor_option
def rollback_command(language: str, step: str, to_version: int, actor: str | None) -> None:
    """Publish an earlier version's taught phrasings again."""
    session = db.session()
    try:
        version = teaching.rollback(
            session,
            language=language,
            step=step,
            to_version=to_version,
            actor=actor or _default_actor(),
        )
    except teaching.TeachError as exc:
        _refused(str(exc))
    session.commit()
    click.echo(f"Published {version.key} {language} version {version.version} (rollback).")
