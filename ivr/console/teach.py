"""Teaching the line what callers mean (operations): what callers said at the
reason and yes/no questions that the line did not place, or placed unsure,
with one action per wording: choose its meaning and teach it. Teaching
publishes a new version of the step's taught phrasings (who, when, in the
audit log), which the next call on every worker uses; the history rolls it
back. The same functions as `ivr understand teach / history / rollback`
(ivr/language/teaching.py); the request commits."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from .. import db, prompts
from ..language import evaluation, teaching, unplaced
from ..language.understanding import STEP_MEANINGS
from . import bp
from .auth import current_user, role_required
from .confirm import Change, review_page, wants_review
from .labels import meaning_label

OPS = ("ops",)  # admins may open every page too

STEP_NAMES = {
    "reason": "the reason question",
    "yes_no": "yes/no questions (the offer, “did you say …?”)",
}
WHAT_NAMES = {
    "not_understood": "not understood; asked again",
    "not_an_answer": "not taken as an answer; asked again",
    "other": "kept as a reason in the caller's own words (“something else”)",
    "unsure": "unsure: asked “did you say …?”",
}


def _actor() -> str:
    user = current_user()
    assert user is not None  # role_required let the request in
    return user.email


def _languages() -> list[str]:
    return sorted(prompts.baseline())


def meaning_name(code: str) -> str:
    label = meaning_label(code)
    return label[:1].upper() + label[1:]


def _filters(source: Any) -> dict[str, str]:
    """The list's filters (language, step), kept only when valid."""
    out = {}
    language = (source.get("lang") or "").strip()
    if language in _languages():
        out["lang"] = language
    step = (source.get("step") or "").strip()
    if step in STEP_MEANINGS:
        out["step"] = step
    return out


def _now_understood(language: str, step: str, phrase: str) -> evaluation.Understood:
    return evaluation.understand(prompts.live_catalog(db.session()), language, step, phrase)


def _describe(got: evaluation.Understood) -> str:
    if got.meaning == "not_an_answer":
        return "No answer: it asks again"
    how = "sure" if got.sure else "asks “did you say …?” first"
    return f"{meaning_name(got.meaning)} ({how})"


def _list_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    filters = _filters(request.args)
    page_arg = request.args.get("page", "1")
    page = int(page_arg) if page_arg.isdigit() else 1
    s = db.session()
    listing = unplaced.unplaced(
        s, language=filters.get("lang"), step=filters.get("step"), page=page
    )
    catalog = prompts.live_catalog(s)
    # What the line makes of each wording now (taught phrasings included).
    row_now = [
        evaluation.understand(catalog, row.language, row.step, row.words) for row in listing.rows
    ]
    return (
        render_template(
            "console/ops/teach.html",
            listing=listing,
            row_now=row_now,
            filters=filters,
            languages=_languages(),
            step_names=STEP_NAMES,
            what_names=WHAT_NAMES,
            meanings=STEP_MEANINGS,
            meaning_name=meaning_name,
            describe=_describe,
            error=error,
            window=unplaced.WINDOW,
        ),
        status,
    )


@bp.get("/teach")
@role_required(*OPS)
def ops_teach() -> tuple[str, int]:
    return _list_page()


@bp.post("/teach")
@role_required(*OPS)
def ops_teach_post() -> tuple[str, int] | BaseResponse:
    """Teach one wording a meaning: first a page that says what will change,
    then (confirmed=yes) the new version is published. The list's filters
    travel in the query string, to come back to the same list."""
    form = request.form
    phrase = " ".join(form.get("phrase", "").split())
    language = form.get("language", "")
    step = form.get("step", "")
    meaning = form.get("meaning", "")
    s = db.session()
    try:
        step = teaching.step_of(step)
        before = unplaced.taught_keys(s, language, step).get(unplaced.words_key(phrase))
        version = teaching.teach(
            s,
            phrase,
            language=language,
            step=step,
            meaning=meaning,
            actor=_actor(),
            languages=_languages(),
        )
    except teaching.TeachError as exc:
        s.rollback()
        return _list_page(error=f"Not taught: {exc}.", status=400)
    if form.get("confirmed") != "yes":
        # Nothing is kept until it is confirmed: the page says what would change.
        s.rollback()
        return (
            render_template(
                "console/ops/teach_confirm.html",
                phrase=phrase,
                language=language,
                step=step,
                meaning=meaning,
                before=before,
                version=version.version,
                now=_describe(_now_understood(language, step, phrase)),
                step_names=STEP_NAMES,
                meaning_name=meaning_name,
                filters=_filters(request.args),
            ),
            200,
        )
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        flash("Not taught: someone else taught this step at the same moment. Try again.", "error")
        return redirect(url_for("console.ops_teach", **_filters(request.args)), 303)
    now = _describe(_now_understood(language, step, phrase))
    flash(
        f"Taught: “{phrase}” means {meaning_label(meaning)} at {STEP_NAMES[step]} ({language}),"
        f" version {version.version}. What the line now understands from it:"
        f" {now[:1].lower() + now[1:]}, on every worker from its next call.",
        "ok",
    )
    return redirect(url_for("console.ops_teach", **_filters(request.args)), 303)


def _history_args() -> tuple[str, str]:
    language = request.values.get("lang", "")
    step = request.values.get("step", "")
    if language not in _languages() or step not in STEP_MEANINGS:
        abort(404)
    return language, step


@bp.get("/teach/history")
@role_required(*OPS)
def ops_teach_history() -> str:
    """Every taught version of one language and step, newest first."""
    language, step = _history_args()
    entries = teaching.history(db.session(), language=language, step=step)
    live = set(entries[-1].taught)
    changes = []
    previous: set[tuple[str, str]] = set()
    for e in entries:
        now = set(e.taught)
        changes.append(
            {
                "entry": e,
                "added": [t for t in e.taught if t not in previous],
                "removed": sorted(previous - now),
                # What rolling back to it would change in what is live now.
                "would_add": [t for t in e.taught if t not in live],
                "would_remove": sorted(live - now),
            }
        )
        previous = now
    return render_template(
        "console/ops/teach_history.html",
        language=language,
        step=step,
        changes=list(reversed(changes)),
        step_names=STEP_NAMES,
        meaning_name=meaning_name,
    )


def _taught_text(taught: tuple[tuple[str, str], ...]) -> str:
    lines = [f"“{phrase}”: {meaning_label(meaning)};" for meaning, phrase in sorted(taught)]
    return "\n".join(lines) or "nothing beyond the files"


@bp.post("/teach/rollback")
@role_required(*OPS)
def ops_teach_rollback() -> str | BaseResponse:
    language, step = _history_args()
    to_version = request.form.get("version", "")
    if not to_version.isdigit():
        abort(400, description="which version?")
    s = db.session()
    if wants_review():
        entries = {e.version: e for e in teaching.history(s, language=language, step=step)}
        chosen = entries.get(int(to_version))
        if chosen is None:
            abort(404, description=f"{language} {step} has no version {to_version}.")
        live = entries[max(entries)]
        return review_page(
            f"Roll back what is taught at {STEP_NAMES[step]} ({language}) to version {to_version}?",
            f"Version {to_version}'s phrasings become live again, as a new version; every"
            " worker uses them from its next call.",
            yes=f"Roll back to version {to_version}",
            back=url_for("console.ops_teach_history", lang=language, step=step),
            undo="The version live now stays in the history: rolling back to it undoes this.",
            changes=[Change("Taught", _taught_text(live.taught), _taught_text(chosen.taught))],
        )
    try:
        version = teaching.rollback(
            s, language=language, step=step, to_version=int(to_version), actor=_actor()
        )
        s.commit()
    except teaching.TeachError as exc:
        s.rollback()
        flash(f"Not rolled back: {exc}.", "error")
    except IntegrityError:
        s.rollback()
        flash(
            "Not rolled back: someone else taught this step at the same moment. Try again.", "error"
        )
    else:
        flash(
            f"Version {to_version} is live again (as version {version.version});"
            " every worker uses it from its next call.",
            "ok",
        )
    return redirect(url_for("console.ops_teach_history", lang=language, step=step), 303)
