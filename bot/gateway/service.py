"""The gateway's parts wired together (store, inbox, outbox, router, Rasa client, live hub) and its workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import aiohttp
from aiohttp import web

from bot import language
from bot.abuse.detector import warm_up as abuse_warm_up
from bot.gateway.rasa import RasaClient, Readiness
from bot.gateway.router import Router
from bot.handoff.bus import PostgresBus
from bot.handoff.jobs import run_jobs
from bot.handoff.live import LiveHub
from bot.handoff.queue import AgingRule
from bot.learning.registry import ModelWatcher
from bot.privacy import Privacy
from bot.services import Services
from bot.settings import Settings
from bot.sms.dispatch import Dispatcher
from bot.sms.inbox import InboundText, Inbox, Received, Risk
from bot.sms.outbox import Outbox, SendPolicy
from bot.sms.signature import SignatureChecker
from bot.sms.twilio_client import LocalSender, Sender, TwilioSender
from bot.store.db import Database, migrate
from bot.triage import assess, warm_up

log = logging.getLogger(__name__)

SCORED_CHARS = 1600  # what one SMS can hold: enough to read a text's risk, bounded for a huge body
LEASE_KEEP_SECONDS = 20.0  # a texter's lease is renewed this often while their texts are handled (it lasts 60 s)


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


def risk_of(body: str) -> Risk:
    """The triage's reading of one text alone: taken once, stored with the text, used by everyone after."""
    urgency = assess([body[:SCORED_CHARS]])
    return Risk(urgency.level, urgency.score)


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
        self.stop = asyncio.Event()
        self.outbox = Outbox(
            self.db,
            self.privacy,
            LocalSender(),  # replaced in start(): the Twilio client must be made inside the event loop
            status_callback=None if settings.local_sms else settings.public_base_url + "/twilio/status",
            policy=SendPolicy(timeout=settings.send_timeout, max_attempts=settings.send_max_attempts),
        )
        # After each commit: the live events it emitted go to the consoles, the texts it queued go out.
        self.db.on_commit += [self.hub.committed, self.outbox.committed]
        self.inbox_work: Dispatcher[int, int] = Dispatcher(
            self.inbox.lease_next_texter, self._handle_texter, concurrency=max(1, settings.inbox_workers),
            idle_wait=1.0, name="inbox",
        )
        self.services = Services(settings, self.db, self.privacy, self.hub, self.aging)
        self.readiness: Readiness | None = None  # whether Rasa and the actions answer (/ready, start-up grace)
        self.router: Router | None = None
        self.bus: PostgresBus | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        # Build the triage analyzer and the language detector before the port opens, so the first text is not kept
        # waiting for them.
        await asyncio.to_thread(warm_up)
        await asyncio.to_thread(language.warm_up)
        await asyncio.to_thread(abuse_warm_up)
        self.services.http = aiohttp.ClientSession()
        self.outbox.sender = make_sender(self.settings)
        if self.db.postgres:  # other gateways may share this database: their consoles hear our events and ours theirs
            self.bus = PostgresBus(self.settings.database_url, self.hub.deliver)
            self.bus.start()
            self.hub.relay = self.bus.relay
        self.readiness = Readiness(
            self.settings.rasa_url, self.settings.action_url, self.services.http, self.settings.rasa_startup_grace
        )
        rasa = RasaClient(self.settings.rasa_url, self.settings.rasa_timeout, self.services.http,
                          self.settings.rasa_token, self.readiness)
        self.router = Router(self.db, self.inbox, rasa, self.settings, self.aging)
        self._tasks = [asyncio.create_task(self.outbox.run(self.stop))]
        if self.settings.inbox_workers > 0:  # 0 = store only: another instance handles the texts
            self._tasks.append(asyncio.create_task(self.inbox_work.run(self.stop)))
        self._tasks.append(asyncio.create_task(run_jobs(self.services, self.stop)))
        self._tasks.append(asyncio.create_task(ModelWatcher.of(self.settings).run(self.stop)))
        self.inbox_work.wake.set()  # resume whatever a previous run stored but did not finish

    def request_stop(self) -> None:
        """Ask the workers to finish their current text and stop (aiohttp waits for them on shutdown)."""
        self.stop.set()
        self.inbox_work.wake.set()
        self.outbox.work.wake.set()

    async def close(self) -> None:
        self.request_stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.bus is not None:
            await self.bus.close()
        if self.services.http is not None:
            await self.services.http.close()
        await self.outbox.sender.close()
        await self.db.close()

    async def receive(self, text: InboundText) -> Received:
        """Store one inbound text (before Twilio gets its answer) and hand its texter to a worker: at once, beside
        the busy ones, when the text alone reads as imminent risk."""
        risk = risk_of(text.body)
        received = await self.db.urgent(lambda: self.inbox.receive(text, risk))
        if not received.duplicate and self.settings.inbox_workers > 0 and not self.stop.is_set():
            self.inbox_work.hint(received.texter_id, urgent=risk.level == "imminent")
        return received

    async def _handle_texter(self, texter_id: int) -> None:
        assert self.router is not None
        keeper = asyncio.create_task(self._keep_lease(texter_id))
        try:
            await self.router.handle_texter(texter_id)  # gives the lease back when done; a failure is retried
        finally:
            keeper.cancel()

    async def _keep_lease(self, texter_id: int) -> None:
        """Renew the lease while one turn outlasts it (a text waiting out Rasa's start-up grace), so no other
        worker takes the same text meanwhile."""
        while True:
            await asyncio.sleep(LEASE_KEEP_SECONDS)
            try:
                await self.inbox.renew(texter_id)
            except Exception:
                log.warning("inbox: lease renewal failed; retried")


GATEWAY = web.AppKey("gateway", Gateway)


def prepare_database(settings: Settings) -> None:
    migrate(settings.database_url)
