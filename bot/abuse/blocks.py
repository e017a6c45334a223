"""Blocks on texters: for 24 hours, 30 days or permanently, with a reason; they expire on their own.

The one owner of blocks: the `abuse_blocks` rows and the texter's `blocked` flag (kept for permanent blocks, so a
permanent block also holds wherever only the flag is read). A time-limited block is a row whose `until` has not
passed: nothing needs to run for it to expire, `status(session, texter_id, now)` simply stops reporting it.
Every block and unblock is audited with a short keyed-hash reference, never a number or a reason's text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.privacy import Privacy
from bot.store.db import Database
from bot.store.models import AbuseBlock, AuditEvent, Texter, utcnow

DURATIONS: dict[str, timedelta | None] = {"24h": timedelta(hours=24), "30d": timedelta(days=30), "permanent": None}


def texter_ref(phone_hash: str | None) -> str:
    """The console's short reference to a texter (same as bot.console.views.texter_ref): never the number."""
    return "t-" + (phone_hash or "")[:8]


@dataclass(frozen=True)
class BlockStatus:
    """Whether a texter is blocked at `now`; `until` is None for a permanent block."""

    blocked: bool
    until: datetime | None = None
    reason: str = ""

    @property
    def permanent(self) -> bool:
        return self.blocked and self.until is None


NOT_BLOCKED = BlockStatus(False)


def parse_duration(value: str) -> str:
    """"24h" | "30d" | "permanent" (also "24 hours", "30 days", "forever"); ValueError otherwise."""
    v = value.strip().lower().replace(" ", "")
    aliases = {"24hours": "24h", "1d": "24h", "day": "24h", "30days": "30d", "month": "30d", "forever": "permanent",
               "perm": "permanent"}
    v = aliases.get(v, v)
    if v not in DURATIONS:
        raise ValueError(f"block for 24h, 30d or permanent, not {value!r}")
    return v


def _active(now: datetime):  # type: ignore[no-untyped-def]
    return (AbuseBlock.lifted_at.is_(None), or_(AbuseBlock.until.is_(None), AbuseBlock.until > now))


async def status(session: AsyncSession, texter_id: int, now: datetime | None = None) -> BlockStatus:
    """The texter's block at `now` (the router calls this on every turn; one indexed query)."""
    now = now or utcnow()
    texter = await session.get(Texter, texter_id)
    if texter is not None and texter.blocked:
        return BlockStatus(True, None, texter.blocked_reason or "")
    row = await session.scalar(
        select(AbuseBlock).where(AbuseBlock.texter_id == texter_id, *_active(now))
        .order_by(AbuseBlock.until.is_(None).desc(), AbuseBlock.until.desc()).limit(1)
    )
    if row is None:
        return NOT_BLOCKED
    return BlockStatus(True, row.until, row.reason or "")


async def blocked_among(session: AsyncSession, texter_ids: Iterable[int], now: datetime | None = None) -> set[int]:
    """Which of these texters are blocked at `now` (one query each way: for a "blocked number" badge on a list)."""
    ids = set(texter_ids)
    if not ids:
        return set()
    now = now or utcnow()
    by_row = set(await session.scalars(
        select(AbuseBlock.texter_id).where(AbuseBlock.texter_id.in_(ids), *_active(now))))
    by_flag = set(await session.scalars(select(Texter.id).where(Texter.id.in_(ids), Texter.blocked.is_(True))))
    return by_row | by_flag


async def block(
    session: AsyncSession,
    texter_id: int,
    *,
    duration: str,
    reason: str,
    by_user_id: int | None = None,
    source: str = "staff",
    now: datetime | None = None,
    conversation_id: str | None = None,
) -> AbuseBlock:
    """Block a texter for `duration` ("24h", "30d", "permanent") inside the caller's transaction."""
    now = now or utcnow()
    duration = parse_duration(duration)
    length = DURATIONS[duration]
    texter = await session.get(Texter, texter_id)
    if texter is None:
        raise LookupError("no such texter")
    row = AbuseBlock(texter_id=texter_id, until=None if length is None else now + length, reason=reason[:200],
                     source=source, created_by=by_user_id, created_at=now)
    session.add(row)
    if length is None:
        texter.blocked = True
        texter.blocked_reason = reason[:200]
    texter.notice_sent_at = None  # the texter gets the block notice once
    session.add(AuditEvent(kind="blocked", conversation_id=conversation_id, user_id=by_user_id, created_at=now,
                           data={"texter": texter_ref(texter.phone_hash), "for": duration, "source": source,
                                 "until": row.until.isoformat() if row.until else None}))
    await session.flush()
    return row


async def unblock(session: AsyncSession, texter_id: int, *, by_user_id: int | None = None,
                  now: datetime | None = None, source: str = "staff") -> bool:
    """Lift every active block of a texter; True when there was one."""
    now = now or utcnow()
    texter = await session.get(Texter, texter_id)
    if texter is None:
        return False
    lifted = (await session.execute(
        update(AbuseBlock).where(AbuseBlock.texter_id == texter_id, *_active(now))
        .values(lifted_at=now, lifted_by=by_user_id)
        .execution_options(synchronize_session=False)
    )).rowcount or 0
    was_flagged = bool(texter.blocked)
    texter.blocked = False
    texter.blocked_reason = None
    texter.notice_sent_at = None
    if not (lifted or was_flagged):
        return False
    session.add(AuditEvent(kind="unblocked", user_id=by_user_id, created_at=now,
                           data={"texter": texter_ref(texter.phone_hash), "source": source}))
    return True


@dataclass(frozen=True)
class ActiveBlock:
    texter_id: int
    ref: str
    until: datetime | None
    reason: str
    source: str


async def active_blocks(session: AsyncSession, now: datetime | None = None) -> list[ActiveBlock]:
    """Every texter blocked at `now` (by row or by the permanent flag), newest first."""
    now = now or utcnow()
    rows = await session.execute(
        select(AbuseBlock, Texter.phone_hash).join(Texter, Texter.id == AbuseBlock.texter_id)
        .where(*_active(now)).order_by(AbuseBlock.created_at.desc())
    )
    seen: dict[int, ActiveBlock] = {}
    for b, phone_hash in rows:
        if b.texter_id not in seen:
            seen[b.texter_id] = ActiveBlock(b.texter_id, texter_ref(phone_hash), b.until, b.reason or "", b.source)
    flagged = await session.execute(select(Texter.id, Texter.phone_hash, Texter.blocked_reason)
                                    .where(Texter.blocked.is_(True)))
    for tid, phone_hash, reason in flagged:
        if tid not in seen or seen[tid].until is not None:
            seen[tid] = ActiveBlock(tid, texter_ref(phone_hash), None, reason or "", "staff")
    return list(seen.values())


# ---- by phone number (the CLI: `python -m bot block/unblock/blocked`) --------------------------------------------


async def _texter_for(session: AsyncSession, privacy: Privacy, phone: str, create: bool) -> Texter | None:
    phone_hash = privacy.hash_phone(phone)
    texter = await session.scalar(select(Texter).where(Texter.phone_hash == phone_hash))
    if texter is None and create:
        texter = Texter(phone_hash=phone_hash, phone_enc=privacy.encrypt(phone), last_seen_at=utcnow())
        session.add(texter)
        await session.flush()
    return texter


async def block_number(db: Database, privacy: Privacy, phone: str, *, duration: str = "permanent",
                       reason: str = "", now: datetime | None = None, source: str = "cli") -> bool:
    """Block a number (creating its texter row if it never texted). False when it was already blocked so."""
    duration = parse_duration(duration)
    async with db.transaction() as s:
        texter = await _texter_for(s, privacy, phone, create=True)
        assert texter is not None
        current = await status(s, texter.id, now)
        length = DURATIONS[duration]
        if current.permanent or (current.blocked and length is not None and current.until is not None
                                 and current.until >= (now or utcnow()) + length):
            return False  # already blocked at least as long
        await block(s, texter.id, duration=duration, reason=reason, source=source, now=now)
        return True


async def unblock_number(db: Database, privacy: Privacy, phone: str, *, now: datetime | None = None,
                         source: str = "cli") -> bool:
    async with db.transaction() as s:
        texter = await _texter_for(s, privacy, phone, create=False)
        if texter is None:
            return False
        return await unblock(s, texter.id, now=now, source=source)


async def blocked_list(db: Database, now: datetime | None = None) -> list[ActiveBlock]:
    async with db.session() as s:
        return await active_blocks(s, now)
