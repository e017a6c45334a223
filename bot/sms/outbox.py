"""The durable outbox: every text to a texter is a row first, then sent in order, once, with retries.

One text per texter is in flight at a time (per-texter order). Network errors, 429 and 5xx are retried with
exponential backoff; a 4xx fails at once; a send that timed out after the request left is checked against
Twilio's message list before it is sent again (a POST to the Messages API is not idempotent); 21610 marks the
number opted out and holds everything else for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.privacy import Privacy
from bot.sms.segments import split_message
from bot.sms.twilio_client import Outcome, Sender
from bot.store.db import Database
from bot.store.models import AuditEvent, Message, Texter, utcnow

log = logging.getLogger(__name__)

UNFINISHED = ("pending", "sending", "unknown")
STATUS_RANK = {"queued": 1, "accepted": 1, "sending": 2, "sent": 3, "local": 3, "delivered": 4}
FINAL_FAILURES = ("failed", "undelivered")


async def enqueue(
    session: AsyncSession,
    *,
    texter_id: int,
    conversation_id: str | None,
    body: str,
    author: str,
    counselor_id: int | None = None,
) -> list[Message]:
    """Add a reply to the outbox inside the caller's transaction; a long one becomes several texts."""
    rows = [
        Message(
            texter_id=texter_id,
            conversation_id=conversation_id,
            direction="out",
            author=author,
            body=part,
            status="pending",
            counselor_id=counselor_id,
        )
        for part in split_message(body)
    ]
    session.add_all(rows)
    await session.flush()
    return rows


@dataclass
class SendPolicy:
    timeout: float = 10.0
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0

    def backoff(self, attempts: int) -> timedelta:
        delay = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return timedelta(seconds=delay * (0.75 + random.random() / 2))


class Outbox:
    """Leases unsent texts (oldest first, one per texter) and sends them through the configured sender."""

    def __init__(
        self,
        db: Database,
        privacy: Privacy,
        sender: Sender,
        *,
        status_callback: str | None,
        policy: SendPolicy,
        on_change: Callable[[dict], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.privacy = privacy
        self.sender = sender
        self.status_callback = status_callback
        self.policy = policy
        self.on_change = on_change
        self.wake = asyncio.Event()

    async def lease_next(self) -> Message | None:
        now = utcnow()
        earlier = aliased(Message)
        blocked_by_earlier = exists().where(
            and_(
                earlier.texter_id == Message.texter_id,
                earlier.direction == "out",
                earlier.status.in_(UNFINISHED),
                earlier.id < Message.id,
            )
        )
        async with self.db.transaction() as s:
            query = (
                select(Message)
                .where(
                    Message.direction == "out",
                    Message.status.in_(UNFINISHED),
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                    or_(Message.lease_until.is_(None), Message.lease_until < now),
                    ~blocked_by_earlier,
                )
                .order_by(Message.id)
                .limit(1)
            )
            if self.db.postgres:
                query = query.with_for_update(of=Message, skip_locked=True)
            msg = await s.scalar(query)
            if msg is None:
                return None
            lease = timedelta(seconds=self.policy.timeout * 3 + 30)
            result = await s.execute(
                update(Message)
                .where(Message.id == msg.id, or_(Message.lease_until.is_(None), Message.lease_until < now))
                .values(lease_until=now + lease)
            )
            return msg if result.rowcount == 1 else None

    async def send_one(self, msg: Message) -> None:
        """One attempt at one leased text, and the bookkeeping for its outcome."""
        async with self.db.session() as s:
            texter = await s.get(Texter, msg.texter_id)
        if texter is None or texter.opted_out:
            await self._finish(msg, status="held")
            return
        phone = self.privacy.decrypt(texter.phone_enc)
        if msg.status in ("sending", "unknown"):
            # An earlier attempt may have reached Twilio: look before sending again.
            try:
                sid = await self.sender.find_sent(phone, msg.body, msg.created_at)
            except ConnectionError:
                await self._retry(msg, status="unknown", error_code=None)
                return
            if sid:
                await self._finish(msg, status="sent", sid=sid)
                return
        await self._mark(msg, status="sending", attempts=msg.attempts + 1)
        msg.attempts += 1
        result = await self.sender.send(phone, msg.body, self.status_callback)
        if result.outcome is Outcome.SENT:
            await self._finish(msg, status=result.status if result.status == "local" else "sent", sid=result.sid)
        elif result.outcome is Outcome.OPTED_OUT:
            await self._opted_out(msg)
        elif result.outcome is Outcome.FAILED:
            await self._finish(msg, status="failed", error_code=result.error_code)
        else:
            status = "unknown" if result.outcome is Outcome.AMBIGUOUS else "pending"
            await self._retry(msg, status=status, error_code=result.error_code)

    async def _mark(self, msg: Message, **values) -> None:
        async with self.db.transaction() as s:
            await s.execute(update(Message).where(Message.id == msg.id).values(**values))

    async def _retry(self, msg: Message, *, status: str, error_code: int | None) -> None:
        if msg.attempts >= self.policy.max_attempts:
            await self._finish(msg, status="failed", error_code=error_code)
            return
        log.info("outbound %s: will retry (%s, attempt %s)", msg.id, status, msg.attempts)
        await self._mark(
            msg,
            status=status,
            error_code=error_code,
            lease_until=None,
            next_attempt_at=utcnow() + self.policy.backoff(msg.attempts),
        )

    async def _finish(self, msg: Message, *, status: str, sid: str | None = None, error_code: int | None = None):
        values: dict = {"status": status, "lease_until": None, "done_at": utcnow(), "error_code": error_code}
        if sid:
            values["twilio_sid"] = sid
        async with self.db.transaction() as s:
            await s.execute(update(Message).where(Message.id == msg.id).values(**values))
            if status == "failed":
                s.add(
                    AuditEvent(
                        kind="delivery_failed",
                        conversation_id=msg.conversation_id,
                        data={"message_id": msg.id, "error_code": error_code},
                    )
                )
        if status == "failed":
            log.warning("outbound %s failed (error %s)", msg.id, error_code)
        await self._changed(msg, status, error_code)

    async def _opted_out(self, msg: Message) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                update(Texter).where(Texter.id == msg.texter_id).values(opted_out=True, opted_out_at=utcnow())
            )
            await s.execute(
                update(Message)
                .where(Message.texter_id == msg.texter_id, Message.direction == "out", Message.status.in_(UNFINISHED))
                .values(status="held", lease_until=None)
            )
            await s.execute(update(Message).where(Message.id == msg.id).values(status="failed", error_code=21610))
            s.add(AuditEvent(kind="opted_out", conversation_id=msg.conversation_id, data={"source": "21610"}))
        await self._changed(msg, "failed", 21610)

    async def _changed(self, msg: Message, status: str, error_code: int | None) -> None:
        if self.on_change and msg.conversation_id:
            await self.on_change(
                {
                    "type": "delivery",
                    "conversation_id": msg.conversation_id,
                    "message_id": msg.id,
                    "status": status,
                    "error_code": error_code,
                }
            )

    async def run(self, stop: asyncio.Event, concurrency: int = 4) -> None:
        """Send until ``stop`` is set; several senders share the work, each texter's texts stay in order."""
        await asyncio.gather(*(self._worker(stop) for _ in range(concurrency)))

    async def _worker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                msg = await self.lease_next()
            except Exception:  # the database blipped: keep the worker alive
                log.exception("outbox: lease failed")
                msg = None
                await asyncio.sleep(1)
            if msg is None:
                self.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=0.5)
                continue
            try:
                await self.send_one(msg)
            except Exception:
                log.exception("outbox: sending %s failed unexpectedly", msg.id)
                await self._retry(msg, status="unknown", error_code=None)
            self.wake.set()  # others may now be unblocked (the next text of this texter)


async def record_status(db: Database, sid: str, status: str, error_code: int | None) -> Message | None:
    """Apply a delivery status callback; statuses only move forward, failures are final."""
    async with db.transaction() as s:
        msg = await s.scalar(select(Message).where(Message.twilio_sid == sid, Message.direction == "out"))
        if msg is None:
            return None
        if msg.status in FINAL_FAILURES or msg.status == "delivered":
            return msg
        if status in FINAL_FAILURES or STATUS_RANK.get(status, 0) > STATUS_RANK.get(msg.status, 0):
            msg.status = status
            msg.error_code = error_code
            if status in FINAL_FAILURES:
                s.add(
                    AuditEvent(
                        kind="delivery_failed",
                        conversation_id=msg.conversation_id,
                        data={"message_id": msg.id, "error_code": error_code},
                    )
                )
        return msg
