"""Intake experiments as staff declare them in YAML (data/experiments.yml), validated before anything is served.

An experiment varies Rasa responses through conditional response variations on the slot ``variant_<name>``
(domain.yml stays the source of truth for every wording). Guard rails checked here: safety texts, the screener's
wording and the imminent path are never varied; every variation of a varied response keeps the 911 / 988 the
plain response carries; weights are positive; metrics are known; the first variant is the control.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.settings import ROOT

log = logging.getLogger(__name__)

METRICS = ("completion", "time_to_handoff", "survey_score", "agreement")
PROPORTION_METRICS = ("completion", "agreement")
GUARDRAIL_METRICS = ("completion", "survey_score")
# Never varied: the screener's wording, safety texts, the imminent path and the handoff texts around it.
PROTECTED_PREFIXES = ("utter_ask_screen_",)
PROTECTED = frozenset({
    "utter_risk_care", "utter_safety_now", "utter_hotline_numbers", "utter_handoff_imminent",
    "utter_handoff_requested", "utter_handoff_completed", "action_handoff", "validate_intake_form",
})
SAFETY_WORDS = ("911", "988")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class ExperimentError(ValueError):
    """The experiments file asks for something not allowed (the message says what and where)."""


@dataclass(frozen=True)
class Variant:
    name: str
    weight: float


@dataclass(frozen=True)
class Guardrail:
    metrics: tuple[str, ...] = GUARDRAIL_METRICS
    alpha: float = 0.05  # one-sided, spent evenly over the planned looks (Bonferroni)
    looks: int = 4

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / self.looks


@dataclass(frozen=True)
class Experiment:
    name: str
    responses: tuple[str, ...]
    variants: tuple[Variant, ...]
    metrics: tuple[str, ...] = METRICS
    mde: Mapping[str, float] = field(default_factory=dict)  # minimum detectable effect per metric (absolute)
    alpha: float = 0.05
    power: float = 0.8
    horizon: int = 400  # settled conversations per variant: the analysis happens once, there
    settle_minutes: int = 60  # a conversation still in the intake this long after it started has dropped off
    guardrail: Guardrail = field(default_factory=Guardrail)
    active: bool = True
    description: str = ""

    @property
    def slot(self) -> str:
        return f"variant_{self.name}"

    @property
    def control(self) -> str:
        return self.variants[0].name

    def weight_of(self, variant: str) -> float:
        return next(v.weight for v in self.variants if v.name == variant)


def _fail(where: str, why: str) -> ExperimentError:
    return ExperimentError(f"{where}: {why}")


def parse(data: Any, domain: Mapping[str, Any] | None = None) -> list[Experiment]:
    """Experiments from the YAML's data, validated (against ``domain`` when given)."""
    items = (data or {}).get("experiments") or [] if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ExperimentError("the file must hold `experiments:` with a list")
    out: list[Experiment] = []
    for i, item in enumerate(items):
        where = f"experiments[{i}]"
        if not isinstance(item, dict):
            raise _fail(where, "each experiment is a mapping")
        name = str(item.get("name") or "")
        if not NAME.match(name):
            raise _fail(where, f"name {name!r}: lower-case letters, digits and _ only")
        where = f"experiment {name!r}"
        if any(e.name == name for e in out):
            raise _fail(where, "declared twice")
        responses = tuple(str(r) for r in item.get("varies") or ())
        if not responses:
            raise _fail(where, "list the responses it varies under `varies`")
        for r in responses:
            if r in PROTECTED or r.startswith(PROTECTED_PREFIXES):
                raise _fail(where, f"{r} is a safety, screener or imminent-path text and is never varied")
        variants = tuple(
            Variant(str(v.get("name") or ""), float(v.get("weight", 1))) for v in item.get("variants") or ()
            if isinstance(v, dict)
        )
        if len(variants) < 2:
            raise _fail(where, "needs at least two variants (the first is the control)")
        if len({v.name for v in variants}) != len(variants) or not all(NAME.match(v.name) for v in variants):
            raise _fail(where, "variant names must be unique, lower-case letters, digits and _")
        if any(v.weight <= 0 for v in variants):
            raise _fail(where, "weights must be positive")
        metrics = tuple(item.get("metrics") or METRICS)
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise _fail(where, f"unknown metrics {sorted(unknown)}; known: {', '.join(METRICS)}")
        mde = {str(k): float(v) for k, v in (item.get("minimum_detectable_effect") or {}).items()}
        if set(mde) - set(METRICS) or any(v <= 0 for v in mde.values()):
            raise _fail(where, "minimum_detectable_effect: positive numbers for known metrics")
        alpha = float(item.get("alpha", 0.05))
        power = float(item.get("power", 0.8))
        horizon = int(item.get("horizon", 400))
        if not 0 < alpha < 0.5 or not 0.5 <= power < 1 or horizon < 10:
            raise _fail(where, "alpha in (0, 0.5), power in [0.5, 1), horizon of at least 10 per variant")
        g = item.get("guardrail") or {}
        guard = Guardrail(tuple(g.get("metrics") or GUARDRAIL_METRICS), float(g.get("alpha", 0.05)),
                          int(g.get("looks", 4)))
        if set(guard.metrics) - set(GUARDRAIL_METRICS) or not 0 < guard.alpha < 0.5 or not 1 <= guard.looks <= 20:
            raise _fail(where, f"guardrail: metrics among {GUARDRAIL_METRICS}, alpha in (0, 0.5), 1-20 looks")
        exp = Experiment(
            name=name, responses=responses, variants=variants, metrics=metrics, mde=mde, alpha=alpha, power=power,
            horizon=horizon, settle_minutes=int(item.get("settle_minutes", 60)), guardrail=guard,
            active=bool(item.get("active", True)), description=str(item.get("description") or ""),
        )
        if domain is not None:
            check_domain(exp, domain)
        out.append(exp)
    return out


def check_domain(exp: Experiment, domain: Mapping[str, Any]) -> None:
    """The slot exists (never an intake answer), every variant has its wording, and no wording drops 911/988."""
    where = f"experiment {exp.name!r}"
    slots = domain.get("slots") or {}
    if exp.slot not in slots:
        raise _fail(where, f"domain.yml has no slot {exp.slot} (type text, influence_conversation false)")
    responses = domain.get("responses") or {}
    for r in exp.responses:
        variations = responses.get(r)
        if not variations:
            raise _fail(where, f"domain.yml has no response {r}")
        plain = [v for v in variations if not v.get("condition")]
        needed = [w for w in SAFETY_WORDS if any(w in str(v.get("text", "")) for v in plain)]
        for variant in exp.variants[1:]:
            mine = [v for v in variations if any(
                c.get("name") == exp.slot and str(c.get("value")) == variant.name for c in v.get("condition") or ())]
            if not mine:
                raise _fail(where, f"{r} has no variation for {exp.slot} = {variant.name}")
            for v in mine:
                missing = [w for w in needed if w not in str(v.get("text", ""))]
                if missing:
                    raise _fail(where, f"{r} for variant {variant.name} drops {', '.join(missing)}")
        for v in variations:
            for c in v.get("condition") or ():
                if c.get("name") == exp.slot and str(c.get("value")) not in {x.name for x in exp.variants}:
                    raise _fail(where, f"{r} has a variation for an undeclared variant {c.get('value')!r}")


def load(path: Path, domain_path: Path | None = ROOT / "domain.yml") -> list[Experiment]:
    """The experiments file, validated against domain.yml; no file means no experiments."""
    if not path.exists():
        return []
    domain = yaml.safe_load(domain_path.read_text()) if domain_path is not None and domain_path.exists() else None
    return parse(yaml.safe_load(path.read_text()), domain)


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> tuple[Experiment, ...]:
    return tuple(load(Path(path)))


def current(path: Path) -> tuple[Experiment, ...]:
    """The experiments file as it is now (re-read when it changes). An invalid file runs no experiment at all
    (logged once per version of the file): the intake then uses its plain responses, never a half-checked one."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return ()
    try:
        return _cached(str(path), mtime)
    except (ExperimentError, yaml.YAMLError) as exc:
        if _reported.get(str(path)) != mtime:
            _reported[str(path)] = mtime
            log.error("experiments file %s is not valid, no experiment runs: %s", path, exc)
        return ()


_reported: dict[str, float] = {}
