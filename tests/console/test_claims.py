"""Claiming under concurrency, on SQLite and (when DATABASE_URL points at PostgreSQL) on PostgreSQL: many
counselors pressing "Take next" at once never get the same conversation, the per-counselor limit holds, the
database's order is the queue's ranking rule, and transfers and closes keep the record straight."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.handoff import queue
from bot.handoff.queue import AgingRule, LimitReached, NotAvailable
from bot.privacy import Privacy
from bot.store.db import Database, migrate
from bot.store.models import AuditEvent, Conversation, Message
from tests.console.conftest import add_plain_users, seed, seed_many

RULE = AgingRule(points_per_minute=1.0, cap=30.0)
PRIVACY = Privacy("test-privacy-key")


@pytest.fixture
async def dbs(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two handles on one fresh database: two gateways sharing the store."""
    migrate(database_url)
    a, b = Database(database_url, pool_size=15), Database(database_url, pool_size=15)
    yield a, b
    await a.close()
    await b.close()


def _report(label: str, latencies: list[float], wall: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(
        f"\n{label}: {len(ms)} calls in {wall:.2f} s ({len(ms) / wall:.0f}/s), p50 {statistics.median(ms):.1f} ms, "
        f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"
    )


async def test_many_claimers_never_share_a_conversation(dbs: tuple[Database, Database]) -> None:
    a, b = dbs
    waiting = await seed_many(a, PRIVACY, 60)
    counselors = await add_plain_users(a, 30)
    latencies: list[float] = []
    claimed: list[tuple[int, str]] = []
    start = asyncio.Event()

    async def counselor(i: int, cid: int) -> None:
        db = a if i % 2 else b
        await start.wait()
        while True:
            t0 = time.perf_counter()
            try:
                conv = await queue.take_next(db, cid, RULE, limit=3)
            except LimitReached:
                return
            latencies.append(time.perf_counter() - t0)
            if conv is None:
                return
            claimed.append((cid, conv.id))

    tasks = [asyncio.create_task(counselor(i, cid)) for i, cid in enumerate(counselors)]
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - began

    ids = [conv for _, conv in claimed]
    assert len(ids) == len(set(ids)) == len(waiting)  # all 60 taken, none twice (30 x 3 seats > 60)
    assert max(Counter(cid for cid, _ in claimed).values()) <= 3
    async with a.session() as s:
        rows = list(await s.execute(select(Conversation.id, Conversation.counselor_id, Conversation.state)))
        audits = await s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "claimed"))
    assert {r.state for r in rows} == {"active"}
    assert {(r.counselor_id, r.id) for r in rows} == set(claimed)
    assert audits == 60
    _report(f"take_next on {'PostgreSQL' if a.postgres else 'SQLite'} (30 counselors, 60 waiting)", latencies, wall)
    solo = []
    for _ in range(5):  # one counselor alone: the latency of a single click
        await seed(a, PRIVACY)
        t0 = time.perf_counter()
        assert await queue.take_next(a, counselors[0], RULE, limit=100) is not None
        solo.append(time.perf_counter() - t0)
    _report("  uncontended", solo, sum(solo))


async def test_one_counselor_clicking_many_times_stays_within_the_limit(dbs: tuple[Database, Database]) -> None:
    a, b = dbs
    await seed_many(a, PRIVACY, 12)
    (cid,) = await add_plain_users(a, 1)

    async def click(db: Database) -> str | None:
        try:
            conv = await queue.take_next(db, cid, RULE, limit=3)
        except LimitReached:
            return None
        return conv.id if conv else None

    got = await asyncio.gather(*(click(a if i % 2 else b) for i in range(20)))
    assert len([g for g in got if g]) == 3
    async with a.session() as s:
        assert await queue.active_count(s, cid) == 3


async def test_database_order_is_the_ranking_rule(dbs: tuple[Database, Database]) -> None:
    a, _ = dbs
    ids = await seed_many(a, PRIVACY, 25)
    ids.append(await seed(a, PRIVACY, {}, ["hi"], waited=3 * 3600))  # a no-risk texter who waited hours
    (cid,) = await add_plain_users(a, 1)
    async with a.session() as s:
        expected = [c.id for c in queue.rank(list(await s.scalars(select(Conversation))), RULE)]
    got = []
    for _ in ids:
        conv = await queue.take_next(a, cid, RULE, limit=1000)
        assert conv is not None
        got.append(conv.id)
    assert await queue.take_next(a, cid, RULE, limit=1000) is None
    assert got == expected
    levels = {c: lvl for c, lvl in zip(expected, await _levels(a, expected), strict=True)}
    assert levels[got[0]] == "imminent"


async def _levels(db: Database, ids: list[str]) -> list[str]:
    async with db.session() as s:
        rows = dict((await s.execute(select(Conversation.id, Conversation.urgency_level))).all())
    return [rows[i] for i in ids]


async def test_aging_lets_a_long_wait_pass_a_fresher_higher_score_but_not_high_risk(
    dbs: tuple[Database, Database],
) -> None:
    a, _ = dbs
    low_old = await seed(a, PRIVACY, {"topic": "school stress"}, ["exams are too much"], waited=40 * 60)
    none_new = await seed(a, PRIVACY, {}, ["hi"], waited=0)
    high_new = await seed(a, PRIVACY, {"safe_now": "no", "screen_wish_dead": "yes"}, ["hi"], waited=0)
    (cid,) = await add_plain_users(a, 1)
    order = [(await queue.take_next(a, cid, RULE, limit=10)).id for _ in range(3)]  # type: ignore[union-attr]
    assert order[0] == high_new
    assert order.index(low_old) < order.index(none_new)


async def test_transfer_keeps_transcript_and_audits(dbs: tuple[Database, Database]) -> None:
    a, _ = dbs
    conv_id = await seed(a, PRIVACY, {"topic": "panic"}, ["my chest is tight", "I feel like I can't breathe"])
    first, second, boss = await add_plain_users(a, 3)
    conv = await queue.take_next(a, first, RULE, limit=3)
    assert conv is not None and conv.id == conv_id
    moved = await queue.transfer(a, conv_id, second, boss, limit=3)
    assert moved.counselor_id == second and moved.state == "active"
    async with a.session() as s:
        texts = list(await s.scalars(select(Message.body).where(Message.conversation_id == conv_id)))
        audit = await s.scalar(select(AuditEvent).where(AuditEvent.kind == "transferred"))
    assert texts == ["my chest is tight", "I feel like I can't breathe"]
    assert audit.user_id == boss and audit.data == {"from": first, "to": second, "from_state": "active"}
    for _ in range(3):
        await seed(a, PRIVACY)
        await queue.take_next(a, first, RULE, limit=3)
    with pytest.raises(LimitReached):
        await queue.transfer(a, conv_id, first, boss, limit=3)
    closed = await queue.close_by_counselor(a, conv_id, report={"confirmed": {}}, by_user_id=second,
                                            expect_counselor=second)
    assert closed.state == "closed"
    with pytest.raises(NotAvailable):
        await queue.transfer(a, conv_id, first, boss)


async def test_concurrent_takeovers_leave_one_owner(dbs: tuple[Database, Database]) -> None:
    a, b = dbs
    conv_id = await seed(a, PRIVACY)
    supervisors = await add_plain_users(a, 10, prefix="s")
    await asyncio.gather(*(queue.transfer(a if i % 2 else b, conv_id, s, s) for i, s in enumerate(supervisors)))
    async with a.session() as s:
        conv = await s.get(Conversation, conv_id)
        moves = await s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "transferred"))
    assert conv.state == "active" and conv.counselor_id in supervisors
    assert moves == 10  # each take-over is recorded, in some order; the last one holds
