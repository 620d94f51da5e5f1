"""How the simulator's requests reach the app: in the same process, or over HTTP."""

from __future__ import annotations

import contextvars
import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from flask import Flask

from .engine import HttpReply, TransportError

# Twilio gives up on a webhook after 15 seconds.
TWILIO_TIMEOUT_SECONDS = 15


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class FlaskTransport:
    """Delivers requests to a Flask app in this process, through its test client.

    The full public URL goes to the test client, so `request.url` in the app
    is the URL that was signed, exactly as behind Twilio.
    """

    def __init__(self, app: Flask, base_url: str):
        self._client = app.test_client()
        self._origin = _origin(base_url)

    def __call__(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        if _origin(url) != self._origin:
            raise TransportError(
                f"{url} is not served by this app (in-process calls reach only "
                f"{self._origin}); Twilio would fetch it from elsewhere"
            )
        # A fresh context: otherwise a request would reuse the caller's app
        # context (the CLI's), sharing `g` and its database session across
        # requests, which no real server does.
        return contextvars.Context().run(self._open, method, url, form, headers)

    def _open(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        response = self._client.open(
            url,
            method=method,
            data=dict(form) if method == "POST" else None,
            headers=dict(headers),
            follow_redirects=True,
        )
        return HttpReply(response.status_code, dict(response.headers), response.get_data())


class HttpTransport:
    """Delivers requests over real HTTP to a running server.

    The app believes it lives at `public_base_url` (what Twilio calls, and
    what requests are signed for); `server_url` is where it really listens.
    """

    def __init__(
        self,
        server_url: str,
        public_base_url: str | None = None,
        timeout: float = TWILIO_TIMEOUT_SECONDS,
    ):
        self._server_url = server_url.rstrip("/")
        self._public_base_url = (public_base_url or server_url).rstrip("/")
        self._timeout = timeout

    @property
    def public_base_url(self) -> str:
        return self._public_base_url

    def __call__(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        target = url
        if url.startswith(self._public_base_url):
            target = self._server_url + url[len(self._public_base_url) :]
        data = urlencode(form).encode() if method == "POST" else None
        request = urllib.request.Request(target, data=data, headers=dict(headers), method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return HttpReply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return HttpReply(exc.code, dict(exc.headers), exc.read())
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                raise TransportError(
                    f"{target} did not answer within {self._timeout:g} s (Twilio gives up then)"
                ) from None
            raise TransportError(
                f"Cannot reach {self._server_url} ({reason}). Is the server running? "
                "Start it with: gunicorn wsgi:app"
            ) from None
