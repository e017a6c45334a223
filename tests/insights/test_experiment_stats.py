"""Experiment statistics on simulated traffic: a known effect is found, A/A runs stay within alpha, a sample-ratio
mismatch is flagged, a harmful variant trips the guard rail (all seeded and fast)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.experiments import config, stats
from bot.experiments.assign import choose
from bot.experiments.stats import Unit

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def experiment(**kw: object) -> config.Experiment:
    data = {"name": "greeting", "varies": ["utter_greet"], "variants": [{"name": "a"}, {"name": "b"}],
            "horizon": 300, "minimum_detectable_effect": {"completion": 0.1, "time_to_handoff": 30}}
    data.update(kw)
    return config.parse({"experiments": [data]})[0]


def simulate(rng: np.random.Generator, n: int, completion: dict[str, float], shift: dict[str, float],
             score_mean: dict[str, float] | None = None) -> list[Unit]:
    units = []
    for variant in ("a", "b"):
        done = rng.random(n) < completion[variant]
        times = rng.lognormal(5, 0.5, n) + shift[variant]
        scores = np.clip(np.round(rng.normal((score_mean or {}).get(variant, 4.0), 1.0, n)), 1, 5).astype(int)
        answered = rng.random(n) < 0.4
        agree = rng.random(n) < 0.7
        units += [Unit(variant, completed=bool(done[i]), time_to_handoff=float(times[i]),
                       survey_score=int(scores[i]) if answered[i] else None, agreement=bool(agree[i]))
                  for i in range(n)]
    order = rng.permutation(len(units))
    return [units[i] for i in order]


def test_a_known_effect_is_detected() -> None:
    rng = np.random.default_rng(7)
    exp = experiment()
    units = simulate(rng, 300, {"a": 0.60, "b": 0.75}, {"a": 0.0, "b": 60.0})
    a = stats.analyze(exp, units)
    assert a.horizon_reached and not a.srm_flag
    by = {c.metric: c for c in a.comparisons}
    assert by["completion"].significant and by["completion"].effect == pytest.approx(0.15, abs=0.06)
    assert by["completion"].ci_low > 0
    assert by["time_to_handoff"].significant and 30 < by["time_to_handoff"].effect < 90
    assert by["time_to_handoff"].ci_low > 0
    assert not by["agreement"].significant


def test_false_positives_of_many_aa_experiments_stay_within_alpha() -> None:
    rng = np.random.default_rng(11)
    exp = experiment(horizon=120, metrics=["completion", "time_to_handoff", "survey_score"],
                     minimum_detectable_effect={})
    runs, false_positives = 300, 0
    for _ in range(runs):
        units = simulate(rng, 120, {"a": 0.6, "b": 0.6}, {"a": 0.0, "b": 0.0})
        a = stats.analyze(exp, units)
        false_positives += any(c.significant for c in a.comparisons)
    # Holm keeps the family-wise rate at or below alpha (0.05); allow sampling noise of 300 runs (~2.6 SE)
    assert false_positives / runs <= 0.05 + 2.6 * (0.05 * 0.95 / runs) ** 0.5


def test_sample_ratio_mismatch_is_flagged() -> None:
    exp = experiment()
    assert stats.sample_ratio({"a": 505, "b": 495}, exp)[1] is False
    p, flag = stats.sample_ratio({"a": 600, "b": 400}, exp)
    assert flag and p < 0.001
    weighted = experiment(variants=[{"name": "a", "weight": 3}, {"name": "b", "weight": 1}])
    assert stats.sample_ratio({"a": 750, "b": 250}, weighted)[1] is False
    assert stats.sample_ratio({"a": 500, "b": 500}, weighted)[1] is True


def test_interim_is_not_a_verdict_and_the_horizon_uses_the_first_units() -> None:
    rng = np.random.default_rng(3)
    exp = experiment(horizon=200)
    units = simulate(rng, 150, {"a": 0.6, "b": 0.6}, {"a": 0.0, "b": 0.0})
    assert not stats.analyze(exp, units).horizon_reached
    more = units + simulate(rng, 100, {"a": 0.6, "b": 0.6}, {"a": 0.0, "b": 0.0})
    a = stats.analyze(exp, more)
    assert a.horizon_reached and all(c.n == 200 for c in a.comparisons if c.metric == "completion")


def test_holm_agrees_with_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(2)
    for _ in range(4):
        p = rng.random(int(rng.integers(1, 9))) ** 3
        reject, adjusted = stats.holm(p, 0.05)
        ref_reject, ref_adjusted, _, _ = multipletests(p, alpha=0.05, method="holm")
        assert reject == list(ref_reject) and np.allclose(adjusted, ref_adjusted)


def test_sample_size_still_needed() -> None:
    exp = experiment()
    control = np.array([1] * 60 + [0] * 40, dtype=float)
    n = stats.needed_per_variant("completion", 0.1, control, exp, 1.0)
    assert 330 < n < 400  # 0.6 -> 0.7 at alpha 0.05, power 0.8: about 356 per arm


def test_guard_rail_stops_a_worse_variant_and_spares_an_equal_one() -> None:
    rng = np.random.default_rng(5)
    exp = experiment(horizon=400, guardrail={"alpha": 0.05, "looks": 4})
    worse = simulate(rng, 100, {"a": 0.7, "b": 0.4}, {"a": 0.0, "b": 0.0})
    stop, result = stats.guardrail_decision(exp, worse, 100, ["a", "b"])
    assert stop == ["b"] and result["b"]["completion"] < exp.guardrail.alpha_per_look
    better = simulate(rng, 100, {"a": 0.4, "b": 0.7}, {"a": 0.0, "b": 0.0})
    assert stats.guardrail_decision(exp, better, 100, ["a", "b"])[0] == []
    assert stats.look_sizes(exp) == [100, 200, 300, 400]


def test_assignment_is_deterministic_and_follows_the_weights() -> None:
    variants = (config.Variant("a", 3), config.Variant("b", 1))
    picks = [choose("greeting", f"c_{i:06x}", variants) for i in range(8000)]
    assert picks == [choose("greeting", f"c_{i:06x}", variants) for i in range(8000)]
    assert abs(picks.count("a") / len(picks) - 0.75) < 0.02
    assert choose("other", "c_1", variants) in ("a", "b")


@pytest.mark.parametrize("responses, why", [
    (["utter_ask_screen_wish_dead"], "never varied"),
    (["utter_handoff_imminent"], "never varied"),
    (["utter_safety_now"], "never varied"),
])
def test_protected_texts_are_refused(responses: list[str], why: str) -> None:
    with pytest.raises(config.ExperimentError, match=why):
        experiment(varies=responses)


def test_the_domain_is_checked() -> None:
    domain = {"slots": {"variant_greeting": {"type": "text"}},
              "responses": {"utter_greet": [{"text": "Hi. Call 911 if in danger."},
                                            {"text": "Hello!", "condition": [
                                                {"type": "slot", "name": "variant_greeting", "value": "b"}]}]}}
    with pytest.raises(config.ExperimentError, match="drops 911"):
        config.check_domain(experiment(), domain)
    domain["responses"]["utter_greet"][1]["text"] = "Hello! In danger? Call 911."
    config.check_domain(experiment(), domain)
    with pytest.raises(config.ExperimentError, match="no slot"):
        config.check_domain(experiment(), {"slots": {}, "responses": domain["responses"]})


def test_the_shipped_experiments_file_is_valid() -> None:
    from bot.settings import ROOT

    exps = config.load(ROOT / "data" / "experiments.yml")
    assert [e.name for e in exps] == ["greeting"] and exps[0].variants[1].name == "b"
