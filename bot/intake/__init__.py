"""Intake: the pure logic behind the Rasa intake form (answer parsing, screener skip logic, scoring, handoff).

The action server's adapters in ``actions/`` call these functions; nothing here knows about Rasa.
"""

from bot.intake.answers import parse_age, parse_recency, parse_yes_no
from bot.intake.handoff import handoff_context
from bot.intake.questions import (
    ANSWER_SLOTS,
    QUESTIONS,
    Outcome,
    intake_answers,
    interpret,
    next_questions,
    required_questions,
    resolve,
)
from bot.intake.scoring import Conversation, conversation_from_events, score

__all__ = [
    "ANSWER_SLOTS",
    "QUESTIONS",
    "Conversation",
    "Outcome",
    "conversation_from_events",
    "handoff_context",
    "intake_answers",
    "interpret",
    "next_questions",
    "parse_age",
    "parse_recency",
    "parse_yes_no",
    "required_questions",
    "resolve",
    "score",
]
