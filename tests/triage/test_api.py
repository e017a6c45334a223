"""The public triage API: assess() combining sources, floors, and referral suggestions."""

from __future__ import annotations

from bot.triage import Urgency, assess, suggest_referrals


def test_assess_empty_is_none() -> None:
    assert assess([]).level == "none"
    assert assess([""]).level == "none"


def test_never_below_screener_or_floor() -> None:
    assert assess(["hello"], {"plan": True}).level == "high"
    floor = Urgency("high", 70, ("earlier",))
    result = assess(["ok thanks"], floor=floor)
    assert result.level == "high" and result.score >= 70


def test_not_safe_now_with_intent_and_plan_is_imminent() -> None:
    result = assess(["hi"], {"intent": True, "plan": True}, safe_now="no")
    assert result.level == "imminent"
    assert "Not safe right now" in result.reasons
    assert assess(["hi"], safe_now="no").level == "high"


def test_intent_attempt_in_progress() -> None:
    assert assess(["help"], intents=["attempt_in_progress"]).level == "imminent"


def test_988_from_moderate_up() -> None:
    for level in ("moderate", "high", "imminent"):
        ids = [r.id for r in suggest_referrals([], level)]
        assert "lifeline_988" in ids
    assert suggest_referrals([], "imminent")[0].id == "emergency_911"


def test_referral_needs_age_and_why() -> None:
    refs = suggest_referrals(["lgbtq"], "low", age_range="13_17")
    assert refs[0].id == "trevor_project"
    assert refs[0].why
    assert refs[0].sms_line() == "Trevor Project (LGBTQ+ youth): call 1-866-488-7386 or text START to 678-678"
    adult = [r.id for r in suggest_referrals(["lgbtq"], "low", age_range="35_64")]
    assert "trevor_project" not in adult
