"""Automatic blocks: only where staff switched them on, per class, with a threshold; never over risk.

`ABUSE_AUTO_BLOCK` lists classes and thresholds ("spam=0.97" or "spam=0.97,prank=0.99"); empty (the default)
means no texter is ever blocked by a model alone. Thresholds below `MIN_THRESHOLD` are raised to it, a text that
carries the texter's own distress is never blocked, and neither is one the triage scores high or imminent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from bot.abuse.behaviour import Behaviour
from bot.abuse.blocks import parse_duration
from bot.abuse.detector import AbuseSignals
from bot.abuse.lexicon import CLASSES
from bot.settings import Settings

log = logging.getLogger(__name__)

MIN_THRESHOLD = 0.9
RISK_LEVELS = frozenset({"high", "imminent"})


@dataclass(frozen=True)
class AutoBlock:
    """Block this texter for `duration` because `cls` scored `score` (at least the staff's `threshold`)."""

    cls: str
    score: float
    threshold: float
    duration: str

    @property
    def reason(self) -> str:
        return f"automatic: {self.cls} {self.score:.2f} (threshold {self.threshold:.2f})"


def parse_rules(text: str) -> dict[str, float]:
    """"spam=0.97,prank=0.99" (":" works too) -> {"spam": 0.97, "prank": 0.99}; ValueError on a bad entry."""
    rules: dict[str, float] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.replace(":", "=").partition("=")
        name = name.strip().lower()
        if name not in CLASSES or not sep:
            raise ValueError(f"ABUSE_AUTO_BLOCK: {part!r} must be CLASS=THRESHOLD with CLASS in {', '.join(CLASSES)}")
        threshold = float(value)
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"ABUSE_AUTO_BLOCK: threshold {threshold} must be in (0, 1]")
        rules[name] = max(threshold, MIN_THRESHOLD)
    return rules


@lru_cache(maxsize=8)
def _configured(rules: str, duration: str) -> tuple[dict[str, float], str]:
    """The staff's rules and block length; a mistake in them switches automatic blocks off (and says so)."""
    try:
        return parse_rules(rules), parse_duration(duration)
    except ValueError as exc:
        log.error("automatic abuse blocks are off: %s", exc)
        return {}, "24h"


def combined_scores(signals: AbuseSignals | None, behaviour: Behaviour | None,
                    flood_per_minute: int) -> dict[str, float]:
    """Text and behaviour scores as one score per class (independent evidence: 1 - (1-a)(1-b))."""
    out: dict[str, float] = dict(signals.scores) if signals is not None else {}
    if behaviour is not None:
        for cls, s in behaviour.scores(flood_per_minute).items():
            out[cls] = round(1.0 - (1.0 - out.get(cls, 0.0)) * (1.0 - s), 4)
    return out


def auto_block_decision(signals: AbuseSignals | None, settings: Settings, behaviour: Behaviour | None = None,
                        *, risk_level: str | None = None,
                        rules: Mapping[str, float] | None = None) -> AutoBlock | None:
    """The automatic block staff switched on for this text, if any (None: leave it to people)."""
    configured, duration = _configured(settings.abuse_auto_block, settings.abuse_auto_block_for)
    rules = configured if rules is None else rules
    if not rules or risk_level in RISK_LEVELS or (signals is not None and signals.distress):
        return None
    scores = combined_scores(signals, behaviour, settings.rate_limit_per_minute)
    best: AutoBlock | None = None
    for cls, threshold in rules.items():
        score = scores.get(cls, 0.0)
        if score >= threshold and (best is None or score > best.score):
            best = AutoBlock(cls, score, threshold, duration)
    return best
