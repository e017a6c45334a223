"""The handoff at the end of (or instead of) the intake: why now, and the context the counselor gets.

Never fails: if scoring breaks, the conversation still goes to the queue, marked high so a person looks soon
(fail open to humans).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.handoff.context import HandoffContext, build_context, summarize
from bot.intake.questions import intake_answers
from bot.intake.scoring import Conversation, handoff_reason, score
from bot.triage import Urgency

logger = logging.getLogger(__name__)

FAILSAFE_URGENCY = Urgency("high", 65, ("Automatic scoring failed: check the transcript",))


def handoff_context(slots: Mapping[str, Any], conversation: Conversation) -> HandoffContext:
    """Score the conversation, pick the handoff reason and build the counselor's context."""
    answers = intake_answers(slots)
    try:
        reason = handoff_reason(score(slots, conversation), slots, conversation)
        return build_context(reason, answers, conversation.texts, intents=conversation.intents)
    except Exception:
        logger.exception("handoff scoring failed; handing off as high urgency")
        reason = "imminent" if conversation.latest_intent == "attempt_in_progress" else "requested"
        ctx = HandoffContext(reason=reason, answers=answers, urgency=FAILSAFE_URGENCY)
        ctx.summary = summarize(ctx)
        return ctx
