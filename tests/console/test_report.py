"""The post-conversation report: prediction from intake and transcript, the form, and what is kept."""

from __future__ import annotations

from datetime import datetime

import pytest
from multidict import MultiDict

from bot.console import report
from bot.console.report import Report, Turn

CONTEXT = {
    "answers": {"topic": "my mom yells all the time", "screen_wish_dead": "yes", "age_range": "13_17"},
    "referrals": [
        {"id": "lifeline_988", "sms": "988 Suicide & Crisis Lifeline: call or text 988",
         "contacts": {"phone": "988", "text": "988"}},
        {"id": "childhelp", "sms": "Childhelp: call or text 1-800-422-4453",
         "contacts": {"phone": "1-800-422-4453"}},
    ],
}


def test_prediction_uses_intake_needs_texts_and_counselor_replies() -> None:
    turns = [
        Turn("texter", "I feel so alone and school is awful", after_claim=False),
        Turn("counselor", "You can also call or text 988 any time.", after_claim=True),
        Turn("texter", "ok thanks", after_claim=True),
    ]
    got = report.predict(CONTEXT, urgency_level="moderate", needs=["bullying"], turns=turns, opted_out=False)
    assert got.issues[:2] == ["suicidal_thoughts", "bullying"]
    assert {"family", "isolation", "school_work"} <= set(got.issues)
    assert got.risk_level == "moderate"
    assert got.referrals_given == ["lifeline_988"]
    assert got.outcome == "referred"


def test_referral_number_in_other_formatting_counts_as_given() -> None:
    turns = [Turn("counselor", "Childhelp is at (800) 422 4453, or 1 800 422 4453", after_claim=True),
             Turn("texter", "ok", after_claim=True)]
    got = report.predict(CONTEXT, urgency_level="low", needs=[], turns=turns, opted_out=False)
    assert got.referrals_given == ["childhelp"]


@pytest.mark.parametrize(
    ("turns", "opted_out", "outcome"),
    [
        ([Turn("texter", "hi", after_claim=False)], False, "texter_left"),
        ([Turn("texter", "STOP", after_claim=True)], True, "opted_out"),
        ([Turn("counselor", "I'm calling 911 for you now", after_claim=True),
          Turn("texter", "ok", after_claim=True)], False, "emergency"),
        ([Turn("texter", "thank you, I feel calmer", after_claim=True)], False, "de_escalated"),
    ],
)
def test_predicted_outcome(turns: list[Turn], opted_out: bool, outcome: str) -> None:
    got = report.predict({}, urgency_level="low", needs=[], turns=turns, opted_out=opted_out)
    assert got.outcome == outcome


def test_form_is_validated_and_changes_are_recorded() -> None:
    form = MultiDict(
        [("risk_level", "high"), ("outcome", "safety_plan"), ("issues", "family"), ("issues", "made_up"),
         ("referrals", "lifeline_988"), ("referrals", "evil"), ("notes", "  talked through a plan  ")]
    )
    confirmed = report.from_form(form, ["lifeline_988", "childhelp"])
    assert confirmed == Report(["family"], "high", ["lifeline_988"], "safety_plan", "talked through a plan")
    predicted = Report(["family"], "moderate", ["lifeline_988"], "referred")
    kept = report.record(predicted, confirmed, user_id=7, at=datetime(2026, 1, 2, 3, 4, 5))
    assert kept["predicted"]["risk_level"] == "moderate" and kept["confirmed"]["risk_level"] == "high"
    assert kept["changed"] == ["risk_level", "outcome"]
    assert kept["confirmed_by"] == 7 and kept["confirmed_at"] == "2026-01-02T03:04:05Z"
    with pytest.raises(ValueError):
        report.from_form(MultiDict([("outcome", "other")]), [])
    with pytest.raises(ValueError):
        report.from_form(MultiDict([("risk_level", "low")]), [])
