"""Imminent risk to the head of the queue: a new texter's text saying an attempt is under way, timed from the
webhook until the store ranks that conversation first among the waiting (polled every 50 ms, read-only, ranked
by the queue's own rule); the probe's conversation is then closed so the next probe can reach the head too."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import create_engine, select
from sqlalchemy.pool import QueuePool

from bench.load import GatewayChannel, PhoneBook
from bot.handoff.queue import AgingRule, close, priority_sql
from bot.privacy import Privacy
from bot.settings import Settings
from bot.store.db import Database, is_postgres, sync_url
from bot.store.models import CloseReason, Conversation, Texter, utcnow

# Our own example texts; each is an attempt under way (the triage scores them "imminent").
IMMINENT_TEXTS = (
    "i'm on the roof right now and i'm going to jump tonight",
    "i swallowed all my pills just now. goodbye everyone",
    "i cut really deep and i can't stop the bleeding, i want to die",
)
POLL = 0.05
GIVE_UP = 10.0


@dataclass
class ImminentResult:
    latencies: list[float] = field(default_factory=list)
    missed: int = 0  # never reached the head as imminent within GIVE_UP seconds


class QueueReader:
    """Read-only view of the head of the queue through a plain synchronous connection (no write lock on SQLite);
    the database ranks with the queue's own rule (``priority_sql``) and returns one row."""

    def __init__(self, settings: Settings) -> None:
        self.postgres = is_postgres(settings.database_url)
        # One pooled connection, reused by whichever worker thread polls (opening one per poll costs more).
        self.engine = create_engine(
            sync_url(settings.database_url), future=True, poolclass=QueuePool, pool_size=1,
            connect_args={} if self.postgres else {"check_same_thread": False},
        )
        self.rule = AgingRule(settings.aging_points_per_minute, settings.aging_cap)
        self.privacy = Privacy(settings.privacy_key)

    def head_if_imminent(self, phone_hash: str) -> str | None:
        """The conversation id of this texter when it is imminent and first in line, else None."""
        query = (
            select(Conversation.id, Conversation.urgency_level, Texter.phone_hash)
            .join(Texter, Texter.id == Conversation.texter_id)
            .where(Conversation.state == "waiting")
            .order_by(priority_sql(self.rule, utcnow(), postgres=self.postgres).desc(), Conversation.queued_at,
                      Conversation.id)
            .limit(1)
        )
        with self.engine.connect() as conn:
            head = conn.execute(query).first()
        if head is not None and head.urgency_level == "imminent" and head.phone_hash == phone_hash:
            return head.id
        return None

    def close(self) -> None:
        self.engine.dispose()


async def probe_imminent(
    channel: GatewayChannel, settings: Settings, probes: int, spacing: float, phone_prefix: str
) -> ImminentResult:
    """``probes`` imminent texts from new numbers, one at a time, ``spacing`` seconds apart."""
    reader = QueueReader(settings)
    db = Database(settings.database_url, pool_size=1)
    phones = PhoneBook(phone_prefix)
    result = ImminentResult()
    try:
        for i in range(probes):
            phone = phones.next()
            phone_hash = reader.privacy.hash_phone(phone)
            started = time.monotonic()
            status = await channel.post(phone, IMMINENT_TEXTS[i % len(IMMINENT_TEXTS)])
            conv_id = None
            while status == 200 and time.monotonic() - started < GIVE_UP:
                conv_id = await asyncio.to_thread(reader.head_if_imminent, phone_hash)
                if conv_id:
                    result.latencies.append(time.monotonic() - started)
                    break
                await asyncio.sleep(POLL)
            if conv_id:
                async with db.transaction() as s:  # out of the way of the next probe
                    conv = await s.get(Conversation, conv_id)
                    await close(s, conv, CloseReason.COUNSELOR)
            else:
                result.missed += 1
            await asyncio.sleep(spacing)
    finally:
        reader.close()
        await db.close()
    return result
