"""Latency samples and their summary: percentiles, rates and the one-line format the report prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``samples``; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Latency:
    """Percentiles of a set of latencies, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000.0 for s in seconds]
        return cls(len(ms), percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), max(ms, default=math.nan))

    def line(self, *, p95: bool = True) -> str:
        middle = f" p95 {self.p95:,.0f} ms," if p95 else ""
        return f"p50 {self.p50:,.1f} ms,{middle} p99 {self.p99:,.0f} ms, max {self.max:,.0f} ms (n={self.count})"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"
