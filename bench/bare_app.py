"""The ceiling of the stack: a Flask app that answers every POST with the same
TwiML, no signature check, no database. bench/load.py serves it with the same
gunicorn.conf.py as the line, so the difference between the two is our code.

The TwiML asks for keys (like the line's prompts), so the simulator places
the same shape of call on it: the first request, one request per answer,
then the status callback.
"""

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Response>"
    '<Gather action="/voice/gather" input="dtmf speech" numDigits="4" timeout="5">'
    "<Say>Please enter your four digit PIN.</Say>"
    "</Gather>"
    '<Redirect method="POST">/voice/silence</Redirect>'
    "</Response>"
)

app = Flask(__name__)


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
def answer(path: str) -> Response:
    return Response(TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
