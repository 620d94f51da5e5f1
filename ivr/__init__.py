"""The cancellation line: a Flask app answering Twilio's voice webhooks,
with a staff console."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from . import billing, cli, console, db, messaging, observability, prompts
from . import config as config_module
from .voice import bp as voice_bp


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config_module.from_environment(app.instance_path))
    if config:
        app.config.update(config)
    _development_secrets(app)
    if app.config["TRUSTED_PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address (rate limits, logs) from X-Forwarded-For, as
        # set by our own proxies only. Signatures use PUBLIC_BASE_URL instead.
        n = int(app.config["TRUSTED_PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    db.init_app(app)
    billing.init_app(app)
    observability.init_app(app)
    prompts.init_app(app)
    app.register_blueprint(voice_bp)
    messaging.init_app(app)
    console.init_app(app)
    cli.init_app(app)
    return app


def _development_secrets(app: Flask) -> None:
    """Outside production, make per-machine secrets instead of shipping defaults.

    A token is written once to the instance folder, so the simulator (and a
    second server process) can sign requests the same way Twilio would.
    Production refuses to start without real ones.
    """
    production = app.config["IVR_ENV"] == "production"
    for name, filename in (("TWILIO_AUTH_TOKEN", "dev_auth_token"), ("SECRET_KEY", "secret_key")):
        if app.config.get(name):
            continue
        if production:
            raise RuntimeError(
                f"{name} is not set. In production (IVR_ENV=production) the line "
                f"refuses to start without it; see README.md, 'Settings'."
            )
        path = Path(app.instance_path) / filename
        try:
            # O_EXCL: of several workers starting at once, exactly one writes it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        app.config[name] = _read_when_written(path)


def _read_when_written(path: Path) -> str:
    import time

    for _ in range(50):
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it and start again")
