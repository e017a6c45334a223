"""Live updates: the router, outbox, jobs and console publish; console WebSockets subscribe. Events reach this
process's subscribers at once and, when a relay is attached (``bus.PostgresBus``), the other gateways' too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from bot.store.models import Conversation


class LiveHub:
    """Fan-out of small JSON events (no message bodies) to every subscriber; a slow subscriber drops events."""

    def __init__(self, maxsize: int = 256) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._maxsize = maxsize
        # Forwards each published event to the other gateway processes (None: this process is the only one).
        self.relay: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._maxsize)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    async def publish(self, event: dict[str, Any]) -> None:
        """An event that happened in this process: to local subscribers now, then to the other processes."""
        await self.deliver(event)
        if self.relay is not None:
            await self.relay(event)

    async def deliver(self, event: dict[str, Any]) -> None:
        """To this process's subscribers only (events from other processes arrive here)."""
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)


def queue_event(conv: Conversation, **extra: Any) -> dict[str, Any]:
    """The event every queue change publishes: where a conversation stands now (no bodies, no numbers)."""
    return {
        "type": "queue",
        "conversation_id": conv.id,
        "state": conv.state,
        "level": conv.urgency_level,
        "score": conv.urgency_score,
        "counselor_id": conv.counselor_id,
        **extra,
    }
