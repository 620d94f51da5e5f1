"""Exporting what the line says now (published versions and offers) as a
complete prompts folder, to review in git or use as VOICE_PROMPTS_DIR.

Each file is read and written again with ruamel.yaml's round trip, so its
comments, key order and quoting stay; only the values that changed are set.
The line itself reads the files with PyYAML (YAML 1.1), so a new phrase that
PyYAML would read as something else than words ("yes", "no", "on", "null",
a number) is written in double quotes, as the files write them.
"""

from __future__ import annotations

import io
import shutil
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.emitter import RoundTripEmitter
from ruamel.yaml.events import MappingEndEvent, ScalarEvent, SequenceEndEvent
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import jurisdictions
from ..models import Offer
from ..prompts import BASE_LANGUAGE, Catalog, LanguagePack, load_baseline, vocabulary_entries
from .catalog import SAMPLES_FILE, baseline_packs
from .vocabulary import entry_name

WIDTH = 100  # the files' line length
FOLD_AT = 90  # a changed text longer than this is written folded (text: >-), as in the files


class _Emitter(RoundTripEmitter):
    """ruamel's round-trip emitter, with flow lists and mappings ([a, b],
    {one: 1}) wrapped as the files wrap them. One read from the file and
    unchanged keeps its line breaks (the `layouts`, one per flow node in
    document order, from `_layouts`); a new or changed one is wrapped at
    WIDTH and goes on under its first item ([agent, an agent, ...,\n
    a person]). Text is never folded at a width (the emitter's width is
    set out of reach): a line of text stays one line, a folded text (>-)
    keeps its folds."""

    layouts: deque[dict[int, int] | None] = deque()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flows: list[list[Any]] = []  # [column, layout, index] per open flow node

    def expect_flow_sequence(self, force_flow_indent: bool | None = False) -> None:
        layout = self.layouts.popleft() if self.layouts else None
        super().expect_flow_sequence(force_flow_indent)
        self._flows.append([self.column, layout, 0])

    def expect_flow_mapping(
        self, single: bool | None = False, force_flow_indent: bool | None = False
    ) -> None:
        layout = self.layouts.popleft() if self.layouts else None
        super().expect_flow_mapping(single, force_flow_indent)
        self._flows.append([self.column, layout, 0])

    def expect_flow_sequence_item(self) -> None:
        if isinstance(self.event, SequenceEndEvent):
            if self._flows:
                self._flows.pop()
            super().expect_flow_sequence_item()
            return
        self.write_indicator(self.flow_seq_separator, False)
        self._wrap(self._item_width())
        self.states.append(self.expect_flow_sequence_item)
        self.expect_node(sequence=True)

    def expect_flow_mapping_key(self) -> None:
        if isinstance(self.event, MappingEndEvent):
            if self._flows:
                self._flows.pop()
            super().expect_flow_mapping_key()
            return
        self.write_indicator(self.flow_map_separator, False)
        self._wrap(self._item_width() + 5)  # "key: value", a short value
        if self.check_simple_key():
            self.states.append(self.expect_flow_mapping_simple_value)
            self.expect_node(mapping=True, simple_key=True)
        else:
            self.write_indicator("?", True)
            self.states.append(self.expect_flow_mapping_value)
            self.expect_node(mapping=True)

    def _wrap(self, width: int) -> None:
        """Before the next item of the open flow node: a line break where the
        file had one, or (new content) where the item would pass WIDTH."""
        if not self._flows:
            return
        flow = self._flows[-1]
        flow[2] += 1
        column, layout, index = flow
        if layout is not None:
            if index in layout:
                self._break_to(layout[index])
        elif self.column + 1 + width + 1 > WIDTH:
            self._break_to(column)

    def _item_width(self) -> int:
        if not isinstance(self.event, ScalarEvent):
            return 0
        value = str(self.event.value)
        return len(value) + (2 if self.event.style in ('"', "'") else 0)

    def _break_to(self, column: int) -> None:
        self.write_line_break()
        self.stream.write(" " * column)
        self.column = column
        self.whitespace = True
        self.indention = True


def _layouts(data: Any, out: list[dict[int, int] | None]) -> list[dict[int, int] | None]:
    """Where each flow list or mapping of the file broke its lines: {item
    index: column} for the items that began a line, in the order the emitter
    meets them; None for one without positions (new, or changed)."""
    if isinstance(data, CommentedMap | CommentedSeq):
        items = list(data) if isinstance(data, CommentedMap) else list(range(len(data)))
        if data.fa.flow_style():
            positions = [data.lc.data.get(i) for i in items]
            if items and all(positions):
                out.append(
                    {
                        i: positions[i][1]
                        for i in range(1, len(items))
                        if positions[i][0] != positions[i - 1][0]
                    }
                )
            else:
                out.append(None)
        for value in data.values() if isinstance(data, CommentedMap) else data:
            _layouts(value, out)
    return out


def _yaml(data: Any = None) -> YAML:
    rt = YAML()
    rt.Emitter = type("Emitter", (_Emitter,), {"layouts": deque(_layouts(data, []))})
    rt.preserve_quotes = True
    rt.width = 1 << 16  # out of reach: _Emitter wraps flow nodes at WIDTH, text never
    rt.indent(mapping=2, sequence=4, offset=2)  # "- code: ..." under its key, as in offers.yaml
    return rt


def _load(path: Path) -> Any:
    return _yaml().load(path.read_text(encoding="utf-8"))


def dump_yaml(data: Any) -> str:
    out = io.StringIO()
    _yaml(data).dump(data, out)
    return out.getvalue()


def _word(value: str) -> str:
    """A phrase or key as PyYAML reads it back: in double quotes where the
    plain word would be read as something else ("yes" is true in YAML 1.1)."""
    try:
        plain = yaml.safe_load(f"[{value}]")
    except yaml.YAMLError:
        plain = None
    return value if plain == [value] else DoubleQuotedScalarString(value)


def _text(value: str, indent: int, before: Any = None) -> Any:
    """A changed prompt text: folded over lines (>-) when long, or when the
    file had it folded, else plain (quoted only where YAML needs it)."""
    if "\n" in value or not (len(value) > FOLD_AT or isinstance(before, FoldedScalarString)):
        return _word(value)
    folded = FoldedScalarString(value)
    width = WIDTH - indent
    positions, start = [], 0
    while len(value) - start > width:
        at = value.rfind(" ", start, start + width)
        if at <= start:
            break
        positions.append(at)
        start = at + 1
    folded.fold_pos = positions  # type: ignore[attr-defined]
    return folded


def _set(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set one value, leaving it as it is (style, quoting) when it is unchanged."""
    if key in mapping and mapping[key] == value:
        return
    if isinstance(mapping.get(key), CommentedMap) and isinstance(value, Mapping):
        old = mapping[key]
        for name in [k for k in old if k not in value]:
            del old[name]
        for name, item in value.items():
            _set(old, name, item)
        old.lc.data.clear()  # its old line breaks may no longer fit: wrapped anew
        return
    if isinstance(value, Mapping):
        fresh = CommentedMap((k, _word(v) if isinstance(v, str) else v) for k, v in value.items())
        if all(isinstance(v, int | float) for v in value.values()):
            fresh.fa.set_flow_style()  # terms: {percent: 50, months: 3}
        value = fresh
    elif isinstance(value, str):
        value = _word(value)
    mapping[key] = value


def _set_phrases(mapping: CommentedMap, key: str, phrases: Sequence[str]) -> None:
    """A word list with new phrases: the same list object (its comments stay),
    unchanged phrases as they were written, new ones quoted where needed."""
    old = mapping.get(key)
    if isinstance(old, CommentedSeq):
        kept = {str(p): p for p in old}
        old.clear()
        old.extend(kept.get(p, _word(p)) if isinstance(p, str) else p for p in phrases)
        old.lc.data.clear()  # its old line breaks no longer fit: wrapped anew
        return
    fresh = CommentedSeq(_word(p) for p in phrases)
    fresh.fa.set_flow_style()
    mapping[key if key in mapping else _word(key)] = fresh


def _export_language(pack: LanguagePack, live_pack: LanguagePack, catalog: Catalog) -> str:
    data = _load(pack.source)
    language = pack.language
    for key, entry in (data.get("prompts") or {}).items():
        live = catalog.prompt(language, key)
        if not isinstance(entry, CommentedMap):
            # A prompt written as its text alone (key: text).
            if live.text != entry or live.reprompt or live.audio:
                entry = CommentedMap([("text", entry)])
                data["prompts"][key] = entry
            else:
                continue
        if entry.get("text") != live.text:
            entry["text"] = _text(live.text, 6, entry.get("text"))
        for name in ("reprompt", "audio"):
            value = getattr(live, name)
            if not value:
                entry.pop(name, None)
            elif entry.get(name) != value:
                _set(entry, name, _text(value, 6, entry.get(name)) if name == "reprompt" else value)
    in_file = vocabulary_entries(pack)
    vocabulary = data.setdefault("vocabulary", CommentedMap())
    for key, phrases in vocabulary_entries(live_pack).items():
        if in_file.get(key) == phrases:
            continue
        path = entry_name(key).split(".", 1)
        if len(path) == 1:
            _set_phrases(vocabulary, path[0], phrases)
        else:
            section = vocabulary.get(path[0])
            if not isinstance(section, CommentedMap):
                section = vocabulary[path[0]] = CommentedMap()
            _set_phrases(section, path[1], phrases)
    return dump_yaml(data)


def _export_offers(source: Path, offers: Sequence[Offer]) -> str:
    data = _load(source) if source.is_file() else None
    if not isinstance(data, CommentedMap):
        data = CommentedMap()
    specs = data.get("offers")
    if not isinstance(specs, CommentedSeq):
        specs = data["offers"] = CommentedSeq()
    by_code = {str(spec.get("code")): spec for spec in specs if isinstance(spec, CommentedMap)}
    for offer in offers:
        spec = by_code.get(offer.code)
        if spec is None:
            spec = CommentedMap([("code", offer.code)])
            specs.append(spec)
        _set(spec, "reason_code", offer.reason_code)
        _set(spec, "kind", offer.kind)
        _set(spec, "terms", dict(offer.terms or {}))
        _set(spec, "wording", dict(offer.wording or {}))
        if offer.active:
            spec.pop("active", None)
        else:
            _set(spec, "active", False)
    return dump_yaml(data)


def export(
    session: Session,
    directory: str | Path,
    *,
    catalog: Catalog,
    baseline: Mapping[str, LanguagePack] | None = None,
) -> list[Path]:
    """Write the live prompts (and offers) as a complete prompts folder.

    Labels are copied from the files as they are; the vocabulary is the live
    one. Each file keeps its comments, key order and quoting; only what was
    changed is set. The folder passes `prompts check` and can be used as
    VOICE_PROMPTS_DIR, or compared with voice_prompts/ in git.
    """
    packs = baseline_packs(baseline)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    source_dir = packs[BASE_LANGUAGE].source.parent
    written: list[Path] = []
    for language, pack in packs.items():
        text = _export_language(pack, catalog.packs.get(language, pack), catalog)
        path = target / pack.source.name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    offers = session.scalars(select(Offer).order_by(Offer.id)).all()
    if offers:
        path = target / "offers.yaml"
        path.write_text(_export_offers(source_dir / "offers.yaml", offers), encoding="utf-8")
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
