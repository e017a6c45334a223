"""Risk per message, drawn as a small inline SVG sparkline on the counselor's card (server-rendered, no script).

Each inbound text's risk is scored once, when it is stored (`messages.risk_score` / `risk_level`); texts stored
before that column existed are scored here for display (cached per text and model version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.triage import assess

WIDTH, HEIGHT, PAD = 160, 36, 3


@dataclass(frozen=True)
class RiskPoint:
    message_id: int
    score: int
    level: str


@lru_cache(maxsize=4096)
def _score(text: str, model: str) -> tuple[int, str]:
    urgency = assess([text])
    return urgency.score, urgency.level


def message_risk(text: str) -> tuple[int, str]:
    """(score 0-100, level) of one texter message on its own."""
    from bot.triage import live_model_version

    return _score(text, live_model_version())


def trajectory(messages: Sequence[Any]) -> list[RiskPoint]:
    """Risk of each texter message (rows with id, body, risk_score, risk_level), oldest first; empty bodies (a
    picture) are left out."""
    out = []
    for m in messages:
        if m.body and m.body.strip():
            score, level = (m.risk_score, m.risk_level) if m.risk_level else message_risk(m.body)
            out.append(RiskPoint(m.id, score, level))
    return out


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    polyline: str
    dots: list[tuple[float, float, RiskPoint]]
    trend: str  # rising | falling | steady
    label: str  # the accessible description

    @property
    def last(self) -> RiskPoint:
        return self.dots[-1][2]


def sparkline(points: Sequence[RiskPoint]) -> Sparkline | None:
    """Coordinates for the SVG (None with fewer than one point)."""
    if not points:
        return None
    n = len(points)
    step = (WIDTH - 2 * PAD) / max(1, n - 1)
    dots = []
    for i, p in enumerate(points):
        x = PAD + (i * step if n > 1 else (WIDTH - 2 * PAD) / 2)
        y = PAD + (100 - p.score) * (HEIGHT - 2 * PAD) / 100
        dots.append((round(x, 1), round(y, 1), p))
    first, last = points[0].score, points[-1].score
    trend = "rising" if last - first >= 10 else "falling" if first - last >= 10 else "steady"
    scores = ", ".join(str(p.score) for p in points)
    label = f"Risk per texter message, oldest first: {scores} ({trend})"
    return Sparkline(WIDTH, HEIGHT, " ".join(f"{x},{y}" for x, y, _ in dots), dots, trend, label)
