"""Counselor claims on PostgreSQL: 50 counselors taking conversations at once from a fresh database, through the
real queue functions; the latency of each claim, and proof that no conversation went to two counselors."""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import make_url

from bot.handoff import queue
from bot.privacy import Privacy
from bot.store.db import Database, migrate, sync_url
from bot.store.models import Conversation, Texter, User, utcnow
from tests.support.databases import fresh_database
from tests.support.stack import patched_env

LEVEL_SCORES = (("none", 5), ("low", 25), ("moderate", 50), ("high", 75), ("imminent", 95))


def postgres_server() -> str | None:
    """The PostgreSQL server to use (DATABASE_URL, else 127.0.0.1:5432 as postgres), or None if unreachable."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
    engine = create_engine(sync_url(url), future=True, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return url
    except Exception:
        return None
    finally:
        engine.dispose()


@dataclass
class ClaimResult:
    name: str
    latencies: list[float]
    claims: int
    double_claims: int
    in_priority_order: bool
    seconds: float


def _seed(url: str, counselors: int, waiting: int) -> list[int]:
    """Counselor accounts and waiting conversations with mixed urgency and waits; returns the counselor ids."""
    rng = random.Random(11)
    privacy = Privacy("bench-claims-key")
    engine = create_engine(sync_url(url), future=True)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(User), [
            {"username": f"counselor{i}", "password_hash": "not-a-login", "role": "counselor"}
            for i in range(counselors)
        ])
        conn.execute(insert(Texter), [
            {"phone_hash": privacy.hash_phone(f"+1555700{i:04d}"), "phone_enc": privacy.encrypt(f"+1555700{i:04d}")}
            for i in range(waiting)
        ])
        texter_ids = list(conn.scalars(select(Texter.id).order_by(Texter.id)))
        rows = []
        for i, texter_id in enumerate(texter_ids):
            level, score = rng.choice(LEVEL_SCORES)
            rows.append({
                "id": f"c_bench{i:05d}", "texter_id": texter_id, "state": "waiting", "urgency_level": level,
                "urgency_score": score + rng.randint(0, 4), "queued_at": now - timedelta(seconds=rng.randint(0, 1800)),
                "urgency_reasons": [], "needs": [], "context": {},
            })
        conn.execute(insert(Conversation), rows)
        user_ids = list(conn.scalars(select(User.id).order_by(User.id)))
    engine.dispose()
    return user_ids


async def _round(
    name: str, db: Database, counselors: list[int], each: int, take: Callable[[int], Awaitable[Conversation | None]]
) -> ClaimResult:
    async with db.session() as s:
        expected = [c.id for c in queue.rank(list(await s.scalars(select(Conversation))), queue.AgingRule())]
    latencies: list[float] = []
    taken: list[str] = []

    async def counselor(user_id: int) -> None:
        for _ in range(each):
            started = time.monotonic()
            conv = await take(user_id)
            latencies.append(time.monotonic() - started)
            if conv is None:
                return
            taken.append(conv.id)

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(counselor(u) for u in counselors)), timeout=120)
    seconds = time.monotonic() - started
    async with db.session() as s:
        active = list(await s.scalars(select(Conversation.id).where(Conversation.state == "active")))
    return ClaimResult(
        name=name,
        latencies=latencies,
        claims=len(taken),
        double_claims=len(taken) - len(set(taken)) + abs(len(active) - len(set(taken))),
        in_priority_order=set(taken) == set(expected[: len(taken)]),
        seconds=seconds,
    )


async def bench_claims(counselors: int = 50, each: int = 4, waiting: int = 250) -> tuple[str, list[ClaimResult]]:
    """The console's claim (Take next) on a fresh PostgreSQL database; (server, results)."""
    server = postgres_server()
    if server is None:
        raise LookupError("PostgreSQL is not reachable at DATABASE_URL or 127.0.0.1:5432 (user postgres)")
    rule = queue.AgingRule()
    with tempfile.TemporaryDirectory() as tmp, patched_env({"DATABASE_URL": server}), \
            fresh_database("postgresql", Path(tmp)) as url:
        migrate(url)
        user_ids = await asyncio.to_thread(_seed, url, counselors, waiting)
        db = Database(url)  # one gateway's pool (10 + 10 overflow), as the console has
        try:
            results = [await _round(
                "take_next (console)", db, user_ids, each, lambda uid: queue.take_next(db, uid, rule, limit=each))]
        finally:
            await db.close()
    host = make_url(server)
    return f"{host.host}:{host.port or 5432}", results
