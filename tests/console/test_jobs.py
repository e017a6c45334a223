"""The periodic queue jobs: spaced "still here" texts, one alert per long high/imminent wait (console event and
webhook without bodies or numbers), and closing silent active conversations (never waiting ones)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.handoff import jobs, queue
from bot.sms import replies
from bot.store.models import Conversation, Message, Texter, utcnow
from tests.console.conftest import ConsoleServer, add_plain_users, start_console, stop_console


async def outbound(server: ConsoleServer, conv_id: str) -> list[Message]:
    async with server.db.session() as s:
        return list(
            await s.scalars(
                select(Message).where(Message.conversation_id == conv_id, Message.direction == "out")
                .order_by(Message.id)
            )
        )


async def test_waiting_notices_are_spaced_out_and_tell_the_place(console: ConsoleServer) -> None:
    first = await console.seed({"safe_now": "no", "screen_wish_dead": "yes"}, ["hi"])
    second = await console.seed({"topic": "work"}, ["hi"])
    interval = console.settings.waiting_notice_seconds
    now = utcnow()
    assert (await jobs.run_once(console.gateway.services, now + timedelta(seconds=interval - 5))).noticed == []
    report = await jobs.run_once(console.gateway.services, now + timedelta(seconds=interval + 1))
    assert sorted(report.noticed) == sorted([first, second])
    texts = {c: [m.body for m in await outbound(console, c)] for c in (first, second)}
    assert texts[first] == [jobs.still_waiting_text(1)]
    assert texts[second] == [jobs.still_waiting_text(2)]
    assert all("988" in t[0] and "911" in t[0] and len(t[0]) < 320 for t in texts.values())
    # the next one only after twice the interval, and then four times
    later = now + timedelta(seconds=interval + 1)
    svc = console.gateway.services
    assert (await jobs.run_once(svc, later + timedelta(seconds=2 * interval - 5))).noticed == []
    assert len((await jobs.run_once(svc, later + timedelta(seconds=2 * interval + 1))).noticed) == 2
    assert len(await outbound(console, first)) == 2


async def test_no_notice_to_an_opted_out_or_claimed_texter(console: ConsoleServer) -> None:
    gone = await console.seed({}, ["hi"])
    claimed = await console.seed({}, ["hi"])
    async with console.db.transaction() as s:
        conv = await s.get(Conversation, gone)
        (await s.get(Texter, conv.texter_id)).opted_out = True
    (cid,) = await add_plain_users(console.db, 1)
    await queue.claim(console.db, claimed, cid)
    report = await jobs.run_once(console.gateway.services, utcnow() + timedelta(hours=2))
    assert report.noticed == []


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def test_long_high_risk_wait_alerts_once_with_page_event_and_webhook(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    server = await start_console(tmp_path, ALERT_WEBHOOK_URL=url, ALERT_HIGH_WAIT_SECONDS="300")
    try:
        events = server.gateway.hub.subscribe()
        high = await server.seed({"safe_now": "no", "screen_wish_dead": "yes"}, ["I feel like giving up"])
        low = await server.seed({"topic": "bored"}, ["hi"])
        async with server.db.session() as s:
            assert (await s.get(Conversation, high)).urgency_level == "high"
        soon = utcnow() + timedelta(seconds=200)
        assert (await jobs.run_once(server.gateway.services, soon)).alerts == []
        late = utcnow() + timedelta(seconds=301)
        report = await jobs.run_once(server.gateway.services, late)
        assert [a["conversation_id"] for a in report.alerts] == [high]
        assert (await jobs.run_once(server.gateway.services, late + timedelta(minutes=30))).alerts == []  # once only
        assert len(received) == 1
        assert set(received[0]) == {"conversation_id", "level", "wait_seconds"}
        assert received[0]["conversation_id"] == high and received[0]["level"] == "high"
        assert received[0]["wait_seconds"] >= 300
        seen = []
        while not events.empty():
            seen.append(events.get_nowait())
        assert any(e["type"] == "alert" and e["conversation_id"] == high for e in seen)
        assert not any(e["type"] == "alert" and e["conversation_id"] == low for e in seen)
        async with server.db.session() as s:
            assert (await s.get(Conversation, high)).alerted_at is not None
    finally:
        await stop_console(server)


async def test_silent_active_conversation_is_closed_but_waiting_ones_never(console: ConsoleServer) -> None:
    waiting = await console.seed({}, ["hi"])
    active = await console.seed({}, ["hi"])
    (cid,) = await add_plain_users(console.db, 1)
    await queue.claim(console.db, active, cid)
    idle = console.settings.idle_close_seconds
    assert (await jobs.run_once(console.gateway.services, utcnow() + timedelta(seconds=idle - 60))).closed == []
    report = await jobs.run_once(console.gateway.services, utcnow() + timedelta(seconds=idle + 60))
    assert report.closed == [(active, cid)]
    async with console.db.session() as s:
        closed = await s.get(Conversation, active)
        still = await s.get(Conversation, waiting)
    assert closed.state == "closed" and closed.closed_reason == "idle" and closed.report is None
    assert still.state == "waiting"
    assert [m.body for m in await outbound(console, active)] == [replies.IDLE_CLOSED]


async def test_job_loop_runs_and_stops(console: ConsoleServer) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(jobs.run_jobs(console.gateway, stop, interval=0.05))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 2)


def test_notice_text_is_short_and_warm() -> None:
    for pos in (1, 2, 3, 9):
        text = jobs.still_waiting_text(pos)
        assert len(text) < 320 and replies.EMERGENCY in text
    assert len(replies.IDLE_CLOSED) < 320
