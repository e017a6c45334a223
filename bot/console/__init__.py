"""Counselor console: accounts, queue, conversation screen, supervisor view, live updates (aiohttp pages)."""

from __future__ import annotations

from aiohttp import web

from bot.services import SERVICES, Services


def setup(app: web.Application, services: Services) -> None:
    """Mount the console's routes on the gateway app; the console uses only ``services``."""
    from bot.console.routes import add_routes

    app[SERVICES] = services
    add_routes(app)
