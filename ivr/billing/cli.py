"""`flask --app wsgi ivr ...`: the billing commands (worker, billing status,
billing sync, billing retry, set-pin, import-pins)."""

from __future__ import annotations

import csv
import json
import re
import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from .. import db
from ..demo import PIN_HASH_METHOD
from ..models import Customer

billing_cli = AppGroup("billing", help="Billing changes: where they stand, retrying them.")


def register(ivr_cli: AppGroup) -> None:
    ivr_cli.add_command(billing_cli)
    ivr_cli.add_command(worker_command)
    ivr_cli.add_command(set_pin_command)
    ivr_cli.add_command(import_pins_command)


@click.command("worker")
@click.option("--concurrency", default=4, show_default=True, help="Jobs run at once.")
@with_appcontext
def worker_command(concurrency: int) -> None:
    """Apply billing changes (BILLING_BACKEND=http or stripe) and send texts to callers
    (SMS_FROM set): runs until SIGTERM."""
    from .. import messaging
    from .jobs import run_worker

    embedded = (current_app.config.get("BILLING_BACKEND") or "embedded") == "embedded"
    if embedded and not messaging.enabled(current_app.config):
        click.echo(
            "BILLING_BACKEND is embedded and no texts are set up (SMS_FROM): changes are "
            "applied during the call; no worker is needed.",
            err=True,
        )
        sys.exit(2)
    from ..observability import configure_logging

    configure_logging(current_app.config.get("LOG_LEVEL") or "INFO")
    run_worker(current_app._get_current_object(), concurrency)  # type: ignore[attr-defined]


@billing_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def status_command(as_json: bool) -> None:
    """Billing changes by state, and the age of the oldest unapplied one."""
    from .status import summary

    found = summary(db.session())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "backend": current_app.config.get("BILLING_BACKEND") or "embedded",
                    "by_state": found.by_state,
                    "oldest_unapplied_seconds": found.oldest_unfinished_seconds,
                    "failed": found.failed_ids,
                }
            )
        )
        return
    click.echo(f"backend: {current_app.config.get('BILLING_BACKEND') or 'embedded'}")
    for state, n in found.by_state.items():
        click.echo(f"{state:>9}: {n}")
    age = found.oldest_unfinished_seconds
    click.echo(f"oldest unapplied: {'none' if age is None else f'{age:.0f} s'}")
    if found.failed_ids:
        ids = " ".join(map(str, found.failed_ids))
        click.echo(f"failed (retry with `ivr billing retry ID`): {ids}")


@billing_cli.command("sync")
@with_appcontext
def sync_command() -> None:
    """Fill the mirror from Stripe (BILLING_BACKEND=stripe): every customer
    with metadata.account_number, and their subscriptions, paged through
    Stripe's lists. Webhooks keep it current afterwards."""
    from . import BillingRejected, BillingUnavailable, backend_for
    from .mirror import mirror
    from .stripe_backend import StripeBilling

    backend = backend_for(current_app.config)
    if not isinstance(backend, StripeBilling):
        click.echo("`ivr billing sync` is for BILLING_BACKEND=stripe.", err=True)
        sys.exit(2)
    s = db.session()
    customers = subscriptions = 0
    try:
        for record in backend.all_customers():
            mirror(s.connection(), record)
            customers += 1
            subscriptions += len(record.subscriptions)
    except (BillingUnavailable, BillingRejected) as exc:
        s.rollback()
        click.echo(f"Stripe could not be read: {exc}; nothing changed.", err=True)
        sys.exit(1)
    s.commit()
    click.echo(f"{customers} customers, {subscriptions} subscriptions mirrored from Stripe.")


@billing_cli.command("retry")
@click.argument("change_id", type=int)
@with_appcontext
def retry_command(change_id: int) -> None:
    """Queue a failed change again (as the console's Retry button does)."""
    from .retry import retry_change

    s = db.session()
    outcome = retry_change(s, current_app.config, change_id)
    s.commit()
    click.echo(outcome)
    if outcome != "queued again":
        sys.exit(1)


def _hash_pin(pin: str) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(pin, method=PIN_HASH_METHOD)


def _set_pin(account: str, pin: str) -> str:
    """Store a PIN (hashed) for an account; the customer row is made if the
    account has not been looked up yet (its details come from billing)."""
    if not re.fullmatch(r"[0-9]{4}", pin):
        raise click.BadParameter(f"account {account}: a PIN is 4 digits")
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,32}", account):
        raise click.BadParameter(f"{account!r} is not an account number")
    s = db.session()
    customer = s.scalars(select(Customer).where(Customer.account_number == account)).first()
    if customer is None:
        if (current_app.config.get("BILLING_BACKEND") or "embedded") == "embedded":
            raise click.BadParameter(f"no customer with account {account}")
        customer = Customer(account_number=account, name="", phone=None)
        s.add(customer)
        made = "added"
    else:
        made = "changed"
    customer.pin_hash = _hash_pin(pin)
    return made


@click.command("set-pin")
@click.option("--account", required=True, help="The billing system's account number.")
@click.option("--pin", required=True, help="Four digits.")
@with_appcontext
def set_pin_command(account: str, pin: str) -> None:
    """Set the PIN a caller of this account verifies with (stored hashed)."""
    made = _set_pin(account, pin)
    db.session().commit()
    click.echo(f"PIN {made} for account {account}.")


@click.command("import-pins")
@click.argument("csv_file", type=click.File("r", encoding="utf-8"))
@with_appcontext
def import_pins_command(csv_file) -> None:  # type: ignore[no-untyped-def]
    """Set many PINs from a CSV with columns account,pin (a header row is allowed).
    All or nothing: one bad row changes nothing."""
    count = 0
    for n, row in enumerate(csv.reader(csv_file), start=1):
        if not row or (n == 1 and row[0].strip().lower() == "account"):
            continue
        if len(row) != 2:
            raise click.BadParameter(f"line {n}: expected account,pin")
        _set_pin(row[0].strip(), row[1].strip())
        count += 1
    db.session().commit()
    click.echo(f"{count} PINs set.")
