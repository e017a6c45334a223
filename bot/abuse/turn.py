"""The router's one call per turn: score the text, note the behaviour, queue a review when something is found,
apply an automatic block only where staff switched it on, and say whether the texter is blocked now.

Risk always wins, and that rule is the router's to apply with what this returns: a text the triage scores high or
imminent is never ignored, blocked or not (pass its level as `risk_level`: it also prevents an automatic block).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncSession

from bot.abuse import blocks
from bot.abuse.behaviour import Behaviour, TextHasher, observe
from bot.abuse.blocks import BlockStatus
from bot.abuse.detector import NONE, AbuseSignals, score
from bot.abuse.policy import AutoBlock, auto_block_decision
from bot.abuse.review import record
from bot.settings import Settings
from bot.store.models import utcnow


@dataclass(frozen=True)
class TurnAbuse:
    """What the abuse checks found for one turn."""

    signals: AbuseSignals
    behaviour: Behaviour
    block: BlockStatus                # at `now`, after any automatic block
    auto_block: AutoBlock | None      # the automatic block applied on this turn, if any
    review_id: int | None             # the texter's open review, when this turn found something


@lru_cache(maxsize=4)
def hasher_for(secret: str) -> TextHasher:
    return TextHasher(secret)


async def check_turn(
    session: AsyncSession,
    *,
    texter_id: int,
    conversation_id: str | None,
    message_id: int | None,
    text: str,
    settings: Settings,
    risk_level: str | None = None,
    now: datetime | None = None,
) -> TurnAbuse:
    """Everything abuse-related for one turn, inside the router's transaction (after the texts are stored)."""
    now = now or utcnow()
    signals = score(text) if text and text.strip() else NONE
    behaviour = await observe(session, texter_id, text, now, hasher_for(settings.privacy_key))
    found = await record(session, texter_id, conversation_id, message_id, signals, behaviour,
                         flood_per_minute=settings.rate_limit_per_minute, now=now)
    decision = auto_block_decision(signals, settings, behaviour, risk_level=risk_level)
    status = await blocks.status(session, texter_id, now)
    applied = None
    if decision is not None and not status.blocked:
        await blocks.block(session, texter_id, duration=decision.duration, reason=decision.reason, source="auto",
                           now=now, conversation_id=conversation_id)
        status = await blocks.status(session, texter_id, now)
        applied = decision
    return TurnAbuse(signals, behaviour, status, applied, found.id if found is not None else None)
