"""Train a candidate learned scorer, measure it beside the live scorer on the same held-out data, decide promotion.

`train_candidate` splits the examples by group (a conversation or an imported item never straddles train and
held-out), fits the candidate on the training part (`fit_model`: out-of-fold scores give the Platt calibration and
the operating points, the final weights are fitted on the whole training part), then scores the held-out part with
the candidate and with the live scorer (the live model, or the lexicon alone) exactly as `assess` would, and
compares them. It writes ROC and precision-recall curves as PNG files and returns the figures, a printable report
and the verdict. Nothing here touches the database: the labels store gives the examples, the model registry keeps
the result.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bot.triage.learned import MODEL_LEVELS, Featurizer, LearnedModel, Params, lexicon_features
from bot.triage.levels import LEVELS, Urgency, rank

#: Operating points: the false-alarm rate each level may have on validation data (out-of-fold, training part).
FAR_TARGETS: Mapping[str, float] = {"low": 0.30, "moderate": 0.10, "high": 0.02}
#: The false-alarm rate at which held-out recall is compared (the issue's target).
COMPARE_FAR = 0.10
HELDOUT_FRACTION = 0.2
FOLDS = 3
#: Fewest held-out texts of each class for a verdict: below it a candidate is never promoted.
MIN_HELDOUT_PER_CLASS = 10
#: A candidate must beat the live scorer's held-out AUC by at least this much.
MIN_AUC_GAIN = 0.0


@dataclass
class Example:
    """One labelled text. A conversation's texter texts are joined with `bot.triage.learned.join_texts` (one line
    per message), the form `LearnedModel.probability` scores."""

    text: str                 # the texter's words (a conversation's texts joined, or one imported text)
    label: int                # 1 at risk, 0 not
    level: str | None = None  # a level name when the label gave one (LEVELS in bot/triage/levels.py)
    weight: float = 1.0       # rater-quality weight
    group: str = ""           # conversation or import-item id: a group never straddles train and held-out
    language: str = "en"


@dataclass
class TrainOutcome:
    candidate: LearnedModel
    figures: dict             # {"candidate": {...}, "live": {...}, "n_train":..., "n_heldout":...}
    beats_live: bool
    why: str                  # one or two sentences with the figures, for a refusal or a promotion
    report: str               # the printable table
    plots: list[Path] = field(default_factory=list)   # ROC and precision-recall PNGs written to out_dir


class TrainingError(ValueError):
    """The examples cannot train a model (too few, one class only, bad labels)."""


# ---- fitting ---------------------------------------------------------------------------------------------------

def _check(examples: Sequence[Example]) -> None:
    labels = {e.label for e in examples}
    if not labels <= {0, 1}:
        raise TrainingError(f"labels must be 0 or 1, found {sorted(labels - {0, 1})}")
    if len(labels) < 2:
        raise TrainingError("training needs examples of both labels (at risk and not)")
    for e in examples:
        if e.level is not None and e.level not in LEVELS:
            raise TrainingError(f"unknown level {e.level!r}")
        if not (e.weight >= 0 and math.isfinite(e.weight)):
            raise TrainingError(f"weights must be finite and >= 0, found {e.weight!r}")


def _class_balanced(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sample weights that give both classes the same total weight (rater weights kept within a class)."""
    out = weights.astype(np.float64).copy()
    for c in (0, 1):
        total = out[labels == c].sum()
        if total > 0:
            out[labels == c] *= 0.5 * len(labels) / total
    return out


def _linear(X: Any, y: np.ndarray, w: np.ndarray, C: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, solver="liblinear", max_iter=200, random_state=seed)
    clf.fit(X, y, sample_weight=w)
    return clf.coef_.ravel().astype(np.float64), float(clf.intercept_[0])


def _platt(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Sigmoid calibration P = 1/(1+exp(-(a z + b))) fitted on out-of-fold scores (almost unregularized)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    clf.fit(z.reshape(-1, 1), y, sample_weight=w)
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def _folds(y: np.ndarray, groups: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = int(min(FOLDS, max(2, min(np.bincount(y, minlength=2)))))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w) / max(w.sum(), 1e-12)
    return float(v[min(np.searchsorted(cum, q, side="left"), len(v) - 1)])


def operating_points(p: np.ndarray, y: np.ndarray, w: np.ndarray,
                     targets: Mapping[str, float] = FAR_TARGETS) -> tuple[dict[str, float], dict[str, dict]]:
    """Lowest probability of each level such that at most its target share of not-at-risk validation texts
    reach it; and the validation false-alarm rate and recall at each point."""
    negatives, positives = p[y == 0], p[y == 1]
    wn, wp = w[y == 0], w[y == 1]
    thresholds: dict[str, float] = {}
    details: dict[str, dict] = {}
    previous = 0.0
    for level in MODEL_LEVELS[1:]:
        far = targets[level]
        cut = _weighted_quantile(negatives, wn, 1.0 - far)
        cut = float(np.nextafter(cut, 1.0))  # strictly above that negative: its FAR is at most the target
        cut = min(max(cut, previous), 1.0)
        thresholds[level] = cut
        previous = cut
        details[level] = {
            "probability": round(cut, 6), "target_far": far,
            "validation_far": round(float(wn[negatives >= cut].sum() / max(wn.sum(), 1e-12)), 4),
            "validation_recall": round(float(wp[positives >= cut].sum() / max(wp.sum(), 1e-12)), 4),
        }
    return thresholds, details


def fit_model(texts: Sequence[str], labels: Sequence[int], *, weights: Sequence[float] | None = None,
              groups: Sequence[str] | None = None, languages: Sequence[str] | None = None,
              params: Params | None = None, seed: int = 0,
              targets: Mapping[str, float] = FAR_TARGETS) -> tuple[LearnedModel, dict[str, Any]]:
    """A calibrated model from training texts; and its validation (out-of-fold) figures."""
    params = params or Params()
    y = np.asarray(labels, dtype=np.int64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    names = [str(x) or f"#{i}" for i, x in enumerate(groups)] if groups is not None else []
    codes: dict[str, int] = {}
    # group names as small integers: a NumPy array of long strings would be as wide as the longest one
    g = np.asarray([codes.setdefault(n, len(codes)) for n in names] if names else range(len(y)), dtype=np.int64)
    langs = list(languages) if languages is not None else ["en"] * len(y)
    started = time.perf_counter()
    lex = lexicon_features(list(texts), langs)
    featurizer = Featurizer(params)
    X = featurizer.fit_transform(texts, lex)
    balanced = _class_balanced(y, w)
    oof = np.zeros(len(y))
    for train_idx, test_idx in _folds(y, g, seed):
        coef, b = _linear(X[train_idx], y[train_idx], balanced[train_idx], params.C, seed)
        oof[test_idx] = np.asarray(X[test_idx] @ coef).ravel() + b
    calibration = _platt(oof, y, w)
    coef, intercept = _linear(X, y, balanced, params.C, seed)
    model = LearnedModel(params=params, coef=coef, intercept=intercept, calibration=calibration,
                         thresholds={"low": 0.0, "moderate": 0.0, "high": 0.0}, word_idf=featurizer.word_idf,
                         char_idf=featurizer.char_idf, lex_vocab=featurizer.lex_vocab)
    p_oof = model.calibrate(oof)
    thresholds, details = operating_points(p_oof, y, w, targets)
    model.thresholds = thresholds
    validation = {"auc": round(_auc(y, p_oof), 4), "operating_points": details,
                  "seconds": round(time.perf_counter() - started, 2)}
    return model, validation


# ---- measuring -------------------------------------------------------------------------------------------------

def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(set(y.tolist())) < 2:
        return float("nan")
    return float(roc_auc_score(y, scores))


def recall_at_far(y: np.ndarray, scores: np.ndarray, far: float = COMPARE_FAR) -> float:
    """Best recall over thresholds whose false-alarm rate is at most `far` (read off the ROC curve)."""
    from sklearn.metrics import roc_curve

    if len(set(y.tolist())) < 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    ok = fpr <= far + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def score_texts(texts: Sequence[str], model: LearnedModel | None,
                languages: Sequence[str] | None = None) -> tuple[list[Urgency], list[float] | None]:
    """Free-text urgencies of texts (each a whole conversation's words) as `assess` would give them with `model`
    live (None = lexicon alone); and the model's raw probabilities."""
    from bot.triage.analyzer import get_analyzer
    from bot.triage.rules import combine
    from bot.triage.urgency import with_model

    texts = [t if isinstance(t, str) else "" for t in texts]
    signals = list(get_analyzer().analyze_stream(texts))
    lexicon = [combine([s]) if t.strip() else Urgency("none", 0) for t, s in zip(texts, signals, strict=True)]
    if model is None:
        return lexicon, None
    scored = model.score_texts(texts, languages or "en", signals)
    urgencies = [with_model(lex, model, p, words) for lex, (p, words) in zip(lexicon, scored, strict=True)]
    return urgencies, [p for p, _ in scored]


def figures_of(y: np.ndarray, urgencies: Sequence[Urgency], levels: Sequence[str | None],
               probabilities: Sequence[float] | None = None) -> dict[str, Any]:
    """AUC (of the urgency score), recall and false-alarm rate at >= moderate, recall at COMPARE_FAR, and the
    confusion of predicted levels against labelled levels (rows: label, columns: prediction)."""
    scores = np.asarray([u.score for u in urgencies], dtype=np.float64)
    flagged = np.asarray([rank(u.level) >= rank("moderate") for u in urgencies])
    pos, neg = y == 1, y == 0
    out: dict[str, Any] = {
        "auc": round(_auc(y, scores), 4),
        "recall_at_moderate": round(float(flagged[pos].mean()) if pos.any() else float("nan"), 4),
        "far_at_moderate": round(float(flagged[neg].mean()) if neg.any() else float("nan"), 4),
        f"recall_at_far_{COMPARE_FAR:.2f}": round(recall_at_far(y, scores), 4),
        "levels": {lv: int(sum(1 for u in urgencies if u.level == lv)) for lv in LEVELS},
    }
    if probabilities is not None:
        out["auc_probability"] = round(_auc(y, np.asarray(probabilities)), 4)
    labelled = [(lv, u.level) for lv, u in zip(levels, urgencies, strict=True) if lv]
    if labelled:
        out["confusion"] = {lv: {pv: sum(1 for a, b in labelled if a == lv and b == pv) for pv in LEVELS}
                            for lv in LEVELS if any(a == lv for a, _ in labelled)}
    return out


# ---- the split, the verdict, the report --------------------------------------------------------------------

def split_groups(examples: Sequence[Example], seed: int = 0,
                 fraction: float = HELDOUT_FRACTION) -> tuple[list[int], list[int]]:
    """Indices of training and held-out examples; whole groups go to one side, each label's groups are split
    separately so both sides have both labels."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.group or f"#{i}", []).append(i)
    by_label: dict[int, list[str]] = {0: [], 1: []}
    for name, members in groups.items():
        by_label[round(np.mean([examples[i].label for i in members]))].append(name)
    train: list[int] = []
    held: list[int] = []
    for names in by_label.values():
        names = sorted(names)
        rng.shuffle(names)
        total = sum(len(groups[n]) for n in names)
        taken = 0
        for name in names:
            if taken < fraction * total:
                held.extend(groups[name])
                taken += len(groups[name])
            else:
                train.extend(groups[name])
    return sorted(train), sorted(held)


def data_hash(examples: Sequence[Example]) -> str:
    """sha256 of the examples, independent of their order."""
    digest = hashlib.sha256()
    for line in sorted(f"{e.group}\x1f{e.label}\x1f{e.level or ''}\x1f{e.weight:.6g}\x1f{e.language}\x1f{e.text}"
                       for e in examples):
        digest.update(line.encode("utf-8", "replace") + b"\x1e")
    return digest.hexdigest()


def lexicon_hash() -> str:
    """sha256 of the lexicon files the model's features were computed with."""
    from bot.triage.lexicon import LEXICON_DIR

    digest = hashlib.sha256()
    for path in sorted(Path(LEXICON_DIR).glob("*.yml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _verdict(figures: dict[str, Any], live_name: str) -> tuple[bool, str]:
    cand, live = figures["candidate"], figures["live"]
    n_pos, n_neg = figures["heldout_positive"], figures["heldout_negative"]
    key = f"recall_at_far_{COMPARE_FAR:.2f}"
    said = (f"on {figures['n_heldout']} held-out texts: AUC {cand['auc']:.3f} vs {live['auc']:.3f}, "
            f"recall at a false-alarm rate of {COMPARE_FAR:.2f} {cand[key]:.3f} vs {live[key]:.3f}, "
            f"at >= moderate recall {cand['recall_at_moderate']:.3f} vs {live['recall_at_moderate']:.3f} with "
            f"false alarms {cand['far_at_moderate']:.3f} vs {live['far_at_moderate']:.3f}.")
    if min(n_pos, n_neg) < MIN_HELDOUT_PER_CLASS:
        return False, (f"Refused: too little held-out data to judge ({n_pos} at risk, {n_neg} not; at least "
                       f"{MIN_HELDOUT_PER_CLASS} of each are needed).")
    auc_better = cand["auc"] > live["auc"] + MIN_AUC_GAIN
    recall_ok = cand[key] >= live[key]
    if auc_better and recall_ok:
        return True, f"The candidate beats the live scorer ({live_name}) {said}"
    lacks = " and ".join(x for x, bad in (("a higher AUC", not auc_better),
                                          (f"at least the live recall at a false-alarm rate of {COMPARE_FAR:.2f}",
                                           not recall_ok)) if bad)
    return False, f"Refused: the candidate lacks {lacks} against the live scorer ({live_name}) {said}"


def format_report(figures: dict[str, Any], live_name: str) -> str:
    """The printable table of the candidate beside the live scorer on the held-out data."""
    key = f"recall_at_far_{COMPARE_FAR:.2f}"
    rows = [("AUC", "auc"), ("AUC of the model's probability", "auc_probability"),
            ("recall at >= moderate", "recall_at_moderate"), ("false-alarm rate at >= moderate", "far_at_moderate"),
            (f"recall at false-alarm rate {COMPARE_FAR:.2f}", key)]
    cand, live = figures["candidate"], figures["live"]
    lines = [f"Held-out: {figures['n_heldout']} texts ({figures['heldout_positive']} at risk); trained on "
             f"{figures['n_train']} ({figures['train_positive']} at risk) in {figures['train_seconds']:.1f} s",
             f"{'':<36} {'candidate':>10} {('live: ' + live_name)[:16]:>16}"]

    def cell(d: dict, k: str) -> str:
        v = d.get(k)
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    lines += [f"{label:<36} {cell(cand, k):>10} {cell(live, k):>16}" for label, k in rows]
    lines.append(f"{'levels (none/low/moderate/high/imminent)':<36} "
                 f"{'/'.join(str(cand['levels'][lv]) for lv in LEVELS):>10} "
                 f"{'/'.join(str(live['levels'][lv]) for lv in LEVELS):>16}")
    validation = figures.get("validation", {})
    if validation:
        points = ", ".join(f"{lv} p>={d['probability']:.3f} (FAR {d['validation_far']:.2f}, recall "
                           f"{d['validation_recall']:.2f})" for lv, d in validation["operating_points"].items())
        lines.append(f"Operating points (validation, training part): {points}")
    for name, d in (("candidate", cand), ("live", live)):
        confusion = d.get("confusion")
        if confusion:
            lines.append(f"Confusion of levels, {name} (rows: labelled level; columns: {' '.join(LEVELS)})")
            lines += [f"  {lv:<9} " + " ".join(f"{row[pv]:>5}" for pv in LEVELS) for lv, row in confusion.items()]
    return "\n".join(lines)


def _plots(out_dir: Path, y: np.ndarray, curves: Sequence[tuple[str, np.ndarray]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "roc.png", out_dir / "precision_recall.png"]
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, scores in curves:
        fpr, tpr, _ = roc_curve(y, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {_auc(y, scores):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
    ax.axvline(COMPARE_FAR, color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="false-alarm rate", ylabel="recall", title="ROC on held-out data")
    ax.legend(loc="lower right")
    fig.savefig(paths[0], dpi=100, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, scores in curves:
        precision, recall, _ = precision_recall_curve(y, scores)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on held-out data", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    fig.savefig(paths[1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths


def train_candidate(examples: Sequence[Example], live: LearnedModel | None, *, out_dir: Path,
                    seed: int = 0, params: Params | None = None) -> TrainOutcome:
    """Train a candidate on a group split of `examples` and measure it beside `live` (None = the lexicon alone)
    on the same held-out part; see the module docstring."""
    from bot.triage.urgency import model_name

    examples = [e for e in examples if isinstance(e.text, str) and e.text.strip()]
    _check(examples)
    train_idx, held_idx = split_groups(examples, seed)
    train = [examples[i] for i in train_idx]
    held = [examples[i] for i in held_idx]
    _check(train)
    started = time.perf_counter()
    candidate, validation = fit_model([e.text for e in train], [e.label for e in train],
                                      weights=[e.weight for e in train], groups=[e.group for e in train],
                                      languages=[e.language for e in train], params=params, seed=seed)
    seconds = time.perf_counter() - started
    y = np.asarray([e.label for e in held], dtype=np.int64)
    texts = [e.text for e in held]
    langs = [e.language for e in held]
    levels = [e.level for e in held]
    cand_u, cand_p = score_texts(texts, candidate, langs)
    live_u, live_p = score_texts(texts, live, langs)
    live_name = model_name(live)
    figures: dict[str, Any] = {
        "candidate": figures_of(y, cand_u, levels, cand_p),
        "live": figures_of(y, live_u, levels, live_p),
        "live_name": live_name,
        "n_train": len(train), "train_positive": int(sum(e.label for e in train)),
        "n_heldout": len(held), "heldout_positive": int(y.sum()), "heldout_negative": int(len(y) - y.sum()),
        "train_seconds": round(seconds, 2), "validation": validation, "seed": seed,
    }
    beats, why = _verdict(figures, live_name)
    curves = [("candidate", np.asarray([u.score for u in cand_u], dtype=np.float64)),
              (f"live: {live_name}", np.asarray([u.score for u in live_u], dtype=np.float64))]
    plots = _plots(Path(out_dir), y, curves) if len(set(y.tolist())) == 2 else []
    import sklearn

    candidate.metadata = {
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_examples": len(examples), "n_positive": int(sum(e.label for e in examples)),
        "n_train": len(train), "n_heldout": len(held),
        "data_sha256": data_hash(examples), "lexicon_sha256": lexicon_hash(),
        "languages": sorted({e.language or "en" for e in examples}),
        "operating_points": validation["operating_points"], "figures": figures,
        "params": candidate.params.to_dict(), "seed": seed, "sklearn": sklearn.__version__,
    }
    return TrainOutcome(candidate=candidate, figures=figures, beats_live=beats, why=why,
                        report=format_report(figures, live_name) + "\n" + why, plots=plots)
