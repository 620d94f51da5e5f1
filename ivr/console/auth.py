"""Who is signed in to the console, and what they may do.

Other console modules import `role_required`, `current_user` and `audit`
from here. Sign-in, sign-out and the CSRF check live here too, so the whole
security story of the console is in one file.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from .. import db, lockout
from ..models import AuditLog, User, utcnow
from . import bp, limiter

ROLES = ("admin", "ops", "support")

_hasher = PasswordHasher()
# Verified when the email is unknown, so a wrong email costs the same time as
# a wrong password and response times do not reveal who has an account.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

P = ParamSpec("P")
R = TypeVar("R")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(s: Session, email: str, role: str, password: str) -> User:
    """Add a console user. The caller commits."""
    email = normalize_email(email)
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise ValueError("an email address is needed")
    if len(password) < 10:
        raise ValueError("the password needs at least 10 characters")
    if s.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise ValueError(f"a user with the email {email} exists already")
    user = User(email=email, role=role, password_hash=hash_password(password), active=True)
    s.add(user)
    s.flush()
    return user


@dataclass(frozen=True)
class SignIn:
    user: User | None
    # When this address may try this email again: the page says so instead
    # of making the worker sleep.
    locked_until: dt.datetime | None = None


def sign_in_key(address: str | None, email: str) -> tuple[str, str]:
    """Failures are counted per client address and email together, whether
    or not the email has an account: the answers never tell them apart, and
    guessing from one address cannot lock the account for everyone else."""
    return ("sign_in", f"{(address or '?')[:45]} {normalize_email(email)}"[:64])


def attempt_sign_in(
    s: Session, email: str, password: str, address: str | None, now: dt.datetime | None = None
) -> SignIn:
    """Check a password, counting failures; the caller commits either way.

    Known and unknown emails take the same path: one password hash checked
    (a dummy one for nobody), one failure counted, the same lock."""
    key = sign_in_key(address, email)
    guard = lockout.Guard(s.connection(), [key], now)
    if guard.locked():
        return SignIn(None, locked_until=lockout.locked_until(guard.conn, key, guard.now))
    user = s.scalars(select(User).where(User.email == normalize_email(email))).first()
    if user is not None and not user.active:
        user = None
    if user is None or not _password_matches(user.password_hash, password):
        if user is None:
            _password_matches(_DUMMY_HASH, password)
        guard.failed()
        return SignIn(None, locked_until=lockout.locked_until(guard.conn, key, guard.now))
    guard.succeeded("sign_in")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return SignIn(user)


def current_user() -> User | None:
    """The signed-in, still active user of this request, or None."""
    if "console_user" not in g:
        user = None
        user_id = session.get("user_id")
        if user_id is not None:
            user = db.session().get(User, user_id)
            # Sign-out and deactivation raise the version, so a session (or a
            # copy of its cookie) from before ends at its next click.
            version = session.get("session_version")
            if user is not None and (not user.active or user.session_version != version):
                user = None
        g.console_user = user
    return g.console_user  # type: ignore[no-any-return]


def end_sessions(user: User) -> None:
    """End every session of the user, on every machine (the caller commits)."""
    user.session_version += 1


def has_role(user: User | None, *roles: str) -> bool:
    """Admins may open every page; other roles only the pages made for them."""
    return user is not None and (user.role == "admin" or user.role in roles)


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Sign-in required; then 403 unless the user has one of `roles` (or is admin)."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            user = current_user()
            if user is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if not has_role(user, *roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def audit(action: str, detail: dict[str, Any] | None = None) -> None:
    """Record a console action; it is committed with the request's transaction."""
    user = current_user()
    db.session().add(
        AuditLog(actor=user.email if user else "anonymous", action=action, detail=detail or {})
    )


def csrf_token() -> str:
    """The session's token, made on first use; every console form posts it back."""
    token = session.get("csrf_token")
    if not token:
        token = session["csrf_token"] = secrets.token_urlsafe(32)
    return str(token)


@bp.before_request
def refuse_nul() -> None:
    """No form or query value holds a NUL: PostgreSQL cannot store or even
    compare one, and no person types it. Refused before anything reads it."""
    values = [*request.args.values(), *request.form.values()]
    if any("\x00" in v for v in values) or "\x00" in request.path:
        abort(400, description="The request holds a character no form sends (NUL).")


@bp.before_request
def check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get("csrf_token")
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(str(expected), given):
        abort(400, description="The form expired or did not come from this site. Try again.")


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "current_user": current_user,
        "has_role": has_role,
    }


def _safe_next(target: str | None) -> str:
    """Only go back to a console page, never to another site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/console/"):
            return target
    return url_for("console.home")


@bp.get("/login")
def login() -> str | Response:
    if current_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("console/login.html", next=request.args.get("next", ""))


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@bp.post("/login")
@limiter.limit(_login_limit, methods=["POST"])
def login_post() -> tuple[str, int] | Response:
    s = db.session()
    email = request.form.get("email", "")
    db.begin_for_write(s)
    result = attempt_sign_in(s, email, request.form.get("password", ""), request.remote_addr)
    s.commit()
    if result.user is None:
        if result.locked_until is not None:
            seconds = max(1, int((result.locked_until - utcnow()).total_seconds() + 0.999))
            message = (
                f"Too many failed sign-ins. Try again in {seconds} second"
                f"{'s' if seconds != 1 else ''}."
            )
        else:
            message = "Wrong email or password."
        page = render_template(
            "console/login.html", error=message, email=email, next=request.form.get("next", "")
        )
        return page, 429 if result.locked_until is not None else 401
    # A fresh session at sign-in: nothing from before carries over, not even
    # the form token (one planted before sign-in must not be good after it).
    session.clear()
    session["user_id"] = result.user.id
    session["session_version"] = result.user.session_version
    session["csrf_token"] = secrets.token_urlsafe(32)
    g.pop("console_user", None)
    audit("sign_in", {"email": result.user.email})
    s.commit()
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Response:
    user = current_user()
    if user is not None:
        end_sessions(user)
        audit("sign_out")
        db.session().commit()
    session.clear()
    return redirect(url_for("console.login"))
