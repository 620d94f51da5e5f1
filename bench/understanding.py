"""Time to understand one utterance (p50/p99 per language and step) and to
train each language. Run: .venv/bin/python bench/understanding.py"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.language.understanding import Understanding, examples_of  # noqa: E402
from ivr.prompts import load_baseline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent / "voice_prompts"

for language, pack in load_baseline(ROOT).items():
    fresh = Understanding(language, pack.vocabulary.understanding.examples)
    started = time.perf_counter()
    fresh.warm()
    print(f"{language}: trained in {time.perf_counter() - started:.3f} s")
    for step in ("reason", "yes_no"):
        phrases = [e.text for e in examples_of(ROOT, language, "test") if e.step == step] * 20
        times = []
        for phrase in phrases:
            t = time.perf_counter()
            fresh.guess(step, phrase)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(f"  {step}: p50 {statistics.median(times):.2f} ms, p99 {p99:.2f} ms ({len(times)})")
