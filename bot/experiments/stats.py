"""The statistics of an intake experiment, from per-conversation outcomes to decisions (pure functions).

Tests, each from a well-kept library:
- proportions (completion, triage-counselor agreement): two-sided z-test (statsmodels ``proportions_ztest``),
  95% CI of the difference (statsmodels ``confint_proportions_2indep``, Newcombe's score interval);
- time to handoff (skewed, not normal): Mann-Whitney U (scipy), effect = Hodges-Lehmann shift with its
  distribution-free (Moses) CI;
- survey score (1-5, ordinal): Mann-Whitney U (scipy), effect = difference of means with a percentile bootstrap
  CI (seeded, so the page and the CLI show the same numbers);
- Holm's correction over every (variant, metric) comparison: ``holm`` below, the step-down rule exactly as
  statsmodels ``multipletests(method="holm")`` computes it (a test checks they agree); statsmodels 0.13.1 runs
  ``gc.collect()`` on every such call, about half a second in a process this size;
- sample-ratio mismatch: chi-square goodness of fit of the arm sizes to the weights (scipy), flagged at p < 0.001;
- sample size still needed for the minimum detectable effect (statsmodels ``NormalIndPower``).

Stopping rule: fixed horizon. The verdict is given once every arm has ``horizon`` settled conversations, on the
first ``horizon`` of each arm; numbers before that are interim, shown but never a decision. Only the guard rail
looks early: at ``looks`` planned sizes, a one-sided test per guard-rail metric at ``alpha / looks``
(Bonferroni alpha spending), and a variant significantly worse on completion or survey score is stopped.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from bot.experiments.config import PROPORTION_METRICS, Experiment

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # statsmodels 0.13 on pandas 1.5: Int64Index notice
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest

SRM_THRESHOLD = 0.001
BOOTSTRAP = 2000
MAX_PAIRS_SIDE = 2000  # Hodges-Lehmann on at most 2000 x 2000 pairwise differences (seeded subsample beyond)
MWU_ARE = 3 / math.pi  # Mann-Whitney's efficiency vs the t-test at the normal: sample sizes are divided by it


@dataclass
class Unit:
    """One settled conversation of an experiment: its variant and outcomes (None = not known for it)."""

    variant: str
    completed: bool | None = None
    time_to_handoff: float | None = None  # seconds
    drop_off: str | None = None
    survey_score: int | None = None
    agreement: bool | None = None

    def value(self, metric: str) -> float | None:
        v = {"completion": self.completed, "time_to_handoff": self.time_to_handoff,
             "survey_score": self.survey_score, "agreement": self.agreement}[metric]
        return None if v is None else float(v)


@dataclass
class Comparison:
    """One variant against the control on one metric."""

    variant: str
    metric: str
    test: str
    n: int
    n_control: int
    value: float | None  # the variant's rate / mean / median
    control_value: float | None
    effect: float | None  # variant minus control (rate difference, mean difference, Hodges-Lehmann shift)
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_holm: float | None = None
    significant: bool = False
    needed_per_variant: int | None = None  # for the configured minimum detectable effect
    still_needed: int | None = None


@dataclass
class Analysis:
    experiment: str
    control: str
    counts: dict[str, int]
    srm_p: float | None
    srm_flag: bool
    horizon: int
    horizon_reached: bool
    comparisons: list[Comparison]
    drop_off: dict[str, dict[str, int]]  # variant -> question -> count
    stopped: list[str] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.horizon_reached


def _values(units: Sequence[Unit], variant: str, metric: str) -> np.ndarray:
    return np.array([v for u in units if u.variant == variant and (v := u.value(metric)) is not None], dtype=float)


def holm(pvalues: Sequence[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Holm's step-down: (reject, adjusted p-values) in the input order."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(m, 0, -1)))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [bool(a <= alpha) for a in adjusted], [float(a) for a in adjusted]


def compare_proportions(x: np.ndarray, c: np.ndarray) -> tuple[float, float, float, float]:
    """(difference, ci low, ci high, two-sided p) of the rate of ``x`` minus the rate of ``c``."""
    k1, n1, k0, n0 = int(x.sum()), len(x), int(c.sum()), len(c)
    if k1 + k0 in (0, n1 + n0):  # both all-0 or all-1: no evidence of any difference
        return k1 / n1 - k0 / n0, 0.0, 0.0, 1.0
    _, p = proportions_ztest([k1, k0], [n1, n0])
    low, high = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
    return k1 / n1 - k0 / n0, float(low), float(high), float(p)


def hodges_lehmann(x: np.ndarray, c: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Median of pairwise differences x_i - c_j and Moses' distribution-free CI."""
    rng = np.random.default_rng(0)
    if len(x) > MAX_PAIRS_SIDE:
        x = rng.choice(x, MAX_PAIRS_SIDE, replace=False)
    if len(c) > MAX_PAIRS_SIDE:
        c = rng.choice(c, MAX_PAIRS_SIDE, replace=False)
    diffs = np.sort(np.subtract.outer(x, c).ravel())
    n1, n0 = len(x), len(c)
    z = stats.norm.ppf(0.5 + confidence / 2)
    k = math.floor(n1 * n0 / 2 - z * math.sqrt(n1 * n0 * (n1 + n0 + 1) / 12))
    k = max(k, 0)
    return float(np.median(diffs)), float(diffs[k]), float(diffs[len(diffs) - 1 - k])


def bootstrap_mean_diff(x: np.ndarray, c: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    bx = x[rng.integers(0, len(x), (BOOTSTRAP, len(x)))].mean(axis=1)
    bc = c[rng.integers(0, len(c), (BOOTSTRAP, len(c)))].mean(axis=1)
    d = bx - bc
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(d, tail)), float(np.percentile(d, 100 - tail))


def mann_whitney(x: np.ndarray, c: np.ndarray, alternative: str = "two-sided") -> float:
    if np.all(x == x[0]) and np.all(c == x[0]):
        return 1.0
    return float(stats.mannwhitneyu(x, c, alternative=alternative).pvalue)


def sample_ratio(counts: dict[str, int], exp: Experiment) -> tuple[float | None, bool]:
    """Chi-square goodness of fit of the arm sizes to the configured weights (over the arms still assigned)."""
    arms = [v for v in exp.variants if v.name in counts]
    total = sum(counts[v.name] for v in arms)
    if len(arms) < 2 or total == 0:
        return None, False
    weight = sum(v.weight for v in arms)
    expected = [total * v.weight / weight for v in arms]
    p = float(stats.chisquare([counts[v.name] for v in arms], expected).pvalue)
    return p, p < SRM_THRESHOLD


def needed_per_variant(metric: str, mde: float, control: np.ndarray, exp: Experiment, ratio: float) -> int | None:
    """Conversations per variant (control size; the variant's is ``ratio`` times it) to detect ``mde``."""
    power = NormalIndPower()
    if metric in PROPORTION_METRICS:
        base = float(control.mean()) if len(control) else 0.5
        target = min(max(base + mde, 0.0), 1.0) if base + mde <= 1 else base - mde
        effect = abs(proportion_effectsize(target, base))
    else:
        sd = float(control.std(ddof=1)) if len(control) > 2 else 0.0
        if sd <= 0:
            return None
        effect = mde / sd
    if effect <= 0:
        return None
    n = power.solve_power(effect_size=effect, alpha=exp.alpha, power=exp.power, ratio=ratio)
    if metric not in PROPORTION_METRICS:
        n /= MWU_ARE
    return math.ceil(n)


def compare(units: Sequence[Unit], exp: Experiment, variant: str, metric: str) -> Comparison:
    x, c = _values(units, variant, metric), _values(units, exp.control, metric)
    comp = Comparison(variant, metric, "", len(x), len(c), None, None, None, None, None, None)
    if metric in PROPORTION_METRICS:
        comp.test = "two-proportion z-test"
    elif metric == "time_to_handoff":
        comp.test = "Mann-Whitney U, Hodges-Lehmann shift"
    else:
        comp.test = "Mann-Whitney U, bootstrap CI of the mean difference"
    if metric in exp.mde:
        ratio = exp.weight_of(variant) / exp.weight_of(exp.control)
        comp.needed_per_variant = needed_per_variant(metric, exp.mde[metric], c, exp, ratio)
        if comp.needed_per_variant is not None:
            comp.still_needed = max(0, comp.needed_per_variant - min(len(x), len(c)))
    if len(x) < 2 or len(c) < 2:
        return comp
    if metric in PROPORTION_METRICS:
        comp.value, comp.control_value = float(x.mean()), float(c.mean())
        comp.effect, comp.ci_low, comp.ci_high, comp.p_value = compare_proportions(x, c)
    elif metric == "time_to_handoff":
        comp.value, comp.control_value = float(np.median(x)), float(np.median(c))
        comp.effect, comp.ci_low, comp.ci_high = hodges_lehmann(x, c)
        comp.p_value = mann_whitney(x, c)
    else:
        comp.value, comp.control_value = float(x.mean()), float(c.mean())
        comp.effect = comp.value - comp.control_value
        comp.ci_low, comp.ci_high = bootstrap_mean_diff(x, c)
        comp.p_value = mann_whitney(x, c)
    return comp


def first_per_arm(units: Sequence[Unit], n: int) -> list[Unit]:
    """The first ``n`` settled units of each arm (units come ordered by assignment time)."""
    taken: dict[str, int] = {}
    out = []
    for u in units:
        if taken.get(u.variant, 0) < n:
            taken[u.variant] = taken.get(u.variant, 0) + 1
            out.append(u)
    return out


def analyze(exp: Experiment, units: Sequence[Unit], stopped: Sequence[str] = ()) -> Analysis:
    """The report's numbers. At the horizon the analysis uses exactly the first ``horizon`` units of each arm."""
    counts = {v.name: sum(1 for u in units if u.variant == v.name) for v in exp.variants}
    srm_p, srm_flag = sample_ratio({k: n for k, n in counts.items() if k not in stopped}, exp)
    live = [v.name for v in exp.variants if v.name not in stopped]
    reached = all(counts[name] >= exp.horizon for name in live)
    used = first_per_arm(units, exp.horizon) if reached else list(units)
    comparisons = [compare(used, exp, v.name, m) for v in exp.variants[1:] for m in exp.metrics]
    tested = [c for c in comparisons if c.p_value is not None]
    if tested:
        reject, p_holm = holm([c.p_value for c in tested], exp.alpha)
        for c, r, p in zip(tested, reject, p_holm, strict=True):
            c.p_holm, c.significant = float(p), bool(r)
    drop: dict[str, dict[str, int]] = {}
    for u in used:
        if u.drop_off:
            drop.setdefault(u.variant, {})
            drop[u.variant][u.drop_off] = drop[u.variant].get(u.drop_off, 0) + 1
    return Analysis(exp.name, exp.control, counts, srm_p, srm_flag, exp.horizon, reached, comparisons, drop,
                    list(stopped))


# --- guard rail -------------------------------------------------------------------------------------------------


def look_sizes(exp: Experiment) -> list[int]:
    """The planned arm sizes of the guard rail's looks (evenly spaced up to the horizon)."""
    looks = exp.guardrail.looks
    return [math.ceil(exp.horizon * k / looks) for k in range(1, looks + 1)]


def guardrail_pvalues(exp: Experiment, units: Sequence[Unit], variant: str) -> dict[str, float]:
    """One-sided p-values of "the variant is worse than the control" on each guard-rail metric."""
    out = {}
    for metric in exp.guardrail.metrics:
        x, c = _values(units, variant, metric), _values(units, exp.control, metric)
        if len(x) < 2 or len(c) < 2:
            continue
        if metric in PROPORTION_METRICS:
            k1, k0 = int(x.sum()), int(c.sum())
            if k1 + k0 in (0, len(x) + len(c)):
                out[metric] = 1.0
                continue
            _, p = proportions_ztest([k1, k0], [len(x), len(c)], alternative="smaller")
            out[metric] = float(p)
        else:
            out[metric] = mann_whitney(x, c, alternative="less")
    return out


def guardrail_decision(exp: Experiment, units: Sequence[Unit], look_size: int,
                       live: Sequence[str]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """At one planned look, on the first ``look_size`` units per arm: the variants to stop and the p-values."""
    sample = first_per_arm(units, look_size)
    stop, result = [], {}
    for variant in live:
        if variant == exp.control:
            continue
        ps = guardrail_pvalues(exp, sample, variant)
        result[variant] = ps
        if any(p < exp.guardrail.alpha_per_look for p in ps.values()):
            stop.append(variant)
    return stop, result
