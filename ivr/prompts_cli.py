"""`flask --app wsgi ivr prompts ...` and `ivr offers ...`: what the line says,
from the command line. The same service functions as the console
(ivr/language/ and ivr/offers_admin.py); each command commits its own change."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from . import db, offers_admin, prompts
from .admin_errors import AdminError
from .language import check, export, publish, vocabulary
from .language.catalog import languages_of, list_prompts
from .models import OFFER_KINDS


def register(group: AppGroup) -> None:
    group.add_command(prompts_group)
    group.add_command(offers_group)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _refusals(command: Callable[..., None]) -> Callable[..., None]:
    """A refused change is a clear message and exit code 1, never a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except AdminError as exc:
            db.session().rollback()
            for reason in exc.reasons:
                click.echo(f"Refused: {reason}", err=True)
            click.echo("Nothing was changed.", err=True)
            sys.exit(1)
        except IntegrityError:
            db.session().rollback()
            click.echo(
                "Refused: someone else changed it at the same moment; run it again.", err=True
            )
            sys.exit(1)

    return run


actor_option = click.option(
    "--as",
    "actor",
    default=None,
    help="Who is making the change (default: cli:<your user name>).",
)


# --- prompts ------------------------------------------------------------------------


@click.group("prompts", cls=AppGroup)
def prompts_group() -> None:
    """What the line says: list, check, edit, history, rollback, export."""


@prompts_group.command("check")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The prompts folder (default: VOICE_PROMPTS_DIR).",
)
def check_command(directory: Path | None) -> None:
    """Validate every language file; one line per problem, exit 1 on any."""
    directory = directory or Path(current_app.config["VOICE_PROMPTS_DIR"])
    if not directory.is_dir():
        click.echo(f"{directory}: no such folder", err=True)
        sys.exit(2)
    problems = check.check_prompts(directory)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {directory}.", err=True)
        sys.exit(1)
    files = ", ".join(p.name for p in prompts.language_files(directory))
    click.echo(f"All prompts ok in {directory} ({files}).")


@prompts_group.command("list")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (one object per key and language)."
)
@click.option("--lang", "language", default=None, help="Only this language.")
def list_command(as_json: bool, language: str | None) -> None:
    """Every prompt as the line says it now, grouped by step of the call."""
    catalog = prompts.live_catalog(db.session())
    languages = languages_of(catalog)
    if language is not None and language not in languages:
        click.echo(f"No language {language!r}; the line speaks {', '.join(languages)}.", err=True)
        sys.exit(2)
    languages = [language] if language else languages
    groups = list_prompts(catalog)
    if as_json:
        out = [
            {
                "key": row.key,
                "step": row.step,
                "language": lang,
                "version": row.prompts[lang].version,
                "text": row.prompts[lang].text,
                "reprompt": row.prompts[lang].reprompt,
                "audio": row.prompts[lang].audio,
            }
            for group in groups
            for row in group.rows
            for lang in languages
        ]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for group in groups:
        click.echo(f"== {group.step}")
        for row in group.rows:
            for lang in languages:
                p = row.prompts[lang]
                click.echo(f"{row.key} [{lang} v{p.version}] {p.text}")
                if p.reprompt:
                    click.echo(f"    re-prompt: {p.reprompt}")
                if p.audio:
                    click.echo(f"    audio: {p.audio}")


@prompts_group.command("set")
@click.argument("key")
@click.option("--lang", "language", required=True, help="e.g. en-US or es-US")
@click.option("--text", required=True, help="The new text; {placeholders} as in the files.")
@click.option(
    "--reprompt", default=None, help="The shorter re-prompt (keeps the live one if left out)."
)
@click.option("--no-reprompt", is_flag=True, help="Remove the re-prompt.")
@click.option("--audio", default=None, help="A recording to play instead (URL or audio/...).")
@click.option("--no-audio", is_flag=True, help="Remove the recording: say the text.")
@click.option("--note", default=None, help="Why (shown in the history).")
@actor_option
@_refusals
def set_command(
    key: str,
    language: str,
    text: str,
    reprompt: str | None,
    no_reprompt: bool,
    audio: str | None,
    no_audio: bool,
    note: str | None,
    actor: str | None,
) -> None:
    """Publish a new version of KEY in one language; live on the next call."""
    if vocabulary.is_vocabulary(key):
        raise click.UsageError(
            f"{key} is a list of phrases: use `ivr prompts words add/remove/set` for it"
        )
    session = db.session()
    _, live = publish.live_content(session, key, language)
    if no_reprompt:
        reprompt = None
    elif reprompt is None:
        reprompt = live.reprompt
    if no_audio:
        audio = None
    elif audio is None:
        audio = live.audio
    version = publish.publish(
        session,
        key,
        language,
        text,
        reprompt,
        audio,
        actor=actor or _default_actor(),
        note=note,
    )
    session.commit()
    click.echo(f"Published {key} {language} version {version.version}; live on the next call.")


@prompts_group.command("history")
@click.argument("key")
@click.option("--lang", "language", required=True)
@click.option("--json", "as_json", is_flag=True)
@_refusals
def history_command(key: str, language: str, as_json: bool) -> None:
    """Every version of KEY in one language, with what changed."""
    entries = publish.history(db.session(), key, language)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "version": e.version,
                        "text": e.text,
                        "reprompt": e.reprompt,
                        "audio": e.audio,
                        "by": e.created_by,
                        "at": e.created_at.isoformat() if e.created_at else None,
                        "note": e.note,
                        "live": e.live,
                        "diff": e.diff,
                    }
                    for e in entries
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for e in entries:
        when = e.created_at.strftime("%Y-%m-%d %H:%M UTC") if e.created_at else "file"
        live = "  (live)" if e.live else ""
        click.echo(f"version {e.version}  {when}  {e.created_by}{live}")
        if e.note:
            click.echo(f"  note: {e.note}")
        if e.diff:
            for line in e.diff.splitlines()[2:]:
                click.echo(f"  {line}")
        elif vocabulary.is_vocabulary(key):
            click.echo(f"  {', '.join(prompts.phrases_of(e.text)) or '(no phrases)'}")
        else:
            click.echo(f"  {e.text}")
        click.echo("")


@prompts_group.command("rollback")
@click.argument("key")
@click.option("--lang", "language", required=True)
@click.option("--to", "to_version", type=int, required=True, help="The version to bring back.")
@click.option("--note", default=None)
@actor_option
@_refusals
def rollback_command(
    key: str, language: str, to_version: int, note: str | None, actor: str | None
) -> None:
    """Bring back an earlier version (as a new version: history is kept)."""
    session = db.session()
    version = publish.rollback(
        session, key, language, to_version, actor=actor or _default_actor(), note=note
    )
    session.commit()
    click.echo(
        f"Rolled {key} {language} back to version {to_version}: "
        f"now version {version.version}, live on the next call."
    )


@prompts_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_refusals
def export_command(directory: Path) -> None:
    """Write the live prompts and offers as YAML files into DIRECTORY."""
    session = db.session()
    written = export.export(session, directory, catalog=prompts.live_catalog(session))
    for path in written:
        click.echo(str(path))
    click.echo(f"Exported the live prompts to {directory}; `ivr prompts check --dir` checks them.")


# --- the words the line understands --------------------------------------------------


@prompts_group.group("words", cls=AppGroup)
def words_group() -> None:
    """The words the line understands: list, add, remove, set.

    ENTRY is intents.<name>, reasons.<code>, fillers, negations, common or
    hints.<step> (or with vocabulary. in front). Every change is a new
    version: `ivr prompts history vocabulary.ENTRY --lang L` and
    `ivr prompts rollback vocabulary.ENTRY --lang L --to N` work on it.
    """


@words_group.command("list")
@click.argument("entry", required=False)
@click.option("--lang", "language", default=None, help="Only this language.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (one object per entry and language)."
)
@_refusals
def words_list_command(entry: str | None, language: str | None, as_json: bool) -> None:
    """Every entry (or ENTRY) with the phrases the line understands now."""
    rows = vocabulary.list_vocabulary(db.session())
    languages = list(rows[0].live) if rows else []
    if language is not None and language not in languages:
        click.echo(f"No language {language!r}; the line speaks {', '.join(languages)}.", err=True)
        sys.exit(2)
    if entry is not None:
        key = vocabulary.entry_key(entry)
        rows = [row for row in rows if row.key == key]
        if not rows:
            click.echo(
                f"No vocabulary entry {entry!r}; `ivr prompts words list` shows them.", err=True
            )
            sys.exit(2)
    languages = [language] if language else languages
    if as_json:
        out = [
            {
                "entry": row.name,
                "key": row.key,
                "language": lang,
                "version": row.live[lang][0],
                "phrases": row.live[lang][1],
            }
            for row in rows
            for lang in languages
        ]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            click.echo(f"== {section}: {vocabulary.VOCABULARY_HELP.get(section, '')}")
        for lang in languages:
            version, phrases = row.live[lang]
            click.echo(f"{row.name} [{lang} v{version}] {', '.join(phrases) or '(none)'}")


def _published(key: str, language: str, version: int) -> None:
    click.echo(
        f"Published {key} {language} version {version}; understood from the next call on "
        f"(`ivr prompts history {key} --lang {language}`)."
    )


@words_group.command("add")
@click.argument("entry")
@click.argument("phrases", nargs=-1, required=True)
@click.option("--lang", "language", required=True, help="e.g. en-US or es-US")
@click.option("--note", default=None, help="Why (shown in the history).")
@actor_option
@_refusals
def words_add_command(
    entry: str, phrases: tuple[str, ...], language: str, note: str | None, actor: str | None
) -> None:
    """Add PHRASES to ENTRY (a synonym the line missed).

    e.g. `ivr prompts words add intents.agent supervisor "a manager" --lang en-US`
    """
    session = db.session()
    version = publish.add_phrases(
        session, entry, language, phrases, actor=actor or _default_actor(), note=note
    )
    session.commit()
    _published(version.key, language, version.version)


@words_group.command("remove")
@click.argument("entry")
@click.argument("phrases", nargs=-1, required=True)
@click.option("--lang", "language", required=True, help="e.g. en-US or es-US")
@click.option("--note", default=None, help="Why (shown in the history).")
@actor_option
@_refusals
def words_remove_command(
    entry: str, phrases: tuple[str, ...], language: str, note: str | None, actor: str | None
) -> None:
    """Remove one or more PHRASES from ENTRY."""
    session = db.session()
    version = publish.remove_phrases(
        session, entry, language, phrases, actor=actor or _default_actor(), note=note
    )
    session.commit()
    _published(version.key, language, version.version)


@words_group.command("set")
@click.argument("entry")
@click.option("--lang", "language", required=True, help="e.g. en-US or es-US")
@click.option(
    "--phrases-file",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="The complete list, one phrase a line (- reads standard input).",
)
@click.option("--note", default=None, help="Why (shown in the history).")
@actor_option
@_refusals
def words_set_command(
    entry: str, language: str, phrases_file: Any, note: str | None, actor: str | None
) -> None:
    """Replace every phrase of ENTRY with the lines of a file."""
    session = db.session()
    version = publish.publish(
        session,
        vocabulary.entry_key(entry),
        language,
        phrases_file.read(),
        actor=actor or _default_actor(),
        note=note,
    )
    session.commit()
    _published(version.key, language, version.version)


# --- offers ---------------------------------------------------------------------------


@click.group("offers", cls=AppGroup)
def offers_group() -> None:
    """The one offer per cancellation reason: list, edit, switch off, history."""


@offers_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def offers_list_command(as_json: bool) -> None:
    """Every offer and the reason it answers."""
    offers = offers_admin.list_offers(db.session())
    if as_json:
        out = [
            {**offers_admin.offer_snapshot(o), "updated_at": o.updated_at.isoformat()}
            for o in offers
        ]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for o in offers:
        state = "on" if o.active else "OFF"
        click.echo(
            f"{o.code} [{state}] reason={o.reason_code} kind={o.kind} terms={json.dumps(o.terms)}"
        )
        for language, words in sorted(o.wording.items()):
            click.echo(f"    {language}: {words}")


@offers_group.command("set")
@click.argument("code")
@click.option("--kind", type=click.Choice(OFFER_KINDS), default=None)
@click.option("--terms", default=None, help='JSON, e.g. \'{"percent": 50, "months": 3}\'.')
@click.option("--wording-en", default=None, help="The en-US wording.")
@click.option("--wording-es", default=None, help="The es-US wording.")
@click.option("--lang", "language", default=None, help="With --wording: any language.")
@click.option("--wording", default=None)
@click.option("--active/--inactive", default=None, help="Switch the offer on or off.")
@actor_option
@_refusals
def offers_set_command(
    code: str,
    kind: str | None,
    terms: str | None,
    wording_en: str | None,
    wording_es: str | None,
    language: str | None,
    wording: str | None,
    active: bool | None,
    actor: str | None,
) -> None:
    """Change an offer: its kind, terms, wording per language, on or off."""
    parsed_terms = None
    if terms is not None:
        try:
            parsed_terms = json.loads(terms)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--terms is not JSON: {exc}") from None
        if not isinstance(parsed_terms, dict):
            raise click.UsageError('--terms must be a JSON object, e.g. {"months": 3}')
    if (language is None) != (wording is None):
        raise click.UsageError("--lang and --wording go together")
    words: dict[str, str] = {}
    if wording_en is not None:
        words["en-US"] = wording_en
    if wording_es is not None:
        words["es-US"] = wording_es
    if language is not None and wording is not None:
        words[language] = wording
    if parsed_terms is None and kind is None and not words and active is None:
        raise click.UsageError("nothing to change: give --kind, --terms, a wording or --active")
    session = db.session()
    offer = offers_admin.update_offer(
        session,
        code,
        actor or _default_actor(),
        kind=kind,
        terms=parsed_terms,
        wording=words or None,
        active=active,
    )
    session.commit()
    state = "on" if offer.active else "off"
    click.echo(f"Saved {offer.code} ({offer.kind}, {state}); the next caller hears it.")


@offers_group.command("history")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@_refusals
def offers_history_command(code: str, as_json: bool) -> None:
    """Every change of an offer: who, when, before and after."""
    entries = offers_admin.offer_history(db.session(), code)
    if as_json:
        out = [
            {
                "by": e.changed_by,
                "at": e.changed_at.isoformat(),
                "before": e.before,
                "after": e.after,
            }
            for e in entries
        ]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo(f"{code}: no changes since it was loaded from offers.yaml.")
    for e in entries:
        click.echo(f"{e.changed_at.strftime('%Y-%m-%d %H:%M UTC')}  {e.changed_by}")
        for name, old, new in e.changes:
            click.echo(
                f"  {name}: {json.dumps(old, ensure_ascii=False)} -> "
                f"{json.dumps(new, ensure_ascii=False)}"
            )
