"""The durable inbox: store each inbound text before the webhook answers, hand texters to workers, and own every
inbound status change (received -> processing -> processed | ignored).

A texter is leased to one worker at a time (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several gateways
share the work), which keeps each texter's texts in order. A lease that expires (a crashed worker) is taken over,
so a restart resumes whatever was stored but not yet handled.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from bot.handoff.live import MessageAdded, emit
from bot.privacy import Privacy
from bot.store.db import Database
from bot.store.models import InboundStatus, Message, Texter, utcnow

LEASE = timedelta(seconds=60)
KNOWN_TEXTERS = 10_000  # texter ids remembered by the webhook (a few hundred kB)
LAST_SEEN_EVERY = 60.0  # seconds: texters.last_seen_at is written at most this often per texter
# "processing": a worker took the text but had not finished when it stopped; it is handled again.
UNHANDLED = (InboundStatus.RECEIVED.value, InboundStatus.PROCESSING.value)


@dataclass(frozen=True)
class InboundText:
    """What Twilio posted, reduced to what the gateway keeps."""

    sid: str
    phone: str
    body: str
    num_media: int = 0
    media_types: tuple[str, ...] = field(default=())

    @classmethod
    def from_form(cls, form: dict[str, str]) -> InboundText:
        """Parse Twilio's webhook fields; raises ValueError on a request that is not a usable text."""
        sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
        phone = (form.get("From") or "").strip()
        if not sid or len(sid) > 64:
            raise ValueError("missing or invalid MessageSid")
        if not phone or len(phone) > 40:
            raise ValueError("missing or invalid From")
        try:
            num_media = max(0, int(form.get("NumMedia") or 0))
        except ValueError:
            num_media = 0
        media_types = tuple(
            form.get(f"MediaContentType{i}", "") for i in range(min(num_media, 10))
        )
        return cls(sid=sid, phone=phone, body=form.get("Body") or "", num_media=num_media, media_types=media_types)


@dataclass(frozen=True)
class Risk:
    """The triage's reading of one text alone, taken once when it is stored (the message's per-message risk)."""

    level: str = "none"
    score: int = 0


@dataclass(frozen=True)
class Received:
    message_id: int
    texter_id: int
    duplicate: bool


class Inbox:
    """Stores inbound texts exactly once, leases texters with unhandled texts to workers, and moves each text
    through its statuses."""

    def __init__(self, db: Database, privacy: Privacy, owner: str) -> None:
        self.db = db
        self.privacy = privacy
        self.owner = owner
        # Texter ids by keyed phone hash (texter rows are never deleted), with when last_seen_at was last written:
        # storing a text from a known texter is then a single INSERT while Twilio waits for the answer.
        self._known: OrderedDict[str, tuple[int, float]] = OrderedDict()

    async def receive(self, text: InboundText, risk: Risk = Risk()) -> Received:
        """Store the text (and its texter). A MessageSid seen before is a duplicate."""
        phone_hash = self.privacy.hash_phone(text.phone)
        known = self._known.get(phone_hash)
        now = time.monotonic()
        try:
            if known is not None and now - known[1] <= LAST_SEEN_EVERY and self.db.postgres:
                # A known texter on PostgreSQL: one autocommitted INSERT, one round trip. (A MessageSid seen before
                # fails it: no lookup first, new texts are the common case.)
                async with self.db.autocommit() as conn:
                    message_id = (await conn.execute(self._insert(known[0], text, risk))).inserted_primary_key[0]
                return Received(message_id, known[0], duplicate=False)
            async with self.db.transaction(urgent=True) as s:
                if known is None:
                    texter_id = await self._texter_id(s, phone_hash, text.phone)
                    seen = now
                else:
                    texter_id, seen = known
                    if now - seen > LAST_SEEN_EVERY:
                        await s.execute(update(Texter).where(Texter.id == texter_id).values(last_seen_at=utcnow()))
                        seen = now
                message_id = (await s.execute(self._insert(texter_id, text, risk))).inserted_primary_key[0]
            self._remember(phone_hash, texter_id, seen)
            return Received(message_id, texter_id, duplicate=False)
        except IntegrityError:
            # The sid was stored before (Twilio's retry or fallback URL, another gateway), or a concurrent request
            # created the texter first.
            self._known.pop(phone_hash, None)
            async with self.db.session() as s:
                row = (
                    await s.execute(select(Message.id, Message.texter_id).where(Message.twilio_sid == text.sid))
                ).first()
            if row is not None:
                return Received(row[0], row[1], duplicate=True)
            return await self.receive(text, risk)  # the texter row raced; the text itself is new

    @staticmethod
    def _insert(texter_id: int, text: InboundText, risk: Risk) -> Insert:
        """A Core INSERT (the ORM's unit of work costs more than the round trip on this hot path); the new id comes
        back as ``inserted_primary_key`` (RETURNING on PostgreSQL, lastrowid on SQLite)."""
        return insert(Message).values(
            texter_id=texter_id, direction="in", author="texter", body=text.body, num_media=text.num_media,
            twilio_sid=text.sid, status=InboundStatus.RECEIVED.value, attempts=0, created_at=utcnow(),
            risk_score=risk.score, risk_level=risk.level,
        )

    async def _texter_id(self, s: AsyncSession, phone_hash: str, phone: str) -> int:
        texter_id = await s.scalar(select(Texter.id).where(Texter.phone_hash == phone_hash))
        if texter_id is None:
            texter = Texter(phone_hash=phone_hash, phone_enc=self.privacy.encrypt(phone))
            s.add(texter)
            await s.flush()
            return texter.id
        await s.execute(update(Texter).where(Texter.id == texter_id).values(last_seen_at=utcnow()))
        return texter_id

    def _remember(self, phone_hash: str, texter_id: int, seen: float) -> None:
        self._known[phone_hash] = (texter_id, seen)
        self._known.move_to_end(phone_hash)
        if len(self._known) > KNOWN_TEXTERS:
            self._known.popitem(last=False)

    # ---- leases: one worker per texter ---------------------------------------------------------------------------
    async def lease_next_texter(self, texter_id: int | None = None) -> int | None:
        """Lease ``texter_id`` when given (an urgent text), else one texter who has unhandled texts, oldest text
        first; None when there is no work (or someone else holds that texter)."""
        now = utcnow()
        if texter_id is not None:
            async with self.db.transaction() as s:
                return texter_id if await self._take(s, texter_id, now) else None
        free = or_(Texter.lease_until.is_(None), Texter.lease_until < now)
        query = (
            select(Texter.id)
            .join(Message, Message.texter_id == Texter.id)
            .where(Message.direction == "in", Message.status.in_(UNHANDLED), free)
            .order_by(Message.id)
            .limit(1)
        )
        if self.db.postgres:
            async with self.db.transaction() as s:
                found = await s.scalar(query.with_for_update(of=Texter, skip_locked=True))
                return found if found is not None and await self._take(s, found, now) else None
        # SQLite: look without holding the write lock (idle workers look often); the take is a compare-and-set.
        async with self.db.session() as s:
            found = await s.scalar(query)
        if found is None:
            return None
        async with self.db.transaction() as s:
            return found if await self._take(s, found, now) else None

    async def _take(self, s: AsyncSession, texter_id: int, now: datetime) -> bool:
        result = await s.execute(
            update(Texter)
            .where(Texter.id == texter_id, or_(Texter.lease_until.is_(None), Texter.lease_until < now))
            .values(lease_owner=self.owner, lease_until=now + LEASE)
        )
        return result.rowcount == 1

    async def renew(self, texter_id: int) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                update(Texter)
                .where(Texter.id == texter_id, Texter.lease_owner == self.owner)
                .values(lease_until=utcnow() + LEASE)
            )

    async def release_if_done(self, texter_id: int, session: AsyncSession | None = None) -> bool:
        """Give the texter's lease back unless a text of theirs is still unhandled; True when this worker is done
        with the texter (released, or the lease was lost to another worker), False when there is more to do.
        One statement checks and releases, so a text stored meanwhile is never left behind a released lease.
        Given ``session``, it runs in that transaction (the turn's last one: no transaction of its own)."""
        if session is not None:
            return await self._release(session, texter_id)
        async with self.db.transaction() as s:
            return await self._release(s, texter_id)

    async def _release(self, s: AsyncSession, texter_id: int) -> bool:
        unhandled = exists().where(
            Message.texter_id == texter_id, Message.direction == "in", Message.status.in_(UNHANDLED)
        )
        result = await s.execute(
            update(Texter)
            .where(Texter.id == texter_id, Texter.lease_owner == self.owner, ~unhandled)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            return True
        owner = await s.scalar(select(Texter.lease_owner).where(Texter.id == texter_id))
        return owner != self.owner

    async def pending(self, texter_id: int) -> list[Message]:
        """The texter's unhandled texts, in the order they arrived."""
        async with self.db.session() as s:
            rows = await s.scalars(
                select(Message)
                .where(
                    and_(Message.texter_id == texter_id, Message.direction == "in", Message.status.in_(UNHANDLED))
                )
                .order_by(Message.id)
            )
            return list(rows)

    # ---- transitions (inside the caller's transaction) ---------------------------------------------------------
    @staticmethod
    async def start(s: AsyncSession, ids: Sequence[int], conversation_id: str) -> None:
        """received -> processing: a worker has these texts for ``conversation_id``; they are in its transcript."""
        await _set_status(s, ids, InboundStatus.PROCESSING, conversation_id)
        emit(s, MessageAdded(conversation_id, "in"))

    @staticmethod
    async def done(s: AsyncSession, ids: Sequence[int], conversation_id: str | None) -> None:
        """-> processed: handled (answered, in Rasa's turn, or in the counselor's transcript)."""
        await _set_status(s, ids, InboundStatus.PROCESSED, conversation_id)

    @staticmethod
    async def ignore(s: AsyncSession, ids: Sequence[int], conversation_id: str | None) -> None:
        """-> ignored: stored and visible, but nothing may be done with them (opted out, blocked, flooding)."""
        await _set_status(s, ids, InboundStatus.IGNORED, conversation_id)


async def _set_status(s: AsyncSession, ids: Sequence[int], status: InboundStatus, conversation_id: str | None) -> None:
    values: dict = {"status": status.value}
    if status is not InboundStatus.PROCESSING:
        values["done_at"] = utcnow()
    if conversation_id is not None:
        values["conversation_id"] = conversation_id
    await s.execute(
        update(Message).where(Message.id.in_(list(ids))).values(**values).execution_options(synchronize_session=False)
    )
