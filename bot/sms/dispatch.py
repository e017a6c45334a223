"""One leasing loop feeding a bounded number of concurrent handlers: how the durable inbox and outbox are worked.

Work is found two ways, and both go through the same lease and the same handler: the loop looks in the database
(``lease(None)``), or someone who just made work says where it is (``hint``) so the loop leases exactly that,
without looking. An urgent hint (an imminent-risk text) is leased and handled at once, beside the busy handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

H = TypeVar("H")  # a hint: where new work is
T = TypeVar("T")  # leased work


class Dispatcher(Generic[H, T]):
    """Leases work one item at a time and runs up to ``concurrency`` handlers at once, until stopped.

    Only this loop looks for work, so idle capacity costs nothing (no herd of idle workers querying the database
    on every wake-up). It looks again when woken, when a handler finishes, or after ``idle_wait`` seconds; ``wake``
    is cleared before each look, so work announced while the loop looks is never missed. On stop, the handlers in
    progress finish; on cancellation they are cancelled.
    """

    def __init__(
        self,
        lease: Callable[[H | None], Awaitable[T | None]],
        handle: Callable[[T], Awaitable[object]],
        *,
        concurrency: int,
        idle_wait: float,
        name: str,
    ) -> None:
        self._lease = lease
        self._handle = handle
        self._slots = asyncio.Semaphore(concurrency)
        self._idle_wait = idle_wait
        self._name = name
        self._hints: deque[H] = deque()
        self._running: set[asyncio.Task] = set()
        self.wake = asyncio.Event()

    def hint(self, where: H, *, urgent: bool = False) -> None:
        """New work is at ``where``. Urgent work is leased and handled now, even when every slot is busy."""
        if urgent:
            self._track(asyncio.create_task(self._urgent(where)))
            return
        self._hints.append(where)
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self._slots.acquire()
                self.wake.clear()
                where = self._hints.popleft() if self._hints else None
                item = await self._safe_lease(where)
                if item is None:
                    self._slots.release()
                    if where is None:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self.wake.wait(), timeout=self._idle_wait)
                    continue
                self._track(asyncio.create_task(self._run_slot(item)))
        except asyncio.CancelledError:
            for task in self._running:
                task.cancel()
            raise
        finally:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)

    def _track(self, task: asyncio.Task) -> None:
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _safe_lease(self, where: H | None) -> T | None:
        try:
            return await self._lease(where)
        except Exception:  # the database blipped: keep the loop alive (a hint's work is found by a later look)
            log.exception("%s: lease failed", self._name)
            return None

    async def _safe_handle(self, item: T) -> None:
        try:
            await self._handle(item)
        except Exception:
            log.exception("%s: handling failed", self._name)

    async def _run_slot(self, item: T) -> None:
        try:
            await self._safe_handle(item)
        finally:
            self._slots.release()
            self.wake.set()  # freed capacity, and whatever this item held back (a texter's next text) may be ready

    async def _urgent(self, where: H) -> None:
        item = await self._safe_lease(where)
        if item is not None:
            await self._safe_handle(item)
            self.wake.set()
