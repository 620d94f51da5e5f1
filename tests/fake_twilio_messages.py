"""A small server that speaks Twilio's Messages API, as Twilio documents it,
for the tests of texts after the call (the twilio client is pointed at it
through TWILIO_API_BASE). Run as a process:

    python tests/fake_twilio_messages.py --port P --account AC... --token T

- POST /2010-04-01/Accounts/{AccountSid}/Messages.json (HTTP basic auth with
  the account SID and auth token): To, From or MessagingServiceSid, Body,
  StatusCallback. 201 with the Message resource (status "queued"); then, as
  Twilio does, it POSTs the status callback, signed with X-Twilio-Signature
  (twilio's RequestValidator), with MessageStatus "sent" and then "delivered"
  (or "undelivered" with ErrorCode 30003 for a number told to be unreachable).
  A number told to be a landline gets 400 with Twilio's error 21614; an
  unknown account 401 (error 20003); "down" answers 503.
- GET the same path, with To: the messages sent to that number (a page).
- /_admin/: what was received, and the test's orders (landlines, down).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import email.utils
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

from flask import Flask, Response, jsonify, request
from twilio.request_validator import RequestValidator


def create_app(account_sid: str, auth_token: str) -> Flask:
    app = Flask(__name__)
    lock = threading.Lock()
    messages: list[dict[str, Any]] = []
    callbacks: list[dict[str, Any]] = []
    orders: dict[str, Any] = {"landlines": [], "unreachable": [], "down": False}
    validator = RequestValidator(auth_token)
    path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"

    def authorized() -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == account_sid and password == auth_token

    def error(status: int, code: int, message: str) -> tuple[Response, int]:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return jsonify(body), status

    @app.post(path)
    def create() -> Any:
        if not authorized():
            return error(401, 20003, "Authenticate")
        if orders["down"]:
            return error(503, 20500, "Service Unavailable")
        form = request.form
        to, body = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not to.startswith("+") or not body or not sender:
            return error(400, 21604, "A 'To', a 'Body' and a 'From' are required")
        if to in orders["landlines"]:
            return error(400, 21614, f"'To' number {to} is not a valid mobile number")
        now = email.utils.format_datetime(dt.datetime.now(dt.UTC))
        message = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "api_version": "2010-04-01",
            "uri": f"{path[:-5]}/SM.json",
        }
        with lock:
            messages.append({**message, "status_callback": form.get("StatusCallback")})
        callback = form.get("StatusCallback")
        if callback:
            final = "undelivered" if to in orders["unreachable"] else "delivered"
            threading.Thread(target=report, args=(callback, message, final), daemon=True).start()
        return jsonify(message), 201

    @app.get(path)
    def listing() -> Any:
        if not authorized():
            return error(401, 20003, "Authenticate")
        to = request.args.get("To")
        with lock:
            found = [m for m in messages if to is None or m["to"] == to]
        return jsonify(
            {
                "messages": [{k: v for k, v in m.items() if k != "status_callback"} for m in found],
                "page": 0,
                "page_size": 50,
                "first_page_uri": request.full_path,
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": request.full_path,
                "start": 0,
                "end": max(len(found) - 1, 0),
            }
        )

    def report(url: str, message: dict[str, Any], final: str) -> None:
        """Twilio's status callbacks: sent, then delivered (or undelivered)."""
        for status in ("sent", final):
            time.sleep(0.2)
            params = {
                "AccountSid": account_sid,
                "ApiVersion": "2010-04-01",
                "From": message["from"] or "",
                "To": message["to"],
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "MessageStatus": status,
                "SmsStatus": status,
            }
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            data = urllib.parse.urlencode(params).encode()
            signature = validator.compute_signature(url, params)
            req = urllib.request.Request(url, data=data, headers={"X-Twilio-Signature": signature})
            try:
                with urllib.request.urlopen(req, timeout=10) as response:
                    answered = response.status
            except urllib.error.HTTPError as exc:
                answered = exc.code
            except OSError as exc:
                answered = str(exc)
            with lock:
                callbacks.append({"url": url, "status": status, "answered": answered})

    @app.get("/_admin/state")
    def state() -> Any:
        with lock:
            return jsonify({"messages": list(messages), "callbacks": list(callbacks)})

    @app.post("/_admin/orders")
    def set_orders() -> Any:
        orders.update(request.get_json(force=True))
        return jsonify(orders)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    create_app(args.account, args.token).run("127.0.0.1", args.port, threaded=True)


if __name__ == "__main__":
    main()
