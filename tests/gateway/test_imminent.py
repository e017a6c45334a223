"""An imminent-risk text during the intake goes to the head of the queue from the gateway itself, with the safety
text, without waiting for a Rasa turn (Rasa is down here: a fail-open would have sent the plain fail-open text
instead) and without waiting for an inbox worker busy with someone else."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from bot.handoff.queue import AgingRule, rank
from bot.sms import replies
from tests.gateway.test_webhook import PHONE, texter
from tests.support.ports import free_port
from tests.support.stack import gateway_env, in_process_gateway
from tests.support.store_queries import conversations
from tests.support.waiting import eventually

WAITING = "+15555550141"


async def test_imminent_text_jumps_the_queue_with_the_safety_text(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    assert await texter(gw, WAITING).text("hello? is anyone there") == 200  # already waiting (failed open)
    assert [m.body for m in await fake_twilio.wait_for(WAITING, 1)] == [replies.FAIL_OPEN]

    assert await texter(gw, PHONE).text("i swallowed all my pills just now. goodbye") == 200
    sent = await fake_twilio.wait_for(PHONE, 1)
    assert [m.body for m in sent] == [replies.IMMINENT]
    assert "911" in sent[0].body and "988" in sent[0].body and len(sent[0].body) <= 320

    async def queued() -> list:
        convs = [c for c in await conversations(gw.gateway.db) if c.state == "waiting"]
        assert len(convs) == 2
        return convs

    ranked = rank(await eventually(queued), AgingRule())
    head = ranked[0]
    assert head.urgency_level == "imminent"
    assert head.context["reason"] == "imminent" and head.context["urgency"]["reasons"]
    assert head.context["summary"]
    assert ranked[1].urgency_level != "imminent"


async def test_ordinary_texts_still_go_to_rasa(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    assert await texter(gw).text("i had a rough day at school and feel kind of down") == 200
    assert [m.body for m in await fake_twilio.wait_for(PHONE, 1)] == [replies.FAIL_OPEN]  # tried Rasa, failed open
    (conv,) = await conversations(gw.gateway.db)
    assert conv.context["reason"] == "fallback"


async def test_an_imminent_text_does_not_wait_for_a_busy_worker(database_url, fake_twilio, tmp_path):
    """One inbox worker, stuck on a Rasa that never answers (until RASA_TIMEOUT): an imminent text from someone
    else is still queued first within moments, not after the stuck turn."""
    hung = web.Application()
    never = asyncio.Event()

    async def stuck(_request: web.Request) -> web.Response:
        await never.wait()
        return web.json_response([])

    hung.router.add_post("/webhooks/rest/webhook", stuck)
    runner = web.AppRunner(hung)
    await runner.setup()
    rasa_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", rasa_port).start()
    env = gateway_env(tmp_path, database_url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{rasa_port}",
                      twilio=fake_twilio, RASA_TIMEOUT="30", INBOX_WORKERS="1")
    try:
        async with in_process_gateway(env) as gw:
            assert await texter(gw, WAITING).text("hi, can we talk") == 200  # takes the only worker, for 30 s
            await asyncio.sleep(0.5)
            started = time.monotonic()
            assert await texter(gw, PHONE).text("i'm on the bridge now and i'm going to jump") == 200
            sent = await fake_twilio.wait_for(PHONE, 1, timeout=10)
            assert time.monotonic() - started < 10  # the stuck turn would have held it 30 s
            assert [m.body for m in sent] == [replies.IMMINENT]
            (conv,) = [c for c in await conversations(gw.gateway.db) if c.state == "waiting"]
            assert conv.urgency_level == "imminent"
            assert fake_twilio.to(WAITING) == []  # the other texter's turn is still waiting on Rasa
            never.set()
    finally:
        never.set()
        await runner.cleanup()
