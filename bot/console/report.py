"""The post-conversation report: what the assistant predicts from intake and transcript, the counselor's
confirmed version, and the record of both that is kept for training and measurement."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from multidict import MultiMapping

from bot.handoff.context import screener_answers
from bot.triage import LEVELS
from bot.triage.referrals import NEED_LABELS

ISSUES: dict[str, str] = {
    "suicidal_thoughts": "suicidal thoughts",
    **dict(NEED_LABELS),
    "anxiety_stress": "anxiety or stress",
    "depression_sadness": "depression or sadness",
    "relationships": "relationships",
    "family": "family",
    "school_work": "school or work",
    "isolation": "loneliness or isolation",
    "other": "something else",
}

OUTCOMES: dict[str, str] = {
    "de_escalated": "calmer, de-escalated",
    "safety_plan": "made a safety plan",
    "referred": "referred to a service",
    "emergency": "emergency services involved",
    "texter_left": "texter stopped replying",
    "opted_out": "texter opted out (STOP)",
    "other": "other",
}

MAX_NOTES_CHARS = 2000

# Words in the texter's own texts that hint at an issue the intake does not ask about (prefill only:
# the counselor confirms or corrects every item).
_HINTS: dict[str, re.Pattern[str]] = {
    code: re.compile(r"\b(" + words + r")", re.IGNORECASE)
    for code, words in {
        "anxiety_stress": r"anxi|panic|stress|overwhelm|worr",
        "depression_sadness": r"depress|sad\b|hopeless|empty|numb|cry",
        "relationships": r"boyfriend|girlfriend|partner|husband|wife|break ?up|broke up|ex\b",
        "family": r"mom\b|mum\b|dad\b|parent|family|brother|sister|stepdad|stepmom",
        "school_work": r"school|teacher|exam|class|grades|job\b|work\b|boss|fired",
        "isolation": r"lonely|alone|no friends|isolat|no one cares|nobody cares",
    }.items()
}


@dataclass
class Report:
    """The four things a counselor files after a conversation, plus free notes."""

    issues: list[str] = field(default_factory=list)
    risk_level: str = "none"
    referrals_given: list[str] = field(default_factory=list)
    outcome: str = "de_escalated"
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Report | None:
        if not data:
            return None
        return cls(
            issues=list(data.get("issues") or []),
            risk_level=str(data.get("risk_level") or "none"),
            referrals_given=list(data.get("referrals_given") or []),
            outcome=str(data.get("outcome") or "other"),
            notes=str(data.get("notes") or ""),
        )


@dataclass(frozen=True)
class Turn:
    """What the predictor needs of one message."""

    author: str  # texter | bot | counselor | system
    body: str
    after_claim: bool


def predict(
    context: Mapping[str, Any],
    *,
    urgency_level: str,
    needs: Sequence[str],
    turns: Sequence[Turn],
    opted_out: bool,
) -> Report:
    """The assistant's guess at the report, from the handoff context and the transcript."""
    answers = context.get("answers") or {}
    issues: list[str] = []
    screener = screener_answers(answers)
    if screener.get("suicidal_thoughts") or screener.get("wish_dead") or urgency_level == "imminent":
        issues.append("suicidal_thoughts")
    issues += [n for n in needs if n in ISSUES and n not in issues]
    texter_words = " ".join([str(answers.get("topic") or "")] + [t.body for t in turns if t.author == "texter"])
    issues += [code for code, pattern in _HINTS.items() if code not in issues and pattern.search(texter_words)]

    counselor_words = " ".join(t.body for t in turns if t.author == "counselor")
    given = [r["id"] for r in context.get("referrals") or [] if _mentioned(r, counselor_words)]

    texter_replied = any(t.author == "texter" and t.after_claim for t in turns)
    if opted_out:
        outcome = "opted_out"
    elif not texter_replied:
        outcome = "texter_left"
    elif re.search(r"\b911\b", counselor_words):
        outcome = "emergency"
    elif given:
        outcome = "referred"
    else:
        outcome = "de_escalated"
    return Report(issues=issues, risk_level=urgency_level, referrals_given=given, outcome=outcome)


def _mentioned(referral: Mapping[str, Any], text: str) -> bool:
    if not text:
        return False
    if referral.get("sms") and referral["sms"] in text:
        return True
    for value in (referral.get("contacts") or {}).values():
        digits = re.sub(r"\D", "", str(value))
        if len(digits) >= 3 and re.search(rf"(?<!\d){digits}(?!\d)", re.sub(r"[\s().-]", "", text)):
            return True
    return False


def from_form(form: MultiMapping[Any], referral_ids: Sequence[str]) -> Report:
    """The counselor's report from the close form; unknown codes are dropped, a missing level is refused."""
    risk = str(form.get("risk_level") or "")
    if risk not in LEVELS:
        raise ValueError("Choose the risk level you assessed.")
    outcome = str(form.get("outcome") or "")
    if outcome not in OUTCOMES:
        raise ValueError("Choose an outcome.")
    issues = [c for c in form.getall("issues", []) if c in ISSUES]
    given = [r for r in form.getall("referrals", []) if r in referral_ids]
    notes = str(form.get("notes") or "").strip()[:MAX_NOTES_CHARS]
    return Report(issues=issues, risk_level=risk, referrals_given=given, outcome=outcome, notes=notes)


def changed_fields(predicted: Report, confirmed: Report) -> list[str]:
    """Which of the predicted fields the counselor corrected (notes are never predicted)."""
    out = []
    if sorted(predicted.issues) != sorted(confirmed.issues):
        out.append("issues")
    if predicted.risk_level != confirmed.risk_level:
        out.append("risk_level")
    if sorted(predicted.referrals_given) != sorted(confirmed.referrals_given):
        out.append("referrals_given")
    if predicted.outcome != confirmed.outcome:
        out.append("outcome")
    return out


def record(predicted: Report, confirmed: Report, *, user_id: int, at: datetime) -> dict[str, Any]:
    """What ``Conversation.report`` keeps: the prediction beside the counselor's version, and what changed."""
    return {
        "predicted": predicted.to_dict(),
        "confirmed": confirmed.to_dict(),
        "changed": changed_fields(predicted, confirmed),
        "confirmed_by": user_id,
        "confirmed_at": at.isoformat(timespec="seconds") + "Z",
    }
