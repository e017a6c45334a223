"""Data deletion: the retention rule (RETENTION_DAYS) and one texter's data on request. Texts and their labels go
together, in one transaction: the messages, the labels of those conversations, the conversations' free text
(intake answers, summary, reasons, report notes) and Rasa's tracker events. Only counts are kept, in an audit
row that names no number.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import column, create_engine, delete, exists, inspect, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.learning import labels
from bot.privacy import Privacy
from bot.rasa_endpoints import tracker_store
from bot.settings import Settings
from bot.store.db import Database, sync_url
from bot.store.models import AuditEvent, Conversation, Label, Message, RateCounter, Texter, utcnow

log = logging.getLogger(__name__)

OPEN_STATES = ("intake", "waiting", "active")
CHUNK = 500


@dataclass
class Removed:
    conversations: int = 0
    messages: int = 0
    labels: int = 0
    tracker_events: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _scrubbed_context(context: dict[str, Any] | None) -> dict[str, Any]:
    """What is left of a handoff context: the handoff reason and urgency level/score/model, no words."""
    ctx = context or {}
    urgency = ctx.get("urgency") or {}
    return {
        "reason": ctx.get("reason"),
        "urgency": {k: urgency[k] for k in ("level", "score", "model") if k in urgency},
        "scrubbed": True,
    }


async def _scrub(s: AsyncSession, conv_ids: Sequence[str], removed: Removed) -> None:
    for i in range(0, len(conv_ids), CHUNK):
        part = list(conv_ids[i:i + CHUNK])
        for conv in await s.scalars(select(Conversation).where(Conversation.id.in_(part))):
            conv.context = _scrubbed_context(conv.context)
            conv.urgency_reasons = []
            if conv.report:
                report = dict(conv.report)
                report["confirmed"] = {**(report.get("confirmed") or {}), "notes": ""}
                conv.report = report
        result = await s.execute(delete(Message).where(Message.conversation_id.in_(part)))
        removed.messages += result.rowcount or 0
    removed.labels += await labels.delete_for(s, list(conv_ids))
    removed.conversations += len(conv_ids)


async def apply_retention(db: Database, settings: Settings, *, now: datetime | None = None) -> Removed:
    """Remove texts and labels of conversations closed more than RETENTION_DAYS ago (nothing when 0)."""
    removed = Removed()
    if settings.retention_days <= 0:
        return removed
    cutoff = (now or utcnow()) - timedelta(days=settings.retention_days)
    has_texts = exists().where(Message.conversation_id == Conversation.id)
    has_labels = exists().where(Label.conversation_id == Conversation.id)
    async with db.transaction() as s:
        conv_ids = list(await s.scalars(
            select(Conversation.id).where(
                Conversation.state == "closed", Conversation.closed_at < cutoff, or_(has_texts, has_labels))
        ))
        await _scrub(s, conv_ids, removed)
        # texts outside any conversation (a STOP, a text to a blocked number) that are long done
        stray = await s.execute(delete(Message).where(
            Message.conversation_id.is_(None), Message.created_at < cutoff,
            Message.status.notin_(("received", "pending", "sending"))))
        removed.messages += stray.rowcount or 0
        if conv_ids or stray.rowcount:
            s.add(AuditEvent(kind="retention", data={**removed.to_dict(), "days": settings.retention_days}))
    removed.tracker_events = forget_tracker(settings, conv_ids)
    return removed


class ForgetError(Exception):
    """The texter's data cannot be deleted now (a conversation is still open)."""


async def forget_texter(db: Database, settings: Settings, phone: str) -> Removed | None:
    """Delete one texter's data on request; None when the number is unknown. The number itself goes too: the
    texter row keeps only a random placeholder, so a new text from it starts afresh."""
    privacy = Privacy(settings.privacy_key)
    removed = Removed()
    async with db.transaction() as s:
        texter = await s.scalar(select(Texter).where(Texter.phone_hash == privacy.hash_phone(phone)))
        if texter is None:
            return None
        conv_ids = list(await s.scalars(select(Conversation.id).where(Conversation.texter_id == texter.id)))
        open_ = await s.scalar(select(Conversation.id).where(
            Conversation.texter_id == texter.id, Conversation.state.in_(OPEN_STATES)).limit(1))
        if open_ is not None:
            raise ForgetError(f"Conversation {open_} is still open: close it first, then run this again.")
        await _scrub(s, conv_ids, removed)
        stray = await s.execute(delete(Message).where(Message.texter_id == texter.id))
        removed.messages += stray.rowcount or 0
        await s.execute(delete(RateCounter).where(RateCounter.texter_id == texter.id))
        texter.phone_hash = "forgotten-" + secrets.token_hex(16)
        texter.phone_enc = ""
        texter.blocked_reason = None
        s.add(AuditEvent(kind="texter_forgotten", data=removed.to_dict()))
    removed.tracker_events = forget_tracker(settings, conv_ids)
    return removed


def forget_tracker(settings: Settings, conv_ids: Sequence[str]) -> int:
    """Delete Rasa's tracker events of these conversations (sender id = conversation id), where the tracker
    store is an SQL store this process can reach; 0 when there is none."""
    if not conv_ids:
        return 0
    store = tracker_store(settings)
    if store.get("dialect") == "sqlite" and not Path(store["db"]).exists():
        return 0
    url = f"sqlite:///{store['db']}" if store.get("dialect") == "sqlite" else sync_url(settings.database_url)
    try:
        engine = create_engine(url, future=True)
    except Exception:
        return 0
    removed = 0
    try:
        if not inspect(engine).has_table("events"):
            return 0
        with engine.begin() as conn:
            for i in range(0, len(conv_ids), CHUNK):
                events = table("events", column("sender_id"))
                result = conn.execute(delete(events).where(events.c.sender_id.in_(list(conv_ids[i:i + CHUNK]))))
                removed += result.rowcount or 0
    except Exception as exc:
        log.warning("retention: could not delete Rasa tracker events (%s)", type(exc).__name__)
    finally:
        engine.dispose()
    return removed
