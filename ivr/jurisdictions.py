"""Which cancellation rules apply to a caller, by US state.

The rules live in voice_prompts/jurisdictions.yaml (edited in git, checked
by `ivr prompts check`, read at start-up like the prompts). The caller's
state is the customer's state on file when billing has one, else Twilio's
FromState (from the number: only a fallback), else the `unknown` rules,
which are the strictest. docs/compliance.md explains the rules and sources.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FILE_NAME = "jurisdictions.yaml"
# before: the offer may be heard before cancelling (after the disclosure);
# after: only once the cancellation is done, and only if the caller says yes
# to hearing it; none: no offer.
OFFER_TIMINGS = ("before", "after", "none")
STATE_CODE = re.compile(r"^[A-Z]{2}$")
FIELDS = {"offer", "recording_notice", "sources"}


class JurisdictionError(ValueError):
    """The rules file cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class Rules:
    offer: str = "before"
    recording_notice: bool = False


@dataclass(frozen=True)
class Jurisdiction:
    """The rules applied to one call, and why."""

    state: str | None
    # "on_file" (billing's record), "from_state" (Twilio's FromState) or "unknown"
    source: str
    rules: Rules
    # Which version of the rules file decided it (a hash of its text).
    version: str


@dataclass(frozen=True)
class Jurisdictions:
    default: Rules
    unknown: Rules
    states: Mapping[str, Rules]
    version: str

    def resolve(self, on_file: str | None, from_state: str | None) -> Jurisdiction:
        for source, value in (("on_file", on_file), ("from_state", from_state)):
            code = state_code(value)
            if code is not None:
                return Jurisdiction(code, source, self.states.get(code, self.default), self.version)
        return Jurisdiction(None, "unknown", self.unknown, self.version)


def state_code(value: str | None) -> str | None:
    """A two-letter state code ("ca " -> "CA"); None for anything else."""
    code = (value or "").strip().upper()
    return code if STATE_CODE.match(code) else None


def load(directory: str | Path) -> Jurisdictions:
    """The rules of <directory>/jurisdictions.yaml; JurisdictionError if broken."""
    path = Path(directory) / FILE_NAME
    text = path.read_text(encoding="utf-8")
    rules, problems = parse(text)
    if problems or rules is None:
        raise JurisdictionError(f"{path}: " + "; ".join(problems))
    return rules


def check(directory: str | Path) -> list[str]:
    """Every problem of the rules file (none if it is fine)."""
    path = Path(directory) / FILE_NAME
    if not path.is_file():
        return ["missing file (the rules of where the caller lives: see docs/compliance.md)"]
    return parse(path.read_text(encoding="utf-8"))[1]


def parse(text: str) -> tuple[Jurisdictions | None, list[str]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [f"cannot read: {' '.join(str(exc).split())}"]
    if not isinstance(data, dict):
        return None, ["not a mapping with default, unknown and states"]
    problems: list[str] = []
    extra = sorted(str(k) for k in data if k not in ("default", "unknown", "states"))
    if extra:
        problems.append(f"unknown section(s) {', '.join(extra)}: use default, unknown, states")
    default = _rules("default", data.get("default"), problems)
    unknown = _rules("unknown", data.get("unknown"), problems)
    states: dict[str, Rules] = {}
    listed = data.get("states") or {}
    if not isinstance(listed, dict):
        problems.append("states: a mapping of two-letter state codes, e.g. CA: {offer: before}")
        listed = {}
    for code, entry in listed.items():
        if not isinstance(code, str) or not STATE_CODE.match(code):
            problems.append(f"states.{code}: not a two-letter state code in capitals (e.g. CA)")
            continue
        rules = _rules(f"states.{code}", entry, problems)
        if rules is not None:
            states[code] = rules
    if problems or default is None or unknown is None:
        return None, problems
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Jurisdictions(default, unknown, states, version), problems


def _rules(where: str, entry: Any, problems: list[str]) -> Rules | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: missing, or not a mapping like {{offer: before}}")
        return None
    before = len(problems)
    unknown = sorted(str(k) for k in entry if k not in FIELDS)
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    offer = entry.get("offer")
    if offer not in OFFER_TIMINGS:
        problems.append(f"{where}.offer: {offer!r}; use one of {', '.join(OFFER_TIMINGS)}")
    notice = entry.get("recording_notice", False)
    if not isinstance(notice, bool):
        problems.append(f"{where}.recording_notice: {notice!r}; use true or false")
    sources = entry.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        problems.append(f"{where}.sources: a list of texts")
    if len(problems) > before:
        return None
    return Rules(offer=str(offer), recording_notice=bool(notice))
