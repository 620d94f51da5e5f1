"""Exporting what the line says now (published versions and offers) as a
complete prompts folder, to review in git or use as VOICE_PROMPTS_DIR."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import jurisdictions
from ..models import Offer
from ..prompts import (
    BASE_LANGUAGE,
    Catalog,
    LanguagePack,
    load_baseline,
    read_language_file,
    vocabulary_entries,
)
from .catalog import SAMPLES_FILE, baseline_packs
from .vocabulary import entry_name


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
    packs = baseline_packs(baseline)
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
