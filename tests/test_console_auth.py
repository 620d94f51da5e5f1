"""Signing in to the console, roles, CSRF, lockout, the audit log and create-user."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from console_helpers import PASSWORD, csrf, sign_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr import create_app, db
from ivr.console.auth import create_user
from ivr.models import AuditLog, User, VerifyLock, utcnow


@pytest.fixture
def users(app: Flask) -> dict[str, str]:
    """One user per role; returns role -> email."""
    with app.app_context():
        s = db.session()
        for role in ("admin", "ops", "support"):
            create_user(s, f"{role}@example.com", role, PASSWORD)
        s.commit()
    return {role: f"{role}@example.com" for role in ("admin", "ops", "support")}


def audit_actions(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session().execute(select(AuditLog.actor, AuditLog.action).order_by(AuditLog.id))
        return [(actor, action) for actor, action in rows]


def test_login_page_has_a_form_with_a_csrf_token(client: FlaskClient) -> None:
    page = client.get("/console/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<label for="email">' in html and '<label for="password">' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    with client.session_transaction() as session:
        assert session["csrf_token"] == token.group(1)


def test_support_signs_in_lands_on_calls_and_the_cookie_is_protected(
    client: FlaskClient, users: dict[str, str], app: Flask
) -> None:
    response = sign_in(client, "  Support@Example.com ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/console/").headers["Location"] == "/console/calls"
    assert client.get("/console/calls").status_code == 200
    assert ("support@example.com", "sign_in") in audit_actions(app)


def test_wrong_password_is_refused_and_counted(
    client: FlaskClient, users: dict[str, str], app: Flask
) -> None:
    response = sign_in(client, users["support"], "wrong password!")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/console/calls").status_code == 302
    with app.app_context():
        row = db.session().execute(select(VerifyLock).where(VerifyLock.kind == "sign_in")).one()
        assert row.VerifyLock.failures == 1 and row.VerifyLock.locked_until is None


def _answer(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    error = re.search(r'role="alert">(.*?)<', html, re.S)
    assert error is not None, html
    return response.status_code, error.group(1).strip()


def test_known_and_unknown_emails_get_the_same_answers_and_the_same_work(
    app: Flask, users: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr.console import auth

    hashed: list[str] = []
    real = auth._password_matches
    monkeypatch.setattr(auth, "_password_matches", lambda h, p: hashed.append(p) or real(h, p))
    app.config["LOGIN_RATE_LIMIT"] = "100 per minute"  # this test is about the lock
    answers = {}
    for email in (users["ops"], "nobody@example.com"):
        client = app.test_client()
        hashed.clear()
        answers[email] = [_answer(sign_in(client, email, "wrong password!")) for _ in range(6)]
        answers[email].append(_answer(sign_in(client, email)))
        # Each attempt before the lock hashes once; locked ones not at all.
        assert len(hashed) == 5
    assert answers[users["ops"]] == answers["nobody@example.com"]
    assert answers["nobody@example.com"][0] == (401, "Wrong email or password.")
    assert answers["nobody@example.com"][4][0] == 429


def test_repeated_failures_lock_the_address_and_the_page_says_for_how_long(
    client: FlaskClient, users: dict[str, str], app: Flask
) -> None:
    for _ in range(4):
        assert sign_in(client, users["ops"], "wrong password!").status_code == 401
    fifth = sign_in(client, users["ops"], "wrong password!")
    assert fifth.status_code == 429
    assert "Too many failed sign-ins. Try again in 60 seconds." in fifth.get_data(as_text=True)
    # Locked: even the right password is refused until the lock ends.
    locked = sign_in(client, users["ops"])
    assert locked.status_code == 429
    assert "Try again in" in locked.get_data(as_text=True)
    with app.app_context():
        s = db.session()
        lock = s.scalars(select(VerifyLock).where(VerifyLock.kind == "sign_in")).one()
        lock.locked_until = utcnow() - dt.timedelta(seconds=1)
        s.commit()
    assert sign_in(client, users["ops"]).status_code == 302
    with app.app_context():
        lock = db.session().scalars(select(VerifyLock).where(VerifyLock.kind == "sign_in")).one()
        assert lock.failures == 0 and lock.locked_until is None


def test_guessing_from_elsewhere_does_not_lock_the_staff_member_out(
    app: Flask, users: dict[str, str]
) -> None:
    attacker, staff = app.test_client(), app.test_client()
    elsewhere = {"REMOTE_ADDR": "203.0.113.66"}
    answers = [
        attacker.post(
            "/console/login",
            data={"email": users["ops"], "password": password, "csrf_token": csrf(attacker)},
            environ_base=elsewhere,
        ).status_code
        for password in ["guess"] * 7 + [PASSWORD]
    ]
    assert answers[-1] == 429
    assert sign_in(staff, users["ops"]).status_code == 302


PROTECTED = [
    ("get", "/console/calls"),
    ("get", "/console/calls.csv"),
    ("get", "/console/calls/CA0000"),
    ("get", "/console/callbacks"),
    ("get", "/console/analytics"),
    ("get", "/console/users"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_page_but_login_needs_sign_in(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("support", "/console/calls", 200),
        ("support", "/console/callbacks", 200),
        ("support", "/console/analytics", 200),
        ("support", "/console/users", 403),
        ("ops", "/console/calls", 403),
        ("ops", "/console/calls.csv", 403),
        ("ops", "/console/callbacks", 403),
        ("ops", "/console/analytics", 200),
        ("ops", "/console/users", 403),
        ("admin", "/console/calls", 200),
        ("admin", "/console/callbacks", 200),
        ("admin", "/console/analytics", 200),
        ("admin", "/console/users", 200),
    ],
)
def test_each_role_sees_only_its_pages(
    client: FlaskClient, users: dict[str, str], role: str, path: str, status: int
) -> None:
    sign_in(client, users[role])
    assert client.get(path).status_code == status


def test_the_nav_shows_links_by_role(client: FlaskClient, users: dict[str, str]) -> None:
    sign_in(client, users["ops"])
    html = client.get("/console/analytics").get_data(as_text=True)
    assert 'href="/console/analytics"' in html
    assert 'href="/console/calls"' not in html and 'href="/console/users"' not in html


def test_a_post_without_the_csrf_token_is_refused(
    client: FlaskClient, users: dict[str, str]
) -> None:
    refused = client.post("/console/login", data={"email": users["admin"], "password": PASSWORD})
    assert refused.status_code == 400
    sign_in(client, users["admin"])
    forged = client.post(
        "/console/users",
        data={"email": "x@example.com", "role": "admin", "password": "0123456789ab"},
    )
    assert forged.status_code == 400
    wrong = client.post(
        "/console/users",
        data={
            "email": "x@example.com",
            "role": "admin",
            "password": "0123456789ab",
            "csrf_token": "not-the-token",
        },
    )
    assert wrong.status_code == 400
    html = client.get("/console/users").get_data(as_text=True)
    assert "x@example.com" not in html


def test_sign_out_ends_the_session(client: FlaskClient, users: dict[str, str], app: Flask) -> None:
    sign_in(client, users["support"])
    assert client.post("/console/logout", data={"csrf_token": csrf(client)}).status_code == 302
    assert client.get("/console/calls").status_code == 302
    assert ("support@example.com", "sign_out") in audit_actions(app)


def test_after_sign_in_only_console_pages_are_followed(
    client: FlaskClient, users: dict[str, str]
) -> None:
    data = {"email": users["support"], "password": PASSWORD, "csrf_token": csrf(client)}
    here = client.post("/console/login", data={**data, "next": "/console/calls?outcome=saved"})
    assert here.headers["Location"] == "/console/calls?outcome=saved"
    client.post("/console/logout", data={"csrf_token": csrf(client)})
    data["csrf_token"] = csrf(client)
    away = client.post("/console/login", data={**data, "next": "https://evil.example/console/"})
    assert away.headers["Location"] == "/console/"


def test_admin_adds_a_user_who_can_then_sign_in(
    client: FlaskClient, users: dict[str, str], app: Flask
) -> None:
    sign_in(client, users["admin"])
    response = client.post(
        "/console/users",
        data={
            "email": "new@example.com",
            "role": "support",
            "password": "a long password",
            "csrf_token": csrf(client),
        },
        follow_redirects=True,
    )
    assert "new@example.com can now sign in as support." in response.get_data(as_text=True)
    assert ("admin@example.com", "create_user") in audit_actions(app)
    other = app.test_client()
    assert sign_in(other, "new@example.com", "a long password").status_code == 302


def test_turning_off_a_user_ends_their_session(
    client: FlaskClient, users: dict[str, str], app: Flask
) -> None:
    support = app.test_client()
    sign_in(support, users["support"])
    assert support.get("/console/calls").status_code == 200
    sign_in(client, users["admin"])
    with app.app_context():
        user_id = db.session().scalars(select(User.id).where(User.email == users["support"])).one()
    client.post(
        f"/console/users/{user_id}", data={"action": "deactivate", "csrf_token": csrf(client)}
    )
    assert support.get("/console/calls").status_code == 302
    assert sign_in(support, users["support"]).status_code == 401


def test_an_admin_cannot_lock_themselves_out(
    client: FlaskClient, users: dict[str, str], app: Flask
) -> None:
    sign_in(client, users["admin"])
    with app.app_context():
        me = db.session().scalars(select(User.id).where(User.email == users["admin"])).one()
    page = client.post(
        f"/console/users/{me}",
        data={"action": "deactivate", "csrf_token": csrf(client)},
        follow_redirects=True,
    )
    assert "You cannot turn off your own access." in page.get_data(as_text=True)
    assert client.get("/console/users").status_code == 200


def test_create_user_command_hashes_the_password_with_argon2(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        args=["ivr", "create-user", "--email", "Cli@Example.com", "--role", "ops"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "cli@example.com can sign in" in result.output
    with app.app_context():
        user = db.session().scalars(select(User).where(User.email == "cli@example.com")).one()
        assert user.role == "ops"
        assert user.password_hash.startswith("$argon2id$")
        assert "a long password" not in user.password_hash
    again = runner.invoke(
        args=["ivr", "create-user", "--email", "cli@example.com", "--role", "ops"]
        + ["--password", "a long password"]
    )
    assert again.exit_code != 0 and "exists already" in again.output
    short = runner.invoke(
        args=["ivr", "create-user", "--email", "b@example.com", "--role", "ops", "--password", "x"]
    )
    assert short.exit_code != 0 and "at least 10 characters" in short.output


def test_the_cookie_is_secure_when_the_site_is_served_over_https(app: Flask) -> None:
    https_app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SECRET_KEY": "test-secret-key",
            "TWILIO_AUTH_TOKEN": "test-token",
            "PUBLIC_BASE_URL": "https://line.example.com",
            "IVR_ENV": "test",
        }
    )
    try:
        assert https_app.config["SESSION_COOKIE_SECURE"] is True
        client = https_app.test_client()
        response = client.get("/console/login", base_url="https://line.example.com")
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        with https_app.app_context():
            db.engine().dispose()


def test_sign_ins_are_limited_per_client_address_before_any_hashing(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr.console import auth

    hashed: list[str] = []
    real = auth._password_matches

    def counting(password_hash: str, password: str) -> bool:
        hashed.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(auth, "_password_matches", counting)
    app.config["LOGIN_RATE_LIMIT"] = "5 per minute"
    flood = app.test_client()
    answers = [
        flood.post(
            "/console/login",
            data={"email": f"nobody{n}@example.com", "password": "x", "csrf_token": csrf(flood)},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        ).status_code
        for n in range(8)
    ]
    assert answers[5:] == [429, 429, 429]
    assert len(hashed) == 5
    # Another address is not held back by that one.
    other = app.test_client()
    response = other.post(
        "/console/login",
        data={"email": "nobody@example.com", "password": "x", "csrf_token": csrf(other)},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert response.status_code != 429


def test_pages_carry_the_browser_security_headers(app: Flask) -> None:
    response = app.test_client().get("/console/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    over_https = app.test_client().get("/console/login", base_url="https://localhost")
    assert over_https.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("post", "/console/login", {"email": "ops\x00@example.com", "password": "x"}),
        ("post", "/console/login", {"email": "ops@example.com", "password": "x\x00"}),
        ("get", "/console/calls?q=Ada%00", None),
        ("get", "/console/calls?outcome=cancelled%00", None),
        ("get", "/console/calls?date_from=2026-01-01%00", None),
        ("get", "/console/calls.csv?q=%00", None),
        ("get", "/console/analytics?language=en%00", None),
        ("get", "/console/login?next=/console/%00", None),
    ],
)
def test_a_nul_byte_in_console_input_is_a_400(
    app: Flask, users: dict[str, str], method: str, path: str, data: dict[str, str] | None
) -> None:
    client = app.test_client()
    sign_in(client, users["admin"])
    if data is not None:
        data = {**data, "csrf_token": csrf(client)}
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 400


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_session_cookie_copied_before_sign_out_is_dead_after_it(
    app: Flask, users: dict[str, str]
) -> None:
    client = app.test_client()
    sign_in(client, users["support"])
    stolen = _cookie(client)
    client.post("/console/logout", data={"csrf_token": csrf(client)})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/console/calls").status_code == 302
    # Signing in again does not bring the old cookie back.
    sign_in(app.test_client(), users["support"])
    assert thief.get("/console/calls").status_code == 302


def test_turning_access_off_and_on_again_does_not_revive_old_sessions(
    app: Flask, client: FlaskClient, users: dict[str, str]
) -> None:
    support = app.test_client()
    sign_in(support, users["support"])
    old = _cookie(support)
    sign_in(client, users["admin"])
    with app.app_context():
        user_id = db.session().scalars(select(User.id).where(User.email == users["support"])).one()
    for action in ("deactivate", "activate"):
        client.post(
            f"/console/users/{user_id}", data={"action": action, "csrf_token": csrf(client)}
        )
    revived = app.test_client()
    revived.set_cookie("session", old)
    assert revived.get("/console/calls").status_code == 302


def test_the_form_token_is_renewed_at_sign_in(app: Flask, users: dict[str, str]) -> None:
    client = app.test_client()
    planted = csrf(client)  # a token known before sign-in (say, set by an attacker)
    sign_in(client, users["support"])
    assert csrf(client) != planted
    refused = client.post("/console/logout", data={"csrf_token": planted})
    assert refused.status_code == 400
