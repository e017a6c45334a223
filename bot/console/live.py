"""Live updates for console pages: a WebSocket per page forwards the LiveHub's small events (never message
bodies) that this user may see; the page then re-fetches the server-rendered part that changed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import select

from bot.console.auth import can_supervise, same_token
from bot.console.guard import current_session
from bot.services import SERVICES
from bot.store.models import Conversation

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
# Queue changes: everyone sees them (ids and levels only). STOP closes a waiting conversation, so it is one too.
QUEUE_WIDE = ("queue", "conversation", "opted_out")
PER_CONVERSATION = ("message", "delivery", "transfer")


class LiveRegistry:
    """Open console sockets: who is online (for the supervisor's loads) and what to close on shutdown."""

    def __init__(self) -> None:
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.online: Counter[int] = Counter()

    def online_ids(self) -> set[int]:
        return {uid for uid, n in self.online.items() if n > 0}

    async def close_all(self) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")


LIVE = web.AppKey("console_live", LiveRegistry)


def track_mine(event: Mapping[str, Any], user_id: int, mine: set[str]) -> None:
    """Keep the set of conversations assigned to this user current from claim/transfer/close events."""
    conv_id = event.get("conversation_id")
    if not conv_id or "counselor_id" not in event:
        return
    if event["counselor_id"] == user_id and event.get("state", "active") == "active":
        mine.add(conv_id)
    elif event.get("state") == "closed" or event["counselor_id"] != user_id:
        mine.discard(conv_id)


def visible(event: Mapping[str, Any], *, role: str, user_id: int, mine: set[str]) -> bool:
    """Supervisors see every event; a counselor sees queue changes and events of their own conversations."""
    if can_supervise(role):
        return True
    kind = event.get("type")
    if kind in QUEUE_WIDE:
        return True
    if kind in PER_CONVERSATION:
        return event.get("conversation_id") in mine or event.get("from") == user_id
    return False


async def _mine_now(request: web.Request, user_id: int) -> set[str]:
    gw = request.app[SERVICES]
    async with gw.db.session() as s:
        rows = await s.scalars(
            select(Conversation.id).where(Conversation.counselor_id == user_id, Conversation.state == "active")
        )
        return set(rows)


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /console/ws: the first client message must be {"type": "hello", "csrf": TOKEN}."""
    session = current_session(request)
    user = session.user
    gw = request.app[SERVICES]
    registry = request.app[LIVE]
    ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=4096)
    await ws.prepare(request)
    try:
        hello = await ws.receive(timeout=HELLO_TIMEOUT)
        data = json.loads(hello.data) if hello.type == WSMsgType.TEXT else {}
    except (asyncio.TimeoutError, ValueError):
        data = {}
    if data.get("type") != "hello" or not same_token(session.csrf_token, data.get("csrf")):
        await ws.close(code=4403, message=b"missing or wrong security token")
        return ws

    registry.sockets.add(ws)
    registry.online[user.id] += 1
    events = gw.hub.subscribe()
    mine = await _mine_now(request, user.id)
    reader = asyncio.create_task(_drain(ws))
    try:
        await ws.send_json({"type": "ready"})
        while not ws.closed:
            getter = asyncio.create_task(events.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                break
            event = getter.result()
            track_mine(event, user.id, mine)
            if visible(event, role=user.role, user_id=user.id, mine=mine):
                await ws.send_json(event)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        gw.hub.unsubscribe(events)
        reader.cancel()
        registry.online[user.id] -= 1
        registry.sockets.discard(ws)
        if not ws.closed:
            await ws.close()
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client messages until the socket closes; the server only talks on this socket."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break
