"""Polling helpers: wait for something the gateway does after it has answered the webhook."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Call ``check`` until it returns a truthy value (returned) or raises no AssertionError, or time out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: AssertionError | None = None
    while True:
        try:
            result = await check()
            if result:
                return result
        except AssertionError as exc:
            last_error = exc
        if loop.time() > deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
