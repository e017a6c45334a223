"""The survey through the gateway: after a counselor closes, the texter is asked once; a reply is filed as feedback
and starts nothing, while a reply that says they are in crisis again starts a new conversation."""

from __future__ import annotations

from sqlalchemy import select

from bot.feedback.survey import QUESTION_1
from bot.handoff import jobs, queue
from bot.store.models import Survey
from tests.console.conftest import add_plain_users
from tests.gateway.test_webhook import PHONE, texter
from tests.support.ports import free_port
from tests.support.stack import gateway_env, in_process_gateway
from tests.support.store_queries import conversations
from tests.support.waiting import eventually


async def _surveys(gw) -> list[Survey]:
    async with gw.gateway.db.session() as s:
        return list(await s.scalars(select(Survey)))


async def test_a_survey_answer_is_filed_and_a_crisis_reply_starts_a_conversation(database_url, fake_twilio, tmp_path):
    env = gateway_env(tmp_path, database_url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}",
                      twilio=fake_twilio, RASA_TIMEOUT="1", SURVEY_DELAY_SECONDS="0")
    async with in_process_gateway(env) as gw:
        t = texter(gw)
        assert await t.text("hi, rough week") == 200  # Rasa is down here: straight to the queue
        (conv,) = await eventually(lambda: conversations(gw.gateway.db))
        await fake_twilio.wait_for(PHONE, 1)
        (counselor,) = await add_plain_users(gw.gateway.db, 1)
        await queue.claim(gw.gateway.db, conv.id, counselor)
        await queue.close_by_counselor(gw.gateway.db, conv.id, report=None, by_user_id=counselor)
        await jobs.run_once(gw.gateway.services)
        sent = await fake_twilio.wait_for(PHONE, 2)
        assert sent[-1].body == QUESTION_1

        assert await t.text("4") == 200
        async def answered() -> list[Survey]:
            return [s for s in await _surveys(gw) if s.score == 4]

        assert await eventually(answered)
        assert len(await conversations(gw.gateway.db)) == 1  # feedback starts nothing

        assert await t.text("actually i want to kill myself tonight") == 200
        async def reopened() -> list:
            return [c for c in await conversations(gw.gateway.db) if c.state != "closed"]

        assert await eventually(reopened)
