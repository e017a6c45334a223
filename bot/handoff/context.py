"""The enriched handoff context: intake answers, urgency, referrals and a short summary for the counselor.

One builder serves both paths into the queue: the action server (intake finished, texter asked for a person,
or imminent risk) and the gateway's fail-open path (Rasa down), so a counselor reads the same card either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.triage import Urgency, assess, suggest_referrals

SCREENER_KEYS = ("wish_dead", "suicidal_thoughts", "method", "intent", "plan", "behavior", "behavior_recent")
SCREENER_LABELS = {
    "wish_dead": "wished dead",
    "suicidal_thoughts": "suicidal thoughts",
    "method": "thought of method",
    "intent": "intent to act",
    "plan": "plan",
    "behavior": "ever prepared/attempted",
    "behavior_recent": "in past 3 months",
}
AGE_LABELS = {
    "under_13": "under 13",
    "13_17": "13-17",
    "18_24": "18-24",
    "25_34": "25-34",
    "35_64": "35-64",
    "65_plus": "65+",
}
HANDOFF_REASONS = {
    "completed": "finished the intake",
    "requested": "asked for a person",
    "imminent": "imminent risk, intake cut short",
    "fallback": "assistant unavailable, intake not finished",
    "restricted": "at risk from a blocked or rate-limited number",
}


def answer_to_bool(value: str | bool | None) -> bool | None:
    """Map a slot value ("yes"/"no"/"unsure"/"unknown") to the triage library's True/False/None."""
    if isinstance(value, bool) or value is None:
        return value
    return {"yes": True, "no": False}.get(str(value).lower())


def screener_answers(answers: Mapping[str, Any]) -> dict[str, bool | None]:
    """The screener items from intake answers (keys with or without the ``screen_`` slot prefix)."""
    out: dict[str, bool | None] = {}
    for key in SCREENER_KEYS:
        value = answers.get(key, answers.get(f"screen_{key}"))
        out[key] = answer_to_bool(value)
    return out


@dataclass
class HandoffContext:
    """What the counselor's summary card shows; serialised into the queue row as JSON."""

    reason: str
    answers: dict[str, Any]
    urgency: Urgency
    referrals: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""
    intake_complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "answers": self.answers,
            "urgency": self.urgency.to_dict(),
            "referrals": self.referrals,
            "summary": self.summary,
            "intake_complete": self.intake_complete,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HandoffContext:
        return cls(
            reason=str(data.get("reason") or "completed"),
            answers=dict(data.get("answers") or {}),
            urgency=Urgency.from_dict(data.get("urgency") or {}),
            referrals=list(data.get("referrals") or []),
            summary=str(data.get("summary") or ""),
            intake_complete=bool(data.get("intake_complete")),
        )


def build_context(
    reason: str,
    answers: Mapping[str, Any],
    texts: Sequence[str],
    *,
    intents: Sequence[str] = (),
    floor: Urgency | None = None,
) -> HandoffContext:
    """Score the conversation, pick referrals and write the summary: the whole handoff in one call."""
    clean = {k: v for k, v in answers.items() if v not in (None, "")}
    urgency = assess(
        texts,
        screener_answers(clean),
        safe_now=clean.get("safe_now"),
        intents=intents,
        floor=floor,
    )
    referrals = suggest_referrals(urgency.needs, urgency.level, age_range=clean.get("age_range"))
    referral_dicts = [r.to_dict() for r in referrals]
    ctx = HandoffContext(
        reason=reason,
        answers=clean,
        urgency=urgency,
        referrals=referral_dicts,
        intake_complete=reason == "completed",
    )
    ctx.summary = summarize(ctx)
    return ctx


def summarize(ctx: HandoffContext) -> str:
    """One short paragraph a counselor can read in five seconds."""
    a = ctx.answers
    parts = [f"{ctx.urgency.level.upper()} ({ctx.urgency.score})."]
    if ctx.urgency.reasons:
        parts.append("Why: " + "; ".join(ctx.urgency.reasons[:3]) + ".")
    topic = str(a.get("topic") or "").strip()
    if topic:
        parts.append(f'Says: "{_clip(topic, 90)}".')
    safe = a.get("safe_now")
    if safe in ("yes", "no", "unsure"):
        parts.append({"yes": "Safe now: yes.", "no": "NOT safe now.", "unsure": "Unsure if safe now."}[safe])
    yes_items = [SCREENER_LABELS[k] for k, v in screener_answers(a).items() if v]
    if yes_items:
        parts.append("Screener yes: " + ", ".join(yes_items) + ".")
    elif any(v is False for v in screener_answers(a).values()):
        parts.append("Screener: no yes answers.")
    age = AGE_LABELS.get(str(a.get("age_range") or ""))
    if age:
        parts.append(f"Age {age}.")
    if ctx.urgency.needs:
        parts.append("Needs: " + ", ".join(n.replace("_", " ") for n in ctx.urgency.needs) + ".")
    restricted = {"blocked": "BLOCKED NUMBER", "rate_limited": "RATE-LIMITED NUMBER"}.get(str(a.get("restricted")))
    if restricted:
        parts.insert(0, restricted + ".")
    parts.append(HANDOFF_REASONS.get(ctx.reason, ctx.reason).capitalize() + ".")
    return " ".join(parts)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
