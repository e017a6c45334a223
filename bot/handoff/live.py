"""Live updates: typed events, emitted by the owner of each change inside its transaction and published to the
console's subscribers once that transaction commits. Events reach this process's subscribers at once and, when a
relay is attached (``bus.PostgresBus``), the other gateways' too. Events carry ids and levels, never message bodies
or numbers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Conversation

EVENTS_KEY = "live_events"  # where a transaction's events wait for its commit (``session.info``)


@dataclass(frozen=True)
class LiveEvent:
    """One change the console shows; ``kind`` is the wire ``type``."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}


@dataclass(frozen=True)
class QueueChanged(LiveEvent):
    """Where a conversation stands now (state, urgency, counselor): every queue transition emits one."""

    kind: ClassVar[str] = "queue"
    conversation_id: str
    state: str
    level: str
    score: int
    counselor_id: int | None
    previous_counselor_id: int | None = None

    @classmethod
    def of(cls, conv: Conversation, previous_counselor_id: int | None = None) -> QueueChanged:
        return cls(conv.id, conv.state, conv.urgency_level or "none", int(conv.urgency_score or 0), conv.counselor_id,
                   previous_counselor_id)


@dataclass(frozen=True)
class ConversationOpened(LiveEvent):
    kind: ClassVar[str] = "conversation"
    conversation_id: str
    state: str = "intake"


@dataclass(frozen=True)
class MessageAdded(LiveEvent):
    """A text was added to a conversation's transcript (``direction`` "in" from the texter, "out" to them)."""

    kind: ClassVar[str] = "message"
    conversation_id: str
    direction: str


@dataclass(frozen=True)
class Delivery(LiveEvent):
    """An outbound text's delivery status changed."""

    kind: ClassVar[str] = "delivery"
    conversation_id: str
    message_id: int
    status: str
    error_code: int | None = None


@dataclass(frozen=True)
class Alert(LiveEvent):
    """Supervisors must look: imminent risk queued, or a high/imminent texter waiting too long."""

    kind: ClassVar[str] = "alert"
    conversation_id: str
    level: str
    why: str
    wait_seconds: int | None = None


@dataclass(frozen=True)
class OptedOut(LiveEvent):
    kind: ClassVar[str] = "opted_out"
    conversation_id: str | None


@dataclass(frozen=True)
class Transferred(LiveEvent):
    kind: ClassVar[str] = "transfer"
    conversation_id: str
    counselor_id: int | None
    previous_counselor_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "conversation_id": self.conversation_id, "counselor_id": self.counselor_id,
                "from": self.previous_counselor_id}


def emit(session: AsyncSession, event: LiveEvent) -> None:
    """Publish ``event`` once the session's transaction commits (owners call this; nobody builds dicts)."""
    session.info.setdefault(EVENTS_KEY, []).append(event)


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

    async def publish(self, event: LiveEvent) -> None:
        """An event that happened in this process: to local subscribers now, then to the other processes."""
        wire = event.to_dict()
        await self.deliver(wire)
        if self.relay is not None:
            await self.relay(wire)

    async def publish_all(self, events: Iterable[LiveEvent]) -> None:
        for event in events:
            await self.publish(event)

    async def committed(self, info: dict[str, Any]) -> None:
        """``Database.on_commit`` hook: publish what the committed transaction emitted."""
        events = info.pop(EVENTS_KEY, None)
        if events:
            await self.publish_all(events)

    async def deliver(self, event: dict[str, Any]) -> None:
        """To this process's subscribers only (events from other processes arrive here)."""
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)
