"""What the line says: prompts, labels and vocabulary per language.

The baseline is voice_prompts/<lang>.yaml (VOICE_PROMPTS_DIR). Operations
publish new versions into the database (prompt_versions); the newest version
of each prompt is live on every worker at its next request, without a
restart.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, current_app
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from . import jurisdictions
from .flow.types import Digits, DueBy, Say
from .flow.understand import Vocabulary
from .language import teaching, understanding

# libyaml's loader where PyYAML was built with it: the files parse 10x faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SAY_LIMIT = 4096  # Twilio's <Say> holds at most 4,096 characters.
BASE_LANGUAGE = "en-US"


@dataclass(frozen=True)
class Prompt:
    key: str
    step: str
    text: str
    reprompt: str | None = None
    audio: str | None = None
    speak_as: str | None = None
    version: int = 0  # 0: the file's text; n: the n-th published version


@dataclass(frozen=True)
class LanguagePack:
    language: str
    name: str
    voice: str | None
    prompts: Mapping[str, Prompt]
    labels: Mapping[str, Any]
    vocabulary: Vocabulary
    source: Path


@dataclass(frozen=True)
class Spoken:
    """One rendered line: what is said (or played), in which voice."""

    key: str | None
    text: str
    language: str
    voice: str | None
    audio: str | None = None


class PromptError(ValueError):
    pass


def read_language_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = yaml.load(f, Loader=SAFE_LOADER)
    if not isinstance(data, dict):
        raise PromptError(f"{path}: not a mapping of prompts")
    return data


def pack_from_data(data: Mapping[str, Any], path: Path) -> LanguagePack:
    language = str(data.get("language") or path.stem)
    prompts = {}
    for key, entry in (data.get("prompts") or {}).items():
        if isinstance(entry, str):
            entry = {"text": entry}
        prompts[str(key)] = Prompt(
            key=str(key),
            step=str(entry.get("step") or "anywhere"),
            text=str(entry.get("text") or ""),
            reprompt=entry.get("reprompt"),
            audio=entry.get("audio"),
            speak_as=entry.get("speak_as"),
        )
    return LanguagePack(
        language=language,
        name=str(data.get("language_name") or language),
        voice=data.get("voice"),
        prompts=prompts,
        labels=data.get("labels") or {},
        vocabulary=Vocabulary.from_data(language, data.get("vocabulary") or {}),
        source=path,
    )


LANGUAGE_FILE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")


def language_files(directory: Path) -> list[Path]:
    """The language files of a prompts folder (en-US.yaml, es-US.yaml, ...)."""
    return sorted(p for p in directory.glob("*.yaml") if LANGUAGE_FILE.match(p.stem))


def load_baseline(directory: str | Path) -> dict[str, LanguagePack]:
    directory = Path(directory)
    packs = {}
    for path in language_files(directory):
        pack = pack_from_data(read_language_file(path), path)
        packs[pack.language] = pack
    if BASE_LANGUAGE not in packs:
        raise PromptError(f"{directory}: no {BASE_LANGUAGE}.yaml")
    return understanding.attach(packs, directory)


@dataclass
class Catalog:
    packs: Mapping[str, LanguagePack]
    stamp: Any = None

    def pack(self, language: str) -> LanguagePack:
        return self.packs.get(language) or self.packs[BASE_LANGUAGE]

    def vocabulary(self, language: str) -> Vocabulary:
        return self.pack(language).vocabulary

    def prompt(self, language: str, key: str) -> Prompt:
        pack = self.pack(language)
        prompt = pack.prompts.get(key) or self.packs[BASE_LANGUAGE].prompts.get(key)
        if prompt is None:
            raise PromptError(f"no prompt {key!r} in {language}")
        return prompt

    def label(self, language: str, path: str) -> str:
        for pack in (self.pack(language), self.packs[BASE_LANGUAGE]):
            node: Any = pack.labels
            for part in path.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            if isinstance(node, str):
                return node
        return path.rsplit(".", 1)[-1].replace("_", " ")

    def render(self, language: str, say: Say) -> list[Spoken]:
        """The line (or lines, for text over Twilio's limit) one Say becomes."""
        pack = self.pack(language)
        if say.key is not None and not say.key.startswith("label:"):
            prompt = self.prompt(language, say.key)
            template = prompt.reprompt if say.short and prompt.reprompt else prompt.text
            speak_as = self.pack(prompt.speak_as) if prompt.speak_as else pack
            # A recording stands for the full text only, not the re-prompt.
            audio = prompt.audio if template == prompt.text else None
            return [
                Spoken(say.key, part, speak_as.language, speak_as.voice, audio)
                for part in split_for_say(self.text(language, say))
            ]
        return [
            Spoken(say.key, part, pack.language, pack.voice)
            for part in split_for_say(self.text(language, say))
        ]

    def text(self, language: str, say: Say) -> str:
        """The words of one Say, placeholders filled in."""
        if say.key is not None and say.key.startswith("label:"):
            return self.label(language, say.key.removeprefix("label:"))
        if say.key is not None:
            prompt = self.prompt(language, say.key)
            template = prompt.reprompt if say.short and prompt.reprompt else prompt.text
        else:
            template = say.text or ""
        values = {name: self.value(language, v) for name, v in say.params.items()}
        return " ".join(fill(template, values).split())

    def value(self, language: str, value: Any) -> str:
        if isinstance(value, Say):
            return self.text(language, value)
        if isinstance(value, tuple | list):
            return " ".join(self.value(language, v) for v in value)
        if isinstance(value, Digits):
            return ", ".join(value.value)
        if isinstance(value, DueBy):
            return self.due(language, value)
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            months = self.label_list(language, "months")
            month = months[value.month - 1] if len(months) == 12 else str(value.month)
            return fill(
                self.label(language, "date"),
                {"month": month, "day": str(value.day), "year": str(value.year)},
            )
        if isinstance(value, Decimal):
            dollars, cents = divmod(int(value * 100), 100)
            key = "price" if cents else "price_whole"
            return fill(
                self.label(language, key), {"dollars": str(dollars), "cents": f"{cents:02d}"}
            )
        return str(value)

    def due(self, language: str, due: DueBy) -> str:
        """ "by 5 PM tomorrow", "by 9:30 AM on Tuesday, December 2, 2026"."""
        at = due.at
        ampm = self.label_list(language, "ampm") or ["AM", "PM"]
        parts = {
            "hour12": str(at.hour % 12 or 12),
            "hour24": str(at.hour),
            "minute": f"{at.minute:02d}",
            "ampm": ampm[at.hour >= 12],
        }
        time = fill(self.label(language, "time" if at.minute == 0 else "time_minutes"), parts)
        day = at.date()
        if day == due.today:
            key = "today"
        elif day == due.today + dt.timedelta(days=1):
            key = "tomorrow"
        else:
            key = "on"
        weekdays = self.label_list(language, "weekdays")
        values = {
            "time": time,
            "weekday": weekdays[day.weekday()] if len(weekdays) == 7 else "",
            "date": self.value(language, day),
        }
        return fill(self.label(language, f"due.{key}"), values)

    def label_list(self, language: str, name: str) -> Sequence[str]:
        for pack in (self.pack(language), self.packs[BASE_LANGUAGE]):
            node = pack.labels.get(name)
            if isinstance(node, list):
                return [str(x) for x in node]
        return []


def placeholders(template: str) -> set[str]:
    """The {names} a text uses. Raises PromptError on a malformed one."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise PromptError(f"malformed placeholder: {exc}") from None


def fill(template: str, values: Mapping[str, str]) -> str:
    """Fill {names}; one the line does not know is left as it is, never a crash."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, "{" + name + "}") if name else "{}")
    return "".join(out)


def split_for_say(text: str, limit: int = SAY_LIMIT) -> list[str]:
    """Split at sentence ends so no <Say> is over Twilio's limit."""
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind(". ", 0, limit), rest.rfind("? ", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut + 1 if cut > 0 else limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


# --- the live catalog ------------------------------------------------------------

_cache_lock = threading.Lock()


def init_app(app: Flask) -> None:
    # Read at start-up: a broken file stops the app here, not in the middle
    # of a call, and the apology for a failing database needs no database.
    packs = load_baseline(app.config["VOICE_PROMPTS_DIR"])
    app.extensions["ivr.prompts"] = {"baseline": packs, "catalog": None}
    # The rules of where the caller lives, read with the prompts (and like
    # them, a broken file stops the app here rather than mid-call).
    app.extensions["ivr.jurisdictions"] = jurisdictions.load(app.config["VOICE_PROMPTS_DIR"])


def warm_understanding(app: Flask, alive: Callable[[], None] = lambda: None) -> None:
    """Train the understanding of every language now (once per process for
    the same files), not on a caller's turn: gunicorn calls this as each
    worker starts (gunicorn.conf.py), with `alive` telling it after each
    language that the worker is still booting, not hung. A command that
    never reads words (most of `flask ivr ...`) does not pay for it; one
    that does trains on first use."""
    prompts = getattr(app, "extensions", {}).get("ivr.prompts")
    if prompts is None:
        return  # not the line's app (gunicorn.conf.py serving something else)
    for pack in prompts["baseline"].values():
        pack.vocabulary.understanding.warm()
        alive()


def baseline() -> dict[str, LanguagePack]:
    return current_app.extensions["ivr.prompts"]["baseline"]  # type: ignore[no-any-return]


_READ_STAMP = object()


@functools.cache
def stamp_query() -> Select[Any]:
    """The catalog's stamp: the newest published version's id. Every publish
    (a rollback too) adds a version, so the stamp moves with each."""
    from .models import PromptVersion

    return select(func.max(PromptVersion.id))


def live_catalog(session: Session, stamp: Any = _READ_STAMP) -> Catalog:
    """The baseline with the newest published versions on top.

    The call service reads the stamp (`stamp_query`) with the call's row (no
    extra round trip); without one, one indexed query reads it. Only when it
    moved are the versions read again.
    """
    if stamp is _READ_STAMP:
        stamp = session.scalar(stamp_query())
    state = current_app.extensions["ivr.prompts"]
    cached: Catalog | None = state["catalog"]
    if cached is not None and cached.stamp == stamp:
        return cached
    with _cache_lock:
        catalog = Catalog(overlay(baseline(), published_versions(session)), stamp=stamp)
        state["catalog"] = catalog
    return catalog


def baseline_catalog() -> Catalog:
    """The files alone: what the line says when the database cannot be read."""
    return Catalog(baseline())


def published_versions(session: Session) -> Iterable[Any]:
    from .models import PromptVersion

    newest = (
        select(
            PromptVersion.key,
            PromptVersion.language,
            func.max(PromptVersion.version).label("version"),
        )
        .group_by(PromptVersion.key, PromptVersion.language)
        .subquery()
    )
    return session.scalars(
        select(PromptVersion).join(
            newest,
            (PromptVersion.key == newest.c.key)
            & (PromptVersion.language == newest.c.language)
            & (PromptVersion.version == newest.c.version),
        )
    ).all()


VOCABULARY_PREFIX = "vocabulary."


def vocabulary_entries(pack: LanguagePack) -> dict[str, list[str]]:
    """The vocabulary as editable entries: "vocabulary.intents.agent" -> phrases.

    Each list of phrases (an intent's, a reason's, the fillers, the negations,
    a step's extra hints) is one entry; its published versions hold the
    phrases one per line.
    """
    raw = pack.vocabulary.raw
    entries: dict[str, list[str]] = {}
    for section in ("fillers", "negations", "common"):
        if isinstance(raw.get(section), list):
            entries[VOCABULARY_PREFIX + section] = [str(p) for p in raw[section]]
    for section in ("intents", "reasons", "hints"):
        for name, phrases in (raw.get(section) or {}).items():
            entries[f"{VOCABULARY_PREFIX}{section}.{name}"] = [str(p) for p in phrases]
    return entries


def phrases_of(text: str) -> list[str]:
    """One phrase a line; blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def with_vocabulary(pack: LanguagePack, changed: Mapping[str, list[str]]) -> LanguagePack:
    """The pack with some vocabulary entries replaced (keys of vocabulary_entries)."""
    raw: dict[str, Any] = {
        k: (dict(v) if isinstance(v, Mapping) else v) for k, v in pack.vocabulary.raw.items()
    }
    for key, phrases in changed.items():
        path = key.removeprefix(VOCABULARY_PREFIX).split(".", 1)
        if len(path) == 1:
            raw[path[0]] = phrases
        else:
            raw.setdefault(path[0], {})[path[1]] = phrases
    return replace(pack, vocabulary=Vocabulary.from_data(pack.language, raw))


def overlay(packs: Mapping[str, LanguagePack], versions: Iterable[Any]) -> dict[str, LanguagePack]:
    prompts: dict[str, dict[str, Prompt]] = {lang: dict(p.prompts) for lang, p in packs.items()}
    vocabulary: dict[str, dict[str, list[str]]] = {lang: {} for lang in packs}
    entries = {
        lang: {**vocabulary_entries(packs[BASE_LANGUAGE]), **vocabulary_entries(pack)}
        for lang, pack in packs.items()
    }
    taught: dict[str, list[understanding.Example]] = {lang: [] for lang in packs}
    for v in versions:
        if v.language not in prompts:
            continue
        if v.key.startswith(teaching.PREFIX):
            taught[v.language].extend(teaching.examples_in(v.key, v.text))
            continue
        if v.key.startswith(VOCABULARY_PREFIX):
            # Only entries the files define: a stray row must not break the language.
            if v.key in entries[v.language]:
                vocabulary[v.language][v.key] = phrases_of(v.text)
            continue
        base = prompts[v.language].get(v.key) or packs[BASE_LANGUAGE].prompts.get(v.key)
        if base is None:
            continue
        prompts[v.language][v.key] = replace(
            base, text=v.text, reprompt=v.reprompt, audio=v.audio, version=v.version
        )
    out = {}
    for lang, pack in packs.items():
        pack = replace(pack, prompts=prompts[lang])
        out[lang] = with_vocabulary(pack, vocabulary[lang]) if vocabulary[lang] else pack
    # Each language's understanding, retrained only when its examples changed.
    directory = next(iter(packs.values())).source.parent
    return understanding.attach(out, directory, taught)
