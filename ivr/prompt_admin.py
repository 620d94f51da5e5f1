"""What operations staff do to what the line says: check, publish, roll back
and export prompts, and edit offers.

The console and the CLI call the same functions here. Each takes the
session and the actor (who is making the change); none commits: the request
or command that called it does. Every change is stored as a new row (a
PromptVersion, an OfferChange) and written to the audit log, so history is
append-only and anything can be rolled back.

The rules a prompt must keep:
- its key and language exist in the files (voice_prompts/<lang>.yaml);
- its text is not empty and uses only the {placeholders} the line fills in
  for that key, which are the ones of the en-US file's text (and re-prompt);
- its text keeps every placeholder of the en-US file's text: each carries
  something the caller must hear (the confirmation code, the end date, the
  plan); the shorter re-prompt may leave any of them out;
- SSML tags, if any, are well formed and ones Twilio's <Say> knows;
- it fits in one <Say> (4,096 characters, sample values filled in);
- its audio, if any, is an http(s) URL or a file under the prompts folder's
  audio/ directory.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import jurisdictions
from .flow.types import Say
from .flow.understand import BOUNDARY, tokenize
from .models import OFFER_KINDS, REASON_CODES, AuditLog, Offer, OfferChange, PromptVersion
from .prompts import (
    BASE_LANGUAGE,
    SAY_LIMIT,
    VOCABULARY_PREFIX,
    Catalog,
    LanguagePack,
    Prompt,
    PromptError,
    fill,
    language_files,
    load_baseline,
    pack_from_data,
    phrases_of,
    placeholders,
    read_language_file,
    vocabulary_entries,
)
from .ssml import SsmlError, estimated_seconds, has_ssml, plain_text, ssml_nodes


class AdminError(ValueError):
    """A change that was refused; the message says why, for the person making it."""

    def __init__(self, reasons: str | Sequence[str]):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        super().__init__("; ".join(self.reasons))


class Refused(AdminError):
    """Invalid input: nothing was changed."""


class NotFound(AdminError):
    """No such prompt, language, version or offer."""


# --- samples ---------------------------------------------------------------------

SAMPLES_FILE = "samples.yaml"


def load_samples(directory: str | Path) -> dict[str, dict[str, str]]:
    """Sample values per language for previews: {"en-US": {"plan": "Premium", ...}}."""
    path = Path(directory) / SAMPLES_FILE
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    common = {str(k): str(v) for k, v in (data.get("values") or {}).items()}
    samples = {"*": common}
    for name, values in data.items():
        if name != "values" and isinstance(values, Mapping):
            samples[str(name)] = {**common, **{str(k): str(v) for k, v in values.items()}}
    return samples


def samples_for(samples: Mapping[str, Mapping[str, str]], language: str) -> dict[str, str]:
    return dict(samples.get(language) or samples.get("*") or {})


# --- checking prompts ----------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    language: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.language} {self.key}: {self.message}"


def prompt_problems(
    reference: Prompt | None,
    text: str | None,
    reprompt: str | None,
    audio: str | None,
    *,
    directory: Path,
    samples: Mapping[str, str],
) -> list[str]:
    """What is wrong with one prompt's content, measured against the en-US file's prompt."""
    problems: list[str] = []
    required = _placeholders_or_none(reference.text) if reference else set()
    allowed = set(required or ())
    if reference is not None and reference.reprompt:
        allowed |= _placeholders_or_none(reference.reprompt) or set()

    for field_name, value in (("text", text), ("reprompt", reprompt)):
        if value is None:
            if field_name == "text":
                problems.append("empty text")
            continue
        label = "re-prompt" if field_name == "reprompt" else "text"
        if not value.strip():
            problems.append(f"empty {label}")
            continue
        try:
            used = placeholders(value)
        except PromptError as exc:
            problems.append(f"{label}: {exc}")
            continue
        if "" in used:
            problems.append(f"{label}: empty placeholder {{}}; name it, e.g. {{plan}}")
        unknown = sorted(n for n in used - allowed if n)
        if unknown and reference is not None:
            known = ", ".join("{" + n + "}" for n in sorted(allowed)) or "none"
            problems.append(
                f"{label}: unknown placeholder "
                + ", ".join("{" + n + "}" for n in unknown)
                + f" (this prompt knows: {known})"
            )
        if field_name == "text" and required:
            missing = sorted(required - used)
            if missing:
                problems.append(
                    "text: missing placeholder "
                    + ", ".join("{" + n + "}" for n in missing)
                    + " (the caller must hear it)"
                )
        if has_ssml(value):
            try:
                ssml_nodes(value)
            except SsmlError as exc:
                problems.append(f"{label}: {exc}")
        filled = fill(value, samples)
        if len(filled) > SAY_LIMIT:
            problems.append(
                f"{label}: {len(filled)} characters with sample values; "
                f"a <Say> holds at most {SAY_LIMIT}"
            )
    if audio is not None:
        problem = audio_problem(audio, directory)
        if problem:
            problems.append(problem)
    return problems


def _placeholders_or_none(text: str) -> set[str] | None:
    try:
        return placeholders(text)
    except PromptError:
        return None


def audio_problem(audio: str, directory: Path) -> str | None:
    """An audio file is an http(s) URL, or a path under <prompts folder>/audio/,
    which the line serves at /voice/audio/ (a relative URL in the TwiML)."""
    audio = audio.strip()
    if not audio:
        return "empty audio: leave it out to <Say> the text"
    parts = urlsplit(audio)
    if parts.scheme in ("http", "https"):
        return None if parts.netloc else f"audio URL {audio!r} has no host"
    if parts.scheme:
        return f"audio {audio!r}: use an https:// URL or a file under audio/"
    relative = Path(audio)
    if relative.is_absolute() or ".." in relative.parts or relative.parts[:1] != ("audio",):
        return f"audio {audio!r}: use an https:// URL or a path under audio/ (audio/en-US/x.mp3)"
    if not (directory / relative).is_file():
        return f"missing audio file {audio} (in {directory})"
    return None


def check_prompts(directory: str | Path) -> list[Problem]:
    """Every problem of every language file (and offers.yaml) in a prompts folder."""
    directory = Path(directory)
    problems: list[Problem] = []
    raw: dict[str, dict[str, Any]] = {}
    packs: dict[str, LanguagePack] = {}
    for path in language_files(directory):
        try:
            data = read_language_file(path)
            pack = pack_from_data(data, path)
        except (OSError, yaml.YAMLError, PromptError, TypeError, ValueError, AttributeError) as exc:
            problems.append(Problem(path.name, path.stem, "-", f"cannot read: {_one_line(exc)}"))
            continue
        if pack.language != path.stem:
            problems.append(
                Problem(
                    path.name, path.stem, "language", f"says {pack.language}, file is {path.stem}"
                )
            )
        raw[path.stem] = data
        packs[path.stem] = pack
    base = packs.get(BASE_LANGUAGE)
    if base is None:
        if not any(p.key == "-" for p in problems):
            problems.append(Problem(f"{BASE_LANGUAGE}.yaml", BASE_LANGUAGE, "-", "missing file"))
        return problems
    samples = load_samples(directory)
    stems = [p.stem for p in language_files(directory)]
    for language, pack in packs.items():
        file = pack.source.name
        entries = raw[language].get("prompts") or {}
        for key in base.prompts:
            if key not in pack.prompts:
                problems.append(Problem(file, language, key, "missing prompt (en-US has it)"))
        for key, prompt in pack.prompts.items():
            reference = base.prompts.get(key)
            if reference is None:
                problems.append(Problem(file, language, key, "extra prompt (not in en-US)"))
                continue
            entry = entries.get(key)
            text = entry if isinstance(entry, str) else (entry or {}).get("text")
            for message in prompt_problems(
                reference,
                None if text is None else str(text),
                None if prompt.reprompt is None else str(prompt.reprompt),
                None if prompt.audio is None else str(prompt.audio),
                directory=directory,
                samples=samples_for(samples, language),
            ):
                problems.append(Problem(file, language, key, message))
            if prompt.speak_as and prompt.speak_as not in stems:
                problems.append(
                    Problem(
                        file, language, key, f"speak_as {prompt.speak_as}: no such language file"
                    )
                )
            if prompt.step != reference.step:
                problems.append(
                    Problem(
                        file, language, key, f"step {prompt.step!r}; en-US says {reference.step!r}"
                    )
                )
        problems.extend(_section_problems(file, language, "labels", base.labels, pack.labels))
        problems.extend(
            _section_problems(
                file, language, "vocabulary", base.vocabulary.raw, pack.vocabulary.raw, depth=2
            )
        )
        for reason in pack.vocabulary.raw.get("reasons") or {}:
            if reason not in REASON_CODES:
                problems.append(
                    Problem(file, language, f"vocabulary.reasons.{reason}", "not a reason code")
                )
        entries, shape_problems = _file_entries(pack.vocabulary.raw)
        for key, message in shape_problems:
            problems.append(Problem(file, language, key, message))
        earlier: dict[str, list[str]] = {}  # each clash is reported once, at the later entry
        for key, phrases in entries.items():
            for message in vocabulary_problems(key, phrases, earlier):
                problems.append(Problem(file, language, key, message))
            earlier[key] = [p for p in phrases if isinstance(p, str)]
    problems.extend(_offer_file_problems(directory, stems))
    problems.extend(
        Problem(jurisdictions.FILE_NAME, "-", "-", message)
        for message in jurisdictions.check(directory)
    )
    return problems


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _section_problems(
    file: str, language: str, name: str, base: Any, other: Any, depth: int = 9
) -> list[Problem]:
    """Keys of a labels/vocabulary section missing or extra compared with en-US."""
    problems: list[Problem] = []
    if not isinstance(base, Mapping) or depth == 0:
        return problems
    if not isinstance(other, Mapping):
        return [Problem(file, language, name, "missing (en-US has it)")]
    for key in base:
        if key not in other:
            problems.append(Problem(file, language, f"{name}.{key}", "missing (en-US has it)"))
        else:
            problems.extend(
                _section_problems(file, language, f"{name}.{key}", base[key], other[key], depth - 1)
            )
    for key in other:
        if key not in base:
            problems.append(Problem(file, language, f"{name}.{key}", "extra (not in en-US)"))
    if isinstance(base.get("months"), list) and len(other.get("months") or []) != 12:
        problems.append(Problem(file, language, f"{name}.months", "needs the 12 month names"))
    return problems


def _offer_file_problems(directory: Path, languages: Sequence[str]) -> list[Problem]:
    path = directory / "offers.yaml"
    if not path.is_file():
        return []
    try:
        with path.open(encoding="utf-8") as f:
            offers = (yaml.safe_load(f) or {}).get("offers") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return [Problem(path.name, "-", "-", f"cannot read: {_one_line(exc)}")]
    problems: list[Problem] = []
    for spec in offers:
        code = str(spec.get("code") or "-")
        if spec.get("reason_code") not in REASON_CODES:
            problems.append(
                Problem(path.name, "-", code, f"reason_code {spec.get('reason_code')!r} is unknown")
            )
        try:
            validate_offer(
                str(spec.get("kind")), spec.get("terms") or {}, spec.get("wording") or {}, languages
            )
        except Refused as exc:
            for reason in exc.reasons:
                language = next((lg for lg in languages if reason.startswith(lg + " ")), "-")
                problems.append(Problem(path.name, language, code, reason))
    return problems


# --- checking vocabulary ----------------------------------------------------------
#
# The words the line understands are edited as entries ("vocabulary.intents.agent",
# "vocabulary.reasons.too_expensive", "vocabulary.fillers", ...), each a list of
# phrases; a published version holds them one per line (see ivr.prompts).

HINT_LIMIT = 100  # Twilio takes hints of at most 100 characters.
MATCHED_SECTIONS = ("intents", "reasons")  # phrases that decide what a caller meant
VOCABULARY_HELP = {
    "fillers": "words dropped before matching (um, like, please)",
    "negations": "words that turn a following phrase around (don't cancel)",
    "common": "everyday words of the language: own words count as a reason only with some",
    "intents": "phrases that mean one answer (yes, no, agent, repeat...)",
    "reasons": "phrases that point to one cancellation reason",
    "hints": "extra hints sent to Twilio's speech recognition at one step",
}


def is_vocabulary(key: str) -> bool:
    return key.startswith(VOCABULARY_PREFIX)


def entry_key(name: str) -> str:
    """ "intents.agent" or "vocabulary.intents.agent" -> "vocabulary.intents.agent"."""
    name = name.strip()
    return name if is_vocabulary(name) else VOCABULARY_PREFIX + name


def entry_name(key: str) -> str:
    """ "vocabulary.intents.agent" -> "intents.agent" (how people name it)."""
    return key.removeprefix(VOCABULARY_PREFIX)


def entry_section(key: str) -> str:
    return entry_name(key).split(".", 1)[0]


def _words(phrase: str) -> tuple[str, ...]:
    """The words the line matches: "Don't cancel!" -> ("don't", "cancel")."""
    return tuple(t for t in tokenize(phrase) if t != BOUNDARY)


_SPELLED = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def _spelling(phrase: str) -> tuple[str, ...]:
    """A phrase as spelled, case, spacing and punctuation aside (accents kept:
    the files list "inglés" and "ingles", "sí" and "si" on purpose)."""
    text = unicodedata.normalize("NFC", phrase.replace("\u2019", "'").replace("\u2018", "'"))
    return tuple(_SPELLED.findall(text.lower()))


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        return (
            f"{value!r} is not a phrase: YAML reads an unquoted yes/no/on/off/true/false "
            f'as {str(value).lower()}; quote it, e.g. ["yes", yeah]'
        )
    return f'{value!r} is not a phrase: quote it in the file, e.g. "{value}"'


def vocabulary_problems(
    key: str, phrases: Sequence[Any], others: Mapping[str, Sequence[Any]]
) -> list[str]:
    """What is wrong with one entry's phrases; `others` are the other entries
    of the same language, which a phrase of an intent or a reason must not
    repeat (one phrase means one thing)."""
    section = entry_section(key)
    problems: list[str] = []
    if not phrases and section in MATCHED_SECTIONS:
        kind = "an intent" if section == "intents" else "a reason"
        problems.append(
            f"{entry_name(key)} needs at least one phrase ({kind} without phrases is never heard)"
        )
    seen: dict[tuple[str, ...], str] = {}
    matched: list[tuple[tuple[str, ...], str]] = []
    for value in phrases:
        if not isinstance(value, str):
            problems.append(_quote_hint(value))
            continue
        if len(value) > HINT_LIMIT:
            problems.append(
                f"{value[:40]!r}...: {len(value)} characters; a phrase holds at most {HINT_LIMIT} "
                "(Twilio's limit for a hint)"
            )
        words = _words(value)
        if not words:
            problems.append(f"{value!r} has no words (punctuation alone matches nothing)")
            continue
        spelled = _spelling(value)
        if spelled in seen:
            problems.append(f"{value!r} is listed twice (as {seen[spelled]!r})")
            continue
        seen[spelled] = value
        matched.append((words, value))

    fillers = {_words(str(f)) for f in others.get(VOCABULARY_PREFIX + "fillers", ())}
    if section in MATCHED_SECTIONS:
        owners: dict[tuple[str, ...], str] = {}
        for other, other_phrases in others.items():
            if other != key and entry_section(other) in MATCHED_SECTIONS:
                for p in other_phrases:
                    owners.setdefault(_words(str(p)), other)
        for words, value in matched:
            if words in owners:
                problems.append(
                    f"{value!r} is already a phrase of {entry_name(owners[words])}; "
                    "one phrase can mean only one thing"
                )
            elif words in fillers:
                problems.append(
                    f"{value!r} is a filler (fillers): the line drops it before matching, "
                    "so it would never be heard"
                )
    elif section == "fillers":
        for other, other_phrases in others.items():
            if entry_section(other) not in MATCHED_SECTIONS:
                continue
            mine = {words: value for words, value in matched}
            for p in other_phrases:
                words = _words(str(p))
                if words in mine:
                    problems.append(
                        f"{mine[words]!r} is a phrase of {entry_name(other)}; as a filler "
                        "the line would drop it before matching"
                    )
    return problems


def _file_entries(raw: Mapping[Any, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A language file's vocabulary as entries, values as YAML read them (a
    bool stays a bool), and the problems of its shape."""
    entries: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for section in ("fillers", "negations", "common"):
        if section in raw:
            entries[VOCABULARY_PREFIX + section] = raw[section]
    for section in ("intents", "reasons", "hints"):
        for name, phrases in (raw.get(section) or {}).items():
            if not isinstance(name, str):
                problems.append((f"vocabulary.{section}.{name}", _quote_hint(name)))
            entries[f"{VOCABULARY_PREFIX}{section}.{name}"] = phrases
    for key, value in list(entries.items()):
        if value is None:
            entries[key] = []
        elif not isinstance(value, list):
            problems.append((key, "not a list of phrases, e.g. [agent, a person]"))
            del entries[key]
    return entries, problems


# --- publishing prompts -------------------------------------------------------------


def _baseline(baseline: Mapping[str, LanguagePack] | None) -> Mapping[str, LanguagePack]:
    if baseline is not None:
        return baseline
    from .prompts import baseline as app_baseline

    return app_baseline()


def _prompt_of(
    packs: Mapping[str, LanguagePack], key: str, language: str
) -> tuple[LanguagePack, Prompt]:
    if language not in packs:
        raise NotFound(f"no language {language!r} (the line speaks {', '.join(packs)})")
    base = packs[BASE_LANGUAGE].prompts.get(key)
    if base is None:
        raise NotFound(f"no prompt {key!r}; `ivr prompts list` shows every key")
    pack = packs[language]
    return pack, pack.prompts.get(key) or base


def _entry_of(
    packs: Mapping[str, LanguagePack], key: str, language: str
) -> tuple[LanguagePack, list[str]]:
    """A vocabulary entry of a language and its phrases in the file."""
    if language not in packs:
        raise NotFound(f"no language {language!r} (the line speaks {', '.join(packs)})")
    pack = packs[language]
    in_file = vocabulary_entries(pack)
    if key not in in_file and key not in vocabulary_entries(packs[BASE_LANGUAGE]):
        raise NotFound(
            f"no vocabulary entry {entry_name(key)!r}; `ivr prompts words list` shows every entry"
        )
    return pack, in_file.get(key, [])


def live_vocabulary(
    session: Session, language: str, baseline: Mapping[str, LanguagePack] | None = None
) -> dict[str, tuple[int, list[str]]]:
    """Every vocabulary entry of a language as the line uses it now: its
    version (0: the file) and phrases. The same newest-version rule as
    ivr.prompts.live_catalog."""
    packs = _baseline(baseline)
    if language not in packs:
        raise NotFound(f"no language {language!r} (the line speaks {', '.join(packs)})")
    entries = {key: (0, phrases) for key, phrases in vocabulary_entries(packs[language]).items()}
    for key in vocabulary_entries(packs[BASE_LANGUAGE]):
        entries.setdefault(key, (0, []))
    rows = session.scalars(
        select(PromptVersion)
        .where(
            PromptVersion.language == language,
            PromptVersion.key.startswith(VOCABULARY_PREFIX, autoescape=True),
        )
        .order_by(PromptVersion.version)
    ).all()
    for row in rows:
        if row.key in entries:
            entries[row.key] = (row.version, phrases_of(row.text))
    return entries


def _phrase_lines(text: str | None) -> str:
    """Phrases one a line, blank lines and extra spaces dropped."""
    return "\n".join(" ".join(p.split()) for p in phrases_of(text or ""))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\r\n", "\n").strip()
    return value or None


def validate_text(
    key: str,
    language: str,
    text: str | None,
    reprompt: str | None = None,
    audio: str | None = None,
    *,
    baseline: Mapping[str, LanguagePack] | None = None,
    samples: Mapping[str, Mapping[str, str]] | None = None,
    vocabulary: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Raise Refused with every reason the content cannot go live.

    For a vocabulary entry the text is its phrases, one a line, checked
    against `vocabulary`: the language's other entries as they are live
    (default: as in the file).
    """
    packs = _baseline(baseline)
    if is_vocabulary(key):
        pack, _ = _entry_of(packs, key, language)
        reasons = []
        if reprompt or audio:
            reasons.append("a vocabulary entry has phrases only (no re-prompt, no audio)")
        if vocabulary is None:
            vocabulary = vocabulary_entries(pack)
        others = {k: v for k, v in vocabulary.items() if k != key}
        reasons.extend(vocabulary_problems(key, phrases_of(text or ""), others))
        if reasons:
            raise Refused(reasons)
        return
    pack, _ = _prompt_of(packs, key, language)
    directory = pack.source.parent
    if samples is None:
        samples = load_samples(directory)
    reasons = prompt_problems(
        packs[BASE_LANGUAGE].prompts[key],
        "" if text is None else text,
        reprompt,
        audio,
        directory=directory,
        samples=samples_for(samples, language),
    )
    if reasons:
        raise Refused(reasons)


@dataclass(frozen=True)
class Content:
    text: str
    reprompt: str | None
    audio: str | None


def live_content(
    session: Session, key: str, language: str, baseline: Mapping[str, LanguagePack] | None = None
) -> tuple[int, Content]:
    """The version the line says now, and its content (for a vocabulary
    entry, its phrases one a line)."""
    packs = _baseline(baseline)
    if is_vocabulary(key):
        _entry_of(packs, key, language)
        version, phrases = live_vocabulary(session, language, packs)[key]
        return version, Content("\n".join(phrases), None, None)
    _, prompt = _prompt_of(packs, key, language)
    row = session.scalars(
        select(PromptVersion)
        .where(PromptVersion.key == key, PromptVersion.language == language)
        .order_by(PromptVersion.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return 0, Content(prompt.text, prompt.reprompt, prompt.audio)
    return row.version, Content(row.text, row.reprompt, row.audio)


def publish(
    session: Session,
    key: str,
    language: str,
    text: str | None,
    reprompt: str | None = None,
    audio: str | None = None,
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
    action: str = "prompt.publish",
    detail: Mapping[str, Any] | None = None,
) -> PromptVersion:
    """Store a new version of a prompt, or of a vocabulary entry (text: its
    phrases, one a line); the line uses it from the next request on."""
    packs = _baseline(baseline)
    reprompt, audio, note = _clean(reprompt), _clean(audio), _clean(note)
    if is_vocabulary(key):
        text = _phrase_lines(text)
        live = {k: v for k, (_, v) in live_vocabulary(session, language, packs).items()}
        validate_text(key, language, text, reprompt, audio, baseline=packs, vocabulary=live)
        action = action.replace("prompt.", "vocabulary.", 1)
    else:
        text = _clean(text)
        validate_text(key, language, text, reprompt, audio, baseline=packs)
    assert text is not None
    if not actor:
        raise Refused("who is publishing? (an actor is required)")
    current, live = live_content(session, key, language, packs)
    if live == Content(text, reprompt, audio):
        raise Refused(f"nothing changed: version {current} already says this")
    newest = session.scalar(
        select(func.max(PromptVersion.version)).where(
            PromptVersion.key == key, PromptVersion.language == language
        )
    )
    version = PromptVersion(
        key=key,
        language=language,
        version=(newest or 0) + 1,
        text=text,
        reprompt=reprompt,
        audio=audio,
        created_by=actor,
        note=note,
    )
    session.add(version)
    session.add(
        AuditLog(
            actor=actor,
            action=action,
            detail={
                "key": key,
                "language": language,
                "version": version.version,
                "from_version": current,
                "note": note,
                **(detail or {}),
            },
        )
    )
    session.flush()
    return version


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    text: str
    reprompt: str | None
    audio: str | None
    created_by: str
    created_at: dt.datetime | None
    note: str | None
    diff: str  # unified diff from the version before ("" for the first)
    live: bool = False


def history(
    session: Session,
    key: str,
    language: str,
    *,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> list[HistoryEntry]:
    """Every version, oldest first: the file's (version 0), then each published one."""
    packs = _baseline(baseline)
    vocabulary = is_vocabulary(key)
    if vocabulary:
        pack, phrases = _entry_of(packs, key, language)
        prompt = Prompt(key, "vocabulary", "\n".join(phrases))
    else:
        pack, prompt = _prompt_of(packs, key, language)
    rows = session.scalars(
        select(PromptVersion)
        .where(PromptVersion.key == key, PromptVersion.language == language)
        .order_by(PromptVersion.version)
    ).all()
    entries = [
        HistoryEntry(
            0,
            prompt.text,
            prompt.reprompt,
            prompt.audio,
            f"voice_prompts/{pack.source.name}",
            None,
            "the phrases in the file" if vocabulary else "the text in the file",
            "",
        )
    ]
    previous = entries[0]
    for row in rows:
        entry = HistoryEntry(
            row.version,
            row.text,
            row.reprompt,
            row.audio,
            row.created_by,
            row.created_at,
            row.note,
            content_diff(previous, row, previous.version, row.version, vocabulary=vocabulary),
        )
        entries.append(entry)
        previous = entry
    entries[-1] = replace(entries[-1], live=True)
    return entries


def _as_lines(content: Any, vocabulary: bool = False) -> list[str]:
    if vocabulary:  # one phrase a line
        return [f"{phrase}\n" for phrase in phrases_of(content.text)]
    lines = []
    for name in ("text", "reprompt", "audio"):
        value = getattr(content, name)
        if value is None:
            continue
        # One sentence a line, so a diff shows which sentence changed.
        for sentence in re.split(r"(?<=[.?!])\s+", " ".join(str(value).split())):
            lines.append(f"{name}: {sentence}\n")
    return lines


def content_diff(
    before: Any, after: Any, from_version: int, to_version: int, *, vocabulary: bool = False
) -> str:
    return "".join(
        difflib.unified_diff(
            _as_lines(before, vocabulary),
            _as_lines(after, vocabulary),
            fromfile=f"version {from_version}",
            tofile=f"version {to_version}",
            lineterm="\n",
        )
    )


def rollback(
    session: Session,
    key: str,
    language: str,
    to_version: int,
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> PromptVersion:
    """Publish, as a new version, the content of an earlier one."""
    packs = _baseline(baseline)
    entries = history(session, key, language, baseline=packs)
    target = next((e for e in entries if e.version == to_version), None)
    if target is None:
        raise NotFound(
            f"no version {to_version} of {key} in {language} (versions 0 to {entries[-1].version})"
        )
    if target.live:
        raise Refused(f"version {to_version} is the live version already")
    return publish(
        session,
        key,
        language,
        target.text,
        target.reprompt,
        target.audio,
        actor=actor,
        note=note or f"rollback to version {to_version}",
        baseline=packs,
        action="prompt.rollback",
        detail={"to_version": to_version},
    )


def add_phrases(
    session: Session,
    key: str,
    language: str,
    phrases: Sequence[str],
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> PromptVersion:
    """Publish an entry with more phrases (a synonym the line missed)."""
    key = entry_key(key)
    _, live = live_content(session, key, language, baseline)
    current = phrases_of(live.text)
    have = {_spelling(p): p for p in current}
    new = [" ".join(p.split()) for p in phrases if p.strip()]
    if not new:
        raise Refused("which phrase? give at least one")
    for phrase in new:
        if _spelling(phrase) in have:
            raise Refused(f"{phrase!r} is already a phrase of {entry_name(key)} in {language}")
    return publish(
        session,
        key,
        language,
        "\n".join(current + new),
        actor=actor,
        note=note or "added " + ", ".join(repr(p) for p in new),
        baseline=baseline,
    )


def remove_phrases(
    session: Session,
    key: str,
    language: str,
    phrases: Sequence[str],
    *,
    actor: str,
    note: str | None = None,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> PromptVersion:
    """Publish an entry without some of its phrases."""
    key = entry_key(key)
    _, live = live_content(session, key, language, baseline)
    current = phrases_of(live.text)
    gone = {_spelling(p): p for p in phrases if p.strip()}
    if not gone:
        raise Refused("which phrase? give at least one")
    have = {_spelling(p) for p in current}
    for spelled, phrase in gone.items():
        if spelled not in have:
            raise Refused(f"{phrase!r} is not a phrase of {entry_name(key)} in {language}")
    return publish(
        session,
        key,
        language,
        "\n".join(p for p in current if _spelling(p) not in gone),
        actor=actor,
        note=note or "removed " + ", ".join(repr(p) for p in gone.values()),
        baseline=baseline,
    )


@dataclass(frozen=True)
class VocabularyRow:
    key: str  # vocabulary.intents.agent
    name: str  # intents.agent
    section: str  # intents
    live: Mapping[str, tuple[int, list[str]]]  # language -> (version, phrases)


def list_vocabulary(
    session: Session, baseline: Mapping[str, LanguagePack] | None = None
) -> list[VocabularyRow]:
    """Every vocabulary entry with its live phrases per language, in file order."""
    packs = _baseline(baseline)
    languages = [BASE_LANGUAGE, *sorted(lang for lang in packs if lang != BASE_LANGUAGE)]
    live = {lang: live_vocabulary(session, lang, packs) for lang in languages}
    keys = list(live[BASE_LANGUAGE])
    for lang in languages:
        keys.extend(k for k in live[lang] if k not in keys)
    return [
        VocabularyRow(
            key,
            entry_name(key),
            entry_section(key),
            {lang: live[lang].get(key, (0, [])) for lang in languages},
        )
        for key in keys
    ]


# --- listing and exporting -------------------------------------------------------


@dataclass(frozen=True)
class PromptRow:
    key: str
    step: str
    prompts: Mapping[str, Prompt]  # language -> live prompt


@dataclass(frozen=True)
class StepGroup:
    step: str
    rows: list[PromptRow] = field(default_factory=list)


def languages_of(catalog: Catalog) -> list[str]:
    return [BASE_LANGUAGE, *sorted(lang for lang in catalog.packs if lang != BASE_LANGUAGE)]


def list_prompts(catalog: Catalog) -> list[StepGroup]:
    """Every prompt, grouped by the step of the call where it is heard (in file order)."""
    groups: dict[str, StepGroup] = {}
    languages = languages_of(catalog)
    for key, prompt in catalog.packs[BASE_LANGUAGE].prompts.items():
        group = groups.setdefault(prompt.step, StepGroup(prompt.step))
        group.rows.append(
            PromptRow(key, prompt.step, {lang: catalog.prompt(lang, key) for lang in languages})
        )
    return list(groups.values())


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # "- code: ..." indented under its key, as in offers.yaml
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if len(value) > 90 and "\n" not in value and value == value.strip():
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=">")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


def _represent_dict(dumper: yaml.SafeDumper, value: dict[Any, Any]) -> yaml.MappingNode:
    # Numbers stay on a line, as in the files: terms: {percent: 50, months: 3}
    flow = all(isinstance(v, int | float) for v in value.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    # Word lists stay on a line, as in the files: [agent, an agent, representative]
    flow = all(not isinstance(v, dict | list) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=96,
    )


def _header(path: Path) -> str:
    """The comment block at the top of a file, kept on export."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


_PROMPT_ENTRY = re.compile(r"^  ([^\s#][^:]*):\s*(#.*)?$")


def _rewrite_prompts(source: str, changed: Mapping[str, Any], data: Any) -> str | None:
    """The file with only the changed prompts rewritten, so a git diff shows
    just them (comments and line breaks elsewhere stay as they are). None
    when the file is laid out in a way this does not follow."""
    lines = source.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "prompts:") + 1
    except StopIteration:
        return None
    end = next(
        (i for i in range(start, len(lines)) if lines[i][:1] not in ("", " ", "\n", "#")),
        len(lines),
    )
    entries: list[tuple[str, int]] = []
    for i in range(start, end):
        match = _PROMPT_ENTRY.match(lines[i])
        if match:
            entries.append((match.group(1).strip().strip("'\""), i))
    out = lines[:start]
    last = start
    for n, (key, begin) in enumerate(entries):
        stop = entries[n + 1][1] if n + 1 < len(entries) else end
        out.extend(lines[last:begin])
        block = lines[begin:stop]
        if key in changed:
            # Blank lines and section comments after the entry stay.
            body_end = len(block)
            while body_end > 1 and (
                not block[body_end - 1].strip() or block[body_end - 1].startswith("#")
            ):
                body_end -= 1
            fresh = dump_yaml({key: changed[key]})
            out.extend(
                "  " + line if line.strip() else line for line in fresh.splitlines(keepends=True)
            )
            out.extend(block[body_end:])
        else:
            out.extend(block)
        last = stop
    out.extend(lines[last:])
    text = "".join(out)
    try:
        reread = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return text if reread == data else None


_YAML_KEY = re.compile(r"""^( *)("[^"]*"|'[^']*'|[^\s#:'"][^:#]*?)\s*:(\s|$)""")


def _block_end(lines: Sequence[str], begin: int, end: int, indent: int) -> int:
    """Where the YAML node starting at lines[begin] ends: the next line as
    little indented, blank lines and comments after it left out."""
    stop = begin + 1
    while stop < end:
        line = lines[stop]
        if line.strip() and not line.lstrip().startswith("#"):
            if len(line) - len(line.lstrip(" ")) <= indent:
                break
        stop += 1
    while stop > begin + 1 and (
        not lines[stop - 1].strip() or lines[stop - 1].lstrip().startswith("#")
    ):
        stop -= 1
    return stop


def _find_key(lines: Sequence[str], begin: int, end: int, indent: int, name: str) -> int | None:
    for i in range(begin, end):
        match = _YAML_KEY.match(lines[i])
        if match and len(match.group(1)) == indent and match.group(2).strip("'\"") == name:
            return i
    return None


def _yaml_word(value: str, flow: bool = True) -> str:
    """A phrase (or key) as the files write it: plain, or in double quotes
    where YAML would read it otherwise ("yes", "no", "on", a colon...)."""
    try:
        plain = yaml.safe_load(f"[{value}]" if flow else f"{value}: 0")
    except yaml.YAMLError:
        plain = None
    if plain == ([value] if flow else {value: 0}):
        return value
    return json.dumps(value, ensure_ascii=False)


def _flow_list(name: str, phrases: Sequence[str], indent: int, width: int = 100) -> list[str]:
    """`  name: [a, b, c,` wrapped under the first phrase, as in the files."""
    head = " " * indent + _yaml_word(name, flow=False) + ": ["
    if not phrases:
        return [head + "]\n"]
    lines: list[str] = []
    current, fresh = head, True
    for n, phrase in enumerate(phrases):
        piece = _yaml_word(phrase) + ("]" if n == len(phrases) - 1 else ",")
        if not fresh and len(current) + 1 + len(piece) > width:
            lines.append(current + "\n")
            current, fresh = " " * len(head), True
        current += piece if fresh else " " + piece
        fresh = False
    lines.append(current + "\n")
    return lines


def _rewrite_vocabulary(source: str, changed: Mapping[str, list[str]]) -> str | None:
    """The file with only the changed vocabulary entries rewritten (comments
    and the other entries as they are). None when the file is laid out in a
    way this does not follow."""
    if not changed:
        return source
    lines = source.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "vocabulary:") + 1
    except StopIteration:
        return None
    end = next(
        (i for i in range(start, len(lines)) if lines[i][:1] not in ("", " ", "\n", "#")),
        len(lines),
    )
    replacements: list[tuple[int, int, list[str]]] = []
    for key, phrases in changed.items():
        path = entry_name(key).split(".", 1)
        begin, stop, indent = start, end, 2
        if len(path) == 2:
            section = _find_key(lines, start, end, 2, path[0])
            if section is None:
                return None
            begin, stop, indent = section + 1, _block_end(lines, section, end, 2), 4
        at = _find_key(lines, begin, stop, indent, path[-1])
        if at is None:
            return None
        fresh = _flow_list(path[-1], phrases, indent)
        replacements.append((at, _block_end(lines, at, stop, indent), fresh))
    for begin, stop, new in sorted(replacements, reverse=True):
        lines[begin:stop] = new
    return "".join(lines)


def export(
    session: Session,
    directory: str | Path,
    *,
    catalog: Catalog,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> list[Path]:
    """Write the live prompts (and offers) as a complete prompts folder.

    Labels are copied from the files as they are; the vocabulary is the live
    one. Only what was changed is rewritten, so comments elsewhere stay. The
    folder passes `prompts check` and can be used as VOICE_PROMPTS_DIR, or
    compared with voice_prompts/ in git.
    """
    packs = _baseline(baseline)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    source_dir = packs[BASE_LANGUAGE].source.parent
    written: list[Path] = []
    for language, pack in packs.items():
        source = pack.source.read_text(encoding="utf-8")
        data = dict(read_language_file(pack.source))
        prompts_out: dict[str, Any] = {}
        changed: dict[str, Any] = {}
        for key, entry in (data.get("prompts") or {}).items():
            entry = {"text": entry} if isinstance(entry, str) else dict(entry)
            before = dict(entry)
            live = catalog.prompt(language, key)
            entry["text"] = live.text
            for name in ("reprompt", "audio"):
                value = getattr(live, name)
                if value:
                    entry[name] = value
                else:
                    entry.pop(name, None)
            ordered = {
                name: entry[name]
                for name in ("step", "text", "reprompt", "audio", "speak_as")
                if name in entry
            }
            ordered.update({k: v for k, v in entry.items() if k not in ordered})
            prompts_out[key] = ordered
            if ordered != before:
                changed[key] = ordered
        data["prompts"] = prompts_out
        live_pack = catalog.packs.get(language, pack)
        in_file = vocabulary_entries(pack)
        words_changed = {
            key: phrases
            for key, phrases in vocabulary_entries(live_pack).items()
            if in_file.get(key) != phrases
        }
        if words_changed:
            vocabulary = {
                k: (dict(v) if isinstance(v, Mapping) else v)
                for k, v in (data.get("vocabulary") or {}).items()
            }
            for key, phrases in words_changed.items():
                path_in = entry_name(key).split(".", 1)
                if len(path_in) == 1:
                    vocabulary[path_in[0]] = phrases
                else:
                    vocabulary.setdefault(path_in[0], {})[path_in[1]] = phrases
            data["vocabulary"] = vocabulary
        path = target / pack.source.name
        words_source = _rewrite_vocabulary(source, words_changed)
        text = None if words_source is None else _rewrite_prompts(words_source, changed, data)
        if text is None:
            text = _header(pack.source) + dump_yaml(data)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    offers_source = source_dir / "offers.yaml"
    offers = session.scalars(select(Offer).order_by(Offer.id)).all()
    if offers:
        header = _header(offers_source) if offers_source.is_file() else ""
        specs = [
            {
                "code": o.code,
                "reason_code": o.reason_code,
                "kind": o.kind,
                "terms": dict(o.terms or {}),
                "wording": dict(o.wording or {}),
                **({} if o.active else {"active": False}),
            }
            for o in offers
        ]
        path = target / "offers.yaml"
        path.write_text(header + dump_yaml({"offers": specs}), encoding="utf-8")
        written.append(path)

    if source_dir.resolve() != target.resolve():
        # Files edited only in git go along as they are.
        for name in (SAMPLES_FILE, jurisdictions.FILE_NAME):
            if (source_dir / name).is_file():
                shutil.copyfile(source_dir / name, target / name)
                written.append(target / name)
        audio = source_dir / "audio"
        if audio.is_dir():
            shutil.copytree(audio, target / "audio", dirs_exist_ok=True)
            written.append(target / "audio")
    load_baseline(target)  # what was written loads the way the line loads it
    return written


# --- previews ------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    text: str  # the words heard, sample values filled in
    twiml: str
    seconds: float
    reprompt_text: str | None = None
    reprompt_twiml: str | None = None
    reprompt_seconds: float | None = None


def draft_catalog(
    catalog: Catalog,
    key: str,
    language: str,
    text: str,
    reprompt: str | None,
    audio: str | None,
) -> Catalog:
    """The live catalog with one prompt replaced by a draft (nothing is stored)."""
    pack = catalog.pack(language)
    prompt = replace(catalog.prompt(language, key), text=text, reprompt=reprompt, audio=audio)
    packs = dict(catalog.packs)
    packs[pack.language] = replace(pack, prompts={**pack.prompts, key: prompt})
    return Catalog(packs)


def preview(
    catalog: Catalog,
    key: str,
    language: str,
    text: str,
    reprompt: str | None = None,
    audio: str | None = None,
    *,
    samples: Mapping[str, Mapping[str, str]],
) -> Preview:
    """The TwiML the line would answer with, through the real renderer."""
    from twilio.twiml.voice_response import VoiceResponse

    from .voice.twiml import speak

    draft = draft_catalog(catalog, key, language, text, _clean(reprompt), _clean(audio))
    params = samples_for(samples, language)

    def render(short: bool) -> tuple[str, str, float]:
        line = Say(key, params, short=short)
        response = VoiceResponse()
        speak(response, draft.render(language, line))
        words = draft.text(language, line)
        return words, response.to_xml(xml_declaration=False), estimated_seconds(words)

    words, twiml, seconds = render(False)
    if _clean(reprompt):
        r_words, r_twiml, r_seconds = render(True)
        return Preview(words, twiml, seconds, r_words, r_twiml, r_seconds)
    return Preview(words, twiml, seconds)


class SpeechUnavailable(RuntimeError):
    pass


ESPEAK_VOICES = {"en-US": "en-us", "es-US": "es-419"}


def synthesize_wav(text: str, language: str, timeout: float = 10.0) -> bytes:
    """A WAV of the text read by espeak-ng (a rough idea of pace and wording;
    the line itself speaks with the Polly voice of the language file)."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise SpeechUnavailable("espeak-ng is not installed on the server")
    voice = ESPEAK_VOICES.get(language, language[:2].lower())
    try:
        done = subprocess.run(
            [program, "-v", voice, "--stdin", "--stdout"],
            input=plain_text(text).encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SpeechUnavailable("espeak-ng took too long") from None
    if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
        raise SpeechUnavailable(
            "espeak-ng failed: " + done.stderr.decode("utf-8", "replace").strip()[:200]
        )
    return done.stdout


# --- offers -----------------------------------------------------------------------------

# kind -> term -> (minimum, maximum) for whole numbers, or the type of value
OFFER_TERMS: dict[str, dict[str, Any]] = {
    "discount": {"percent": (1, 100), "months": (1, 36)},
    "pause": {"months": (1, 12)},
    "free_period": {"months": (1, 12)},
    "downgrade": {"plan": str, "price": Decimal},
    "help": {},
}


def _languages(languages: Iterable[str] | None) -> list[str]:
    if languages is not None:
        return list(languages)
    return list(_baseline(None))


def validate_offer(
    kind: str,
    terms: Mapping[str, Any],
    wording: Mapping[str, str],
    languages: Iterable[str],
) -> dict[str, Any]:
    """The terms, normalised; raises Refused with every reason the offer is invalid."""
    reasons: list[str] = []
    if kind not in OFFER_KINDS:
        raise Refused(f"kind {kind!r} is not one of {', '.join(OFFER_KINDS)}")
    if not isinstance(terms, Mapping):
        raise Refused('terms must be a mapping, e.g. {"months": 3}')
    shape = OFFER_TERMS[kind]
    clean: dict[str, Any] = {}
    for name in terms:
        if name not in shape:
            expected = ", ".join(shape) or "no terms"
            reasons.append(f"a {kind} offer has no term {name!r} (it takes {expected})")
    for name, rule in shape.items():
        value = terms.get(name)
        if value is None or value == "":
            reasons.append(f"a {kind} offer needs the term {name!r}")
        elif isinstance(rule, tuple):
            number = _whole_number(value)
            lo, hi = rule
            if number is None or not lo <= number <= hi:
                reasons.append(f"{name} must be a whole number from {lo} to {hi}, not {value!r}")
            else:
                clean[name] = number
        elif rule is Decimal:
            try:
                price = Decimal(str(value)).quantize(Decimal("0.01"))
            except InvalidOperation:
                price = None
            if price is None or isinstance(value, bool) or price <= 0:
                reasons.append(f"{name} must be an amount like 9.99, not {value!r}")
            else:
                clean[name] = str(price)
        else:
            text = str(value).strip()
            if not text:
                reasons.append(f"a {kind} offer needs the term {name!r}")
            clean[name] = text
    known = set(shape) | {"plan"}
    for language in languages:
        words = (wording.get(language) or "").strip()
        if not words:
            reasons.append(f"{language} wording is empty (the line says it to every caller)")
            continue
        try:
            used = placeholders(words)
        except PromptError as exc:
            reasons.append(f"{language} wording: {exc}")
            continue
        unknown = sorted(used - known)
        if unknown:
            allowed = ", ".join("{" + n + "}" for n in sorted(known))
            reasons.append(
                f"{language} wording: unknown placeholder "
                + ", ".join("{" + n + "}" for n in unknown)
                + f" (a {kind} offer knows: {allowed})"
            )
        if has_ssml(words):
            try:
                ssml_nodes(words)
            except SsmlError as exc:
                reasons.append(f"{language} wording: {exc}")
        if len(words) > SAY_LIMIT:
            reasons.append(f"{language} wording: over {SAY_LIMIT} characters")
    for language in wording:
        if language not in languages:
            reasons.append(f"wording for {language}: the line does not speak it")
    if reasons:
        raise Refused(reasons)
    return clean


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def offer_snapshot(offer: Offer) -> dict[str, Any]:
    return {
        "code": offer.code,
        "reason_code": offer.reason_code,
        "kind": offer.kind,
        "terms": dict(offer.terms or {}),
        "wording": dict(offer.wording or {}),
        "active": bool(offer.active),
    }


def find_offer(session: Session, code: str) -> Offer:
    offer = session.scalars(select(Offer).where(Offer.code == code)).first()
    if offer is None:
        raise NotFound(f"no offer {code!r}; `ivr offers list` shows every code")
    return offer


def list_offers(session: Session) -> list[Offer]:
    """Every offer, in the order of the reasons they answer."""
    order = {code: i for i, code in enumerate(REASON_CODES)}
    offers = session.scalars(select(Offer).order_by(Offer.id)).all()
    return sorted(offers, key=lambda o: (order.get(o.reason_code, len(order)), o.id))


def _other_active(session: Session, offer_id: int | None, reason_code: str) -> Offer | None:
    query = select(Offer).where(Offer.reason_code == reason_code, Offer.active.is_(True))
    if offer_id is not None:
        query = query.where(Offer.id != offer_id)
    return session.scalars(query.limit(1)).first()


def update_offer(
    session: Session,
    code: str,
    actor: str,
    *,
    kind: str | None = None,
    terms: Mapping[str, Any] | None = None,
    wording: Mapping[str, str | None] | None = None,
    active: bool | None = None,
    languages: Iterable[str] | None = None,
) -> Offer:
    """Change an offer; the next caller with that reason hears the new one.

    Wording given for some languages replaces theirs only. Changing the kind
    needs terms for the new kind.
    """
    if not actor:
        raise Refused("who is changing the offer? (an actor is required)")
    offer = find_offer(session, code)
    before = offer_snapshot(offer)
    new_kind = kind or offer.kind
    new_terms: Mapping[str, Any] = (
        terms if terms is not None else (offer.terms if new_kind == offer.kind else {})
    )
    new_wording = dict(offer.wording or {})
    for language, words in (wording or {}).items():
        new_wording[language] = (words or "").replace("\r\n", "\n").strip()
    clean_terms = validate_offer(new_kind, new_terms, new_wording, _languages(languages))
    new_active = offer.active if active is None else active
    if new_active and not offer.active:
        other = _other_active(session, offer.id, offer.reason_code)
        if other is not None:
            raise Refused(
                f"{other.code} is already the active offer for {offer.reason_code}; "
                f"switch it off first (one offer per reason)"
            )
    after = {
        **before,
        "kind": new_kind,
        "terms": clean_terms,
        "wording": new_wording,
        "active": bool(new_active),
    }
    if after == before:
        raise Refused(f"nothing changed: {code} already is this")
    offer.kind = new_kind
    offer.terms = clean_terms
    offer.wording = new_wording
    offer.active = bool(new_active)
    session.add(OfferChange(offer_id=offer.id, changed_by=actor, before=before, after=after))
    changed = [name for name in after if after[name] != before[name]]
    session.add(
        AuditLog(actor=actor, action="offer.update", detail={"code": code, "changed": changed})
    )
    session.flush()
    return offer


def create_offer(
    session: Session,
    code: str,
    reason_code: str,
    kind: str,
    terms: Mapping[str, Any],
    wording: Mapping[str, str],
    actor: str,
    *,
    active: bool = True,
    languages: Iterable[str] | None = None,
) -> Offer:
    """A new offer for a reason (one active offer per reason)."""
    code = code.strip()
    if not re.fullmatch(r"[a-z0-9_]{2,60}", code):
        raise Refused("code: 2 to 60 lower-case letters, digits or _ (e.g. discount_25_2m)")
    if reason_code not in REASON_CODES:
        raise Refused(f"reason {reason_code!r} is not one of {', '.join(REASON_CODES)}")
    if session.scalars(select(Offer.id).where(Offer.code == code)).first() is not None:
        raise Refused(f"an offer {code!r} exists already")
    clean_wording = {k: (v or "").strip() for k, v in wording.items()}
    clean_terms = validate_offer(kind, terms, clean_wording, _languages(languages))
    if active and _other_active(session, None, reason_code) is not None:
        other = _other_active(session, None, reason_code)
        assert other is not None
        raise Refused(
            f"{other.code} is already the active offer for {reason_code}; "
            f"switch it off first, or create this one switched off"
        )
    offer = Offer(
        code=code,
        reason_code=reason_code,
        kind=kind,
        terms=clean_terms,
        wording=clean_wording,
        active=active,
    )
    session.add(offer)
    session.flush()
    session.add(
        OfferChange(offer_id=offer.id, changed_by=actor, before=None, after=offer_snapshot(offer))
    )
    session.add(AuditLog(actor=actor, action="offer.create", detail={"code": code}))
    session.flush()
    return offer


@dataclass(frozen=True)
class OfferHistoryEntry:
    changed_by: str
    changed_at: dt.datetime
    before: Mapping[str, Any] | None
    after: Mapping[str, Any]
    changes: list[tuple[str, Any, Any]]  # (field, before, after)


def offer_history(session: Session, code: str) -> list[OfferHistoryEntry]:
    """Every change of an offer, oldest first."""
    offer = find_offer(session, code)
    rows = session.scalars(
        select(OfferChange).where(OfferChange.offer_id == offer.id).order_by(OfferChange.id)
    ).all()
    entries = []
    for row in rows:
        before = row.before or {}
        changes = []
        for name in ("kind", "terms", "wording", "active"):
            if name == "wording":
                for language in sorted(
                    set(before.get("wording") or {}) | set(row.after["wording"])
                ):
                    old = (before.get("wording") or {}).get(language)
                    new = row.after["wording"].get(language)
                    if old != new:
                        changes.append((f"wording {language}", old, new))
            elif before.get(name) != row.after.get(name):
                changes.append((name, before.get(name), row.after.get(name)))
        entries.append(
            OfferHistoryEntry(row.changed_by, row.changed_at, row.before, row.after, changes)
        )
    return entries


# --- trying the vocabulary -----------------------------------------------------------


@dataclass(frozen=True)
class Understood:
    intent: str | None  # the answer the words carry most strongly (any intent)
    agent: bool  # asks for a person, wherever in the call
    reason: str | None  # the cancellation reason they point to


def understood(
    catalog: Catalog,
    language: str,
    sentence: str,
    draft: Mapping[str, Sequence[str]] | None = None,
) -> Understood:
    """What the line makes of a sentence, with draft entries in place of the
    live ones (nothing is stored)."""
    from .flow.understand import intent_of, reason_of, wants_agent
    from .prompts import with_vocabulary

    pack = catalog.pack(language)
    if draft:
        pack = with_vocabulary(pack, {k: list(v) for k, v in draft.items()})
    vocab = pack.vocabulary
    return Understood(
        intent_of(sentence, vocab),
        wants_agent(sentence, vocab),
        reason_of(sentence, vocab, REASON_CODES),
    )
