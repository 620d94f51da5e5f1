"""What the line says, as staff see it: the sample values previews fill in,
the language files it loaded, and every prompt grouped by the step of the
call where it is heard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..admin_errors import NotFound
from ..prompts import BASE_LANGUAGE, Catalog, LanguagePack, Prompt

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


# --- the language files ------------------------------------------------------------


def baseline_packs(baseline: Mapping[str, LanguagePack] | None) -> Mapping[str, LanguagePack]:
    """The language files the line loaded (or the ones given, in tests and export)."""
    if baseline is not None:
        return baseline
    from ..prompts import baseline as app_baseline

    return app_baseline()


def prompt_of(
    packs: Mapping[str, LanguagePack], key: str, language: str
) -> tuple[LanguagePack, Prompt]:
    if language not in packs:
        raise NotFound(f"no language {language!r} (the line speaks {', '.join(packs)})")
    base = packs[BASE_LANGUAGE].prompts.get(key)
    if base is None:
        raise NotFound(f"no prompt {key!r}; `ivr prompts list` shows every key")
    pack = packs[language]
    return pack, pack.prompts.get(key) or base


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
