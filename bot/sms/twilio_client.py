"""Outbound SMS senders: the Twilio Messages API (async, timeout, pointed at TWILIO_API_BASE_URL) or the
local outbox used when no Twilio account is configured.

A sender makes ONE attempt and classifies the outcome; retries, backoff and ordering belong to the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Protocol

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

TWILIO_API = "https://api.twilio.com"
# Twilio's HTTP client logs query strings at INFO (a To= number when listing messages): keep it to warnings.
_twilio_log = logging.getLogger("bot.sms.twilio_http")
_twilio_log.setLevel(logging.WARNING)
OPTED_OUT_CODE = 21610


class Outcome(Enum):
    SENT = "sent"  # accepted by the API
    RETRY = "retry"  # 429, 5xx, network error before the request was sent: safe to send again
    AMBIGUOUS = "ambiguous"  # timed out after sending: check before sending again
    FAILED = "failed"  # a 4xx the request itself caused: do not retry
    OPTED_OUT = "opted_out"  # 21610: the number texted STOP


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    sid: str | None = None
    status: str | None = None
    error_code: int | None = None
    retry_after: float | None = None


class Sender(Protocol):
    async def send(self, to: str, body: str, status_callback: str | None) -> SendResult: ...

    async def find_sent(self, to: str, body: str, since: datetime) -> str | None: ...

    async def close(self) -> None: ...


class _RebasedHttpClient(AsyncTwilioHttpClient):
    """Twilio's own async HTTP client with the API host swapped (tests' fake API, or a proxy)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_twilio_log)
        self._base = base_url.rstrip("/")

    async def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if self._base != TWILIO_API and url.startswith(TWILIO_API):
            url = self._base + url[len(TWILIO_API) :]
        return await super().request(method, url, *args, **kwargs)


class TwilioSender:
    """Sends through the official twilio client's async API. Create it inside the running event loop."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str, base_url: str, timeout: float):
        self._http = _RebasedHttpClient(base_url, timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self._from = from_number

    async def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        kwargs = {"to": to, "from_": self._from, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            msg = await self._client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            if exc.code == OPTED_OUT_CODE:
                return SendResult(Outcome.OPTED_OUT, error_code=exc.code)
            if exc.status == 429:
                return SendResult(Outcome.RETRY, error_code=exc.code)
            if exc.status >= 500:  # the API may or may not have taken it
                return SendResult(Outcome.AMBIGUOUS, error_code=exc.code)
            return SendResult(Outcome.FAILED, error_code=exc.code)
        except asyncio.TimeoutError:
            return SendResult(Outcome.AMBIGUOUS)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            return SendResult(Outcome.AMBIGUOUS)
        except aiohttp.ClientError:  # connection refused / DNS: the request never reached Twilio
            return SendResult(Outcome.RETRY)
        return SendResult(Outcome.SENT, sid=msg.sid, status=str(msg.status) if msg.status else "queued")

    async def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """After an ambiguous failure: the sid of a message to ``to`` with this body sent since ``since``."""
        after = (since - timedelta(minutes=1)).replace(tzinfo=timezone.utc)
        try:
            found = await self._client.messages.list_async(to=to, date_sent_after=after, limit=50)
        except (TwilioRestException, aiohttp.ClientError, asyncio.TimeoutError):
            raise ConnectionError("cannot check Twilio for an earlier send") from None
        for msg in found:
            if (msg.body or "") == body:
                return msg.sid
        return None

    async def close(self) -> None:
        await self._http.close()


class LocalSender:
    """No Twilio account: texts are 'delivered' to the local outbox (the messages table) at once."""

    async def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        return SendResult(Outcome.SENT, sid="SMlocal" + secrets.token_hex(14), status="local")

    async def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        return None

    async def close(self) -> None:
        return None
