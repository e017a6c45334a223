"""Console test fixtures: a running gateway with the console on a free loopback port (fresh SQLite), users of
each role, queue seeding (directly through queue.enqueue, or through the signed webhook with Rasa down), and
signed-in HTTP clients."""

from __future__ import annotations

import ast
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from argon2 import PasswordHasher
from sqlalchemy import select, update

from bot.console import auth
from bot.gateway.service import GATEWAY, Gateway
from bot.handoff import queue
from bot.handoff.context import HandoffContext, build_context
from bot.server import create_app
from bot.settings import Settings
from bot.store.db import Database, migrate
from bot.store.models import Conversation, Message, Texter, User, utcnow
from tests.support.ports import free_port
from tests.support.stack import Texter as WebhookTexter
from tests.support.stack import gateway_env, patched_env

PASSWORD = "a long test password"
CSRF_IN_PAGE = re.compile(r'data-csrf="([^"]+)"')
CSRF_IN_FORM = re.compile(r'name="csrf" value="([^"]+)"')


def new_phone() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


async def add_user(db: Database, username: str, role: str, *, max_active: int = 3) -> User:
    return await auth.create_user(db, username, PASSWORD, role, display_name=username.title(), max_active=max_active)


async def add_plain_users(db: Database, count: int, prefix: str = "c") -> list[int]:
    """Many counselor rows at once without hashing (for concurrency tests that never sign in)."""
    async with db.transaction() as s:
        users = [User(username=f"{prefix}{i}-{secrets.token_hex(3)}", password_hash="-", role="counselor")
                 for i in range(count)]
        s.add_all(users)
        await s.flush()
        return [u.id for u in users]


async def seed(
    db: Database,
    privacy: Any,
    answers: dict[str, Any] | None = None,
    texts: Sequence[str] = ("I don't know who else to talk to",),
    *,
    reason: str = "completed",
    waited: float = 0.0,
    phone: str | None = None,
) -> str:
    """One conversation put into the queue the way the handoff does it (context built by the real triage)."""
    phone = phone or new_phone()
    async with db.transaction() as s:
        texter_id = await s.scalar(select(Texter.id).where(Texter.phone_hash == privacy.hash_phone(phone)))
        if texter_id is None:
            t = Texter(phone_hash=privacy.hash_phone(phone), phone_enc=privacy.encrypt(phone))
            s.add(t)
            await s.flush()
            texter_id = t.id
        conv = Conversation(id="c_" + secrets.token_hex(8), texter_id=texter_id, state="intake")
        s.add(conv)
        await s.flush()
        for body in texts:
            s.add(Message(texter_id=texter_id, conversation_id=conv.id, direction="in", author="texter", body=body,
                          status="processed"))
        conv.last_inbound_at = utcnow()
        await queue.enqueue(s, conv, _context(reason, repr(sorted((answers or {}).items())), tuple(texts)))
        if waited:
            conv.queued_at = utcnow() - timedelta(seconds=waited)
        return conv.id


@lru_cache(maxsize=64)
def _context(reason: str, answers: str, texts: tuple[str, ...]) -> HandoffContext:
    """The real handoff context, built once per distinct intake (triage is the slow part of seeding)."""
    return build_context(reason, dict(ast.literal_eval(answers)), list(texts))


async def seed_many(db: Database, privacy: Any, count: int) -> list[str]:
    """``count`` waiting conversations of mixed urgency and wait (fast: one transaction each)."""
    mixes = [
        {"safe_now": "no", "screen_intent": "yes", "screen_plan": "yes"},
        {"safe_now": "no", "screen_wish_dead": "yes"},
        {"screen_wish_dead": "yes"},
        {"topic": "stress at school"},
        {},
    ]
    return [await seed(db, privacy, mixes[i % len(mixes)], waited=(i * 37) % 1500) for i in range(count)]


@dataclass
class ConsoleServer:
    """The gateway app with the console, running on loopback."""

    url: str
    gateway: Gateway
    settings: Settings
    runner: web.AppRunner
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def db(self) -> Database:
        return self.gateway.db

    async def seed(self, answers: dict[str, Any] | None = None, texts: Sequence[str] = ("hi",), **kw: Any) -> str:
        return await seed(self.db, self.gateway.privacy, answers, texts, **kw)

    def texter(self, phone: str | None = None) -> WebhookTexter:
        """A phone that texts the gateway through the signed webhook, as Twilio does."""
        return WebhookTexter(
            self.url, self.settings.twilio_auth_token, phone or new_phone(), self.settings.public_base_url
        )

    async def client(self) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(self.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.clients.append(session)
        return session

    async def signed_in(self, username: str, password: str = PASSWORD) -> tuple[aiohttp.ClientSession, str]:
        """A client signed in as ``username`` and its CSRF token."""
        session = await self.client()
        csrf = await sign_in(session, username, password)
        return session, csrf

    async def set_waited(self, conv_id: str, seconds: float) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                update(Conversation)
                .where(Conversation.id == conv_id)
                .values(queued_at=utcnow() - timedelta(seconds=seconds))
            )


async def sign_in(session: aiohttp.ClientSession, username: str, password: str = PASSWORD) -> str:
    async with session.get("/console/login") as resp:
        page = await resp.text()
    login_csrf = CSRF_IN_FORM.search(page).group(1)  # type: ignore[union-attr]
    async with session.post(
        "/console/login", data={"csrf": login_csrf, "username": username, "password": password, "next": "/console/"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        page = await resp.text()
    return CSRF_IN_PAGE.search(page).group(1)  # type: ignore[union-attr]


def console_env(tmp_path: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    """Gateway settings for a console test: local SMS outbox, Rasa on a closed port (texts fail open fast)."""
    return gateway_env(
        tmp_path, database_url, gateway_port=port, rasa_url=f"http://127.0.0.1:{free_port()}", twilio=None,
        RASA_TIMEOUT="1", **extra,
    )


async def start_console(tmp_path: Path, database_url: str | None = None, **extra: str) -> ConsoleServer:
    port = free_port()
    env = console_env(tmp_path, database_url or f"sqlite:///{tmp_path / 'console.db'}", port, **extra)
    with patched_env(env):
        settings = Settings.from_env()
    migrate(settings.database_url)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return ConsoleServer(f"http://127.0.0.1:{port}", app[GATEWAY], settings, runner)


async def stop_console(server: ConsoleServer) -> None:
    for c in server.clients:
        await c.close()
    await server.runner.cleanup()


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, with test-sized cost: the production parameters take ~0.5 s per hash on this machine."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    """The gateway with the console on a fresh SQLite database, and one user of each role."""
    server = await start_console(tmp_path)
    for name, role in (("ana", "counselor"), ("ben", "counselor"), ("sam", "supervisor"), ("ada", "admin")):
        await add_user(server.db, name, role)
    yield server
    await stop_console(server)
