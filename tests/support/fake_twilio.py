"""A fake Twilio REST API (Messages resource) served on loopback, for tests and benchmarks.

It speaks the real wire format, so the official twilio client talks to it unchanged (pointed at it with
TWILIO_API_BASE_URL). Failure modes are scripted per test: HTTP errors with Twilio error codes, a server that
accepts the message but answers too late (an ambiguous send), and opted-out numbers (21610). It can post signed
delivery status callbacks back to the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.sms.signature import sign


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    created: datetime
    received_at: float  # loop time, for latency measurements


@dataclass
class Failure:
    status: int
    code: int | None = None
    message: str = "fake failure"


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "f" * 32
    auth_token: str = "fake-auth-token"
    messages: list[SentMessage] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # consumed one per POST, before any success
    opted_out: set[str] = field(default_factory=set)
    slow_accepts: int = 0  # this many POSTs are stored, then answered after `slow_seconds` (ambiguous sends)
    slow_seconds: float = 30.0
    auto_status: str | None = None  # e.g. "delivered": post this status callback after each accepted message
    status_auth_token: str | None = None  # token to sign callbacks with (the gateway's)
    keep_alive_callbacks: bool = False  # post callbacks over one kept-alive client (the benchmark's load)
    requests: int = 0
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _callbacks: aiohttp.ClientSession | None = None
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        base = "/2010-04-01/Accounts/{account}/Messages.json"
        app.router.add_post(base, self._create)
        app.router.add_get(base, self._list)
        return app

    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._callbacks is not None:
            await self._callbacks.close()
            self._callbacks = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def to(self, phone: str) -> list[SentMessage]:
        return [m for m in self.messages if m.to == phone]

    async def wait_for(self, phone: str, count: int, timeout: float = 30.0) -> list[SentMessage]:
        """Wait until ``count`` messages to ``phone`` arrived; returns them (raises on timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.to(phone)) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} texts to {phone}, got {len(self.to(phone))}")
            await asyncio.sleep(0.05)
        return self.to(phone)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}" and request.match_info["account"] == self.account_sid

    @staticmethod
    def _error(status: int, code: int | None, message: str) -> web.Response:
        return web.json_response(
            {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
             "status": status},
            status=status,
        )

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if not to or not body:
            return self._error(400, 21602, "Message body is required.")
        if self.failures:
            failure = self.failures.pop(0)
            return self._error(failure.status, failure.code, failure.message)
        if to in self.opted_out:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        msg = SentMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=str(form.get("From", "")),
            body=body,
            status_callback=str(form["StatusCallback"]) if form.get("StatusCallback") else None,
            created=datetime.now(timezone.utc),
            received_at=asyncio.get_running_loop().time(),
        )
        self.messages.append(msg)
        if self.slow_accepts > 0:
            self.slow_accepts -= 1
            await asyncio.sleep(self.slow_seconds)
        if self.auto_status and msg.status_callback:
            asyncio.get_running_loop().create_task(self.post_status(msg, self.auto_status))
        return web.json_response(self._resource(msg, "queued"), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        to = request.query.get("To")
        found = [m for m in self.messages if to is None or m.to == to]
        return web.json_response(
            {
                "messages": [self._resource(m, "sent") for m in reversed(found)],
                "page": 0,
                "page_size": 50,
                "uri": request.path_qs,
                "first_page_uri": request.path_qs,
                "next_page_uri": None,
                "previous_page_uri": None,
                "start": 0,
                "end": max(0, len(found) - 1),
            }
        )

    def _resource(self, msg: SentMessage, status: str) -> dict[str, Any]:
        stamp = format_datetime(msg.created)
        return {
            "sid": msg.sid,
            "account_sid": self.account_sid,
            "to": msg.to,
            "from": msg.from_,
            "body": msg.body,
            "status": status,
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": stamp,
            "date_updated": stamp,
            "date_sent": stamp,
            "price": None,
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{msg.sid}.json",
            "subresource_uris": {},
        }

    async def post_status(self, msg: SentMessage, status: str, error_code: int | None = None) -> int:
        """POST a delivery status callback to the message's StatusCallback URL, signed like Twilio."""
        assert msg.status_callback, "message was sent without a StatusCallback"
        form = {
            "MessageSid": msg.sid,
            "SmsSid": msg.sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": msg.to,
            "From": msg.from_,
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        headers = {"X-Twilio-Signature": sign(self.status_auth_token or self.auth_token, msg.status_callback, form)}
        if self.keep_alive_callbacks:
            if self._callbacks is None:
                self._callbacks = aiohttp.ClientSession()
            async with self._callbacks.post(msg.status_callback, data=form, headers=headers) as resp:
                await resp.read()
                return resp.status
        async with aiohttp.ClientSession() as session, session.post(
            msg.status_callback, data=form, headers=headers
        ) as resp:
            return resp.status


class FakeTwilioThread:
    """The fake API on its own event loop in a thread, for module-scoped fixtures that outlive a test's loop."""

    def __init__(self) -> None:
        import threading

        self.fake = FakeTwilio()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.fake.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FakeTwilio:
        self._thread.start()
        self._ready.wait(10)
        return self.fake

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
