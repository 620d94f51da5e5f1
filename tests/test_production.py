"""Production mode and the gunicorn settings: the line refuses to run without
its secrets, and the server's settings suit Twilio's time limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers import gunicorn_command

from ivr import create_app

ROOT = Path(__file__).resolve().parent.parent
# Twilio waits 15 s for a webhook, then plays the Fallback URL.
TWILIO_WEBHOOK_TIMEOUT = 15


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TWILIO_AUTH_TOKEN", "SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        IVR_ENV="production",
        DATABASE_URL="sqlite:///" + str(tmp_path / "production.sqlite3"),
        SECRET_KEY="a-real-secret",
        PYTHONPATH=str(ROOT),
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value != ""}


def test_create_app_refuses_production_without_twilio_auth_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IVR_ENV", "production")
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="TWILIO_AUTH_TOKEN is not set"):
        create_app({"DATABASE_URL": "sqlite:///" + str(tmp_path / "x.sqlite3"), "SECRET_KEY": "s"})


def test_the_cli_refuses_production_without_twilio_auth_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "ivr", "init-db"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not set" in result.stderr
    assert not (tmp_path / "production.sqlite3").exists()


@pytest.mark.parametrize("missing", ["TWILIO_AUTH_TOKEN", "SECRET_KEY"])
def test_gunicorn_refuses_production_without_secrets_at_once(tmp_path: Path, missing: str) -> None:
    env = production_env(tmp_path, **{"TWILIO_AUTH_TOKEN": "a-real-token", missing: ""})
    result = subprocess.run(
        gunicorn_command("127.0.0.1:0"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    errors = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    refusal = [line for line in errors if line["level"] == "error"]
    assert len(refusal) == 1, result.stderr
    assert f"{missing} is not set" in refusal[0]["message"]
    assert "Booting worker" not in result.stderr


def gunicorn_settings(tmp_path: Path, **env: str) -> dict[str, Any]:
    """gunicorn.conf.py as gunicorn reads it, in a child process (it sets up
    a metrics directory in its environment)."""
    code = """
import json, logging.config, runpy
conf = runpy.run_path("gunicorn.conf.py")
logging.config.dictConfig(conf["logconfig_dict"])
conf["on_exit"](None)
names = ["bind", "workers", "threads", "worker_class", "timeout", "graceful_timeout",
         "keepalive", "preload_app", "accesslog", "control_socket_disable"]
print(json.dumps({name: conf[name] for name in names}))
"""
    result = with_gunicorn_conf(code, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def with_gunicorn_conf(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Python `code` run in a child process beside gunicorn.conf.py, with none
    of this environment's gunicorn settings and a metrics directory of its own."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PORT"))}
    environment.update(env, PYTHONPATH=str(ROOT), PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gunicorn_settings_suit_twilio(tmp_path: Path) -> None:
    settings = gunicorn_settings(tmp_path)
    assert settings["timeout"] < TWILIO_WEBHOOK_TIMEOUT
    assert settings["graceful_timeout"] < TWILIO_WEBHOOK_TIMEOUT
    assert settings["workers"] >= 2
    # Each worker's connection pool (DB_POOL_SIZE, default 5) serves its threads.
    assert 1 <= settings["threads"] <= 5
    # Engines are made after the fork: no connection is shared by two processes.
    assert settings["preload_app"] is False
    assert settings["bind"] == "127.0.0.1:8000"
    assert settings["accesslog"] == "-"
    # A second server on the machine must not take over the first one's control socket.
    assert settings["control_socket_disable"] is True


def test_gunicorn_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = gunicorn_settings(
        tmp_path,
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="2",
        GUNICORN_TIMEOUT="8",
        PORT="9000",
        GUNICORN_ACCESS_LOG="off",
    )
    assert (settings["workers"], settings["threads"], settings["timeout"]) == (3, 2, 8)
    assert settings["bind"] == "0.0.0.0:9000"
    assert settings["accesslog"] is None


def test_each_gunicorn_worker_trains_the_understanding_before_its_first_request(
    tmp_path: Path,
) -> None:
    # gunicorn calls post_worker_init in the worker after loading the app and
    # before its first request; the worker beats its heartbeat as it goes.
    code = """
import json, runpy
conf = runpy.run_path("gunicorn.conf.py")
from ivr import create_app

class Worker:
    beats = 0
    def notify(self):
        self.beats += 1

worker = Worker()
worker.wsgi = create_app()
packs = worker.wsgi.extensions["ivr.prompts"]["baseline"]
before = {lang: p.vocabulary.understanding._models is not None for lang, p in packs.items()}
conf["post_worker_init"](worker)
after = {lang: p.vocabulary.understanding._models is not None for lang, p in packs.items()}
conf["on_exit"](None)
print(json.dumps({"before": before, "after": after, "beats": worker.beats}))
"""
    result = with_gunicorn_conf(code, tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'line.db'}")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # Creating the app trains nothing (a `flask ivr ...` command need not pay
    # for it); the worker's start trains every language.
    assert seen["before"] == {"en-US": False, "es-US": False}
    assert seen["after"] == {"en-US": True, "es-US": True}
    assert seen["beats"] == 3
