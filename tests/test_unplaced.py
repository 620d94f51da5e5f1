"""What the Teach page lists (ivr/language/unplaced.py): from the call
events, the words the line did not place or placed unsure, grouped by the
same words, newest first; placed answers, taught words and answers older
than the window are left out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask

from ivr import db
from ivr.language import teaching, unplaced
from ivr.models import Call, CallEvent

START = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def record(app: Flask, *answers: tuple[str, str, dict[str, Any]]) -> None:
    """One call per answer, oldest first: (language, step, understood detail)."""
    with app.app_context():
        s = db.session()
        for n, (language, step, detail) in enumerate(answers):
            call = Call(call_sid=f"CA{n:032d}", language=language, step=step)
            s.add(call)
            s.flush()
            s.add(CallEvent(call_id=call.id, type="input", step=step, detail={"speech": "x"}))
            s.add(
                CallEvent(
                    call_id=call.id,
                    type="understood",
                    step=step,
                    detail=detail,
                    at=START + dt.timedelta(minutes=n),
                )
            )
        s.commit()


def listed(app: Flask, **kw: Any) -> unplaced.Listing:
    with app.app_context():
        return unplaced.unplaced(db.session(), **kw)


def test_groups_newest_first_and_leaves_placed_answers_out(app: Flask) -> None:
    record(
        app,
        ("en-US", "reason", {"meaning": "not_understood", "words": "Mi perro, ¡se comió!"}),
        ("en-US", "reason", {"meaning": "too_expensive", "confident": True}),  # placed
        ("en-US", "offer", {"meaning": "yes", "confident": False, "words": "go on then"}),
        ("en-US", "reason", {"meaning": "other", "words": "mi perro se comio"}),
        ("en-US", "verify", {"meaning": "pin", "confident": True}),  # not a taught step
        ("es-US", "confirm", {"meaning": "not_an_answer", "heard_as": "hesitation", "words": "eh"}),
        ("en-US", "reason", {"meaning": "agent", "words": "a person please"}),  # placed
    )
    got = listed(app)
    assert [(r.words, r.count, r.step, r.what) for r in got.rows] == [
        ("eh", 1, "yes_no", "not_an_answer"),
        # The same words, accents and punctuation aside; as said the last time.
        ("mi perro se comio", 2, "reason", "other"),
        ("go on then", 1, "yes_no", "unsure"),
    ]
    assert got.rows[2].guess == "yes" and got.rows[0].heard_as == "hesitation"
    assert got.rows[1].last_heard == START + dt.timedelta(minutes=3)
    assert (got.total, got.scanned, got.window_full) == (3, 6, False)

    assert [r.words for r in listed(app, step="reason").rows] == ["mi perro se comio"]
    assert [r.words for r in listed(app, language="es-US").rows] == ["eh"]
    assert [r.words for r in listed(app, language="en-US", step="yes_no").rows] == ["go on then"]


def test_taught_words_are_left_out_until_rolled_back(app: Flask) -> None:
    record(app, ("en-US", "reason", {"meaning": "other", "words": "My DOG ate it"}))
    with app.app_context():
        s = db.session()
        teaching.teach(
            s,
            "my dog ate it",
            language="en-US",
            step="reason",
            meaning="unused",
            actor="ops@example.com",
            languages=["en-US", "es-US"],
        )
        s.commit()
    got = listed(app)
    assert (got.rows, got.taught_hidden) == ([], 1)
    with app.app_context():
        s = db.session()
        teaching.rollback(s, language="en-US", step="reason", to_version=0, actor="ops")
        s.commit()
    assert [r.words for r in listed(app).rows] == ["My DOG ate it"]


def test_reads_only_the_newest_window_and_pages(app: Flask) -> None:
    record(
        app,
        *[
            ("en-US", "reason", {"meaning": "not_understood", "words": f"word {n}"})
            for n in range(7)
        ],
    )
    got = listed(app, window=5, page_size=2)
    assert got.window_full and got.scanned == 5 and got.total == 5
    assert [r.words for r in got.rows] == ["word 6", "word 5"] and got.pages == 3
    last = listed(app, window=5, page_size=2, page=9)  # past the end: the last page
    assert last.page == 3 and [r.words for r in last.rows] == ["word 2"]
