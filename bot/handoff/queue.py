"""The counselor queue, owner of every conversation's state: open an intake, enqueue with context, re-score on
new texts, rank with aging, claim atomically, transfer, and one ``close(reason)`` for every way a conversation ends
(counselor, opt-out, idle, abuse). Each transition emits its live event, published when its transaction commits.

Ranking rule (explicit and configurable): imminent risk always comes first; everyone else is ranked by
``urgency score + min(minutes waited x AGING_POINTS_PER_MINUTE, AGING_CAP)``, then by time waited. With the
defaults (1 point a minute, at most 30) a low-risk texter (score 10-39) gains on a moderate one (40-64) as they
wait, but never overtakes a high-risk (65-89) or imminent one: nobody starves, and risk still leads.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, bindparam, case, extract, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.handoff.context import HandoffContext, screener_answers
from bot.handoff.live import Alert, ConversationOpened, QueueChanged, Transferred, emit
from bot.store.db import Database
from bot.store.models import AuditEvent, CloseReason, Conversation, ConversationState, Message, User, utcnow
from bot.triage import LEVELS, Urgency, assess

OPEN_STATES = (ConversationState.INTAKE.value, ConversationState.WAITING.value, ConversationState.ACTIVE.value)


def new_conversation_id() -> str:
    return "c_" + secrets.token_hex(8)


async def current(session: AsyncSession, texter_id: int) -> Conversation | None:
    """The texter's open conversation, if any."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.texter_id == texter_id, Conversation.state.in_(OPEN_STATES))
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )


async def open_intake(session: AsyncSession, texter_id: int, *, language: str = "en") -> Conversation:
    """A new conversation, in intake."""
    conv = Conversation(id=new_conversation_id(), texter_id=texter_id, state=ConversationState.INTAKE.value,
                        language=language)
    session.add(conv)
    await session.flush()
    emit(session, ConversationOpened(conv.id))
    return conv


def _alert_if_imminent(session: AsyncSession, conv: Conversation) -> None:
    if conv.urgency_level == "imminent" and conv.state == ConversationState.WAITING.value:
        session.add(AuditEvent(kind="alert", conversation_id=conv.id, data={"level": "imminent", "why": "queued"}))
        emit(session, Alert(conv.id, "imminent", "queued"))


@dataclass(frozen=True)
class AgingRule:
    points_per_minute: float = 1.0
    cap: float = 30.0

    def priority(self, conv: Conversation, now: datetime) -> float:
        if conv.urgency_level == "imminent":
            return 1000.0 + conv.urgency_score
        waited = max(0.0, (now - (conv.queued_at or now)).total_seconds() / 60.0)
        return conv.urgency_score + min(waited * self.points_per_minute, self.cap)


def rank(conversations: Sequence[Conversation], rule: AgingRule, now: datetime | None = None) -> list[Conversation]:
    """Highest priority first; ties go to whoever has waited longest."""
    now = now or utcnow()
    return sorted(conversations, key=lambda c: (-rule.priority(c, now), c.queued_at or now, c.id))


def urgency_of(conv: Conversation) -> Urgency:
    return Urgency(
        level=conv.urgency_level or "none",
        score=conv.urgency_score or 0,
        reasons=tuple(conv.urgency_reasons or ()),
        needs=tuple(conv.needs or ()),
    )


def apply_urgency(conv: Conversation, urgency: Urgency) -> bool:
    """Store a new urgency on the conversation; urgency never drops. True when it rose."""
    current = urgency_of(conv)
    if LEVELS.index(urgency.level) < LEVELS.index(current.level) or (
        urgency.level == current.level and urgency.score <= current.score
    ):
        merged_needs = sorted(set(current.needs) | set(urgency.needs))
        if merged_needs != sorted(current.needs):
            conv.needs = merged_needs
        return False
    conv.urgency_level = urgency.level
    conv.urgency_score = urgency.score
    conv.urgency_reasons = list(urgency.reasons)
    conv.needs = sorted(set(current.needs) | set(urgency.needs))
    return True


async def enqueue(session: AsyncSession, conv: Conversation, ctx: HandoffContext) -> None:
    """Put a conversation in the queue with its handoff context (inside the caller's transaction)."""
    apply_urgency(conv, ctx.urgency)
    conv.context = ctx.to_dict()
    conv.handoff_reason = ctx.reason
    conv.intake_complete = ctx.intake_complete
    if conv.state == ConversationState.INTAKE.value:
        conv.state = ConversationState.WAITING.value
        conv.queued_at = utcnow()
    session.add(AuditEvent(kind="queued", conversation_id=conv.id, data={"level": conv.urgency_level}))
    await session.flush()
    emit(session, QueueChanged.of(conv))
    _alert_if_imminent(session, conv)


async def texter_texts(session: AsyncSession, conversation_id: str) -> list[str]:
    rows = await session.scalars(
        select(Message.body)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(Message.id)
    )
    return [b for b in rows if b]


async def rescore(session: AsyncSession, conv: Conversation) -> bool:
    """Re-score a queued or active conversation with all the texter's texts; True when urgency rose."""
    answers = (conv.context or {}).get("answers") or {}
    urgency = assess(
        await texter_texts(session, conv.id),
        screener_answers(answers),
        safe_now=answers.get("safe_now"),
        floor=urgency_of(conv),
    )
    rose = apply_urgency(conv, urgency)
    if rose:
        emit(session, QueueChanged.of(conv))
        _alert_if_imminent(session, conv)
    return rose


async def open_conversations(db: Database, states: Sequence[str] = ("waiting", "active")) -> list[Conversation]:
    async with db.session() as s:
        rows = await s.scalars(select(Conversation).where(Conversation.state.in_(states)))
        return list(rows)


async def queue_snapshot(db: Database, rule: AgingRule) -> list[dict]:
    """Waiting then active conversations, highest priority first, as plain dicts (the CLI's JSON)."""
    now = utcnow()
    convs = await open_conversations(db)
    waiting = rank([c for c in convs if c.state == "waiting"], rule, now)
    active = rank([c for c in convs if c.state == "active"], rule, now)
    out = []
    for position, conv in enumerate(waiting + active, start=1):
        out.append(
            {
                "conversation_id": conv.id,
                "state": conv.state,
                "position": position if conv.state == "waiting" else None,
                "urgency": {
                    "level": conv.urgency_level,
                    "score": conv.urgency_score,
                    "reasons": list(conv.urgency_reasons or []),
                },
                "needs": list(conv.needs or []),
                "waiting_seconds": int((now - (conv.queued_at or now)).total_seconds())
                if conv.state == "waiting"
                else 0,
                "intake_complete": bool(conv.intake_complete),
                "handoff_reason": conv.handoff_reason,
                "summary": (conv.context or {}).get("summary", ""),
                "counselor_id": conv.counselor_id,
            }
        )
    return out


async def position_in_queue(session: AsyncSession, conv: Conversation, rule: AgingRule) -> int:
    rows = await session.scalars(select(Conversation).where(Conversation.state == "waiting"))
    ranked = rank(list(rows), rule)
    for i, c in enumerate(ranked, start=1):
        if c.id == conv.id:
            return i
    return 0


async def claim(
    db: Database, conv_id: str, counselor_id: int, *, expect_state: str = "waiting"
) -> Conversation | None:
    """Take one conversation if it is still in ``expect_state``; None when someone else got there first."""
    async with db.transaction() as s:
        if db.postgres:
            locked = await s.scalar(
                select(Conversation.id)
                .where(Conversation.id == conv_id, Conversation.state == expect_state)
                .with_for_update(skip_locked=True)
            )
            if locked is None:
                return None
        result = await s.execute(
            update(Conversation)
            .where(Conversation.id == conv_id, Conversation.state == expect_state)
            .values(state="active", counselor_id=counselor_id, claimed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return None
        s.add(AuditEvent(kind="claimed", conversation_id=conv_id, user_id=counselor_id, data={}))
        conv = await s.get(Conversation, conv_id)
        emit(s, QueueChanged.of(conv))
        return conv


async def active_count(session: AsyncSession, counselor_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.counselor_id == counselor_id, Conversation.state == "active")
        )
        or 0
    )


# --- Claiming with a per-counselor limit, transfers and closing (used by the console) ---------------------------


class QueueError(Exception):
    """A queue action that cannot be done as asked (the message is safe to show a counselor)."""


class LimitReached(QueueError):
    """The counselor already has as many active conversations as they may."""


class NotAvailable(QueueError):
    """The conversation is not in a state that allows the action (closed, or taken by someone else)."""


def priority_sql(rule: AgingRule, now: datetime, *, postgres: bool) -> ColumnElement:
    """``AgingRule.priority`` as a SQL expression, so the database can order and lock the top row itself."""
    now_param = bindparam("aging_now", now, type_=DateTime)
    if postgres:
        minutes = extract("epoch", now_param - Conversation.queued_at) / 60.0
    else:
        minutes = (func.julianday(now_param) - func.julianday(Conversation.queued_at)) * 1440.0
    waited = func.coalesce(minutes, 0.0)
    aging = waited * rule.points_per_minute
    capped = case((aging > rule.cap, rule.cap), (aging < 0, 0.0), else_=aging)
    return case(
        (Conversation.urgency_level == "imminent", 1000.0 + Conversation.urgency_score),
        else_=Conversation.urgency_score + capped,
    )


async def _lock_counselor(s: AsyncSession, db: Database, counselor_id: int) -> None:
    """Serialise one counselor's own claims so the active limit holds (SQLite's BEGIN IMMEDIATE already does)."""
    if db.postgres:
        await s.execute(select(User.id).where(User.id == counselor_id).with_for_update())


async def take_next(db: Database, counselor_id: int, rule: AgingRule, limit: int) -> Conversation | None:
    """Claim the highest-priority waiting conversation within the counselor's active limit, in one transaction.

    The database ranks with the same rule as ``rank`` and, on PostgreSQL, locks the top row with
    ``FOR UPDATE SKIP LOCKED``: concurrent claimers each get a different conversation without waiting on each
    other. On SQLite every write transaction starts with ``BEGIN IMMEDIATE``, so claims run one at a time.
    Raises ``LimitReached``; returns None when nobody is waiting.
    """
    now = utcnow()
    async with db.transaction() as s:
        await _lock_counselor(s, db, counselor_id)
        if await active_count(s, counselor_id) >= limit:
            raise LimitReached(f"You already have {limit} active conversations. Close one to take the next.")
        query = (
            select(Conversation.id)
            .where(Conversation.state == "waiting")
            .order_by(priority_sql(rule, now, postgres=db.postgres).desc(), Conversation.queued_at, Conversation.id)
            .limit(1)
        )
        if db.postgres:
            query = query.with_for_update(skip_locked=True)
        conv_id = await s.scalar(query)
        if conv_id is None:
            return None
        result = await s.execute(
            update(Conversation)
            .where(Conversation.id == conv_id, Conversation.state == "waiting")
            .values(state="active", counselor_id=counselor_id, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # cannot happen under the lock; never hand out a row we did not take
            return None
        s.add(AuditEvent(kind="claimed", conversation_id=conv_id, user_id=counselor_id, data={"via": "take_next"}))
        conv = await s.get(Conversation, conv_id)
        emit(s, QueueChanged.of(conv))
        return conv


async def transfer(
    db: Database, conv_id: str, to_user_id: int, by_user_id: int, *, limit: int | None = None
) -> Conversation:
    """Give a waiting or active conversation to a counselor (a reassignment or a take-over); the transcript
    stays with the conversation. ``limit`` (the receiver's active limit) is checked when given."""
    async with db.transaction() as s:
        await _lock_counselor(s, db, to_user_id)
        query = select(Conversation).where(Conversation.id == conv_id)
        if db.postgres:
            query = query.with_for_update(of=Conversation)
        conv = await s.scalar(query)
        if conv is None or conv.state not in ("waiting", "active"):
            raise NotAvailable("This conversation is closed or no longer in the queue.")
        if conv.state == "active" and conv.counselor_id == to_user_id:
            return conv
        if limit is not None and await active_count(s, to_user_id) >= limit:
            raise LimitReached(f"That counselor already has {limit} active conversations.")
        previous, from_state = conv.counselor_id, conv.state
        conv.state = "active"
        conv.counselor_id = to_user_id
        conv.claimed_at = utcnow()
        s.add(
            AuditEvent(
                kind="transferred",
                conversation_id=conv.id,
                user_id=by_user_id,
                data={"from": previous, "to": to_user_id, "from_state": from_state},
            )
        )
        emit(s, QueueChanged.of(conv, previous_counselor_id=previous))
        emit(s, Transferred(conv.id, conv.counselor_id, previous))
        return conv


async def close(
    session: AsyncSession,
    conv: Conversation,
    reason: CloseReason,
    *,
    by_user_id: int | None = None,
    report: dict | None = None,
    now: datetime | None = None,
) -> bool:
    """Close ``conv`` (or file the report of one already closed) inside the caller's transaction; True when this
    call closed it. The one way a conversation ends, whatever the reason."""
    was_open = conv.state != ConversationState.CLOSED.value
    if was_open:
        conv.state = ConversationState.CLOSED.value
        conv.closed_at = now or utcnow()
        conv.closed_reason = reason.value
    if report is not None:
        conv.report = report
    session.add(
        AuditEvent(
            kind="closed" if was_open else "report_filed",
            conversation_id=conv.id,
            user_id=by_user_id,
            data={"reason": conv.closed_reason},
        )
    )
    await session.flush()
    if was_open:
        emit(session, QueueChanged.of(conv))
    return was_open


async def close_by_counselor(
    db: Database, conv_id: str, *, report: dict | None, by_user_id: int, expect_counselor: int | None = None,
) -> Conversation:
    """The console's close: lock the row, check it is still the counselor's (a transfer may have happened while
    they wrote the report), then ``close``."""
    async with db.transaction() as s:
        query = select(Conversation).where(Conversation.id == conv_id)
        if db.postgres:
            query = query.with_for_update(of=Conversation)
        conv = await s.scalar(query)
        if conv is None:
            raise NotAvailable("No such conversation.")
        if expect_counselor is not None and conv.counselor_id != expect_counselor:
            raise NotAvailable("This conversation was transferred to someone else.")
        await close(s, conv, CloseReason.COUNSELOR, by_user_id=by_user_id, report=report)
        return conv


async def close_if_idle(
    session: AsyncSession, conv_id: str, cutoff: datetime, now: datetime | None = None
) -> Conversation | None:
    """Close an active conversation nobody has written in since ``cutoff`` (a compare-and-set: several gateways
    run the jobs). None when it is no longer active."""
    query = select(Conversation).where(Conversation.id == conv_id, Conversation.state == ConversationState.ACTIVE.value)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=Conversation)
    conv = await session.scalar(query)
    if conv is None or (conv.last_inbound_at is not None and conv.last_inbound_at > cutoff):
        return None
    await close(session, conv, CloseReason.IDLE, now=now)
    return conv


async def note_waiting_notice(
    session: AsyncSession, conv_id: str, last_notice_at: datetime | None, now: datetime
) -> bool:
    """Record that the waiting texter is being sent a "still here" notice, unless another gateway just did (or
    the conversation left the queue): a compare-and-set on ``last_notice_at``."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conv_id,
            Conversation.state == ConversationState.WAITING.value,
            Conversation.last_notice_at.is_(None) if last_notice_at is None
            else Conversation.last_notice_at == last_notice_at,
        )
        .values(last_notice_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def note_alert(session: AsyncSession, conv_id: str, level: str, wait_seconds: int, now: datetime) -> bool:
    """Alert supervisors (once per conversation) that a high or imminent texter is waiting too long."""
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conv_id, Conversation.alerted_at.is_(None),
               Conversation.state == ConversationState.WAITING.value)
        .values(alerted_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.add(AuditEvent(kind="alert", conversation_id=conv_id,
                           data={"level": level, "wait_seconds": wait_seconds, "why": "waiting"}))
    emit(session, Alert(conv_id, level, "waiting", wait_seconds))
    return True
