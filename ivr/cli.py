"""`flask --app wsgi ivr ...`: the line's commands."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import db

ivr_cli = AppGroup("ivr", help="The cancellation line: database, demo data, calls, prompts.")


def init_app(app: Flask) -> None:
    from . import prompts_cli
    from .billing import cli as billing_cli
    from .language.cli import understand_group
    from .simulator.cli import call_command

    ivr_cli.add_command(call_command)
    billing_cli.register(ivr_cli)
    prompts_cli.register(ivr_cli)
    ivr_cli.add_command(understand_group)
    app.cli.add_command(ivr_cli)


def alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent / "db"
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root))
    return cfg


def upgrade_database() -> None:
    """Bring the schema to the newest migration."""
    from alembic import command

    from .billing.schema import apply_job_schema

    cfg = alembic_config()
    with db.engine().begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        apply_job_schema(connection)


@ivr_cli.command("init-db")
def init_db_command() -> None:
    """Bring the database schema to the newest migration."""
    upgrade_database()
    click.echo(f"Database is at the newest migration ({_safe_url()}).")


@ivr_cli.command("seed-demo")
@click.option(
    "--reset",
    is_flag=True,
    help="Also restore the demo customers as seeded: their subscriptions (active again, "
    "with a fresh period), PINs and languages. Nothing else is touched.",
)
@click.option(
    "--offer-reset",
    "caller",
    metavar="PHONE",
    help="When the demo customer with this number has nothing left to cancel, offer the "
    "reset: asked on a terminal; otherwise said and done (scripts/try.sh uses it).",
)
def seed_demo_command(reset: bool, caller: str | None) -> None:
    """Load the demo customers, subscriptions and offers (running it twice changes nothing)."""
    from .demo import reset_demo, seed_demo, spent_demo_customer

    upgrade_database()
    s = db.session()
    prompts_dir = current_app.config["VOICE_PROMPTS_DIR"]
    added = seed_demo(s, prompts_dir)
    s.commit()
    click.echo(f"Demo data loaded: {added} new rows." if added else "Demo data already loaded.")
    spent = spent_demo_customer(s, caller) if caller and not reset else None
    if spent:
        click.echo(spent)
        reset = _reset_wanted()
    if reset:
        restored = reset_demo(s, prompts_dir)
        s.commit()
        for line in restored:
            click.echo(f"Reset {line}.")
        if not restored:
            click.echo("The demo customers are as seeded: nothing to reset.")


def _reset_wanted() -> bool:
    question = "Reset the demo customers (subscriptions, PINs, languages; nothing else)?"
    # A script, or try.sh with its answers on standard input, has nobody to ask,
    # and a demo with nothing to cancel is of no use to it.
    if not _stdin_is_a_terminal():
        click.echo(f"{question} Yes: nobody to ask (standard input is not a terminal).")
        return True
    if click.confirm(question, default=True):
        return True
    click.echo("Left as they are: the call will hear that there is nothing to cancel.")
    return False


@ivr_cli.command("show-call")
@click.argument("call_sid")
def show_call_command(call_sid: str) -> None:
    """Print the record of one call as JSON."""
    from .records import call_record, find_call

    call = find_call(db.session(), call_sid)
    if call is None:
        click.echo(f"No call with CallSid {call_sid}.", err=True)
        sys.exit(1)
    click.echo(json.dumps(call_record(call), indent=2, ensure_ascii=False))


def sweep_calls() -> list[tuple[str, str]]:
    """Close the calls left in progress (STALE_CALL_MINUTES without a webhook)
    and commit; `ivr sweep-calls` and the worker run it."""
    from .calls import close_stale_calls

    idle = dt.timedelta(minutes=float(current_app.config["STALE_CALL_MINUTES"]))
    return db.transaction(lambda session: close_stale_calls(session, idle))


@ivr_cli.command("sweep-calls")
def sweep_calls_command() -> None:
    """Close calls whose status callback never came: in progress with nothing
    heard for STALE_CALL_MINUTES. Runs once (for cron)."""
    closed = sweep_calls()
    for call_sid, outcome in closed:
        click.echo(f"{call_sid} {outcome}")
    click.echo(f"Closed {len(closed)} call{'' if len(closed) == 1 else 's'} left in progress.")


def _stdin_is_a_terminal() -> bool:
    return sys.stdin.isatty()


def _safe_url() -> str:
    return db.engine().url.render_as_string(hide_password=True)


@ivr_cli.group("compliance")
def compliance_group() -> None:
    """Proof that cancelling stayed lawful (docs/compliance.md)."""


@compliance_group.command("report")
@click.option(
    "--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC)."
)
@click.option(
    "--to",
    "end",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last day (UTC), included.",
)
@click.option(
    "--state", default=None, help="Only calls under this state's rules (two letters, e.g. CA)."
)
@click.option(
    "--csv", "as_csv", is_flag=True, help="One row per call, for a regulator or an auditor."
)
def compliance_report_command(start, end, state: str | None, as_csv: bool) -> None:  # type: ignore[no-untyped-def]
    """Every call from --from to --to: the rules applied and why, the disclosure
    heard, "cancel" said and processed, offers heard, and each rule broken."""
    from . import compliance
    from .jurisdictions import state_code

    if end < start:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    code = None
    if state is not None:
        code = state_code(state)
        if code is None:
            raise click.BadParameter(
                f"{state!r} is not a two-letter state code", param_hint="--state"
            )
    found = compliance.proofs(db.session(), start.date(), end.date(), code)
    if as_csv:
        for chunk in compliance.to_csv(found):
            click.echo(chunk, nl=False)
        return
    result = compliance.summary(found)
    where = f" under {code}'s rules" if code else ""
    click.echo(f"Calls from {start:%Y-%m-%d} to {end:%Y-%m-%d}{where}: {result['calls']}")
    for name, count in sorted(result["by_state"].items()):
        click.echo(f"  {name}: {count}")
    total = sum(result["violations"].values())
    click.echo(f"Calls that broke a rule: {len(result['broken'])}" + ("" if total else " (none)"))
    for name, count in result["violations"].items():
        click.echo(f"  {name}: {count}  ({compliance.VIOLATIONS[name]})")
    for proof in result["broken"]:
        click.echo(f"  {proof.call_sid}: {', '.join(proof.violations)}")
