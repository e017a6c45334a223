"""Live updates over /console/ws: who receives which LiveHub events (no bodies ever), across two counselors
and a supervisor, with events produced by real claims and real webhook texts."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bot.console.live import track_mine, visible
from tests.console.conftest import ConsoleServer


async def live(client: aiohttp.ClientSession, csrf: str) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect("/console/ws")
    await ws.send_json({"type": "hello", "csrf": csrf})
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    return ws


async def collect(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict[str, Any]]:
    got = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            got.append(await ws.receive_json(timeout=left))
        except asyncio.TimeoutError:
            break
    return got


def test_visibility_rules() -> None:
    mine: set[str] = set()
    track_mine({"type": "queue", "conversation_id": "c1", "state": "active", "counselor_id": 5}, 5, mine)
    assert mine == {"c1"}
    msg = {"type": "message", "conversation_id": "c1", "direction": "in"}
    assert visible(msg, role="counselor", user_id=5, mine=mine)
    assert not visible(msg, role="counselor", user_id=6, mine=set())
    assert visible(msg, role="supervisor", user_id=6, mine=set())
    assert visible({"type": "queue", "conversation_id": "c9"}, role="counselor", user_id=6, mine=set())
    assert not visible({"type": "alert", "conversation_id": "c9"}, role="counselor", user_id=6, mine=set())
    assert visible({"type": "opted_out", "conversation_id": "c9"}, role="counselor", user_id=6, mine=set())
    assert not visible({"type": "delivery", "conversation_id": "c9"}, role="counselor", user_id=6, mine=set())
    track_mine({"type": "queue", "conversation_id": "c1", "state": "active", "counselor_id": 7}, 5, mine)
    assert mine == set()
    assert visible({"type": "transfer", "conversation_id": "c1", "counselor_id": 7, "from": 5},
                   role="counselor", user_id=5, mine=mine)


async def test_claims_and_texts_reach_the_right_people(console: ConsoleServer) -> None:
    ana, ana_csrf = await console.signed_in("ana")
    ben, ben_csrf = await console.signed_in("ben")
    sam, sam_csrf = await console.signed_in("sam")
    ws_ana, ws_ben, ws_sam = await live(ana, ana_csrf), await live(ben, ben_csrf), await live(sam, sam_csrf)
    texter = console.texter()
    assert await texter.text("is someone there? I need to talk") == 200

    async def wait_for_queue() -> str:
        for _ in range(100):
            async with ana.get("/console/api/queue") as resp:
                waiting = (await resp.json())["waiting"]
            if waiting:
                return waiting[0]["conversation_id"]
            await asyncio.sleep(0.1)
        raise AssertionError("the text never reached the queue")

    conv_id = await wait_for_queue()
    for ws in (ws_ana, ws_ben, ws_sam):  # all saw the new conversation join the queue
        events = await collect(ws, 0.3)
        assert any(e["type"] == "queue" and e["conversation_id"] == conv_id for e in events)
    async with ana.post("/console/take-next", data={"csrf": ana_csrf}, headers={"X-Requested-With": "fetch"}) as r:
        assert (await r.json())["conversation_id"] == conv_id
    ben_events = await collect(ws_ben, 0.5)
    assert {"type": "queue", "conversation_id": conv_id, "state": "active"}.items() <= ben_events[-1].items()

    assert await texter.text("my brother keeps hitting me") == 200
    ana_events, ben_events, sam_events = await asyncio.gather(
        collect(ws_ana, 3.0), collect(ws_ben, 3.0), collect(ws_sam, 3.0)
    )
    assert any(e["type"] == "message" and e["conversation_id"] == conv_id for e in ana_events)
    assert any(e["type"] == "message" and e["conversation_id"] == conv_id for e in sam_events)
    assert not any(e["type"] == "message" for e in ben_events)  # not Ben's conversation
    for e in ana_events + ben_events + sam_events:
        assert "body" not in e and "brother" not in str(e)
    for ws in (ws_ana, ws_ben, ws_sam):
        await ws.close()
