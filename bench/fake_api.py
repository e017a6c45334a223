"""The tests' fake Twilio REST API, observed: texters wait on the replies addressed to them without polling."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from tests.support.fake_twilio import FakeTwilio, SentMessage


class _ObservedList(list):
    """The fake API's message list; every accepted message is also filed under its recipient."""

    def __init__(self, owner: ObservedTwilio) -> None:
        super().__init__()
        self._owner = owner

    def append(self, msg: SentMessage) -> None:
        super().append(msg)
        self._owner.filed(msg)


@dataclass
class ObservedTwilio(FakeTwilio):
    by_phone: dict[str, list[SentMessage]] = field(default_factory=lambda: defaultdict(list))
    _arrived: dict[str, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.messages = _ObservedList(self)
        self.keep_alive_callbacks = True  # thousands of callbacks: one client, not one each

    def filed(self, msg: SentMessage) -> None:
        self.by_phone[msg.to].append(msg)
        event = self._arrived.get(msg.to)
        if event is not None:
            event.set()

    async def wait_count(self, phone: str, count: int, timeout: float) -> bool:
        """True once at least ``count`` messages to ``phone`` were accepted; False after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = self._arrived.setdefault(phone, asyncio.Event())
        while len(self.by_phone[phone]) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event.clear()
            if len(self.by_phone[phone]) >= count:
                break
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                return len(self.by_phone[phone]) >= count
        return True

    def forget(self, phone: str) -> None:
        self._arrived.pop(phone, None)
