"""Reading a simulated call's record back from the line's database."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from .engine import Lookup


def record_lookup(app: Flask) -> Lookup:
    """A lookup of the call record by CallSid, in `app`'s database.

    Over HTTP the server may use another database than this app: then the
    call is simply not found, and the outcome is unknown.
    """

    def lookup(call_sid: str) -> dict[str, Any] | None:
        from .. import db
        from ..records import call_record, find_call

        # Its own app context: a fresh session that sees what the requests committed.
        with app.app_context():
            try:
                call = find_call(db.session(), call_sid)
            except SQLAlchemyError:
                return None
            return call_record(call) if call is not None else None

    return lookup


def language_on_file(app: Flask, phone: str) -> str | None:
    """The language of the customer with this phone number in `app`'s database:
    the one the line greets them in. None when no customer has the number."""
    from sqlalchemy import select

    from .. import db
    from ..models import Customer

    with app.app_context():
        try:
            return (
                db.session()
                .scalars(
                    select(Customer.language).where(Customer.phone == phone).order_by(Customer.id)
                )
                .first()
            )
        except SQLAlchemyError:
            return None
