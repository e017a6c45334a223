"""The durable inbox: store each inbound text before the webhook answers, and hand texters to workers.

A texter is leased to one worker at a time (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several gateways
share the work), which keeps each texter's texts in order. A lease that expires (a crashed worker) is taken over,
so a restart resumes whatever was stored but not yet handled.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.privacy import Privacy
from bot.store.db import Database
from bot.store.models import Message, Texter, utcnow

LEASE = timedelta(seconds=60)
KNOWN_TEXTERS = 10_000  # texter ids remembered by the webhook (a few hundred kB)
LAST_SEEN_EVERY = 60.0  # seconds: texters.last_seen_at is written at most this often per texter
# "processing": a worker took the text but had not finished when it stopped; it is handled again.
UNHANDLED = ("received", "processing")


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
class Received:
    message_id: int
    texter_id: int
    duplicate: bool


class Inbox:
    """Stores inbound texts exactly once and leases texters with unhandled texts to workers."""

    def __init__(self, db: Database, privacy: Privacy, owner: str) -> None:
        self.db = db
        self.privacy = privacy
        self.owner = owner
        # Texter ids by keyed phone hash (texter rows are never deleted), with when last_seen_at was last written:
        # storing a text from a known texter is then a single INSERT while Twilio waits for the answer.
        self._known: OrderedDict[str, tuple[int, float]] = OrderedDict()

    async def receive(self, text: InboundText) -> Received:
        """Store the text (and its texter) in one transaction. A MessageSid seen before is a duplicate."""
        phone_hash = self.privacy.hash_phone(text.phone)
        known = self._known.get(phone_hash)
        try:
            # A MessageSid seen before fails the insert below (it is unique): no lookup first, new texts are the
            # common case.
            async with self.db.transaction(urgent=True) as s:
                now = time.monotonic()
                if known is None:
                    texter = await s.scalar(select(Texter).where(Texter.phone_hash == phone_hash))
                    if texter is None:
                        texter = Texter(phone_hash=phone_hash, phone_enc=self.privacy.encrypt(text.phone))
                        s.add(texter)
                    texter.last_seen_at = utcnow()
                    await s.flush()
                    texter_id, seen = texter.id, now
                else:
                    texter_id, seen = known
                    if now - seen > LAST_SEEN_EVERY:
                        await s.execute(update(Texter).where(Texter.id == texter_id).values(last_seen_at=utcnow()))
                        seen = now
                msg = Message(
                    texter_id=texter_id,
                    direction="in",
                    author="texter",
                    body=text.body,
                    num_media=text.num_media,
                    twilio_sid=text.sid,
                    status="received",
                )
                s.add(msg)
                await s.flush()
            self._remember(phone_hash, texter_id, seen)
            return Received(msg.id, texter_id, duplicate=False)
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
            return await self.receive(text)  # the texter row raced; the text itself is new

    def _remember(self, phone_hash: str, texter_id: int, seen: float) -> None:
        self._known[phone_hash] = (texter_id, seen)
        self._known.move_to_end(phone_hash)
        if len(self._known) > KNOWN_TEXTERS:
            self._known.popitem(last=False)

    async def lease_next_texter(self) -> int | None:
        """Lease one texter who has unhandled texts, oldest text first; None when there is no work."""
        now = utcnow()
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
                texter_id = await s.scalar(query.with_for_update(of=Texter, skip_locked=True))
                return texter_id if texter_id is not None and await self._take(s, texter_id, now) else None
        # SQLite: look without holding the write lock (idle workers look often); the take is a compare-and-set.
        async with self.db.session() as s:
            texter_id = await s.scalar(query)
        if texter_id is None:
            return None
        async with self.db.transaction() as s:
            return texter_id if await self._take(s, texter_id, now) else None

    async def lease_texter(self, texter_id: int) -> bool:
        """Lease this texter now if nobody holds them (an urgent text: see Gateway.expedite)."""
        async with self.db.transaction() as s:
            return await self._take(s, texter_id, utcnow())

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

    async def release_if_done(self, texter_id: int) -> bool:
        """Give the texter's lease back unless a text of theirs is still unhandled; True when this worker is done
        with the texter (released, or the lease was lost to another worker), False when there is more to do.
        One statement checks and releases, so a text stored meanwhile is never left behind a released lease."""
        unhandled = exists().where(
            Message.texter_id == texter_id, Message.direction == "in", Message.status.in_(UNHANDLED)
        )
        async with self.db.transaction() as s:
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
