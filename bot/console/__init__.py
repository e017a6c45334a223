"""Counselor console: accounts, queue, conversation screen, supervisor view, live updates (aiohttp pages)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Mount the console's routes on the gateway app."""
    from bot.console.routes import add_routes

    add_routes(app)
