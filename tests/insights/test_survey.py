"""The texter survey: sent once after the delay, never to an opted-out number, never after an abuse or opt-out
close, never while another conversation is open; answers filed, a call for help never filed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.feedback import survey
from bot.settings import Settings
from bot.store.db import Database, migrate
from bot.store.models import Message, Survey
from tests.insights import seeding
from tests.insights.seeding import at

SETTINGS = replace(Settings(), survey_delay_seconds=600, survey_reply_hours=24)
CLOSE = at(30)
DUE = CLOSE + timedelta(seconds=601)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    migrate(database_url)
    database = Database(database_url, pool_size=2)
    yield database
    await database.close()


async def closed_conv(db: Database, texter_id: int, **kw: object) -> str:
    args: dict = dict(created=at(0), queued=at(5), claimed=at(8), closed=CLOSE)
    args.update(kw)
    return await seeding.conversation(db, texter_id, **args)


async def outbound(db: Database, texter_id: int) -> list[str]:
    async with db.session() as s:
        return list(await s.scalars(select(Message.body).where(
            Message.texter_id == texter_id, Message.direction == "out", Message.author == "system")
            .order_by(Message.id)))


async def test_sent_once_after_the_delay(db: Database) -> None:
    t = await seeding.texter(db)
    conv = await closed_conv(db, t)
    assert await survey.send_due(db, SETTINGS, DUE - timedelta(seconds=2)) == []
    assert await survey.send_due(db, SETTINGS, DUE) == [conv]
    assert await survey.send_due(db, SETTINGS, DUE + timedelta(minutes=5)) == []
    assert await outbound(db, t) == [survey.QUESTION_1]
    assert len(survey.QUESTION_1) < 320


async def test_disabled_sends_nothing(db: Database) -> None:
    t = await seeding.texter(db)
    await closed_conv(db, t)
    assert await survey.send_due(db, replace(SETTINGS, survey_enabled=False), DUE) == []


async def test_never_to_opted_out_abuse_or_with_another_open_conversation(db: Database) -> None:
    opted = await seeding.texter(db, opted_out=True)
    await closed_conv(db, opted)
    abusive = await seeding.texter(db)
    await closed_conv(db, abusive, closed_reason="abuse")
    stopped = await seeding.texter(db)
    await closed_conv(db, stopped, closed_reason="opted_out")
    busy = await seeding.texter(db)
    await closed_conv(db, busy)
    await seeding.conversation(db, busy, created=at(40), state="waiting", queued=at(41), reason="completed")
    never_claimed = await seeding.texter(db)
    await closed_conv(db, never_claimed, claimed=None)
    ok = await seeding.texter(db)
    ok_conv = await closed_conv(db, ok)
    assert await survey.send_due(db, SETTINGS, DUE) == [ok_conv]
    for t in (opted, abusive, stopped, busy, never_claimed):
        assert await outbound(db, t) == []


async def test_opt_out_between_look_up_and_send_wins(db: Database) -> None:
    t = await seeding.texter(db)
    await closed_conv(db, t)
    due = await survey.due_surveys(db, SETTINGS, DUE)
    assert len(due) == 1
    async with db.transaction() as s:
        from bot.store.models import Texter
        (await s.get(Texter, t)).opted_out = True
    assert await survey.send_due(db, SETTINGS, DUE) == []
    assert await outbound(db, t) == []


async def test_one_survey_per_texter_and_old_closes_are_left_alone(db: Database) -> None:
    t = await seeding.texter(db)
    await closed_conv(db, t, closed=at(10))
    latest = await closed_conv(db, t)
    old = await seeding.texter(db)
    await closed_conv(db, old, closed=CLOSE - timedelta(days=3))
    assert await survey.send_due(db, SETTINGS, DUE) == [latest]
    assert await survey.send_due(db, SETTINGS, DUE + timedelta(hours=1)) == []


async def test_answers_are_filed_with_free_text(db: Database) -> None:
    t = await seeding.texter(db)
    conv = await closed_conv(db, t)
    await survey.send_due(db, SETTINGS, DUE)
    async with db.transaction() as s:
        first = await survey.take_reply(s, t, "4, it was good to talk", DUE + timedelta(minutes=3), settings=SETTINGS)
    assert first.kind == "filed" and first.conversation_id == conv and not first.start_conversation
    async with db.transaction() as s:
        second = await survey.take_reply(s, t, "yeah a bit", DUE + timedelta(minutes=4), settings=SETTINGS)
    assert second.kind == "filed"
    async with db.transaction() as s:
        after = await survey.take_reply(s, t, "hello again", DUE + timedelta(minutes=5), settings=SETTINGS)
    assert after.kind == "none" and after.start_conversation
    async with db.session() as s:
        row = await s.scalar(select(Survey).where(Survey.conversation_id == conv))
    assert (row.status, row.score, row.score_text, row.second, row.second_text) == (
        "answered", 4, "4, it was good to talk", "yes", "yeah a bit")
    assert await outbound(db, t) == [survey.QUESTION_1, survey.QUESTION_2, survey.THANKS]
    assert "988" in survey.THANKS and "911" in survey.THANKS


@pytest.mark.parametrize("text", ["I need to talk to someone again", "I want to kill myself tonight",
                                  "can someone help me please", "I'm not safe"])
async def test_a_call_for_help_is_never_filed(db: Database, text: str) -> None:
    t = await seeding.texter(db)
    conv = await closed_conv(db, t)
    await survey.send_due(db, SETTINGS, DUE)
    async with db.transaction() as s:
        outcome = await survey.take_reply(s, t, text, DUE + timedelta(minutes=1), settings=SETTINGS)
    assert outcome.kind == "new_conversation" and outcome.start_conversation and outcome.replies == []
    async with db.session() as s:
        row = await s.scalar(select(Survey).where(Survey.conversation_id == conv))
    assert row.status == "crisis" and row.score is None and row.score_text is None


async def test_late_replies_start_a_conversation(db: Database) -> None:
    t = await seeding.texter(db)
    await closed_conv(db, t)
    await survey.send_due(db, SETTINGS, DUE)
    async with db.transaction() as s:
        outcome = await survey.take_reply(s, t, "5", DUE + timedelta(hours=25), settings=SETTINGS)
    assert outcome.kind == "none"


def test_reading_answers() -> None:
    assert survey.read_score("5") == 5 and survey.read_score("I'd say 3") == 3
    assert survey.read_score("10") is None and survey.read_score("2 or 3") is None and survey.read_score("ok") is None
    assert survey.read_second("no") == "no" and survey.read_second("not sure") == "unsure"
    assert survey.read_second("yes") == "yes" and survey.read_second("hmm") is None
    assert not survey.is_crisis("4") and not survey.is_crisis("it helped, thanks")
