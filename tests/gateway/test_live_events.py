"""Live events are typed, emitted by the owner of a change inside its transaction, and published only once that
transaction commits: a rolled-back change is never announced, and every "queue" event carries its level."""

from __future__ import annotations

import pytest

from bot.handoff import queue
from bot.handoff.live import LiveHub
from bot.privacy import Privacy
from bot.sms.inbox import InboundText, Inbox
from bot.store.db import Database, migrate
from bot.store.models import CloseReason


@pytest.fixture
async def db(database_url: str):
    migrate(database_url)
    database = Database(database_url, pool_size=2)
    yield database
    await database.close()


async def test_events_are_published_after_commit_and_never_after_rollback(db: Database) -> None:
    hub = LiveHub()
    db.on_commit.append(hub.committed)
    events = hub.subscribe()
    received = await Inbox(db, Privacy("k"), "test").receive(InboundText("SM1", "+15555550111", "hi"))

    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            conv = await queue.open_intake(s, received.texter_id)
            raise RuntimeError("the change fails")
    assert events.empty()

    async with db.transaction() as s:
        conv = await queue.open_intake(s, received.texter_id)
        await Inbox.start(s, [received.message_id], conv.id)
        assert events.empty()  # not before the commit
    async with db.transaction() as s:
        conv = await queue.current(s, received.texter_id)
        await queue.close(s, conv, CloseReason.IDLE)
    published = [events.get_nowait() for _ in range(events.qsize())]
    assert [e["type"] for e in published] == ["conversation", "message", "queue"]
    assert published[-1] == {"type": "queue", "conversation_id": conv.id, "state": "closed", "level": "none",
                              "score": 0, "counselor_id": None, "previous_counselor_id": None}
