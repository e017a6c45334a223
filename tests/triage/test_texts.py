"""Free-text triage on our own hand-written texts (tests/triage/texts.yml): levels, needs and robustness."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.triage import assess
from bot.triage.levels import BANDS

CASES_FILE = Path(__file__).with_name("texts.yml")


def _cases() -> list[tuple[str, str, tuple[str, ...], tuple[str, ...], str]]:
    cases = []
    for block in yaml.safe_load(CASES_FILE.read_text(encoding="utf-8")):
        for text in block["texts"]:
            cases.append((text, block["level"], tuple(block.get("needs", ())), tuple(block.get("no_needs", ())),
                          block["name"]))
    return cases


CASES = _cases()


def test_enough_cases() -> None:
    assert len(CASES) >= 300


@pytest.mark.parametrize(("text", "level", "needs", "no_needs", "name"), CASES, ids=[c[0][:40] for c in CASES])
def test_text_level(text: str, level: str, needs: tuple[str, ...], no_needs: tuple[str, ...], name: str) -> None:
    result = assess([text])
    assert result.level == level, f"{name}: {text!r} -> {result.to_dict()}"
    assert set(needs) <= set(result.needs), f"{name}: {text!r} -> {result.to_dict()}"
    assert not set(no_needs) & set(result.needs)
    low, high = BANDS[result.level]
    assert low <= result.score <= high
    if level in ("moderate", "high", "imminent"):
        assert result.reasons, "a raised level always says why"
        assert all(len(reason) <= 120 for reason in result.reasons)
