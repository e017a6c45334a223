"""What counselors and supervisors do to conversations (take next, reply, close with report, reassign, take
over), each checked against who is asking. The queue and the outbox publish the live events of each change."""

from __future__ import annotations

import logging
from typing import Any

from multidict import MultiMapping
from sqlalchemy import select

from bot.console import report as reports
from bot.console.auth import can_supervise
from bot.console.views import conversation_view
from bot.handoff import queue
from bot.handoff.queue import NotAvailable, QueueError
from bot.learning import labels
from bot.services import Services
from bot.settings import Settings
from bot.sms import outbox
from bot.store.models import Conversation, Message, Texter, User, utcnow

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 1600  # ten SMS segments: a counselor's text is never silently cut


class NotAllowed(QueueError):
    """The user's role or assignment does not allow this action."""


def limit_for(user: User, settings: Settings) -> int:
    """A user's active-conversation limit: the line-wide MAX_ACTIVE_PER_COUNSELOR, lowered by the account's own
    ``max_active`` when that is smaller (for trainees, say)."""
    return max(1, min(user.max_active or settings.max_active_per_counselor, settings.max_active_per_counselor))


async def take_next(gw: Services, user: User) -> Conversation | None:
    """Claim the highest-priority waiting conversation for ``user`` (raises LimitReached)."""
    return await queue.take_next(gw.db, user.id, gw.aging, limit_for(user, gw.settings))


async def reply(gw: Services, user: User, conv_id: str, body: str) -> list[Message]:
    """Send the assigned counselor's text through the outbox (it goes out in order, with retries)."""
    text = body.strip()
    if not text:
        raise QueueError("Write something first.")
    if len(text) > MAX_REPLY_CHARS:
        raise QueueError(f"That is too long for SMS: keep it under {MAX_REPLY_CHARS} characters.")
    async with gw.db.transaction() as s:
        query = select(Conversation).where(Conversation.id == conv_id)
        if gw.db.postgres:
            query = query.with_for_update(of=Conversation)
        conv = await s.scalar(query)
        if conv is None or conv.counselor_id != user.id:
            raise NotAllowed("Only the counselor this conversation is assigned to can reply.")
        if conv.state != "active":
            raise NotAvailable("This conversation is closed.")
        texter = await s.get(Texter, conv.texter_id)
        if texter is None or texter.opted_out:
            raise NotAvailable("The texter opted out (STOP): nothing more can be sent.")
        rows = await outbox.enqueue(
            s, texter_id=conv.texter_id, conversation_id=conv.id, body=text, author="counselor", counselor_id=user.id
        )
    return rows


async def close_with_report(gw: Services, user: User, conv_id: str, form: MultiMapping[Any]) -> Conversation:
    """Close the counselor's conversation (or file the report of one closed for them) with their report,
    kept beside what the assistant predicted."""
    view = await conversation_view(gw.db, user, conv_id)
    if view.counselor_id == user.id and view.state == "closed" and view.confirmed is not None:
        raise NotAvailable("The report for this conversation was already filed.")
    if view.counselor_id != user.id or not (view.can_close or view.needs_report):
        raise NotAllowed("Only the counselor this conversation is assigned to can close it.")
    confirmed = reports.from_form(form, [r.get("id") for r in view.referrals])
    record = reports.record(view.predicted, confirmed, user_id=user.id, at=utcnow())
    conv = await queue.close_by_counselor(
        gw.db, conv_id, report=record, by_user_id=user.id, expect_counselor=user.id
    )
    # The confirmed risk level and needs become the conversation's label, beside the prediction made at handoff.
    # The close is already committed: a failure here is logged, not shown as a failed close.
    try:
        await labels.record_report(gw.db, conv.id, user.id, confirmed.risk_level, confirmed.issues)
    except Exception:
        log.exception("labels: the report of %s was filed but its label could not be recorded", conv.id)
    return conv


async def reassign(gw: Services, by: User, conv_id: str, to_user_id: int) -> Conversation:
    """A supervisor gives a waiting or active conversation to a counselor within that counselor's limit."""
    if not can_supervise(by.role):
        raise NotAllowed("Only supervisors can reassign conversations.")
    async with gw.db.session() as s:
        target = await s.get(User, to_user_id)
    if target is None or not target.active:
        raise NotAllowed("No such active counselor.")
    limit = None if target.id == by.id else limit_for(target, gw.settings)
    return await _transfer(gw, by, conv_id, target.id, limit)


async def take_over(gw: Services, by: User, conv_id: str) -> Conversation:
    """A supervisor takes a conversation themselves (no limit: it is a deliberate, audited step)."""
    if not can_supervise(by.role):
        raise NotAllowed("Only supervisors can take over conversations.")
    return await _transfer(gw, by, conv_id, by.id, None)


async def _transfer(gw: Services, by: User, conv_id: str, to_user_id: int, limit: int | None) -> Conversation:
    return await queue.transfer(gw.db, conv_id, to_user_id, by.id, limit=limit)
