"""Benchmark the free-text triage across sources: train the learned scorer on one development file and measure on
the other, in both directions, beside the lexicon alone. Prints only aggregate numbers, never a row.

Per direction: AUC, recall of suicidal texts at level >= moderate and the false-alarm rate there (the level the
live assistant gives, the model's operating point chosen on the training file's own validation folds), and the
best recall at a false-alarm rate <= 0.10 read off the ROC curve of the target file (what a threshold could reach;
not an operating point). Then scoring speed (texts per second on one core, lexicon alone and lexicon + model),
training time (on the training file, and on 20,000 texts), and model size.

Usage: python bench/triage_bench.py [--tune] [--quick] [--cost]
`--tune` picks the regularization and block weights by cross-validation on the TRAINING file only (out-of-fold
AUC), never on the file measured. `--quick` skips the 20,000-text training; `--cost` measures only speed, size and
training time. Files: ../shared/data/dev/
suicidal_intention_tweets.csv (tweet,intention) and suicidal_tweets_handlabelled.csv (text,label); the bench
skips with a message when they are absent.
"""

from __future__ import annotations

import csv
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bot.triage.learned import LearnedModel, Params, normalize  # noqa: E402
from bot.triage.training import COMPARE_FAR, figures_of, fit_model, score_texts  # noqa: E402
from bot.triage.urgency import assess_many, use_model  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "dev"
FILES = {
    "intention": (DEV / "suicidal_intention_tweets.csv", "tweet", "intention"),
    "handlabelled": (DEV / "suicidal_tweets_handlabelled.csv", "text", "label"),
}
TRAIN_SIZE = 20_000
#: The grid `--tune` searches on the training file (out-of-fold AUC).
GRID = [Params(C=c, lex_weight=lw) for c in (1.0, 4.0, 16.0) for lw in (0.5, 1.0, 2.0)]


def load_rows(path: Path, text_col: str, label_col: str) -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    labels: list[int] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            label = (row.get(label_col) or "").strip()
            if label in ("0", "1"):
                texts.append(row.get(text_col) or "")
                labels.append(int(label))
    return texts, np.asarray(labels, dtype=np.int64)


def groups_of(texts: Sequence[str]) -> list[str]:
    """Identical texts (after normalization) form one group, so duplicates never straddle validation folds."""
    return [" ".join(normalize(t).split()) for t in texts]


def tune(texts: Sequence[str], labels: np.ndarray) -> tuple[Params, float]:
    best: tuple[float, Params] | None = None
    for params in GRID:
        _, validation = fit_model(texts, labels, groups=groups_of(texts), params=params)
        print(f"    tune: C={params.C:g} lex_weight={params.lex_weight:g}: out-of-fold AUC {validation['auc']:.4f}")
        if best is None or validation["auc"] > best[0]:
            best = (validation["auc"], params)
    assert best is not None
    return best[1], best[0]


def _row(name: str, f: dict) -> str:
    key = f"recall_at_far_{COMPARE_FAR:.2f}"
    auc_p = f" (probability {f['auc_probability']:.3f})" if "auc_probability" in f else ""
    return (f"    {name:<16} AUC {f['auc']:.3f}{auc_p}; at >= moderate: recall {f['recall_at_moderate']:.3f}, "
            f"false alarms {f['far_at_moderate']:.3f}; best recall at FAR <= {COMPARE_FAR:.2f}: {f[key]:.3f}")


def direction(source: str, target: str, data: dict, do_tune: bool) -> LearnedModel:
    train_texts, train_y = data[source]
    test_texts, test_y = data[target]
    print(f"  train on {source} ({len(train_texts)} texts, {int(train_y.sum())} suicidal) -> "
          f"measure on {target} ({len(test_texts)} texts, {int(test_y.sum())} suicidal)")
    params = tune(train_texts, train_y)[0] if do_tune else Params()
    started, cpu_start = time.perf_counter(), time.process_time()
    model, validation = fit_model(train_texts, train_y, groups=groups_of(train_texts), params=params)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_start
    points = ", ".join(f"{lv} p>={d['probability']:.3f}" for lv, d in validation["operating_points"].items())
    print(f"    trained in {seconds:.1f} s wall, {cpu:.1f} s CPU (C={params.C:g}, lex_weight={params.lex_weight:g}); "
          f"out-of-fold AUC on "
          f"{source} {validation['auc']:.3f}; operating points {points}")
    levels = [None] * len(test_texts)
    lexicon, _ = score_texts(test_texts, None)
    learned, probabilities = score_texts(test_texts, model)
    print(_row("lexicon alone", figures_of(test_y, lexicon, levels)))
    print(_row("lexicon + model", figures_of(test_y, learned, levels, probabilities)))
    return model


def speed(texts: Sequence[str], model: LearnedModel | None) -> tuple[float, float]:
    """(texts per wall second, texts per CPU second) of batch scoring, as `python -m bot.triage` does."""
    use_model(model)
    try:
        list(assess_many([("warm up", None)]))
        start, cpu_start = time.perf_counter(), time.process_time()
        list(assess_many([(text, None) for text in texts]))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        use_model(None)
    return len(texts) / wall, len(texts) / max(cpu, 1e-9)


def main(argv: list[str]) -> int:
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    with threadpool_limits(limits=1):   # "one core": no BLAS/OpenMP threads spinning beside the measured work
        return _main(argv)


def _main(argv: list[str]) -> int:
    missing = [str(path) for path, _, _ in FILES.values() if not path.is_file()]
    if missing:
        print(f"triage bench: skipped, {', '.join(missing)} not found")
        return 0
    data = {name: load_rows(path, text_col, label_col) for name, (path, text_col, label_col) in FILES.items()}
    do_tune = "--tune" in argv
    print("triage bench: cross-source, train on one development file, measure on the other (aggregates only)")
    models = {}
    if "--cost" in argv:   # speed, size and training time only (no cross-source figures)
        models["intention"] = fit_model(data["intention"][0], data["intention"][1])[0]
    else:
        for source, target in (("intention", "handlabelled"), ("handlabelled", "intention")):
            models[source] = direction(source, target, data, do_tune)
    texts = data["handlabelled"][0]
    lex_wall, lex_cpu = speed(texts, None)
    model_wall, model_cpu = speed(texts, models["intention"])
    print(f"  speed on {len(texts)} texts, one core: lexicon alone {lex_wall:,.0f} texts/s ({lex_cpu:,.0f} per CPU "
          f"second); lexicon + model {model_wall:,.0f} texts/s ({model_cpu:,.0f} per CPU second)")
    size = len(models["intention"].to_bytes())
    print(f"  model size: {size / 1e6:.2f} MB serialized")
    if "--quick" not in argv:
        all_texts = data["intention"][0] + data["handlabelled"][0]
        all_y = np.concatenate([data["intention"][1], data["handlabelled"][1]])
        rng = np.random.default_rng(0)
        idx = np.concatenate([np.arange(len(all_texts)), rng.integers(0, len(all_texts), TRAIN_SIZE - len(all_texts))])
        texts20 = [all_texts[i] for i in idx]
        started, cpu_start = time.perf_counter(), time.process_time()
        fit_model(texts20, all_y[idx], groups=groups_of(texts20))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  training on {TRAIN_SIZE:,} texts (both files, topped up by resampling): {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU (validation folds + final fit); peak memory {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
