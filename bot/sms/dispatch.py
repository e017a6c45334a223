"""One leasing loop feeding a bounded number of concurrent handlers: how the durable inbox and outbox are worked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def lease_and_dispatch(
    lease: Callable[[], Awaitable[T | None]],
    handle: Callable[[T], Awaitable[object]],
    *,
    wake: asyncio.Event,
    stop: asyncio.Event,
    concurrency: int,
    idle_wait: float,
    name: str,
) -> None:
    """Lease work one item at a time and run up to ``concurrency`` handlers at once, until ``stop`` is set.

    Only this loop looks for work, so idle capacity costs nothing (no herd of idle workers querying the database
    on every wake-up). It looks again when ``wake`` is set, when a handler finishes, or after ``idle_wait``
    seconds. ``wake`` is cleared before each look, so work announced while the loop looks is never missed.
    On stop, the handlers in progress finish; on cancellation they are cancelled.
    """
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task] = set()

    async def run(item: T) -> None:
        try:
            await handle(item)
        except Exception:
            log.exception("%s: handling failed", name)
        finally:
            slots.release()
            wake.set()  # freed capacity, and whatever this item held back (a texter's next text) may be ready

    try:
        while not stop.is_set():
            await slots.acquire()
            wake.clear()
            try:
                item = await lease()
            except Exception:  # the database blipped: keep the loop alive
                log.exception("%s: lease failed", name)
                item = None
            if item is None:
                slots.release()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=idle_wait)
                continue
            task = asyncio.create_task(run(item))
            running.add(task)
            task.add_done_callback(running.discard)
    except asyncio.CancelledError:
        for task in running:
            task.cancel()
        raise
    finally:
        if running:
            await asyncio.gather(*running, return_exceptions=True)
