"""Checking what the line says before it goes live: every language file of a
prompts folder (`ivr prompts check`), and one prompt or vocabulary entry
about to be published.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .. import jurisdictions
from ..admin_errors import Refused
from ..models import REASON_CODES
from ..offers_admin import validate_offer
from ..prompts import (
    BASE_LANGUAGE,
    SAY_LIMIT,
    LanguagePack,
    Prompt,
    PromptError,
    fill,
    language_files,
    pack_from_data,
    phrases_of,
    placeholders,
    read_language_file,
    vocabulary_entries,
)
from ..ssml import SsmlError, has_ssml, ssml_nodes
from .catalog import baseline_packs, load_samples, prompt_of, samples_for
from .vocabulary import entry_of, file_entries, is_vocabulary, vocabulary_problems

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
        entries, shape_problems = file_entries(pack.vocabulary.raw)
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


def clean(value: str | None) -> str | None:
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
    packs = baseline_packs(baseline)
    if is_vocabulary(key):
        pack, _ = entry_of(packs, key, language)
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
    pack, _ = prompt_of(packs, key, language)
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
