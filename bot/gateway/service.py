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
from bot.handoff.bus import PostgresBus
from bot.handoff.jobs import run_jobs
from bot.handoff.live import LiveHub
from bot.handoff.queue import AgingRule
from bot.learning.registry import ModelWatcher
from bot.privacy import Privacy
from bot.settings import Settings
from bot.sms.dispatch import lease_and_dispatch
from bot.sms.inbox import Inbox
from bot.sms.outbox import Outbox, SendPolicy
from bot.sms.signature import SignatureChecker
from bot.sms.twilio_client import LocalSender, Sender, TwilioSender
from bot.store.db import Database, migrate
from bot.triage import assess, warm_up

log = logging.getLogger(__name__)

EXPEDITE_CHARS = 1600  # what one SMS can hold: enough to read a text's risk, bounded for a huge body


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
        self.bus: PostgresBus | None = None
        self._expedited: set[asyncio.Task] = set()  # imminent texts handled outside the inbox workers
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        # Build the triage analyzer before the port opens, so the first text is not kept waiting for it.
        await asyncio.to_thread(warm_up)
        self.http = aiohttp.ClientSession()
        self.outbox.sender = make_sender(self.settings)
        if self.db.postgres:  # other gateways may share this database: their consoles hear our events and ours theirs
            self.bus = PostgresBus(self.settings.database_url, self.hub.deliver)
            self.bus.start()
            self.hub.relay = self.bus.relay
        rasa = RasaClient(self.settings.rasa_url, self.settings.rasa_timeout, self.http)
        self.router = Router(
            self.db, self.inbox, rasa, self.hub, self.settings, self.aging, self.outbox
        )
        self._tasks = [asyncio.create_task(self.outbox.run(self.stop))]
        if self.settings.inbox_workers > 0:  # 0 = store only: another instance handles the texts
            self._tasks.append(asyncio.create_task(self._work_inbox()))
        self._tasks.append(asyncio.create_task(run_jobs(self, self.stop)))
        self._tasks.append(asyncio.create_task(ModelWatcher.of(self.settings).run(self.stop)))
        self.wake_inbox.set()  # resume whatever a previous run stored but did not finish

    def request_stop(self) -> None:
        """Ask the workers to finish their current text and stop (aiohttp waits for them on shutdown)."""
        self.stop.set()
        self.wake_inbox.set()
        self.outbox.wake.set()

    async def close(self) -> None:
        self.request_stop()
        for task in [*self._tasks, *self._expedited]:
            task.cancel()
        for task in [*self._tasks, *self._expedited]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.bus is not None:
            await self.bus.close()
        if self.http is not None:
            await self.http.close()
        await self.outbox.sender.close()
        await self.db.close()

    async def _work_inbox(self) -> None:
        """Lease texters with unhandled texts and handle up to INBOX_WORKERS of them at once."""
        await lease_and_dispatch(
            self.inbox.lease_next_texter, self._handle_texter, wake=self.wake_inbox, stop=self.stop,
            concurrency=self.settings.inbox_workers, idle_wait=1.0, name="inbox",
        )

    def expedite_if_imminent(self, texter_id: int, body: str) -> None:
        """A text that alone reads as imminent risk is handled at once, beside the INBOX_WORKERS busy with others,
        instead of waiting for a free one behind older texts (the router then ends the intake and queues it
        first). If the texter is already being handled, that worker takes the text next, as usual."""
        if self.router is None or self.stop.is_set():
            return
        task = asyncio.create_task(self._expedite(texter_id, body))  # scored after Twilio has its answer
        self._expedited.add(task)
        task.add_done_callback(self._expedited.discard)

    async def _expedite(self, texter_id: int, body: str) -> None:
        if assess([body[:EXPEDITE_CHARS]]).level != "imminent":
            return
        try:
            if not await self.inbox.lease_texter(texter_id):
                return
        except Exception:
            log.exception("inbox: urgent lease failed; the text waits for a worker")
            return
        log.info("inbox: imminent-risk text expedited")
        await self._handle_texter(texter_id)

    async def _handle_texter(self, texter_id: int) -> None:
        assert self.router is not None
        try:
            await self.router.handle_texter(texter_id)  # gives the lease back when done
        except Exception:
            log.exception("inbox: handling texter failed; the lease will expire and it is retried")


GATEWAY = web.AppKey("gateway", Gateway)


def prepare_database(settings: Settings) -> None:
    migrate(settings.database_url)
