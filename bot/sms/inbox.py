"""The durable inbox: store each inbound text before the webhook answers, and hand texters to workers.

A texter is leased to one worker at a time (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several gateways
share the work), which keeps each texter's texts in order. A lease that expires (a crashed worker) is taken over,
so a restart resumes whatever was stored but not yet handled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.privacy import Privacy
from bot.store.db import Database
from bot.store.models import Message, Texter, utcnow

LEASE = timedelta(seconds=60)
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

    async def receive(self, text: InboundText) -> Received:
        """Store the text (and its texter) in one transaction. A MessageSid seen before is a duplicate."""
        phone_hash = self.privacy.hash_phone(text.phone)
        try:
            async with self.db.transaction() as s:
                existing = await s.scalar(select(Message.id).where(Message.twilio_sid == text.sid))
                if existing is not None:
                    texter_id = await s.scalar(select(Message.texter_id).where(Message.id == existing))
                    return Received(existing, texter_id, duplicate=True)
                texter = await s.scalar(select(Texter).where(Texter.phone_hash == phone_hash))
                if texter is None:
                    texter = Texter(phone_hash=phone_hash, phone_enc=self.privacy.encrypt(text.phone))
                    s.add(texter)
                    await s.flush()
                texter.last_seen_at = utcnow()
                msg = Message(
                    texter_id=texter.id,
                    direction="in",
                    author="texter",
                    body=text.body,
                    num_media=text.num_media,
                    twilio_sid=text.sid,
                    status="received",
                )
                s.add(msg)
                await s.flush()
                return Received(msg.id, texter.id, duplicate=False)
        except IntegrityError:
            # A concurrent request (another gateway, Twilio's fallback URL) stored the same sid or texter first.
            async with self.db.session() as s:
                row = (
                    await s.execute(select(Message.id, Message.texter_id).where(Message.twilio_sid == text.sid))
                ).first()
            if row is not None:
                return Received(row[0], row[1], duplicate=True)
            return await self.receive(text)  # the texter row raced; the text itself is new

    async def lease_next_texter(self) -> int | None:
        """Lease one texter who has unhandled texts, oldest text first; None when there is no work."""
        now = utcnow()
        free = or_(Texter.lease_until.is_(None), Texter.lease_until < now)
        async with self.db.transaction() as s:
            query = (
                select(Texter.id)
                .join(Message, Message.texter_id == Texter.id)
                .where(Message.direction == "in", Message.status.in_(UNHANDLED), free)
                .order_by(Message.id)
                .limit(1)
            )
            if self.db.postgres:
                query = query.with_for_update(of=Texter, skip_locked=True)
            texter_id = await s.scalar(query)
            if texter_id is None:
                return None
            result = await s.execute(
                update(Texter)
                .where(Texter.id == texter_id, free)
                .values(lease_owner=self.owner, lease_until=now + LEASE)
            )
            return texter_id if result.rowcount == 1 else None

    async def renew(self, texter_id: int) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                update(Texter)
                .where(Texter.id == texter_id, Texter.lease_owner == self.owner)
                .values(lease_until=utcnow() + LEASE)
            )

    async def release(self, texter_id: int) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                update(Texter)
                .where(Texter.id == texter_id, Texter.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

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
