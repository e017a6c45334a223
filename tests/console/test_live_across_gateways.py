"""Two gateways on one PostgreSQL database (the scale-out topology): a counselor's console socket on one gateway
hears what happens on the other (a texter's webhook, a claim, a reply) through the live bus, exactly once, with no
bodies; a gateway whose bus connection is cut reconnects and hears again."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from bot.handoff.live import QueueChanged
from tests.console.conftest import ConsoleServer, add_user, start_console, stop_console
from tests.console.test_live import collect, live
from tests.support.databases import fresh_database

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the live bus is PostgreSQL LISTEN/NOTIFY (DATABASE_URL must point at PostgreSQL)",
)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[ConsoleServer, ConsoleServer]]:
    with fresh_database("postgresql", tmp_path) as url:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = await start_console(tmp_path / "a", url)
        b = await start_console(tmp_path / "b", url, PRIVACY_KEY=a.settings.privacy_key,
                                TWILIO_AUTH_TOKEN=a.settings.twilio_auth_token)
        try:
            for name, role in (("ana", "counselor"), ("ben", "counselor"), ("sam", "supervisor")):
                await add_user(a.db, name, role)
            for server in (a, b):
                assert server.gateway.bus is not None
                await asyncio.wait_for(server.gateway.bus.connected.wait(), 10)
            yield a, b
        finally:
            await stop_console(b)
            await stop_console(a)


async def until(ws: aiohttp.ClientWebSocketResponse, match: Any, seconds: float = 5.0) -> list[dict[str, Any]]:
    """Events on ``ws`` up to and including the first one ``match`` accepts; fails after ``seconds``."""
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        event = await ws.receive_json(timeout=left)
        got.append(event)
        if match(event):
            return got
    raise AssertionError(f"no matching event within {seconds} s; got {got}")


async def test_consoles_hear_the_other_gateway(pair: tuple[ConsoleServer, ConsoleServer]) -> None:
    a, b = pair
    ana, ana_csrf = await a.signed_in("ana")
    sam, sam_csrf = await a.signed_in("sam")
    ben, ben_csrf = await b.signed_in("ben")
    ws_ana, ws_sam, ws_ben = await live(ana, ana_csrf), await live(sam, sam_csrf), await live(ben, ben_csrf)

    texter = b.texter()  # the texter's webhook lands on gateway B; Ana and Sam watch gateway A
    assert await texter.text("can someone talk with me, everything is falling apart") == 200
    seen = await until(ws_ana, lambda e: e["type"] == "queue" and e["state"] == "waiting")
    conv_id = seen[-1]["conversation_id"]

    # Ben (on B) takes it; Ana and Sam (on A) see it become active, once.
    async with ben.post("/console/take-next", data={"csrf": ben_csrf}, headers={"X-Requested-With": "fetch"}) as r:
        assert (await r.json())["conversation_id"] == conv_id
    active = lambda e: e["type"] == "queue" and e.get("state") == "active"  # noqa: E731
    await until(ws_ana, active)
    await until(ws_sam, active)

    # The texter writes again (through gateway A this time): Ben, on B, hears it; Ana, not his counselor, does not.
    assert await a.texter(texter.phone).text("thank you for answering") == 200
    await until(ws_ben, lambda e: e["type"] == "message" and e["conversation_id"] == conv_id)
    await until(ws_sam, lambda e: e["type"] == "message" and e["conversation_id"] == conv_id)
    ana_all = seen + await collect(ws_ana, 1.0)
    assert not any(e["type"] == "message" for e in ana_all)
    for event in ana_all:
        assert "falling apart" not in str(event) and "thank you" not in str(event)
    for ws in (ws_ana, ws_sam, ws_ben):
        await ws.close()


async def test_each_event_arrives_once(pair: tuple[ConsoleServer, ConsoleServer]) -> None:
    a, b = pair
    sam, sam_csrf = await a.signed_in("sam")
    ws_sam = await live(sam, sam_csrf)
    await b.gateway.hub.publish(QueueChanged("from-b", "waiting", "none", 0, None))
    await a.gateway.hub.publish(QueueChanged("from-a", "waiting", "none", 0, None))
    events = [e for e in await collect(ws_sam, 1.5) if e["conversation_id"] in ("from-a", "from-b")]
    assert sorted(e["conversation_id"] for e in events) == ["from-a", "from-b"]
    await ws_sam.close()


async def test_bus_reconnects_after_its_connection_is_cut(pair: tuple[ConsoleServer, ConsoleServer]) -> None:
    a, b = pair
    bus = a.gateway.bus
    assert bus is not None and bus._conn is not None
    pid = bus._conn.get_server_pid()
    async with b.db.transaction() as s:  # as a database restart or failover would
        await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(100):
        if bus.connected.is_set() and bus._conn is not None and bus._conn.get_server_pid() != pid:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the bus did not reconnect")
    sam, sam_csrf = await a.signed_in("sam")
    ws_sam = await live(sam, sam_csrf)
    await b.gateway.hub.publish(QueueChanged("after-cut", "waiting", "none", 0, None))
    await until(ws_sam, lambda e: e["conversation_id"] == "after-cut")
    await ws_sam.close()
