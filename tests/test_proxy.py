"""The deployment layout, run for real: nginx (Debian's package) with
deploy/nginx/ivr.conf in front of two gunicorns, one for /voice/* and one
for the console. Slow clients and a flood of console sign-ins do not slow
the webhooks; the fallback URL is answered with the voice workers gone."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import sign
from servers import ROOT, Server, free_port, start_server, wait_healthy

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Layout:
    url: str
    voice: Server
    console: Server


def _nginx_conf(tmp: Path, port: int, voice: int, console: int) -> Path:
    site = (ROOT / "deploy/nginx/ivr.conf").read_text()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("127.0.0.1:8001", f"127.0.0.1:{voice}")
    site = site.replace("127.0.0.1:8002", f"127.0.0.1:{console}")
    (tmp / "ivr.conf").write_text(site)
    temp = "\n".join(
        f"    {name}_temp_path {tmp / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        + f"error_log {tmp / 'error.log'} warn;\n"
        + "events { worker_connections 512; }\n"
        + f"http {{\n    access_log off;\n{temp}\n    include {tmp / 'ivr.conf'};\n}}\n"
    )
    return main


@pytest.fixture
def layout(migrated: str, app, tmp_path: Path) -> Iterator[Layout]:  # type: ignore[no-untyped-def]
    if not os.path.exists(NGINX):
        pytest.fail("nginx is missing: bash scripts/install-system-packages.sh nginx")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = {"PUBLIC_BASE_URL": public, "TRUSTED_PROXY_COUNT": "1"}
    voice = start_server(migrated, tmp_path / "voice.log", **settings)
    console = start_server(
        migrated, tmp_path / "console.log", LOGIN_RATE_LIMIT="1000 per minute", **settings
    )
    conf = _nginx_conf(
        tmp_path, port, int(voice.url.rsplit(":", 1)[1]), int(console.url.rsplit(":", 1)[1])
    )
    nginx = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(voice)
        wait_healthy(console)
        _wait_listening(port, nginx, tmp_path)
        yield Layout(public, voice, console)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for server in (voice, console):
            if server.process.poll() is None:
                server.stop()


def _wait_listening(port: int, nginx: subprocess.Popen[bytes], tmp: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if nginx.poll() is not None:
            raise RuntimeError("nginx stopped:\n" + (tmp / "error.log").read_text())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not listen")


def _webhook(base: str, path: str, **extra: str) -> tuple[int, bytes, float]:
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA" + uuid.uuid4().hex,
        "From": "+15550100001",
        "To": "+15550109999",
        "CallStatus": "in-progress",
        **extra,
    }
    request = urllib.request.Request(
        base + path,
        data=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": sign(base + path, params)},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read(), time.monotonic() - started
    except urllib.error.HTTPError as e:
        return e.code, e.read(), time.monotonic() - started


def test_slow_clients_wait_on_nginx_while_webhooks_stay_fast(layout: Layout) -> None:
    port = int(layout.url.rsplit(":", 1)[1])
    slow: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        # Slowloris: many connections, each sending its headers a byte at a time.
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /voice/incoming HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        while not stop.wait(0.5):
            for s in slow:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass

    attacker = threading.Thread(target=trickle, daemon=True)
    attacker.start()
    time.sleep(1)
    try:
        times = []
        for _ in range(10):
            status, body, seconds = _webhook(layout.url, "/voice/incoming")
            assert status == 200, body
            assert ET.fromstring(body).find("Gather") is not None
            times.append(seconds)
        assert max(times) < 2, times
    finally:
        stop.set()
        attacker.join(timeout=5)
        for s in slow:
            s.close()


def test_a_flood_of_sign_ins_does_not_take_the_voice_workers(layout: Layout) -> None:
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        body = urllib.parse.urlencode({"email": "x@example.com", "password": "guess"}).encode()
        while not stop.is_set() and sent[0] < 2000:
            sent[0] += 1
            try:
                urllib.request.urlopen(layout.url + "/console/login", data=body, timeout=10).read()
            except (urllib.error.URLError, OSError):
                pass

    floods = [threading.Thread(target=flood, daemon=True) for _ in range(24)]
    for t in floods:
        t.start()
    time.sleep(1)
    try:
        times = []
        for _ in range(10):
            status, body, seconds = _webhook(layout.url, "/voice/incoming")
            assert status == 200, body
            times.append(seconds)
        assert max(times) < 2, times
    finally:
        stop.set()
        for t in floods:
            t.join(timeout=15)


def test_the_fallback_url_is_answered_with_the_voice_workers_gone(layout: Layout) -> None:
    layout.voice.stop()
    status, body, seconds = _webhook(layout.url, "/voice/fallback", ErrorCode="11200")
    assert status == 200 and seconds < 6
    root = ET.fromstring(body)
    assert "something went wrong on our side" in " ".join(e.text or "" for e in root.iter("Say"))
    assert root.find("Hangup") is not None
