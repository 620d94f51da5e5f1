"""Settings from the environment, with safe embedded defaults.

Every setting the line reads is listed here and documented in README.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment(instance_path: str) -> dict[str, Any]:
    """Read the line's settings from the environment.

    The SQLite default lives in Flask's instance folder so a fresh checkout
    runs with nothing configured.
    """
    env = os.environ
    default_db = "sqlite:///" + str(Path(instance_path) / "ivr.sqlite3")
    return {
        "DATABASE_URL": env.get("DATABASE_URL") or default_db,
        # No default secret: without a token every webhook is refused (403),
        # except in development, where the simulator signs with DEV_AUTH_TOKEN.
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN") or None,
        "PUBLIC_BASE_URL": (env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        "AGENT_NUMBER": env.get("AGENT_NUMBER") or None,
        # e.g. "mon-fri 09:00-17:00"; empty means people answer at any hour.
        "AGENT_HOURS": env.get("AGENT_HOURS") or "",
        "AGENT_TIMEZONE": env.get("AGENT_TIMEZONE") or "America/New_York",
        "AGENT_DIAL_TIMEOUT": int(env.get("AGENT_DIAL_TIMEOUT") or 20),
        "COMPANY_NAME": env.get("COMPANY_NAME") or "Acme Streaming",
        "VOICE_PROMPTS_DIR": env.get("VOICE_PROMPTS_DIR") or str(PROJECT_ROOT / "voice_prompts"),
        "SPEECH_CONFIDENCE_THRESHOLD": float(env.get("SPEECH_CONFIDENCE_THRESHOLD") or 0.45),
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "IVR_ENV": env.get("IVR_ENV") or "development",
        "SESSION_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), False),
        # Connections per gunicorn worker process (docs/operations.md).
        "DB_POOL_SIZE": int(env.get("DB_POOL_SIZE") or 5),
        "DB_MAX_OVERFLOW": int(env.get("DB_MAX_OVERFLOW") or 5),
        # A pooled connection idle longer than this is checked before use.
        "DB_PING_AFTER_IDLE": float(env.get("DB_PING_AFTER_IDLE") or 10),
        # A webhook's database work must finish within this many seconds
        # (Twilio waits 15): past it the connection is cut, the transaction
        # rolled back, and the caller hears the apology (ivr/db.py).
        "WEBHOOK_DB_DEADLINE": float(env.get("WEBHOOK_DB_DEADLINE") or 6),
        # Console sign-in attempts per client address (Flask-Limiter syntax),
        # counted before any password is hashed; where the counts live
        # (memory:// is per worker process; redis://... shares them).
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT") or "10 per minute",
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or "memory://",
        # Behind the reverse proxy (docs/operations.md): how many proxies set
        # X-Forwarded-For, so the client's address is the one limits count.
        "TRUSTED_PROXY_COUNT": int(env.get("TRUSTED_PROXY_COUNT") or 0),
        # A call still in progress with nothing heard for this long lost its
        # status callback: `ivr sweep-calls` (and the worker, every
        # CALL_SWEEP_INTERVAL seconds) closes it as agent or abandoned.
        "STALE_CALL_MINUTES": float(env.get("STALE_CALL_MINUTES") or 120),
        "CALL_SWEEP_INTERVAL": float(env.get("CALL_SWEEP_INTERVAL") or 300),
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        "LOG_LEVEL": env.get("LOG_LEVEL") or "INFO",
        # Twilio's webhooks are a few hundred bytes; larger bodies get 413.
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH") or 256 * 1024),
        # Where cancellations and offers are applied (docs/billing-http.md):
        # "embedded" (the line's own tables), "http" or "stripe" (docs/billing-stripe.md;
        # both need PostgreSQL).
        "BILLING_BACKEND": env.get("BILLING_BACKEND") or "embedded",
        "BILLING_HTTP_URL": env.get("BILLING_HTTP_URL") or None,
        "BILLING_HTTP_SECRET": env.get("BILLING_HTTP_SECRET") or None,
        # The deadline of one billing request, connect to last byte (seconds).
        "BILLING_HTTP_TIMEOUT": float(env.get("BILLING_HTTP_TIMEOUT") or 2),
        # Retries of a change billing could not take: first wait, longest wait (seconds).
        "BILLING_RETRY_FIRST_WAIT": float(env.get("BILLING_RETRY_FIRST_WAIT") or 1),
        "BILLING_RETRY_MAX_WAIT": float(env.get("BILLING_RETRY_MAX_WAIT") or 300),
        # A worker beats every HEARTBEAT s; its jobs go back to the queue when
        # it has been silent for STALLED_AFTER s (it died mid-job).
        "BILLING_WORKER_HEARTBEAT": float(env.get("BILLING_WORKER_HEARTBEAT") or 2),
        "BILLING_WORKER_STALLED_AFTER": float(env.get("BILLING_WORKER_STALLED_AFTER") or 10),
        # Texts after the call (ivr/messaging): Twilio's account, and the sender
        # (a number, or a Messaging Service SID "MG..."). Without them, no texts.
        "TWILIO_ACCOUNT_SID": env.get("TWILIO_ACCOUNT_SID") or None,
        "SMS_FROM": env.get("SMS_FROM") or None,
        # Tests only: where the twilio client sends its requests.
        "TWILIO_API_BASE": env.get("TWILIO_API_BASE") or None,
        # A call back is due by the close of this many business days after the
        # day it was asked for (business days: AGENT_HOURS).
        "CALLBACK_TARGET_DAYS": int(env.get("CALLBACK_TARGET_DAYS") or 1),
        # When a win-back text the caller agreed to goes out, in days after the call.
        "WINBACK_AFTER_DAYS": float(env.get("WINBACK_AFTER_DAYS") or 30),
        # BILLING_BACKEND=stripe: the secret API key, the webhook endpoint's signing
        # secret, and (tests only) a Stripe-compatible server to talk to instead.
        "STRIPE_API_KEY": env.get("STRIPE_API_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or None,
        # The deadline of one request to Stripe (a worker's, or a webhook's re-read), seconds.
        "STRIPE_TIMEOUT": float(env.get("STRIPE_TIMEOUT") or 10),
    }
