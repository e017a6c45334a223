"""The local texter: text the running assistant from a terminal through the same signed-webhook path Twilio
uses, and read its SMS replies from the local outbox (no Twilio account needed)."""

from __future__ import annotations

import asyncio
import secrets
import sys

import aiohttp
from sqlalchemy import select

from bot.privacy import Privacy
from bot.settings import Settings
from bot.sms.signature import sign
from bot.store.db import Database
from bot.store.models import Message, Texter

DELIVERED = ("local", "sent", "delivered")


def webhook_form(settings: Settings, phone: str, body: str, *, num_media: int = 0) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS."""
    form = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": phone,
        "To": settings.twilio_number,
        "Body": body,
        "NumMedia": str(num_media),
        "NumSegments": "1",
    }
    return form


class LocalTexter:
    """One pretend phone: sends signed webhooks, reads the replies addressed to it."""

    def __init__(self, settings: Settings, phone: str, gateway_url: str) -> None:
        self.settings = settings
        self.phone = phone
        self.gateway_url = gateway_url.rstrip("/")
        self.db = Database(settings.database_url, pool_size=1)
        self.phone_hash = Privacy(settings.privacy_key).hash_phone(phone)
        self.last_seen = 0

    async def send(self, session: aiohttp.ClientSession, body: str) -> int:
        form = webhook_form(self.settings, self.phone, body)
        signature = sign(self.settings.twilio_auth_token, self.settings.public_base_url + "/twilio/sms", form)
        async with session.post(
            self.gateway_url + "/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
        ) as resp:
            return resp.status

    async def replies(self) -> list[str]:
        async with self.db.session() as s:
            texter_id = await s.scalar(select(Texter.id).where(Texter.phone_hash == self.phone_hash))
            if texter_id is None:
                return []
            rows = list(
                await s.execute(
                    select(Message.id, Message.body)
                    .where(
                        Message.texter_id == texter_id,
                        Message.direction == "out",
                        Message.status.in_(DELIVERED),
                        Message.id > self.last_seen,
                    )
                    .order_by(Message.id)
                )
            )
        if rows:
            self.last_seen = rows[-1][0]
        return [r[1] for r in rows]

    async def skip_old(self) -> None:
        await self.replies()

    async def wait_replies(self, quiet: float = 2.0, limit: float = 30.0) -> list[str]:
        """Replies until none has come for ``quiet`` seconds after the first (or ``limit`` passes)."""
        got: list[str] = []
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        while loop.time() - start < limit:
            new = await self.replies()
            if new:
                got.extend(new)
                last = loop.time()
            elif got and loop.time() - last >= quiet:
                break
            await asyncio.sleep(0.2)
        return got


async def chat(settings: Settings, phone: str, gateway_url: str) -> None:
    texter = LocalTexter(settings, phone, gateway_url)
    await texter.skip_old()
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"Texting as {phone}. Type a message and press Enter; Ctrl-D to quit.", flush=True)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        while True:
            if interactive:
                print("you> ", end="", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            status = await texter.send(session, line.rstrip("\n"))
            if status != 200:
                print(f"(gateway answered HTTP {status})", flush=True)
                continue
            for reply in await texter.wait_replies():
                print(f"bot> {reply}", flush=True)
    await texter.db.close()
