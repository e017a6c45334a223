"""Abuse test fixtures: our own example texts, a migrated database on every backend, texters and conversations."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.privacy import Privacy
from bot.store.db import Database, migrate
from bot.store.models import Conversation, Message, Texter, utcnow

TEXTS = Path(__file__).with_name("texts.yml")
PRIVACY = Privacy("test-privacy-key")


def examples() -> dict[str, list[str]]:
    return yaml.safe_load(TEXTS.read_text(encoding="utf-8"))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    migrate(database_url)
    database = Database(database_url, pool_size=2)
    yield database
    await database.close()


def new_phone() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


async def add_texter(db: Database, phone: str | None = None) -> int:
    phone = phone or new_phone()
    async with db.transaction() as s:
        t = Texter(phone_hash=PRIVACY.hash_phone(phone), phone_enc=PRIVACY.encrypt(phone))
        s.add(t)
        await s.flush()
        return t.id


async def add_conversation(db: Database, texter_id: int, state: str = "active", **kw: Any) -> str:
    async with db.transaction() as s:
        conv = Conversation(id="c_" + secrets.token_hex(8), texter_id=texter_id, state=state, **kw)
        s.add(conv)
        await s.flush()
        return conv.id


async def add_inbound(db: Database, texter_id: int, body: str, at: datetime | None = None,
                      conversation_id: str | None = None) -> int:
    async with db.transaction() as s:
        m = Message(texter_id=texter_id, conversation_id=conversation_id, direction="in", author="texter", body=body,
                    status="processed", created_at=at or utcnow())
        s.add(m)
        await s.flush()
        return m.id
