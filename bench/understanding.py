"""Time to train each language, and to understand one utterance (p50/p99
per language and step): the classifier alone, and the line's whole reading
of the words (rules and classifier, as in a call). Each figure twice: wall
time, and the thread's CPU time (what the work costs, without the waits for
a core when other processes share the machine; the load average is printed).
Run: .venv/bin/python bench/understanding.py"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sklearn.feature_extraction.text  # noqa: E402, F401  (imported before timing)
import sklearn.svm  # noqa: E402, F401

from ivr.language.evaluation import understand  # noqa: E402
from ivr.language.understanding import Understanding, examples_of  # noqa: E402
from ivr.prompts import Catalog, load_baseline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent / "voice_prompts"
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--rounds", type=int, default=20, help="times each phrasing is understood")
ROUNDS = parser.parse_args().rounds


def figures(times: list[tuple[float, float]]) -> str:
    out = []
    for name, column in (("wall", 0), ("cpu", 1)):
        ms = sorted(t[column] for t in times)
        p99 = ms[max(int(len(ms) * 0.99) - 1, 0)]
        out.append(f"{name} p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms")
        if column == 0:
            out[-1] += f" ({len(ms)})"
    return "; ".join(out)


def timed(call, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.thread_time()
    call(*args)
    return ((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000)


def read_afresh(memo, language: str, at: str, phrase: str) -> None:  # type: ignore[no-untyped-def]
    memo.cache_clear()
    understand(catalog, language, at, phrase)


print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


packs = load_baseline(ROOT)
catalog = Catalog(packs)
for language, pack in packs.items():
    examples = pack.vocabulary.understanding.examples
    trainings = []
    for _ in range(5):
        fresh = Understanding(language, examples)
        started = time.perf_counter()
        fresh.warm()
        trainings.append(time.perf_counter() - started)
    print(
        f"{language}: trained on {len(examples)} phrasings in"
        f" {statistics.median(trainings):.3f} s (median of 5; slowest {max(trainings):.3f} s)"
    )
    pack.vocabulary.understanding.warm()
    for step, at in (("reason", "reason"), ("yes_no", "offer")):
        # Phrasings it never trained on, so unseen n-grams are looked up too.
        phrases = [e.text for e in examples_of(ROOT, language, "test") if e.step == step]
        # Each reading from scratch: the understanding remembers the last
        # few hundred readings, and every round repeats the same phrasings.
        model = [timed(fresh._uncached_guess, step, p) for _ in range(ROUNDS) for p in phrases]
        memo = pack.vocabulary.understanding._guess
        line = [timed(read_afresh, memo, language, at, p) for _ in range(ROUNDS) for p in phrases]
        print(f"  {step}: classifier {figures(model)}")
        print(f"  {step} ({at}): rules and classifier {figures(line)}")
