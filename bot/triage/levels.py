"""Urgency levels and the one result type of triage: `Urgency` (level, 0-100 score, reasons, needs).

Score bands, monotone with the level (a higher level always has a higher score):
none 0-9, low 10-39, moderate 40-64, high 65-89, imminent 90-100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The scorer name of an urgency made without a learned model.
LEXICON = "lexicon"

LEVELS: tuple[str, ...] = ("none", "low", "moderate", "high", "imminent")

#: Inclusive score band of each level.
BANDS: Mapping[str, tuple[int, int]] = {
    "none": (0, 9),
    "low": (10, 39),
    "moderate": (40, 64),
    "high": (65, 89),
    "imminent": (90, 100),
}


def rank(level: str) -> int:
    """Position of `level` in LEVELS (0 = none); raises ValueError for an unknown level."""
    return LEVELS.index(level)


def level_for_score(score: int) -> str:
    """The level whose band contains `score` (clamped to 0..100)."""
    score = max(0, min(100, score))
    for level in reversed(LEVELS):
        if score >= BANDS[level][0]:
            return level
    return "none"


def clamp_to_band(level: str, score: int) -> int:
    """`score` moved into the band of `level`."""
    low, high = BANDS[level]
    return max(low, min(high, score))


@dataclass(frozen=True)
class Urgency:
    """One urgency for a conversation: level, score in the level's band, reasons and needs codes, and the scorer
    that produced it (`model`: "lexicon", or the version of the learned model that was live)."""

    level: str
    score: int
    reasons: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    model: str = LEXICON

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown urgency level {self.level!r}")
        low, high = BANDS[self.level]
        if not low <= self.score <= high:
            raise ValueError(f"score {self.score} outside the band {low}-{high} of {self.level!r}")

    @property
    def rank(self) -> int:
        """Position of the level in LEVELS, for comparisons."""
        return rank(self.level)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "score": self.score, "reasons": list(self.reasons), "needs": list(self.needs),
                "model": self.model}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Urgency:
        level = str(d.get("level") or "none")
        score = d.get("score")
        score = clamp_to_band(level, int(score)) if score is not None else BANDS[level][0]
        return cls(level=level, score=score, reasons=tuple(d.get("reasons") or ()),
                   needs=tuple(d.get("needs") or ()), model=str(d.get("model") or LEXICON))


NONE = Urgency("none", 0)


def merge(*urgencies: Urgency | None) -> Urgency:
    """The highest of several urgencies, with the reasons and needs of all of them (highest first); its model is
    the first learned model among them (highest first), else "lexicon"."""
    present = sorted((u for u in urgencies if u is not None), key=lambda u: u.score, reverse=True)
    if not present:
        return NONE
    top = present[0]
    reasons: list[str] = []
    needs: list[str] = []
    for u in present:
        reasons.extend(r for r in u.reasons if r not in reasons)
        needs.extend(n for n in u.needs if n not in needs)
    model = next((u.model for u in present if u.model != LEXICON), LEXICON)
    return Urgency(top.level, top.score, tuple(reasons), tuple(needs), model)
