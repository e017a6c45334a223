"""/health (the gateway and its database) and /ready (also Rasa and the actions) are separate; a text that arrives
while Rasa has not answered yet waits at most the start-up grace, then fails open."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from bot.sms import replies
from tests.support.fake_twilio import FakeTwilio
from tests.support.ports import free_port
from tests.support.stack import RunningGateway, Texter, gateway_env, in_process_gateway

PHONE = "+15555550701"


async def get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json()


async def test_alive_but_not_ready_while_rasa_and_the_actions_are_down(gateway_without_rasa: RunningGateway):
    status, body = await get(gateway_without_rasa.url + "/health")
    assert status == 200 and body["database"] == "ok"
    status, body = await get(gateway_without_rasa.url + "/ready")
    assert status == 503
    assert body == {"status": "not ready", "database": "ok", "rasa": "down", "actions": "down"}


async def test_a_text_waits_out_the_start_up_grace_then_fails_open(
    database_url: str, fake_twilio: FakeTwilio, tmp_path: Path
):
    grace = 3.0
    env = gateway_env(
        tmp_path, database_url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}",
        twilio=fake_twilio, RASA_TIMEOUT="2", RASA_STARTUP_GRACE=str(grace), ACTION_PORT=str(free_port()),
    )
    async with in_process_gateway(env) as gw:
        started = time.monotonic()
        assert await Texter(gw.url, gw.settings.twilio_auth_token, PHONE).text("hi") == 200
        sent = await fake_twilio.wait_for(PHONE, 1, timeout=30)
        waited = time.monotonic() - started
    assert sent[0].body == replies.FAIL_OPEN  # never silence: Rasa never came, the texter is told a person is
    assert waited >= grace - 1.0  # it waited for Rasa first (the grace runs from the gateway's start)
