"""Operations pages: what the line says (prompts per step and language, with
a TwiML preview, a listen button, history and rollback), the words it
understands (vocabulary entries per language) and the offer per reason.
Each handler parses the form and calls ivr/language/ (ivr/offers_admin.py for
offers), the same functions as `flask ivr prompts` / `ivr offers`; the
request commits."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from .. import db, offers_admin, prompts
from ..admin_errors import AdminError, NotFound, Refused
from ..language import check, publish, vocabulary
from ..language import preview as previews
from ..language.catalog import languages_of, list_prompts, load_samples, samples_for
from ..models import OFFER_KINDS, REASON_CODES
from ..offers_admin import OFFER_TERMS
from . import bp
from .auth import current_user, role_required
from .confirm import Change, review_page, wants_review

OPS = ("ops",)  # admins may open every page too


def _actor() -> str:
    user = current_user()
    assert user is not None  # role_required let the request in
    return user.email


def _samples() -> dict[str, dict[str, str]]:
    return load_samples(current_app.config["VOICE_PROMPTS_DIR"])


def _checked_prompt(key: str, language: str, *, words: bool = False) -> None:
    """404 unless KEY is a prompt (or, with words=True, also a
    vocabulary entry) of LANGUAGE."""
    if vocabulary.is_vocabulary(key) and not words:
        abort(404)
    try:
        publish.live_content(db.session(), key, language)
    except NotFound:
        abort(404)


def _edit_url(key: str, language: str) -> str:
    if vocabulary.is_vocabulary(key):
        return url_for("console.ops_words_edit", key=key, language=language)
    return url_for("console.ops_prompt_edit", key=key, language=language)


# --- prompts ---------------------------------------------------------------------------


@bp.get("/prompts")
@role_required(*OPS)
def ops_prompts() -> str:
    catalog = prompts.live_catalog(db.session())
    languages = languages_of(catalog)
    return render_template(
        "console/ops/prompts.html",
        groups=list_prompts(catalog),
        languages=languages,
        step_names={
            g.step: catalog.label(prompts.BASE_LANGUAGE, f"steps.{g.step}")
            for g in list_prompts(catalog)
        },
    )


def _edit_page(
    key: str,
    language: str,
    text: str,
    reprompt: str | None,
    audio: str | None,
    note: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    s = db.session()
    catalog = prompts.live_catalog(s)
    version, live = publish.live_content(s, key, language)
    reference = catalog.packs[prompts.BASE_LANGUAGE].prompts[key]
    try:
        preview = previews.preview(
            catalog, key, language, text, reprompt, audio, samples=_samples()
        )
    except ValueError:  # a malformed {placeholder}: the errors say so, no preview
        preview = None
    known = sorted(prompts.placeholders(reference.text))
    if reference.reprompt:
        known = sorted(set(known) | prompts.placeholders(reference.reprompt))
    page = render_template(
        "console/ops/prompt_edit.html",
        key=key,
        language=language,
        step=reference.step,
        text=text,
        reprompt=reprompt or "",
        audio=audio or "",
        note=note or "",
        live=live,
        version=version,
        english=catalog.prompt(prompts.BASE_LANGUAGE, key),
        placeholders=known,
        required=sorted(prompts.placeholders(reference.text)),
        preview=preview,
        errors=errors or [],
        languages=languages_of(catalog),
        say_limit=prompts.SAY_LIMIT,
    )
    return page, status


@bp.get("/prompts/<key>/<language>")
@role_required(*OPS)
def ops_prompt_edit(key: str, language: str) -> tuple[str, int] | BaseResponse:
    if vocabulary.is_vocabulary(key):
        return redirect(_edit_url(key, language))
    _checked_prompt(key, language)
    _, live = publish.live_content(db.session(), key, language)
    return _edit_page(key, language, live.text, live.reprompt, live.audio)


@bp.post("/prompts/<key>/<language>")
@role_required(*OPS)
def ops_prompt_publish(key: str, language: str) -> tuple[str, int] | BaseResponse:
    _checked_prompt(key, language)
    form = request.form
    text = form.get("text", "")
    reprompt = form.get("reprompt") or None
    audio = form.get("audio") or None
    note = form.get("note") or None
    if form.get("action") == "preview":
        errors = _problems(key, language, text, reprompt, audio)
        return _edit_page(key, language, text, reprompt, audio, note, errors)
    s = db.session()
    if wants_review():
        errors = _problems(key, language, text, reprompt, audio)
        if errors:
            return _edit_page(key, language, text, reprompt, audio, note, errors, 422)
        _, live = publish.live_content(s, key, language)
        return (
            review_page(
                f"Publish {key} ({language})?",
                "Callers hear the new words from their next call.",
                yes="Publish",
                back=_edit_url(key, language),
                undo="History keeps every version: rolling back there undoes this.",
                changes=[
                    Change("Text", live.text, text.strip()),
                    Change("Re-prompt", live.reprompt or "", (reprompt or "").strip()),
                    Change("Recorded audio", live.audio or "", audio or ""),
                ],
            ),
            200,
        )
    try:
        version = publish.publish(
            s, key, language, text, reprompt, audio, actor=_actor(), note=note
        )
        s.commit()
    except AdminError as exc:
        s.rollback()
        return _edit_page(key, language, text, reprompt, audio, note, exc.reasons, 422)
    except IntegrityError:
        s.rollback()
        reason = "Someone else published this prompt at the same moment. Check and try again."
        return _edit_page(key, language, text, reprompt, audio, note, [reason], 409)
    flash(f"Published {key} ({language}) version {version.version}. The next call says it.", "ok")
    return redirect(url_for("console.ops_prompt_edit", key=key, language=language))


def _problems(
    key: str, language: str, text: str, reprompt: str | None, audio: str | None
) -> list[str]:
    try:
        check.validate_text(key, language, text.strip(), reprompt, audio)
    except Refused as exc:
        return exc.reasons
    return []


@bp.get("/prompts/<key>/<language>/history")
@role_required(*OPS)
def ops_prompt_history(key: str, language: str) -> str:
    """The versions of a prompt, or of a vocabulary entry (same page)."""
    _checked_prompt(key, language, words=True)
    entries = publish.history(db.session(), key, language)
    return render_template(
        "console/ops/prompt_history.html",
        key=key,
        language=language,
        entries=list(reversed(entries)),
        vocabulary=vocabulary.is_vocabulary(key),
        edit_url=_edit_url(key, language),
        phrases_of=prompts.phrases_of,
    )


@bp.post("/prompts/<key>/<language>/rollback")
@role_required(*OPS)
def ops_prompt_rollback(key: str, language: str) -> str | BaseResponse:
    _checked_prompt(key, language, words=True)
    to_version = request.form.get("version", "")
    if not to_version.isdigit():
        abort(400, description="which version?")
    s = db.session()
    if wants_review():
        entries = {e.version: e for e in publish.history(s, key, language)}
        chosen = entries.get(int(to_version))
        if chosen is None:
            abort(404, description=f"{key} ({language}) has no version {to_version}.")
        _, live = publish.live_content(s, key, language)
        return review_page(
            f"Roll {key} ({language}) back to version {to_version}?",
            f"Version {to_version} becomes live again, as a new version; callers hear it "
            "from their next call.",
            yes=f"Roll back to version {to_version}",
            back=url_for("console.ops_prompt_history", key=key, language=language),
            undo="The version live now stays in the history: rolling back to it undoes this.",
            changes=[
                Change("Text", live.text, chosen.text),
                Change("Re-prompt", live.reprompt or "", chosen.reprompt or ""),
                Change("Recorded audio", live.audio or "", chosen.audio or ""),
            ],
        )
    try:
        version = publish.rollback(s, key, language, int(to_version), actor=_actor())
        s.commit()
    except AdminError as exc:
        s.rollback()
        flash(f"Not rolled back: {exc}.", "error")
    except IntegrityError:
        s.rollback()
        flash("Not rolled back: someone else published at the same moment. Try again.", "error")
    else:
        flash(
            f"Version {to_version} is live again (as version {version.version}).",
            "ok",
        )
    return redirect(url_for("console.ops_prompt_history", key=key, language=language))


@bp.get("/prompts/<key>/<language>/audio.wav")
@role_required(*OPS)
def ops_prompt_audio(key: str, language: str) -> Response:
    _checked_prompt(key, language)
    text = request.args.get("text", "")
    if not text.strip() or len(text) > prompts.SAY_LIMIT:
        abort(400, description="text: 1 to 4,096 characters")
    spoken = prompts.fill(text, samples_for(_samples(), language))
    try:
        wav = previews.synthesize_wav(spoken, language)
    except previews.SpeechUnavailable as exc:
        return Response(str(exc), status=503, mimetype="text/plain")
    return Response(wav, mimetype="audio/wav", headers={"Cache-Control": "private, max-age=300"})


# --- the words the line understands ----------------------------------------------------


@bp.get("/words")
@role_required(*OPS)
def ops_words() -> str:
    rows = vocabulary.list_vocabulary(db.session())
    sections: dict[str, list[vocabulary.VocabularyRow]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    return render_template(
        "console/ops/words.html",
        sections=sections,
        languages=list(rows[0].live) if rows else [],
        help=vocabulary.VOCABULARY_HELP,
    )


def _words_page(
    key: str,
    language: str,
    text: str,
    note: str | None = None,
    errors: list[str] | None = None,
    sentence: str = "",
    status: int = 200,
) -> tuple[str, int]:
    s = db.session()
    live = vocabulary.live_vocabulary(s, language)
    version, phrases = live[key]
    english = None
    if language != prompts.BASE_LANGUAGE:
        english = vocabulary.live_vocabulary(s, prompts.BASE_LANGUAGE).get(key, (0, []))[1]
    tried = None
    if sentence.strip():
        catalog = prompts.live_catalog(s)
        draft = {key: prompts.phrases_of(text)}
        tried = vocabulary.understood(catalog, language, sentence, draft)
    page = render_template(
        "console/ops/words_edit.html",
        key=key,
        name=vocabulary.entry_name(key),
        section=vocabulary.entry_section(key),
        help=vocabulary.VOCABULARY_HELP.get(vocabulary.entry_section(key), ""),
        language=language,
        text=text,
        note=note or "",
        version=version,
        live=phrases,
        english=english,
        errors=errors or [],
        sentence=sentence,
        tried=tried,
        languages=languages_of(prompts.live_catalog(s)),
        hint_limit=vocabulary.HINT_LIMIT,
    )
    return page, status


@bp.get("/words/<key>/<language>")
@role_required(*OPS)
def ops_words_edit(key: str, language: str) -> tuple[str, int] | BaseResponse:
    if not vocabulary.is_vocabulary(key):
        return redirect(url_for("console.ops_prompt_edit", key=key, language=language))
    _checked_prompt(key, language, words=True)
    _, live = publish.live_content(db.session(), key, language)
    return _words_page(key, language, live.text)


@bp.post("/words/<key>/<language>")
@role_required(*OPS)
def ops_words_publish(key: str, language: str) -> tuple[str, int] | BaseResponse:
    if not vocabulary.is_vocabulary(key):
        abort(404)
    _checked_prompt(key, language, words=True)
    form = request.form
    text = form.get("phrases", "")
    note = form.get("note") or None
    sentence = form.get("sentence", "")[:500]
    s = db.session()
    if form.get("action") == "check":
        live = {k: v for k, (_, v) in vocabulary.live_vocabulary(s, language).items()}
        try:
            check.validate_text(key, language, text, vocabulary=live)
            errors: list[str] = []
        except Refused as exc:
            errors = exc.reasons
        return _words_page(key, language, text, note, errors, sentence)
    if wants_review():
        live_words = {k: v for k, (_, v) in vocabulary.live_vocabulary(s, language).items()}
        try:
            check.validate_text(key, language, text, vocabulary=live_words)
        except Refused as exc:
            return _words_page(key, language, text, note, exc.reasons, sentence, 422)
        _, live = publish.live_content(s, key, language)
        name = vocabulary.entry_name(key)
        return (
            review_page(
                f"Publish the words for {name} ({language})?",
                "The line understands callers with these phrases from the next call.",
                yes="Publish",
                back=url_for("console.ops_words_edit", key=key, language=language),
                undo="History keeps every version: rolling back there undoes this.",
                changes=[
                    Change(
                        "Phrases",
                        ", ".join(prompts.phrases_of(live.text)),
                        ", ".join(prompts.phrases_of(text)),
                    )
                ],
            ),
            200,
        )
    try:
        version = publish.publish(s, key, language, text, actor=_actor(), note=note)
        s.commit()
    except AdminError as exc:
        s.rollback()
        return _words_page(key, language, text, note, exc.reasons, sentence, 422)
    except IntegrityError:
        s.rollback()
        reason = "Someone else published this entry at the same moment. Check and try again."
        return _words_page(key, language, text, note, [reason], sentence, 409)
    flash(
        f"Published {vocabulary.entry_name(key)} ({language}) version {version.version}. "
        "The next call understands it.",
        "ok",
    )
    return redirect(url_for("console.ops_words_edit", key=key, language=language))


# --- offers ----------------------------------------------------------------------------


@bp.get("/offers")
@role_required(*OPS)
def ops_offers() -> str:
    return render_template(
        "console/ops/offers.html",
        offers=offers_admin.list_offers(db.session()),
        languages=_languages(),
    )


def _languages() -> list[str]:
    return languages_of(prompts.live_catalog(db.session()))


def _offer_page(
    code: str,
    form: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    try:
        offer = offers_admin.find_offer(db.session(), code)
    except NotFound:
        abort(404)
    snapshot = offers_admin.offer_snapshot(offer)
    values = form or {
        "kind": snapshot["kind"],
        "terms": snapshot["terms"],
        "wording": snapshot["wording"],
        "active": snapshot["active"],
    }
    page = render_template(
        "console/ops/offer_edit.html",
        offer=offer,
        values=values,
        kinds=OFFER_KINDS,
        term_fields=sorted({name for shape in OFFER_TERMS.values() for name in shape}),
        terms_by_kind={kind: list(shape) for kind, shape in OFFER_TERMS.items()},
        languages=_languages(),
        errors=errors or [],
    )
    return page, status


@bp.get("/offers/<code>")
@role_required(*OPS)
def ops_offer_edit(code: str) -> tuple[str, int]:
    return _offer_page(code)


@bp.post("/offers/<code>")
@role_required(*OPS)
def ops_offer_save(code: str) -> tuple[str, int] | BaseResponse:
    form = request.form
    kind = form.get("kind", "")
    # Only the terms of the chosen kind count; the others may hold old values.
    terms = {name: form.get(f"term_{name}", "").strip() for name in OFFER_TERMS.get(kind, {})}
    languages = _languages()
    wording = {lang: form.get(f"wording_{lang}", "") for lang in languages}
    active = form.get("active") == "on"
    s = db.session()
    if wants_review():
        try:
            before = offers_admin.offer_snapshot(offers_admin.find_offer(s, code))
        except NotFound:
            abort(404)
        changes = [
            Change("Kind", before["kind"], kind),
            Change("Terms", _terms_text(before["terms"]), _terms_text(terms)),
            *(
                Change(f"Wording, {lang}", before["wording"].get(lang, ""), wording[lang])
                for lang in languages
            ),
            Change("Made to callers", _on_off(before["active"]), _on_off(active)),
        ]
        return (
            review_page(
                f"Save offer {code}?",
                "The next caller with this reason hears the offer as saved here."
                if any(c.before != c.after for c in changes)
                else "Nothing changes: the offer is already as shown.",
                yes="Save",
                back=url_for("console.ops_offer_edit", code=code),
                undo="The offer's history keeps what it was; saving those values again "
                "undoes this.",
                changes=changes,
            ),
            200,
        )
    try:
        offer = offers_admin.update_offer(
            s,
            code,
            _actor(),
            kind=kind,
            terms=terms,
            wording=wording,
            active=active,
            languages=languages,
        )
        s.commit()
    except NotFound:
        abort(404)
    except AdminError as exc:
        s.rollback()
        values = {"kind": kind, "terms": terms, "wording": wording, "active": active}
        return _offer_page(code, values, exc.reasons, 422)
    state = "on" if offer.active else "switched off"
    flash(f"Saved {offer.code} ({offer.kind}, {state}). The next caller hears it.", "ok")
    return redirect(url_for("console.ops_offer_edit", code=code))


def _terms_text(terms: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in sorted(terms.items()) if value != "")


def _on_off(active: bool) -> str:
    return "on" if active else "off"


@bp.get("/offers/<code>/history")
@role_required(*OPS)
def ops_offer_history(code: str) -> str:
    try:
        entries = offers_admin.offer_history(db.session(), code)
    except NotFound:
        abort(404)
    return render_template(
        "console/ops/offer_history.html",
        code=code,
        entries=list(reversed(entries)),
        reasons=REASON_CODES,
    )
