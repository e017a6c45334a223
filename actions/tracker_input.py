"""Read what the intake logic needs from a rasa_sdk ``Tracker``: slot values and the texter's messages."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from bot.intake.scoring import Conversation, conversation_from_events

MIN_INTENT_CONFIDENCE = 0.5  # below this the intent does not count as an answer (the words still do)


def slots_of(tracker: Tracker) -> dict[str, Any]:
    """The tracker's current slot values."""
    return dict(tracker.slots)


def conversation_of(tracker: Tracker) -> Conversation:
    """Every text the texter sent and the intent of each, oldest first."""
    return conversation_from_events(tracker.events)


def latest_intent(tracker: Tracker) -> str | None:
    """The NLU intent of the latest message, when the NLU was reasonably sure of it."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    if (intent.get("confidence") or 0.0) < MIN_INTENT_CONFIDENCE:
        return None
    return intent.get("name")


def latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")
