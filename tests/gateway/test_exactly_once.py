"""Exactly-once turns into Rasa: a gateway stopped between Rasa's turn and recording it does not send the text to
Rasa again on restart; the reply Rasa gave then is read from its tracker and sent."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import update

from bot.gateway.rasa import RasaClient
from bot.store.models import Message
from tests.gateway.test_webhook import texter
from tests.support.ports import free_port
from tests.support.stack import RASA_TOKEN, gateway_env, in_process_gateway
from tests.support.store_queries import conversations, inbound
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

PHONE = "+15555550177"


async def _user_turns_carrying(rasa_url: str, conv_id: str, message_id: int) -> int:
    async with aiohttp.ClientSession() as http, http.get(
        f"{rasa_url}/conversations/{conv_id}/tracker", params={"token": RASA_TOKEN, "include_events": "ALL"}
    ) as resp:
        events = (await resp.json())["events"]
    return sum(
        1 for e in events
        if e.get("event") == "user" and message_id in ((e.get("metadata") or {}).get("message_ids") or [])
    )


async def test_a_turn_rasa_already_had_is_not_sent_again_and_its_reply_is_sent(
    database_url, fake_twilio, rasa_stack, tmp_path
):
    base = dict(rasa_url=rasa_stack.rasa_url, twilio=fake_twilio)
    # 1. A gateway that only stores (as one killed right after the webhook): the first text waits in the inbox.
    env = gateway_env(tmp_path, database_url, gateway_port=free_port(), INBOX_WORKERS="0", **base)
    async with in_process_gateway(env) as gw:
        assert await texter(gw, PHONE).text("hi, I need to talk to someone") == 200
        msg = (await inbound(gw.gateway.db))[0]
        # 2. What the killed worker had done: it began the text for a conversation, and Rasa took the turn.
        async with gw.gateway.db.transaction() as s:
            from bot.handoff import queue

            conv = await queue.open_intake(s, msg.texter_id)
            await s.execute(update(Message).where(Message.id == msg.id)
                            .values(status="processing", conversation_id=conv.id))
        conv_id = conv.id
        async with aiohttp.ClientSession() as http:
            first = await RasaClient(rasa_stack.rasa_url, 30, http, RASA_TOKEN).turn(
                conv_id, msg.body, {"message_ids": [msg.id]}
            )
        assert first.texts
    # 3. The restarted gateway finishes the text without a second Rasa turn, and the texter gets Rasa's reply.
    env = gateway_env(tmp_path, database_url, gateway_port=free_port(), **base)
    async with in_process_gateway(env) as gw:
        sent = await fake_twilio.wait_for(PHONE, len(first.texts))
        assert [m.body for m in sent][: len(first.texts)] == first.texts  # then, if it handed off, its place
        assert await eventually(lambda: _all_processed(gw))
    assert await _user_turns_carrying(rasa_stack.rasa_url, conv_id, msg.id) == 1
    assert [c.id for c in await conversations(gw.gateway.db)] == [conv_id]


async def _all_processed(gw) -> bool:
    return all(r.status == "processed" for r in await inbound(gw.gateway.db))
