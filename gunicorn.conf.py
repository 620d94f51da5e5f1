"""Gunicorn settings for the cancellation line: `gunicorn wsgi:app` reads this file.

Every value can be overridden from the environment (or on the command line,
which wins over this file). See docs/operations.md.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


_cpus = multiprocessing.cpu_count()

# Where to listen. Behind a load balancer or proxy on another host, bind
# 0.0.0.0:PORT (GUNICORN_BIND=0.0.0.0:8000, or just PORT=8000 on platforms that set it).
bind = os.environ.get("GUNICORN_BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)

# A webhook is about 2.5 ms of Python and five database round trips (a
# quarter of its time or more is spent waiting on PostgreSQL). One process
# per core, plus one, uses the cores; three threads each keep a core busy
# while another request waits on the database, near or across a network.
# More processes only add context switches and cache misses: on 2 cores,
# 5 x 4 answered about 70 calls a second, 3 x 3 about 100 (docs/performance.md). Each worker
# has its own connection pool (DB_POOL_SIZE, default 5), at least `threads`.
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", _cpus + 1)
threads = _int("GUNICORN_THREADS", 3)

# Twilio gives up on a webhook after 15 s and then plays the Fallback URL.
# A worker silent for 10 s is restarted well before that; on shutdown,
# requests in flight get 10 s to finish.
timeout = _int("GUNICORN_TIMEOUT", 10)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 10)
# Idle keep-alive connections from the load balancer; keep this above the
# balancer's own idle timeout or it will sometimes send to a closed socket.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Each worker builds its app, and so its database engine, after the fork:
# connections are never shared between processes.
preload_app = False

# Restarting workers now and then bounds any slow leak (0 turns it off).
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max(max_requests // 10, 0))

# The worker heartbeat on tmpfs: a slow disk must not look like a hung worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# X-Forwarded-* are trusted only from these addresses (the load balancer's).
# Signatures do not depend on them: set PUBLIC_BASE_URL to the URL Twilio calls.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicornc's control socket has one default path per user, which a second
# server on the machine would take over: only where asked for.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET")
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket

# Logs: JSON lines. Access lines on stdout (GUNICORN_ACCESS_LOG=off to stop
# them), gunicorn's own messages on stderr, like the app's.
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
_access_log = os.environ.get("GUNICORN_ACCESS_LOG", "on").lower() not in ("off", "0", "false")
accesslog = "-" if _access_log else None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ivr.observability.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        },
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {
            "level": "INFO" if _access_log else "CRITICAL",
            "handlers": ["stdout"] if _access_log else [],
            "propagate": False,
        },
    },
}

# Prometheus metrics of several worker processes are added up from files in
# PROMETHEUS_MULTIPROC_DIR. Set here, before the workers (or prometheus_client)
# start; without one, a private temporary directory is made and removed on exit.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")
    os.environ["IVR_METRICS_DIR_IS_TEMPORARY"] = "1"


_PRODUCTION_SECRETS = ("TWILIO_AUTH_TOKEN", "SECRET_KEY")


def on_starting(server):
    # The app refuses these too, but in every worker, over and over; say it once.
    if os.environ.get("IVR_ENV") == "production":
        missing = [name for name in _PRODUCTION_SECRETS if not os.environ.get(name)]
        if missing:
            server.log.error(
                "%s not set. In production (IVR_ENV=production) the line does not start "
                "without TWILIO_AUTH_TOKEN and SECRET_KEY; see docs/operations.md.",
                " and ".join(missing) + (" is" if len(missing) == 1 else " are"),
            )
            _remove_temporary_metrics_dir()
            sys.exit(1)
    # Files from an earlier run would add old counts to the new ones.
    for leftover in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        leftover.unlink()


def post_worker_init(worker):
    # Each worker trains the understanding of what callers say before it takes
    # a request, so no caller waits for it (docs/understanding.md); it beats
    # its heartbeat after each language, since a worker silent for `timeout`
    # seconds is restarted, booting or not.
    from ivr.prompts import warm_understanding

    worker.notify()
    warm_understanding(worker.wsgi, worker.notify)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    _remove_temporary_metrics_dir()


def _remove_temporary_metrics_dir():
    if os.environ.get("IVR_METRICS_DIR_IS_TEMPORARY") == "1":
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
