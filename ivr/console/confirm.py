"""Asking once before a change that matters, with or without JavaScript.

A form that changes something that matters carries a hidden `review=1`
(`review_field()` in _macros.html). Posted as is, the handler answers with
a page saying what will change (text changes in colour, word by word) and
how to undo it, whose button posts the same fields again without `review`:
then the change is made. console.js asks in a dialog instead and, on yes,
posts without `review`, so the change is one step there too.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from flask import render_template, request

REVIEW = "review"
_TOKENS = re.compile(r"\s+|[^\s]+")


def wants_review() -> bool:
    return request.form.get(REVIEW) == "1"


@dataclass(frozen=True)
class Change:
    """One field before and after."""

    label: str
    before: str
    after: str

    def pieces(self) -> list[tuple[str, str]]:
        """The text word by word: ("same" | "del" | "ins", text)."""
        old, new = _TOKENS.findall(self.before), _TOKENS.findall(self.after)
        out: list[tuple[str, str]] = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new).get_opcodes():
            if op == "equal":
                out.append(("same", "".join(old[i1:i2])))
                continue
            if i2 > i1:
                out.append(("del", "".join(old[i1:i2])))
            if j2 > j1:
                out.append(("ins", "".join(new[j1:j2])))
        return out


def review_page(
    title: str,
    what: str,
    *,
    yes: str,
    back: str,
    undo: str,
    changes: Iterable[Change] = (),
) -> str:
    """The page that asks: `what` will happen, the fields that change, how to
    undo it (or that it cannot be), a button that does it and a way back."""
    fields = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in ("csrf_token", REVIEW)
    ]
    return render_template(
        "console/confirm.html",
        title=title,
        what=what,
        yes=yes,
        back=back,
        undo=undo,
        changes=[c for c in changes if c.before != c.after],
        fields=fields,
        action=request.path,
    )
