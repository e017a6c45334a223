"""Abuse controls: a per-number flood limit and the staff block list; at most one notice, nobody starved."""

from __future__ import annotations

import asyncio

from bot.sms import replies
from bot.sms.blocklist import set_blocked
from tests.gateway.test_webhook import PHONE, texter
from tests.support.ports import free_port
from tests.support.stack import gateway_env, in_process_gateway
from tests.support.store_queries import inbound
from tests.support.waiting import eventually


async def _settled(gw, n: int) -> bool:
    rows = await inbound(gw.gateway.db)
    return len(rows) == n and all(r.status in ("processed", "ignored") for r in rows)


async def test_flooding_number_gets_one_notice_and_others_are_served(database_url, fake_twilio, tmp_path):
    env = gateway_env(tmp_path, database_url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}",
                      twilio=fake_twilio, RASA_TIMEOUT="1", RATE_LIMIT_PER_MINUTE="3")
    async with in_process_gateway(env) as gw:
        flood = texter(gw)
        for i in range(12):
            assert await flood.text(f"spam {i}") == 200
        calm = texter(gw, "+15555550150")
        assert await calm.text("I need help") == 200
        await fake_twilio.wait_for("+15555550150", 1)
        await eventually(lambda: _settled(gw, 13))
        await asyncio.sleep(0.5)
        notices = [m for m in fake_twilio.to(PHONE) if m.body == replies.RATE_LIMITED]
        assert len(notices) <= 1
        assert len(await inbound(gw.gateway.db)) == 13  # nothing lost


async def test_blocked_number_gets_one_notice_then_nothing(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    assert await set_blocked(gw.gateway.db, gw.gateway.privacy, PHONE, True, "abusive")
    t = texter(gw)
    for body in ("one", "two", "three"):
        assert await t.text(body) == 200
    await eventually(lambda: _settled(gw, 3))
    await asyncio.sleep(0.5)
    assert [m.body for m in fake_twilio.to(PHONE)] == [replies.BLOCKED]
    assert await set_blocked(gw.gateway.db, gw.gateway.privacy, PHONE, False)
    assert await t.text("sorry") == 200
    await fake_twilio.wait_for(PHONE, 2)
