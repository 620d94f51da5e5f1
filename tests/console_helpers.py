"""Signing in to the console from the test client, and reading its pages."""

from __future__ import annotations

import re
from html import unescape

from flask import Flask
from flask.testing import FlaskClient

from ivr import db
from ivr.console.auth import create_user

PASSWORD = "correct horse battery"
TOKEN = "token-for-tests"


def csrf(client: FlaskClient) -> str:
    """The session's CSRF token (set to TOKEN when the session has none yet)."""
    with client.session_transaction() as session:
        session.setdefault("csrf_token", TOKEN)
        return str(session["csrf_token"])


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(
        "/console/login", data={"email": email, "password": password, "csrf_token": csrf(client)}
    )


def signed_in(app: Flask, client: FlaskClient, role: str, *other_roles: str) -> FlaskClient:
    """Create a user per role (role@example.com) and sign the client in as the first."""
    with app.app_context():
        s = db.session()
        for r in (role, *other_roles):
            create_user(s, f"{r}@example.com", r, PASSWORD)
        s.commit()
    response = sign_in(client, f"{role}@example.com")
    assert response.status_code == 302, response.get_data(as_text=True)
    # Signing in makes a new CSRF token (a token from before is refused); the
    # tests post TOKEN, as if the page had handed them the new one.
    with client.session_transaction() as session:
        session["csrf_token"] = TOKEN
    return client


def page(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(response.get_data(as_text=True))


def errors(html: str) -> list[str]:
    """The messages of a page's error list."""
    block = re.search(r'id="errors">(.*?)</div>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block.group(1)) if block else []
