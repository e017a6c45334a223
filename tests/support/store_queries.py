"""Read-only queries tests use to check what the gateway stored."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.store.db import Database
from bot.store.models import Conversation, Message, Texter


async def inbound(db: Database) -> list[Message]:
    async with db.session() as s:
        return list(await s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)))


async def outbound(db: Database) -> list[Message]:
    async with db.session() as s:
        return list(await s.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)))


async def conversations(db: Database) -> list[Conversation]:
    async with db.session() as s:
        return list(await s.scalars(select(Conversation).order_by(Conversation.created_at)))


async def texters(db: Database) -> list[Texter]:
    async with db.session() as s:
        return list(await s.scalars(select(Texter)))


async def count_messages(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Message)) or 0)
