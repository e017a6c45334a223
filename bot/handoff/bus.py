"""Live events between gateway processes: PostgreSQL LISTEN/NOTIFY on one dedicated connection per gateway.

Several gateways behind a load balancer share one database; a counselor's console socket is open on one of them
while the texter's webhook, a claim or a delivery callback may land on another. Each gateway delivers its own
events locally at once (``LiveHub``) and relays them here; every other gateway's listener hands them to its local
subscribers. Events are small and hold no message bodies or numbers (see ``live.LiveEvent``). If the connection
drops, events are delivered locally only until it is back (consoles also refresh when their socket reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "crisis_live"
MAX_PAYLOAD = 7900  # PostgreSQL's NOTIFY limit is 8000 bytes; larger events stay local
RECONNECT_MAX = 15.0

Deliver = Callable[[dict[str, Any]], Awaitable[None]]


def asyncpg_dsn(database_url: str) -> str:
    """A libpq-style DSN asyncpg accepts, from DATABASE_URL (any postgresql+driver:// form)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresBus:
    """Relays this gateway's live events to the others and delivers theirs to ``deliver``."""

    def __init__(self, database_url: str, deliver: Deliver) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.deliver = deliver
        self.origin = secrets.token_hex(6)
        self.connected = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._send_lock = asyncio.Lock()  # one query at a time on the connection
        self._task: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._pending):
            task.cancel()
        await self._drop()

    async def relay(self, event: dict[str, Any]) -> None:
        """NOTIFY the other gateways; never raises (the event has already been delivered locally)."""
        payload = json.dumps({"origin": self.origin, "event": event}, separators=(",", ":"), default=str)
        conn = self._conn
        if conn is None or conn.is_closed() or len(payload.encode()) > MAX_PAYLOAD:
            return
        try:
            async with self._send_lock:
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            log.warning("live bus: relay failed; events stay local until it reconnects")

    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.dsn, timeout=10)
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self._conn = conn
                self.connected.set()
                delay = 0.5
                log.info("live bus: listening on PostgreSQL channel %s", CHANNEL)
                await lost.wait()
                log.warning("live bus: connection lost; reconnecting")
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, asyncio.TimeoutError):
                log.warning("live bus: cannot connect; retrying in %.1f s", delay)
            self.connected.clear()
            await self._drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("origin") == self.origin:
                return  # ours: already delivered locally
            event = message["event"]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("live bus: ignored a malformed notification")
            return
        task = asyncio.get_running_loop().create_task(self.deliver(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
