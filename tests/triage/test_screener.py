"""The C-SSRS screener triage rule, checked for every combination of the seven answers (yes / no / unknown)."""

from __future__ import annotations

import itertools

import pytest

from bot.triage import LEVELS, SCREENER_KEYS, Urgency, score_screener
from bot.triage.levels import BANDS
from bot.triage.screener import parse_answer

VALUES = (True, False, None)
ALL_COMBINATIONS = [dict(zip(SCREENER_KEYS, combo, strict=True))
                    for combo in itertools.product(VALUES, repeat=len(SCREENER_KEYS))]


def expected_level(a: dict[str, bool | None]) -> str:
    """The published rule, written independently: 4/5 or recent behaviour high; 3 or older behaviour moderate."""
    behavior_recent = a["behavior_recent"] is True or (a["behavior"] is True and a["behavior_recent"] is None)
    if a["intent"] or a["plan"] or behavior_recent:
        return "high"
    if a["method"] or a["behavior"]:
        return "moderate"
    if a["wish_dead"] or a["suicidal_thoughts"]:
        return "low"
    return "none"


def test_every_combination_count() -> None:
    assert len(ALL_COMBINATIONS) == 3 ** 7


@pytest.mark.parametrize("answers", ALL_COMBINATIONS, ids=lambda a: "".join("YN?"[VALUES.index(v)] for v in a.values()))
def test_rule(answers: dict[str, bool | None]) -> None:
    result = score_screener(answers)
    assert result.level == expected_level(answers)
    low, high = BANDS[result.level]
    assert low <= result.score <= high
    assert result.needs == ()
    yes_items = [k for k, v in answers.items() if v is True]
    if result.level == "none":
        assert result.reasons == ()
    else:
        assert all(reason.startswith("Screener: ") for reason in result.reasons)
        assert len(result.reasons) >= 1
    # An extra yes never lowers the result (partial answers only ever rise as they are completed).
    for key in SCREENER_KEYS:
        if answers[key] is not True:
            raised = score_screener({**answers, key: True})
            assert raised.score >= result.score, (key, yes_items)


def test_reasons_name_the_items() -> None:
    result = score_screener({"plan": True, "wish_dead": True})
    assert result.reasons[0] == "Screener: plan (item 5)"
    assert "Screener: wishes to be dead (item 1)" in result.reasons


def test_more_yes_ranks_higher_within_level() -> None:
    one = score_screener({"intent": True})
    three = score_screener({"intent": True, "plan": True, "behavior_recent": True, "behavior": True})
    assert one.level == three.level == "high"
    assert three.score > one.score


def test_behavior_recent_alone_is_high_and_old_behavior_moderate() -> None:
    assert score_screener({"behavior": True, "behavior_recent": True}).level == "high"
    assert score_screener({"behavior": True, "behavior_recent": False}).level == "moderate"
    assert score_screener({}).level == "none"


@pytest.mark.parametrize(("value", "parsed"), [("yes", True), ("no", False), ("unsure", None), ("unknown", None),
                                               (True, True), (None, None), ("YES ", True)])
def test_parse_answer(value: object, parsed: bool | None) -> None:
    assert parse_answer(value) is parsed


def test_urgency_round_trip_and_levels() -> None:
    u = score_screener({"method": True})
    assert Urgency.from_dict(u.to_dict()) == u
    assert LEVELS == ("none", "low", "moderate", "high", "imminent")
    with pytest.raises(ValueError):
        Urgency("high", 10)
