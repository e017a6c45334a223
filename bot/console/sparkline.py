"""Risk per message, drawn as a small inline SVG sparkline on the counselor's card (server-rendered, no script).

Until the store keeps each inbound text's risk (`messages.risk_score` / `risk_level`), the values are computed for
display by scoring each texter message on its own with the live triage (cached per text and model version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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


def trajectory(messages: Sequence[tuple[int, str]]) -> list[RiskPoint]:
    """Risk of each (message id, body) of the texter, oldest first; empty bodies (a picture) are left out."""
    out = []
    for message_id, body in messages:
        if body and body.strip():
            score, level = message_risk(body)
            out.append(RiskPoint(message_id, score, level))
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
