"""The durable outbox: every text to a texter is a row first, then sent in order, once, with retries. The outbox
owns every outbound status change (pending -> sending -> sent -> delivered | failed | undelivered, unknown while
an attempt may have reached Twilio, held for a texter who opted out) and the delivery events.

One text per texter is in flight at a time (per-texter order). Network errors, 429 and 5xx are retried with
exponential backoff; a 4xx fails at once; a send that timed out after the request left is checked against
Twilio's message list before it is sent again (a POST to the Messages API is not idempotent). STOP and Twilio's
21610 both hold every unsent text for the texter (``hold_for_texter``).

Texts are found by one loop (``bot.sms.dispatch``): the transaction that queues a text says so when it commits,
and the loop leases exactly those rows at once; texts whose send must be retried, or that a stopped gateway left,
are found by the loop's look in the database.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from bot import metrics
from bot.handoff.live import Delivery, MessageAdded, OptedOut, emit
from bot.privacy import Privacy
from bot.sms.dispatch import Dispatcher
from bot.sms.segments import split_message
from bot.sms.twilio_client import OPTED_OUT_CODE, Outcome, Sender
from bot.store.db import Database
from bot.store.models import AuditEvent, Message, OutboundStatus, Texter, utcnow

log = logging.getLogger(__name__)

S = OutboundStatus
UNFINISHED = (S.PENDING.value, S.SENDING.value, S.UNKNOWN.value)
STATUS_RANK = {"queued": 1, "accepted": 1, "sending": 2, "sent": 3, "local": 3, "delivered": 4}
FINAL_FAILURES = (S.FAILED.value, S.UNDELIVERED.value)
NEW_ROWS_KEY = "outbox_new"  # session.info: {texter_id: [message ids]} queued by the transaction


async def enqueue(
    session: AsyncSession,
    *,
    texter_id: int,
    conversation_id: str | None,
    body: str,
    author: str,
    counselor_id: int | None = None,
) -> list[Message]:
    """Add a text to the outbox inside the caller's transaction (a long one becomes several texts); the outbox
    sends it once the transaction commits."""
    rows = [
        Message(
            texter_id=texter_id,
            conversation_id=conversation_id,
            direction="out",
            author=author,
            body=part,
            status=S.PENDING.value,
            counselor_id=counselor_id,
        )
        for part in split_message(body)
    ]
    session.add_all(rows)
    await session.flush()
    session.info.setdefault(NEW_ROWS_KEY, {}).setdefault(texter_id, []).extend(m.id for m in rows)
    if conversation_id is not None:
        emit(session, MessageAdded(conversation_id, "out"))
    return rows


OPT_OUT_CONFIRMATION = "opt_out"  # the author of the one text an opted-out number still gets: its confirmation


async def hold_for_texter(
    session: AsyncSession, texter_id: int, *, source: str, conversation_id: str | None,
    confirmation: str | None = None,
) -> None:
    """The texter opted out (STOP, or Twilio's 21610): mark the number and hold every text not yet sent to it.
    A send already in flight still records what Twilio said; nothing held is ever sent. ``confirmation``, when
    given (a keyword Twilio does not confirm itself), is the one text still sent."""
    await session.execute(
        update(Texter).where(Texter.id == texter_id).values(opted_out=True, opted_out_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Message)
        .where(Message.texter_id == texter_id, Message.direction == "out", Message.status.in_(UNFINISHED))
        .values(status=S.HELD.value, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    session.add(AuditEvent(kind="opted_out", conversation_id=conversation_id, data={"source": source}))
    emit(session, OptedOut(conversation_id))
    if confirmation:
        await enqueue(session, texter_id=texter_id, conversation_id=conversation_id, body=confirmation,
                      author=OPT_OUT_CONFIRMATION)


async def resume_for_texter(session: AsyncSession, texter_id: int) -> None:
    """The texter opted back in (START): texts may be sent again. Held texts stay held (they are stale now)."""
    await session.execute(
        update(Texter).where(Texter.id == texter_id).values(opted_out=False, opted_out_at=None)
        .execution_options(synchronize_session=False)
    )


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
class Batch:
    """Leased texts of one texter on their way out, in order: the rows (``attempts`` already counts this attempt),
    the texter as read with them, and whether an earlier attempt may have reached Twilio (then Twilio is asked
    before sending again)."""

    texter: Texter
    msgs: list[Message]
    may_have_reached_twilio: bool = False


class Outbox:
    """Leases unsent texts (oldest first, one texter at a time) and sends them through the configured sender."""

    def __init__(
        self,
        db: Database,
        privacy: Privacy,
        sender: Sender,
        *,
        status_callback: str | None,
        policy: SendPolicy,
        concurrency: int = 16,
    ) -> None:
        self.db = db
        self.privacy = privacy
        self.sender = sender
        self.status_callback = status_callback
        self.policy = policy
        self.work: Dispatcher[tuple[int, ...], Batch] = Dispatcher(
            self.lease, self._send_batch, concurrency=concurrency, idle_wait=0.5, name="outbox"
        )

    async def committed(self, info: dict[str, Any]) -> None:
        """``Database.on_commit`` hook: texts a committed transaction queued go out now."""
        for ids in (info.pop(NEW_ROWS_KEY, None) or {}).values():
            self.work.hint(tuple(ids))

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; a texter's next text is only leased once the one before it is finished."""
        await self.work.run(stop)

    # ---- leases ----------------------------------------------------------------------------------------------
    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.policy.timeout * 3 + 30)

    async def lease(self, ids: tuple[int, ...] | None) -> Batch | None:
        """Lease the texts ``ids`` (just queued, one texter's, in order) or, when None, the oldest unsent text."""
        return await (self._lease_new(ids) if ids else self._lease_next())

    async def _lease_new(self, ids: tuple[int, ...]) -> Batch | None:
        """One compare-and-set: the rows, still pending and unleased, with no earlier unsent text of their
        texter (that one goes first: the loop's look finds it, and these after it); then the rows and texter."""
        now = utcnow()
        until = self._lease_until(now)
        earlier = aliased(Message)
        blocked = exists().where(
            earlier.texter_id == Message.texter_id, earlier.direction == "out",
            earlier.status.in_(UNFINISHED), earlier.id < ids[0],
        )
        async with self.db.transaction() as s:
            result = await s.execute(
                update(Message)
                .where(Message.id.in_(ids), Message.status == S.PENDING.value, Message.lease_until.is_(None), ~blocked)
                .values(lease_until=until, status=S.SENDING.value, attempts=Message.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != len(ids):
                if result.rowcount:  # some were taken meanwhile: give these back, the loop's look sends all in order
                    await s.execute(
                        update(Message)
                        .where(Message.id.in_(ids), Message.status == S.SENDING.value, Message.lease_until == until)
                        .values(status=S.PENDING.value, lease_until=None, attempts=Message.attempts - 1)
                        .execution_options(synchronize_session=False)
                    )
                return None
            rows = (await s.execute(
                select(Message, Texter).join(Texter, Texter.id == Message.texter_id)
                .where(Message.id.in_(ids)).order_by(Message.id)
            )).all()
        return Batch(rows[0][1], [row[0] for row in rows])

    async def _lease_next(self) -> Batch | None:
        now = utcnow()
        if self.db.postgres:
            async with self.db.transaction() as s:
                row = (await s.execute(
                    _NEXT_UNSENT.with_for_update(of=Message, skip_locked=True), {"now": now})).first()
                return self._batch(row) if row is not None and await self._take(s, row[0], now) else None
        # SQLite: look without holding the write lock; the take is a compare-and-set.
        async with self.db.session() as s:
            row = (await s.execute(_NEXT_UNSENT, {"now": now})).first()
        if row is None:
            return None
        async with self.db.transaction() as s:
            return self._batch(row) if await self._take(s, row[0], now) else None

    @staticmethod
    def _batch(row: Any) -> Batch:
        msg, texter = row[0], row[1]
        batch = Batch(texter, [msg], may_have_reached_twilio=msg.status in (S.SENDING.value, S.UNKNOWN.value))
        msg.attempts += 1  # as _take counted it in the database
        return batch

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
            .values(lease_until=self._lease_until(now), status=S.SENDING.value, attempts=Message.attempts + 1)
            # Leave ``msg`` as read: on PostgreSQL it lives in this session, and the ORM would otherwise copy
            # "sending" onto it (``_batch`` decides on the status read).
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    # ---- sending ---------------------------------------------------------------------------------------------
    async def _send_batch(self, batch: Batch) -> None:
        for i, msg in enumerate(batch.msgs):
            first = i == 0
            try:
                sent = await self.send_one(
                    batch.texter, msg, may_have_reached_twilio=first and batch.may_have_reached_twilio
                )
            except Exception:
                log.exception("outbox: sending %s failed unexpectedly", msg.id)
                await self._retry(msg, status=S.UNKNOWN, error_code=None)
                sent = False
            if not sent:
                # Not sent (a retry is scheduled, it failed, or the number opted out): the rest wait their turn
                # behind it, found by the loop's look.
                await self._release([m.id for m in batch.msgs[i + 1:]])
                return

    async def send_one(self, texter: Texter, msg: Message, *, may_have_reached_twilio: bool) -> bool:
        """One attempt at one leased text, and the bookkeeping for its outcome; True when Twilio took it."""
        if texter.opted_out and msg.author != OPT_OUT_CONFIRMATION:
            await self._finish(msg, S.HELD)
            return False
        phone = self.privacy.decrypt(texter.phone_enc)
        if may_have_reached_twilio:
            try:
                sid = await self.sender.find_sent(phone, msg.body, msg.created_at)
            except ConnectionError:
                await self._retry(msg, status=S.UNKNOWN, error_code=None)
                return False
            if sid:
                await self._finish(msg, S.SENT, sid=sid)
                return True
        result = await self.sender.send(phone, msg.body, self.status_callback)
        if result.outcome is Outcome.SENT:
            await self._finish(msg, S.LOCAL if result.status == "local" else S.SENT, sid=result.sid)
            return True
        if result.outcome is Outcome.OPTED_OUT:
            await self._opted_out(msg)
        elif result.outcome is Outcome.FAILED:
            await self._finish(msg, S.FAILED, error_code=result.error_code)
        else:
            status = S.UNKNOWN if result.outcome is Outcome.AMBIGUOUS else S.PENDING
            await self._retry(msg, status=status, error_code=result.error_code)
        return False

    # ---- transitions -----------------------------------------------------------------------------------------
    async def _release(self, ids: Sequence[int]) -> None:
        """sending -> pending for leased texts that were not attempted (the loop takes them again in order)."""
        if not ids:
            return
        async with self.db.transaction() as s:
            await s.execute(
                update(Message)
                .where(Message.id.in_(list(ids)), Message.status == S.SENDING.value)
                .values(status=S.PENDING.value, attempts=Message.attempts - 1, lease_until=None)
                .execution_options(synchronize_session=False)
            )
        self.work.wake.set()

    async def _retry(self, msg: Message, *, status: OutboundStatus, error_code: int | None) -> None:
        """-> pending / unknown with a backoff, or failed after the last attempt. Never undoes a hold."""
        if msg.attempts >= self.policy.max_attempts:
            await self._finish(msg, S.FAILED, error_code=error_code)
            return
        log.info("outbound %s: will retry (%s, attempt %s)", msg.id, status.value, msg.attempts)
        metrics.send_failed(error_code)
        async with self.db.transaction() as s:
            await s.execute(
                update(Message)
                .where(Message.id == msg.id, Message.status == S.SENDING.value)
                .values(status=status.value, error_code=error_code, lease_until=None,
                        next_attempt_at=utcnow() + self.policy.backoff(msg.attempts))
                .execution_options(synchronize_session=False)
            )

    async def _finish(self, msg: Message, status: OutboundStatus, *, sid: str | None = None,
                      error_code: int | None = None) -> None:
        """-> sent / local / failed / held: this attempt's final word."""
        values: dict = {"status": status.value, "lease_until": None, "done_at": utcnow(), "error_code": error_code}
        if sid:
            values["twilio_sid"] = sid
        async with self.db.transaction() as s:
            await s.execute(update(Message).where(Message.id == msg.id).values(**values)
                            .execution_options(synchronize_session=False))
            if status is S.FAILED:
                s.add(AuditEvent(kind="delivery_failed", conversation_id=msg.conversation_id,
                                 data={"message_id": msg.id, "error_code": error_code}))
            if msg.conversation_id:
                emit(s, Delivery(msg.conversation_id, msg.id, status.value, error_code))
        if status is S.FAILED:
            log.warning("outbound %s failed (error %s)", msg.id, error_code)
            metrics.send_failed(error_code)

    async def _opted_out(self, msg: Message) -> None:
        """Twilio said 21610 (the number texted STOP to the carrier): the same hold as our own STOP."""
        async with self.db.transaction() as s:
            await hold_for_texter(s, msg.texter_id, source=str(OPTED_OUT_CODE), conversation_id=msg.conversation_id)
            await s.execute(update(Message).where(Message.id == msg.id)
                            .values(status=S.FAILED.value, error_code=OPTED_OUT_CODE, done_at=utcnow())
                            .execution_options(synchronize_session=False))
            if msg.conversation_id:
                emit(s, Delivery(msg.conversation_id, msg.id, S.FAILED.value, OPTED_OUT_CODE))

    async def record_status(self, sid: str, status: str, error_code: int | None) -> Message | None:
        """Apply a delivery status callback; statuses only move forward, failures are final."""
        async with self.db.transaction(urgent=True) as s:  # Twilio waits for the answer
            msg = await s.scalar(select(Message).where(Message.twilio_sid == sid, Message.direction == "out"))
            if msg is None:
                return None
            if msg.status in FINAL_FAILURES or msg.status == S.DELIVERED.value:
                return msg
            if status in FINAL_FAILURES or STATUS_RANK.get(status, 0) > STATUS_RANK.get(msg.status, 0):
                msg.status = status
                msg.error_code = error_code
                if status in FINAL_FAILURES:
                    s.add(AuditEvent(kind="delivery_failed", conversation_id=msg.conversation_id,
                                     data={"message_id": msg.id, "error_code": error_code}))
                if msg.conversation_id:
                    emit(s, Delivery(msg.conversation_id, msg.id, status, error_code))
            return msg
