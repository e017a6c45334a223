"""The narrow set of the running gateway's shared objects that the console and the periodic jobs use (never the
gateway itself): settings, the store, privacy, the live hub, the queue's aging rule, an HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bot.handoff.live import LiveHub
from bot.handoff.queue import AgingRule
from bot.privacy import Privacy
from bot.settings import Settings
from bot.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    privacy: Privacy
    hub: LiveHub
    aging: AgingRule
    http: aiohttp.ClientSession | None = None


SERVICES = web.AppKey("services", Services)
