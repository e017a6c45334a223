"""Routing of stored texts: keywords, opt-out, abuse limits, intake through Rasa, or the counselor's transcript.

One texter at a time (the inbox leases texters), texts in the order they arrived. Texts that piled up while the
previous turn ran are merged into one turn, so the bot does not answer each fragment. When Rasa fails, the
conversation fails open: the texter is told a counselor is coming and the in-process triage scores the queue entry.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.gateway.rasa import RasaClient, RasaUnavailable
from bot.handoff import queue
from bot.handoff.context import HandoffContext, build_context
from bot.handoff.live import LiveHub, queue_event
from bot.settings import Settings
from bot.sms import outbox, replies
from bot.sms.inbox import LEASE, Inbox
from bot.sms.keywords import Keyword, classify
from bot.sms.outbox import Outbox
from bot.store.db import Database
from bot.store.models import AuditEvent, Conversation, Message, RateCounter, Texter, utcnow
from bot.triage import assess

log = logging.getLogger(__name__)

MAX_RASA_CHARS = 2000
NOTICE_INTERVAL = timedelta(hours=1)
RENEW_AFTER = LEASE.total_seconds() / 3


def new_conversation_id() -> str:
    return "c_" + secrets.token_hex(8)


class Router:
    """Handles every stored text of one leased texter."""

    def __init__(
        self,
        db: Database,
        inbox: Inbox,
        rasa: RasaClient,
        hub: LiveHub,
        settings: Settings,
        aging: queue.AgingRule,
        outbox: Outbox,
    ) -> None:
        self.db = db
        self.inbox = inbox
        self.rasa = rasa
        self.hub = hub
        self.settings = settings
        self.aging = aging
        self.outbox = outbox

    async def handle_texter(self, texter_id: int) -> None:
        """Handle the leased texter's texts until none is left, then give the lease back."""
        renewed = time.monotonic()  # the lease was just taken
        if self.settings.merge_window > 0:
            await asyncio.sleep(self.settings.merge_window)
        while True:
            for batch in _batches(await self.inbox.pending(texter_id)):
                await self._turn(texter_id, batch)
                if time.monotonic() - renewed > RENEW_AFTER:  # a write per turn only when the lease runs low
                    await self.inbox.renew(texter_id)
                    renewed = time.monotonic()
            if await self.inbox.release_if_done(texter_id):
                return

    async def _turn(self, texter_id: int, msgs: list[Message]) -> None:
        ids = [m.id for m in msgs]
        text = " ".join(m.body.strip() for m in msgs if m.body.strip())
        media = sum(m.num_media for m in msgs)
        events: list[dict] = []
        async with self.db.transaction() as s:
            texter = await s.get(Texter, texter_id)
            conv = await _open_conversation(s, texter_id)
            keyword = classify(text, opted_out=texter.opted_out) if len(msgs) == 1 else None

            if keyword is Keyword.OPT_OUT:
                await self._opt_out(s, texter, conv, ids)
                events.append({"type": "opted_out", "conversation_id": conv.id if conv else None})
                await self._publish(events)
                return
            if keyword is Keyword.OPT_IN:
                texter.opted_out = False
                texter.opted_out_at = None
                await self._reply(s, texter, conv, replies.OPTED_IN)
                await _mark(s, ids, "processed", conv)
                return
            if texter.opted_out:
                await _mark(s, ids, "ignored", conv)  # stored and visible, but nothing may be sent
                return
            if keyword is Keyword.HELP:
                await self._reply(s, texter, conv, replies.HELP)
                await _mark(s, ids, "processed", conv)
                return
            if texter.blocked or await self._flooding(s, texter, len(msgs)):
                await self._notice_once(s, texter, conv, replies.BLOCKED if texter.blocked else replies.RATE_LIMITED)
                await _mark(s, ids, "ignored", conv)
                return

            if conv is None:
                conv = Conversation(id=new_conversation_id(), texter_id=texter_id, state="intake")
                s.add(conv)
                await s.flush()
                events.append({"type": "conversation", "conversation_id": conv.id, "state": "intake"})
            conv.last_inbound_at = utcnow()
            await _mark(s, ids, "processing", conv)
            events.append({"type": "message", "conversation_id": conv.id, "direction": "in"})
            if media and not text:
                await self._reply(s, texter, conv, replies.MEDIA_ONLY)

            if conv.state == "intake" and text and await self._imminent_now(s, texter, conv, events):
                await _mark(s, ids, "processed", conv)
                await self._publish(events)
                return
            if conv.state != "intake":
                rose = await queue.rescore(s, conv)
                await _mark(s, ids, "processed", conv)
                if rose:
                    events.append(queue_event(conv))
                    await self._alert_if_urgent(s, conv, events)
                await self._publish(events)
                return
            conv_id = conv.id

        if not text:  # media only, during intake: the kind reply above is the whole turn
            async with self.db.transaction() as s:
                await _mark(s, ids, "processed", None)
            await self._publish(events)
            return

        try:
            reply = await self.rasa.turn(conv_id, for_rasa(text), {"message_ids": ids})
        except RasaUnavailable as exc:
            log.warning("conversation %s: Rasa unavailable (%s), failing open to the queue", conv_id, exc)
            await self._fail_open(texter_id, conv_id, ids, events)
            return

        queued: list[Message] = []  # the bot's texts, sent the moment this transaction commits
        async with self.db.transaction() as s:
            conv = await s.get(Conversation, conv_id)  # loads its texter too (joined), so the next get is free
            texter = await s.get(Texter, texter_id)
            for bot_text in reply.texts:
                await self._reply(s, texter, conv, bot_text, author="bot", queued=queued)
            if reply.handoff is not None and conv.state == "intake":
                await self._handoff(s, texter, conv, HandoffContext.from_dict(reply.handoff), events, queued=queued)
            await _mark(s, ids, "processed", conv)
            direct = await self.outbox.take_new(s, texter_id, queued)
        if direct:
            self.outbox.send_now(texter, queued)
        elif queued:
            self.outbox.wake.set()
        await self._publish(events)

    async def _imminent_now(
        self, s: AsyncSession, texter: Texter, conv: Conversation, events: list[dict]
    ) -> bool:
        """Imminent risk in the texter's own words ends the intake here, without waiting for Rasa's turn: the
        gateway's triage is the same library the actions score with, so Rasa would decide the same, only later
        (seconds, when it is busy). The counselor's card is built from the texts; answers given so far are in
        the transcript."""
        texts = await queue.texter_texts(s, conv.id)
        if assess(texts).level != "imminent":
            return False
        await self._reply(s, texter, conv, replies.IMMINENT)
        await self._handoff(s, texter, conv, build_context("imminent", {}, texts), events, tell_position=False)
        return True

    async def _fail_open(self, texter_id: int, conv_id: str, ids: list[int], events: list[dict]) -> None:
        async with self.db.transaction() as s:
            texter = await s.get(Texter, texter_id)
            conv = await s.get(Conversation, conv_id)
            if conv.state == "intake":
                texts = await queue.texter_texts(s, conv.id)
                ctx = build_context("fallback", {}, texts)
                await self._reply(s, texter, conv, replies.FAIL_OPEN)
                await self._handoff(s, texter, conv, ctx, events, tell_position=False)
            await _mark(s, ids, "processed", conv)
        await self._publish(events)

    async def _handoff(
        self,
        s: AsyncSession,
        texter: Texter,
        conv: Conversation,
        ctx: HandoffContext,
        events: list[dict],
        *,
        tell_position: bool = True,
        queued: list[Message] | None = None,
    ) -> None:
        await queue.enqueue(s, conv, ctx)
        await s.flush()
        events.append(queue_event(conv))
        await self._alert_if_urgent(s, conv, events)
        if tell_position and conv.urgency_level != "imminent":
            position = await queue.position_in_queue(s, conv, self.aging)
            await self._reply(s, texter, conv, replies.queue_position(position), queued=queued)

    async def _alert_if_urgent(self, s: AsyncSession, conv: Conversation, events: list[dict]) -> None:
        if conv.urgency_level == "imminent" and conv.state == "waiting":
            s.add(AuditEvent(kind="alert", conversation_id=conv.id, data={"level": "imminent", "why": "queued"}))
            events.append({"type": "alert", "conversation_id": conv.id, "level": "imminent"})

    async def _opt_out(self, s: AsyncSession, texter: Texter, conv: Conversation | None, ids: list[int]) -> None:
        texter.opted_out = True
        texter.opted_out_at = utcnow()
        await s.execute(
            update(Message)
            .where(Message.texter_id == texter.id, Message.direction == "out", Message.status == "pending")
            .values(status="held")
        )
        await _mark(s, ids, "processed", conv)
        if conv is not None:
            s.add(AuditEvent(kind="opted_out", conversation_id=conv.id, data={"source": "keyword"}))
            if conv.state in ("intake", "waiting"):
                conv.state = "closed"
                conv.closed_at = utcnow()
                conv.closed_reason = "opted_out"

    async def _flooding(self, s: AsyncSession, texter: Texter, count: int) -> bool:
        window = utcnow().replace(second=0, microsecond=0)
        row = await s.get(RateCounter, (texter.id, window))
        if row is None:
            row = RateCounter(texter_id=texter.id, window_start=window, count=0)
            s.add(row)
        row.count += count
        return row.count > self.settings.rate_limit_per_minute

    async def _notice_once(self, s: AsyncSession, texter: Texter, conv: Conversation | None, body: str) -> None:
        now = utcnow()
        if texter.notice_sent_at is None or now - texter.notice_sent_at > NOTICE_INTERVAL:
            texter.notice_sent_at = now
            await self._reply(s, texter, conv, body)

    async def _reply(
        self,
        s: AsyncSession,
        texter: Texter,
        conv: Conversation | None,
        body: str,
        author: str = "system",
        queued: list[Message] | None = None,
    ) -> None:
        """Queue a text to the texter; into ``queued`` when the caller sends it after commit, else the outbox
        loop is woken for it."""
        rows = await outbox.enqueue(
            s, texter_id=texter.id, conversation_id=conv.id if conv else None, body=body, author=author
        )
        if queued is not None:
            queued.extend(rows)
        else:
            self.outbox.wake.set()

    async def _publish(self, events: list[dict]) -> None:
        for event in events:
            await self.hub.publish(event)


def for_rasa(text: str) -> str:
    """What Rasa may read: never a leading "/" (Rasa would take "/restart" or "/request_human" as a command),
    and not more than a turn needs."""
    return text.lstrip().lstrip("/").lstrip()[:MAX_RASA_CHARS] or "(empty)"


def _batches(pending: list[Message]) -> list[list[Message]]:
    """Consecutive plain texts merge into one turn; a keyword-looking text stays a turn of its own."""
    batches: list[list[Message]] = []
    previous_solo = True
    for msg in pending:
        solo = classify(msg.body, opted_out=True) is not None
        if solo or previous_solo:
            batches.append([msg])
        else:
            batches[-1].append(msg)
        previous_solo = solo
    return batches


async def _open_conversation(s: AsyncSession, texter_id: int) -> Conversation | None:
    return await s.scalar(
        select(Conversation)
        .where(Conversation.texter_id == texter_id, Conversation.state.in_(queue.OPEN_STATES))
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )


async def _mark(s: AsyncSession, ids: list[int], status: str, conv: Conversation | None) -> None:
    values: dict = {"status": status}
    if status in ("processed", "ignored"):
        values["done_at"] = utcnow()
    if conv is not None:
        values["conversation_id"] = conv.id
    await s.execute(update(Message).where(Message.id.in_(ids)).values(**values))
