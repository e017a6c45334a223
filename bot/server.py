"""The gateway process as `python -m bot serve` runs it: the gateway app with the counselor console mounted."""

from __future__ import annotations

from aiohttp import web

from bot.console import setup as setup_console
from bot.gateway.app import create_app as gateway_app
from bot.settings import Settings


def create_app(settings: Settings | None = None, *, with_console: bool = True) -> web.Application:
    return gateway_app(settings, mounts=[setup_console] if with_console else [])
