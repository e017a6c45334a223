"""Benchmark the abuse detector: precision and recall per class on our own examples (tests/abuse/texts.yml),
the false-flag rate on distress texts with profanity and on ordinary crisis texts, the block-level check, speed,
and (when ../shared/data/dev is there) how often the detector flags the development set's tweets, which are
people writing about their own suicidal feelings: every flag there is a false flag. Prints only aggregates, never
a row of the development set.

Usage: python bench/abuse_bench.py [--texts tests/abuse/texts.yml]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.abuse.detector import AbuseSignals, get_detector  # noqa: E402
from bot.abuse.lexicon import CLASSES  # noqa: E402
from bot.abuse.policy import MIN_THRESHOLD  # noqa: E402

TEXTS = ROOT / "tests" / "abuse" / "texts.yml"
DEV = ROOT.parent / "shared" / "data" / "dev"
DEV_FILES = (("suicidal_intention_tweets.csv", "tweet"), ("suicidal_tweets_handlabelled.csv", "text"))
GENUINE = ("distress", "crisis")
TARGET_SPAM_RECALL = 0.95
TARGET_SPAM_ON_GENUINE = 0.01


def say(line: str = "") -> None:
    print(line, flush=True)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _rate(n: int, d: int) -> str:
    return f"{n}/{d} = {n / d:.3f}" if d else "n/a"


def examples_report(path: Path) -> dict[str, float]:
    data: dict[str, list[str]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    detector = get_detector()
    scored: dict[str, list[AbuseSignals]] = {group: detector.score_many(texts) for group, texts in data.items()}
    figures: dict[str, float] = {}
    say(f"    our own examples ({sum(len(v) for v in data.values())} texts: "
        + ", ".join(f"{g} {len(v)}" for g, v in data.items()) + ")")
    for cls in CLASSES:
        positives = scored.get(cls, [])
        tp = sum(1 for s in positives if cls in s.to_dict())
        fp = sum(1 for group, sigs in scored.items() if group != cls for s in sigs if cls in s.to_dict())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / len(positives) if positives else 0.0
        figures[f"{cls}_precision"], figures[f"{cls}_recall"] = precision, recall
        say(f"    {cls:<7} precision {precision:.3f}  recall {recall:.3f}  ({tp} found of {len(positives)}, "
            f"{fp} false flags)")
    genuine = [s for g in GENUINE for s in scored.get(g, [])]
    spam_on_genuine = sum(1 for s in genuine if "spam" in s.to_dict())
    distress = scored.get("distress", [])
    distress_flagged = sum(1 for s in distress if s.to_dict())
    distress_block = sum(1 for s in distress if any(v >= MIN_THRESHOLD for v in s.scores.values()))
    crisis_flagged = sum(1 for s in scored.get("crisis", []) if s.to_dict())
    worst = max((v for s in distress for v in s.scores.values()), default=0.0)
    figures["spam_on_genuine"] = spam_on_genuine / len(genuine) if genuine else 0.0
    figures["distress_block"] = distress_block
    say(f"    distress with profanity flagged (any class): {_rate(distress_flagged, len(distress))}; "
        f"highest score on a distress text {worst:.2f}")
    say(f"    ordinary crisis texts flagged (any class): {_rate(crisis_flagged, len(scored.get('crisis', [])))}")
    say(f"    spam recall {figures['spam_recall']:.3f} (target >= {TARGET_SPAM_RECALL}) "
        f"{verdict(figures['spam_recall'] >= TARGET_SPAM_RECALL)}; genuine texts flagged spam "
        f"{_rate(spam_on_genuine, len(genuine))} (target <= {TARGET_SPAM_ON_GENUINE:.0%}) "
        f"{verdict(figures['spam_on_genuine'] <= TARGET_SPAM_ON_GENUINE)}")
    say(f"    distress texts at a level that could block (any class >= {MIN_THRESHOLD}, the lowest automatic-block "
        f"threshold staff can set): {distress_block} (target 0) {verdict(distress_block == 0)}")
    return figures


def speed(path: Path, seconds: float = 2.0) -> float:
    data: dict[str, list[str]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts = [t for group in data.values() for t in group]
    detector = get_detector()
    done, start, end = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < end:
        detector.score_many(texts)   # uncached
        done += len(texts)
    return done / max(time.process_time() - start, 1e-9)


def _cue(cls: str, quote: str, known: set[str]) -> str:
    """A lexicon entry by name, or the feature kind: never a development-set text."""
    q = quote.lower()
    return q if q in known else f"<{cls} pattern feature>"


def dev_report(breakdown: bool = False) -> None:
    detector = get_detector()
    known = {p for cl in detector.lexicon.classes.values() for p in (*cl.phrases, *cl.insults)}
    for name, column in DEV_FILES:
        path = DEV / name
        if not path.exists():
            say(f"    development set {name}: absent, skipped")
            continue
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            texts = [row.get(column) or "" for row in csv.DictReader(handle)]
        flagged: Counter[str] = Counter()
        any_flag = 0
        block_level: Counter[str] = Counter()
        cues: Counter[str] = Counter()
        for s in detector.score_many(texts):
            found = s.to_dict()
            if breakdown:
                cues.update(f"{c}: {_cue(c, q, known)}" for c in found for q in s.quotes(c))
            flagged.update(found.keys())
            any_flag += bool(found)
            block_level.update(c for c, v in s.scores.items() if v >= MIN_THRESHOLD)
        per_class = ", ".join(f"{c} {flagged[c]}" for c in CLASSES)
        say(f"    development set {name} ({len(texts):,} tweets about suicidal feelings, all genuine): flagged "
            f"{any_flag} ({any_flag / max(len(texts), 1):.2%}; {per_class}); at a blocking level (>= {MIN_THRESHOLD}) "
            + (", ".join(f"{c} {block_level[c]}" for c in CLASSES)))
        if breakdown:
            say("      cues behind the flags: " + ", ".join(f"{k} {n}" for k, n in cues.most_common(25)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abuse_bench", description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=Path, default=TEXTS)
    p.add_argument("--breakdown", action="store_true", help="count the lexicon entries behind dev-set flags")
    args = p.parse_args(argv)
    say("(h) abuse detector:")
    started = time.monotonic()
    get_detector()
    say(f"    built in {time.monotonic() - started:.1f} s")
    examples_report(args.texts)
    say(f"    {speed(args.texts):,.0f} texts per CPU second (uncached)")
    try:
        dev_report(args.breakdown)
    except Exception as exc:  # the development set is optional: never fail the run for it
        say(f"    development-set run skipped: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
