"""Urgency during the intake: what the texter said so far, scored by the triage library after every answer.

Also decides why a conversation is handed off ("completed", "requested", "imminent").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.handoff.context import screener_answers
from bot.intake.questions import intake_answers, next_questions
from bot.triage import Urgency, assess

CARE_LEVELS = ("moderate", "high")  # with any screener "yes": a sign of risk, worth one caring word + 911 / 988
HUMAN_INTENTS = ("request_human",)


@dataclass(frozen=True)
class Conversation:
    """The texter's side of a conversation: every text, and the NLU intent of each message."""

    texts: list[str]
    intents: list[str]

    @property
    def latest_intent(self) -> str | None:
        return self.intents[-1] if self.intents else None


def conversation_from_events(events: Iterable[Mapping[str, Any]]) -> Conversation:
    """Texts and intents of the ``user`` events of a Rasa tracker (as the action server receives them)."""
    texts: list[str] = []
    intents: list[str] = []
    for event in events:
        if event.get("event") != "user":
            continue
        text = event.get("text")
        if isinstance(text, str) and text.strip():
            texts.append(text)
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent:
            intents.append(str(intent))
    return Conversation(texts, intents)


def score(slots: Mapping[str, Any], conversation: Conversation) -> Urgency:
    """Urgency from all texts so far, the screener answers, "safe right now" and the intents seen."""
    answers = intake_answers(slots)
    return assess(
        conversation.texts,
        screener_answers(answers),
        safe_now=answers.get("safe_now"),
        intents=tuple(conversation.intents),
    )


def is_imminent(urgency: Urgency) -> bool:
    return urgency.level == "imminent"


def needs_care_message(urgency: Urgency, slots: Mapping[str, Any]) -> bool:
    """A sign of risk below imminent (urgency moderate or high, or any "yes" on the suicide screener): the bot
    says a caring word with 911 / 988 before its next question. Stress alone ("low") does not trigger it."""
    if is_imminent(urgency):
        return False  # action_handoff sends the safety message
    screener_yes = any(value is True for value in screener_answers(intake_answers(slots)).values())
    return urgency.level in CARE_LEVELS or screener_yes


def urgency_slots(urgency: Urgency) -> dict[str, Any]:
    """The unfeaturized slots that carry the latest urgency through the conversation."""
    return {
        "urgency_level": urgency.level,
        "urgency_score": float(urgency.score),
        "urgency_reasons": list(urgency.reasons),
    }


def handoff_reason(urgency: Urgency, slots: Mapping[str, Any], conversation: Conversation) -> str:
    """Why the conversation goes to a counselor now: imminent risk, the texter asked, or the intake is done."""
    if is_imminent(urgency):
        return "imminent"
    if conversation.latest_intent in HUMAN_INTENTS or next_questions(slots):
        return "requested"
    return "completed"

