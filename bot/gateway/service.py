"""The gateway's parts wired together (store, inbox, outbox, router, Rasa client, live hub) and its workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import aiohttp
from aiohttp import web

from bot.gateway.rasa import RasaClient
from bot.gateway.router import Router
from bot.handoff.jobs import run_jobs
from bot.handoff.live import LiveHub
from bot.handoff.queue import AgingRule
from bot.privacy import Privacy
from bot.settings import Settings
from bot.sms.inbox import Inbox
from bot.sms.outbox import Outbox, SendPolicy
from bot.sms.signature import SignatureChecker
from bot.sms.twilio_client import LocalSender, Sender, TwilioSender
from bot.store.db import Database, migrate
from bot.triage import warm_up

log = logging.getLogger(__name__)


def make_sender(settings: Settings) -> Sender:
    if settings.local_sms:
        return LocalSender()
    return TwilioSender(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_number,
        settings.twilio_api_base_url,
        settings.send_timeout,
    )


class Gateway:
    """Owns the gateway's resources for the lifetime of the app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.owner = "gw-" + secrets.token_hex(4)
        self.db = Database(settings.database_url)
        self.privacy = Privacy(settings.privacy_key)
        self.signatures = SignatureChecker(settings.twilio_auth_token, settings.public_base_url)
        self.hub = LiveHub()
        self.aging = AgingRule(settings.aging_points_per_minute, settings.aging_cap)
        self.inbox = Inbox(self.db, self.privacy, self.owner)
        self.wake_inbox = asyncio.Event()
        self.stop = asyncio.Event()
        self.outbox = Outbox(
            self.db,
            self.privacy,
            LocalSender(),  # replaced in start(): the Twilio client must be made inside the event loop
            status_callback=None if settings.local_sms else settings.public_base_url + "/twilio/status",
            policy=SendPolicy(timeout=settings.send_timeout, max_attempts=settings.send_max_attempts),
            on_change=self.hub.publish,
        )
        self.http: aiohttp.ClientSession | None = None
        self.router: Router | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        # Build the triage analyzer before the port opens, so the first text is not kept waiting for it.
        await asyncio.to_thread(warm_up)
        self.http = aiohttp.ClientSession()
        self.outbox.sender = make_sender(self.settings)
        rasa = RasaClient(self.settings.rasa_url, self.settings.rasa_timeout, self.http)
        self.router = Router(
            self.db, self.inbox, rasa, self.hub, self.settings, self.aging, self.outbox.wake
        )
        self._tasks = [asyncio.create_task(self._inbox_worker()) for _ in range(self.settings.inbox_workers)]
        self._tasks.append(asyncio.create_task(self.outbox.run(self.stop)))
        self._tasks.append(asyncio.create_task(run_jobs(self, self.stop)))
        self.wake_inbox.set()  # resume whatever a previous run stored but did not finish

    def request_stop(self) -> None:
        """Ask the workers to finish their current text and stop (aiohttp waits for them on shutdown)."""
        self.stop.set()
        self.wake_inbox.set()
        self.outbox.wake.set()

    async def close(self) -> None:
        self.request_stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.http is not None:
            await self.http.close()
        await self.outbox.sender.close()
        await self.db.close()

    async def _inbox_worker(self) -> None:
        assert self.router is not None
        while not self.stop.is_set():
            try:
                texter_id = await self.inbox.lease_next_texter()
            except Exception:
                log.exception("inbox: lease failed")
                await asyncio.sleep(1)
                continue
            if texter_id is None:
                self.wake_inbox.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake_inbox.wait(), timeout=1.0)
                continue
            self.wake_inbox.set()  # there may be more texters: let another worker look
            try:
                await self.router.handle_texter(texter_id)
            except Exception:
                log.exception("inbox: handling texter failed; the lease will expire and it is retried")
                continue
            await self.inbox.release(texter_id)


GATEWAY = web.AppKey("gateway", Gateway)


def prepare_database(settings: Settings) -> None:
    migrate(settings.database_url)
