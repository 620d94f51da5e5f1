"""`flask --app wsgi ivr create-user` and `ivr demo-calls`."""

from __future__ import annotations

import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import db


@click.command("create-user")
@click.option("--email", required=True, help="The user's email; they sign in with it.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "ops", "support"]),
    help="admin: every page, and users; ops: prompts, words, offers and analytics; "
    "support: call records, callbacks and analytics.",
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given (better: it stays out of the shell history).",
)
@with_appcontext
def create_user_command(email: str, role: str, password: str) -> None:
    """Add a console user."""
    from .auth import create_user

    s = db.session()
    try:
        user = create_user(s, email, role, password)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    s.commit()
    click.echo(f"{user.email} can sign in at /console/login as {user.role}.")


@click.command("demo-calls")
@click.option("--count", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=1, show_default=True, help="Same seed, same calls.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(min=1))
@with_appcontext
def demo_calls_command(count: int, seed: int, days: int) -> None:
    """Write COUNT realistic call records spread over the last DAYS days."""
    from .demo_calls import write_demo_calls

    began = time.perf_counter()
    with click.progressbar(length=count, label="Writing calls", file=sys.stderr) as bar:
        written = write_demo_calls(
            db.engine(),
            count,
            current_app.config["VOICE_PROMPTS_DIR"],
            seed=seed,
            days=days,
            progress=bar.update,
        )
    click.echo(f"{written} calls written in {time.perf_counter() - began:.1f} s.")
