"""The durable outbox: every text to a texter is a row first, then sent in order, once, with retries.

One text per texter is in flight at a time (per-texter order). Network errors, 429 and 5xx are retried with
exponential backoff; a 4xx fails at once; a send that timed out after the request left is checked against
Twilio's message list before it is sent again (a POST to the Messages API is not idempotent); 21610 marks the
number opted out and holds everything else for it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from bot.privacy import Privacy
from bot.sms.dispatch import lease_and_dispatch
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


def _next_unsent_query() -> Select:
    """The oldest unsent text whose texter has no earlier text still unsent, with its texter (the number to send
    to, opted out or not). Built once: building it costs more than running it."""
    now = bindparam("now", type_=DateTime)
    earlier = aliased(Message)
    blocked_by_earlier = exists().where(
        and_(
            earlier.texter_id == Message.texter_id,
            earlier.direction == "out",
            earlier.status.in_(UNFINISHED),
            earlier.id < Message.id,
        )
    )
    return (
        select(Message, Texter)
        .join(Texter, Texter.id == Message.texter_id)
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


_NEXT_UNSENT = _next_unsent_query()


@dataclass
class Attempt:
    """One leased text on its way out: the row (``attempts`` already counts this attempt), its texter as read with
    it, and whether an earlier attempt may have reached Twilio (then Twilio is asked before sending again)."""

    msg: Message
    texter: Texter
    may_have_reached_twilio: bool


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
        self._direct: set[asyncio.Task] = set()  # send_now's sends in progress

    async def lease_next(self) -> Attempt | None:
        now = utcnow()
        if self.db.postgres:
            async with self.db.transaction() as s:
                row = (await s.execute(
                    _NEXT_UNSENT.with_for_update(of=Message, skip_locked=True), {"now": now})).first()
                return self._attempt(row) if row is not None and await self._take(s, row[0], now) else None
        # SQLite: look without holding the write lock; the take is a compare-and-set.
        async with self.db.session() as s:
            row = (await s.execute(_NEXT_UNSENT, {"now": now})).first()
        if row is None:
            return None
        async with self.db.transaction() as s:
            return self._attempt(row) if await self._take(s, row[0], now) else None

    @staticmethod
    def _attempt(row: Any) -> Attempt:
        msg, texter = row[0], row[1]
        attempt = Attempt(msg, texter, may_have_reached_twilio=msg.status in ("sending", "unknown"))
        msg.attempts += 1  # as _take counted it in the database
        return attempt

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.policy.timeout * 3 + 30)

    async def _take(self, s: AsyncSession, msg: Message, now: datetime) -> bool:
        """Lease ``msg`` if it is still as it was read: unleased, same status, same attempt count."""
        result = await s.execute(
            update(Message)
            .where(
                Message.id == msg.id,
                Message.status == msg.status,
                Message.attempts == msg.attempts,
                or_(Message.lease_until.is_(None), Message.lease_until < now),
            )
            # Marked "sending" at once: from here on an attempt may reach Twilio, so a retry looks before sending.
            .values(lease_until=self._lease_until(now), status="sending", attempts=Message.attempts + 1)
            # Leave ``msg`` as read: on PostgreSQL it lives in this session, and the ORM would otherwise copy
            # "sending" onto it (``_attempt`` decides on the status read).
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    async def take_new(self, s: AsyncSession, texter_id: int, rows: list[Message]) -> bool:
        """In the transaction that just queued ``rows`` (one texter's, in order): lease them to this process, so
        ``send_now`` sends them the moment it commits, without the outbox loop's look-and-lease round trips.
        Not when an earlier text to this texter is still unsent (it must go first: the loop keeps the order).
        If this process stops before sending, the lease runs out and the loop sends them, asking Twilio first."""
        if not rows:
            return False
        earlier = await s.scalar(
            select(Message.id)
            .where(
                Message.texter_id == texter_id,
                Message.direction == "out",
                Message.status.in_(UNFINISHED),
                Message.id < rows[0].id,
            )
            .limit(1)
        )
        if earlier is not None:
            return False
        await s.execute(
            update(Message)
            .where(Message.id.in_([m.id for m in rows]))
            .values(lease_until=self._lease_until(utcnow()), status="sending", attempts=1)
            .execution_options(synchronize_session=False)
        )
        for msg in rows:
            msg.attempts = 1
        return True

    def send_now(self, texter: Texter, rows: list[Message]) -> None:
        """Send rows leased by ``take_new`` (after their transaction committed), in order, in the background."""
        task = asyncio.create_task(self._send_in_order(texter, rows))
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)

    async def _send_in_order(self, texter: Texter, rows: list[Message]) -> None:
        for i, msg in enumerate(rows):
            if not await self._send(Attempt(msg, texter, may_have_reached_twilio=False)):
                # Not sent (a retry is scheduled, it failed, or the number opted out): the rest wait their turn
                # in the outbox loop, behind it.
                await self._release([m.id for m in rows[i + 1:]])
                return

    async def _release(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self.db.transaction() as s:
            await s.execute(
                update(Message)
                .where(Message.id.in_(ids), Message.status == "sending")
                .values(status="pending", attempts=0, lease_until=None)
            )
        self.wake.set()

    async def send_one(self, attempt: Attempt) -> bool:
        """One attempt at one leased text, and the bookkeeping for its outcome; True when Twilio took it."""
        msg, texter = attempt.msg, attempt.texter
        if texter.opted_out:
            await self._finish(msg, status="held")
            return False
        phone = self.privacy.decrypt(texter.phone_enc)
        if attempt.may_have_reached_twilio:
            try:
                sid = await self.sender.find_sent(phone, msg.body, msg.created_at)
            except ConnectionError:
                await self._retry(msg, status="unknown", error_code=None)
                return False
            if sid:
                await self._finish(msg, status="sent", sid=sid)
                return True
        result = await self.sender.send(phone, msg.body, self.status_callback)
        if result.outcome is Outcome.SENT:
            await self._finish(msg, status=result.status if result.status == "local" else "sent", sid=result.sid)
            return True
        if result.outcome is Outcome.OPTED_OUT:
            await self._opted_out(msg)
        elif result.outcome is Outcome.FAILED:
            await self._finish(msg, status="failed", error_code=result.error_code)
        else:
            status = "unknown" if result.outcome is Outcome.AMBIGUOUS else "pending"
            await self._retry(msg, status=status, error_code=result.error_code)
        return False

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

    async def run(self, stop: asyncio.Event, concurrency: int = 16) -> None:
        """Send until ``stop`` is set, up to ``concurrency`` texts at once; a texter's next text is only leased
        once the one before it is finished, so each texter's texts stay in order."""
        try:
            await lease_and_dispatch(
                self.lease_next, self._send, wake=self.wake, stop=stop, concurrency=concurrency, idle_wait=0.5,
                name="outbox",
            )
        except asyncio.CancelledError:
            for task in self._direct:
                task.cancel()
            raise
        finally:
            if self._direct:
                await asyncio.gather(*self._direct, return_exceptions=True)

    async def _send(self, attempt: Attempt) -> bool:
        try:
            return await self.send_one(attempt)
        except Exception:
            log.exception("outbox: sending %s failed unexpectedly", attempt.msg.id)
            await self._retry(attempt.msg, status="unknown", error_code=None)
            return False


async def record_status(db: Database, sid: str, status: str, error_code: int | None) -> Message | None:
    """Apply a delivery status callback; statuses only move forward, failures are final."""
    async with db.transaction(urgent=True) as s:  # Twilio waits for the answer
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
