"""Benchmark the triage on the development set: recall of suicidal texts at level >= moderate, false-alarm rate on
the others, and texts per second on one core. Prints only aggregate numbers, never a row.

Usage: python bench/triage_bench.py [CSV] [--breakdown]   (default ../shared/data/dev/suicidal_intention_tweets.csv;
columns tweet,intention with 1 = suicidal intention). Skips with a message when the file is absent.
`--breakdown` adds counts per lexicon group and per top reason category (suicidal / other), still aggregate only.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.triage.analyzer import MessageSignals, get_analyzer  # noqa: E402
from bot.triage.levels import Urgency, rank  # noqa: E402
from bot.triage.urgency import assess_many  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "dev" / "suicidal_intention_tweets.csv"
THRESHOLD = "moderate"
_CATEGORY = re.compile(r"\(([^,()]+)[,)]")


def load_rows(path: Path) -> list[tuple[str, int]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for row in reader:
            label = (row.get("intention") or "").strip()
            if label in ("0", "1"):
                rows.append((row.get("tweet") or "", int(label)))
    return rows


def _category(urgency: Urgency) -> str:
    """The rule category of the top reason (its label, or the combination's name), never the quoted words."""
    if not urgency.reasons:
        return "-"
    reason = urgency.reasons[0]
    found = _CATEGORY.search(reason.rsplit('"', 1)[-1])
    return found.group(1) if found else reason.split(":", 1)[0].split('"', 1)[0].strip() or "-"


def _table(title: str, counts: Counter[str], other: Counter[str], width: int = 34) -> None:
    print(f"  {title}  (suicidal / other)")
    for key in sorted(set(counts) | set(other), key=lambda k: -(counts[k] + other[k])):
        print(f"    {key[:width]:<{width}} {counts[key]:>5} / {other[key]:<5}")


def breakdown(labels: Sequence[int], results: Sequence[Urgency], signals: Sequence[MessageSignals]) -> None:
    """Aggregate counts that explain the figures: groups found, top reason of alarms, what misses contain."""
    groups: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    flagged_by: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    unflagged: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    for label, urgency, sig in zip(labels, results, signals, strict=True):
        side = 0 if label == 1 else 1
        names = set()
        for hit in sig.hits:
            tags = [t for t, on in (("neg", hit.negated), ("gen", hit.general), ("other", hit.about != "self"),
                                    ("past", hit.past), ("rep", hit.reported)) if on]
            names.add(hit.group.name + ("[" + ",".join(tags) + "]" if tags else ""))
        if sig.humor:
            names.add("~humor cue")
        groups[side].update(names)
        if rank(urgency.level) >= rank(THRESHOLD):
            flagged_by[side][_category(urgency)] += 1
        else:
            unflagged[side][f"{urgency.level}: {_category(urgency)}"] += 1
    _table("texts with a match of each group", groups[0], groups[1])
    _table("flagged (>= moderate) by top reason category", flagged_by[0], flagged_by[1])
    _table("not flagged, by level and top reason category", unflagged[0], unflagged[1])


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    path = Path(args[0]) if args else DEFAULT_CSV
    if not path.is_file():
        print(f"triage bench: skipped, {path} not found")
        return 0
    rows = load_rows(path)
    texts = [text for text, _ in rows]
    list(assess_many([("warm up", None)]))  # builds the analyzer outside the timing
    start, cpu_start = time.perf_counter(), time.process_time()
    results = list(assess_many([(text, None) for text in texts]))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    positives = sum(label for _, label in rows)
    negatives = len(rows) - positives
    flagged = [rank(u.level) >= rank(THRESHOLD) for u in results]
    true_pos = sum(1 for f, (_, label) in zip(flagged, rows, strict=True) if f and label == 1)
    false_pos = sum(1 for f, (_, label) in zip(flagged, rows, strict=True) if f and label == 0)
    levels = Counter(u.level for u in results)
    print(f"triage bench: {len(rows)} texts ({positives} suicidal, {negatives} other) from {path.name}")
    print(f"  recall of suicidal texts at level >= {THRESHOLD}: {true_pos / max(positives, 1):.3f}")
    print(f"  false-alarm rate of other texts at level >= {THRESHOLD}: {false_pos / max(negatives, 1):.3f}")
    print(f"  speed: {len(rows) / elapsed:,.0f} texts/second (one core, {elapsed:.2f} s wall clock); "
          f"{len(rows) / max(cpu, 1e-9):,.0f} per CPU second (what a busy shared machine does not distort)")
    print("  levels: " + ", ".join(f"{k} {levels.get(k, 0)}" for k in ("none", "low", "moderate", "high", "imminent")))
    if "--breakdown" in argv:
        signals = list(get_analyzer().analyze_stream(texts))
        breakdown([label for _, label in rows], results, signals)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
