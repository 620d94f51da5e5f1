"""How long callers listen: seconds of prompts per caller path, measured with
the simulator (words at 2.5 a second, pauses, and gather timeouts when silent).

    .venv/bin/python bench/caller_seconds.py

Prints one row per path: the seconds heard up to the moment the line acted
(cancelled, saved, ...) and in all: the confirmation and "to hear that again,
press star" included (the scripted caller then hangs up).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr import create_app, db  # noqa: E402
from ivr.cli import upgrade_database  # noqa: E402
from ivr.db import Base  # noqa: E402
from ivr.demo import seed_demo  # noqa: E402
from ivr.simulator import WORDS_PER_SECOND, simulate_call  # noqa: E402

PATHS = [
    ("keypad, declines the offer", "+15550100001", ["1234", "1", "2"]),
    ("keypad, skips the reason", "+15550100001", ["1234", "9", "1"]),
    ("voice, declines the offer", "+15550100001", ["one two three four", "too expensive", "no"]),
    ("keypad, accepts the offer", "+15550100001", ["1234", "2", "1"]),
    ("keypad, two subscriptions", "+15550100002", ["5678", "1", "5", "1"]),
    ("keypad, both subscriptions", "+15550100002", ["5678", "3", "1", "2"]),
    ("keypad, unknown number", "+15550107777", ["100001#", "1234", "1", "2"]),
    ("Spanish, keypad", "+15550100004", ["2468", "1", "2"]),
    # Minnesota's rules: no offer before cancelling, so one explicit cancel.
    ("Minnesota, keypad", "+15550100001", ["1234", "1", "1"], "MN"),
]


def seconds_to_the_result(transcript) -> float:  # type: ignore[no-untyped-def]
    """Everything heard before the result is said: up to the line with the
    confirmation code (or, without one, the final line)."""
    heard = transcript.heard()
    code = (transcript.record or {}).get("confirmation")
    spoken = ", ".join(code) if code else None
    at = next((i for i, line in enumerate(heard) if spoken and spoken in line), len(heard) - 1)
    after = sum(len(line.split()) for line in heard[at:])
    return transcript.caller_seconds - after / WORDS_PER_SECOND


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "AGENT_NUMBER": "+15550109000"}
        )
        with app.app_context():
            upgrade_database()
        print(f"{'path':32} {'outcome':10} {'to the result':>14} {'in all':>8}")
        for name, caller, answers, *state in PATHS:
            with app.app_context():
                # Each path starts from the demo data as seeded.
                s = db.session()
                for table in reversed(Base.metadata.sorted_tables):
                    s.execute(table.delete())
                seed_demo(s, app.config["VOICE_PROMPTS_DIR"])
                s.commit()
            t = simulate_call(app, answers, from_number=caller, from_state=(state or ["NY"])[0])
            print(
                f"{name:32} {t.outcome or '?':10} {seconds_to_the_result(t):13.1f}s "
                f"{t.caller_seconds:7.1f}s"
            )


if __name__ == "__main__":
    main()
