"""`make run` under trouble, with real processes: a text sent while Rasa loads waits for the intake; the Rasa server
killed mid-intake leaves the texter answered and queued and comes back; a killed gateway comes back; SIGTERM
leaves nothing behind. One runner start is shared, in this order (each test texts from its own number)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest
from sqlalchemy import create_engine, select

from bot.privacy import Privacy
from bot.runner import ROOT, rasa_env
from bot.sms import replies
from bot.store.db import sync_url
from bot.store.models import Conversation, Texter
from bot.texter import LocalTexter
from tests.runner.conftest import Runner, alive_in_groups, http_status, start_runner, wait_until

pytestmark = pytest.mark.e2e

LOAD_TIMEOUT = 600  # Rasa loads in 15-40 s alone; minutes when the machine is busy


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, trained_model: None) -> Iterator[Runner]:
    # The grace covers a load slowed down by whatever else runs on the machine (the default is 90 s).
    runner = start_runner(tmp_path_factory.mktemp("runner"), RASA_STARTUP_GRACE=str(LOAD_TIMEOUT))
    try:
        yield runner
    finally:
        runner.kill_everything()


async def text_and_read(runner: Runner, phone: str, body: str, timeout: float = 60) -> list[str]:
    """Text ``body`` through the signed webhook and return the replies that follow (from the local outbox)."""
    texter = LocalTexter(runner.settings, phone, runner.base)
    try:
        await texter.skip_old()
        async with aiohttp.ClientSession() as session:
            assert await texter.send(session, body) == 200
        return await texter.wait_replies(quiet=2.0, limit=timeout)
    finally:
        await texter.db.close()


def conversation_of(runner: Runner, phone: str) -> str | None:
    engine = create_engine(sync_url(runner.settings.database_url), future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(
                select(Conversation.id)
                .join(Texter, Texter.id == Conversation.texter_id)
                .where(Texter.phone_hash == Privacy(runner.settings.privacy_key).hash_phone(phone))
                .order_by(Conversation.created_at.desc())
            ).scalar()
    finally:
        engine.dispose()


def queue(runner: Runner) -> list[dict]:
    env = rasa_env() | runner.env
    out = subprocess.run([sys.executable, "-m", "bot", "queue", "--json"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout)


async def test_a_text_sent_while_rasa_loads_waits_and_gets_the_first_question(runner: Runner):
    await asyncio.to_thread(wait_until, lambda: http_status(runner.base + "/health") == 200, 120)
    ready_then = http_status(runner.base + "/ready")
    got = await text_and_read(runner, "+15555550601", "hi", timeout=LOAD_TIMEOUT)
    assert ready_then == 503, "the gateway came up after Rasa: nothing waited"  # the case under test happened
    assert got, runner.output()
    assert replies.FAIL_OPEN not in got
    assert "automated helper" in got[0]  # the intake's greeting and first question
    out = await asyncio.to_thread(runner.wait_output, "Ready in ", LOAD_TIMEOUT)
    assert http_status(runner.base + "/ready") == 200, out


async def test_rasa_killed_mid_intake_the_texter_is_answered_and_queued_and_rasa_comes_back(runner: Runner):
    await asyncio.to_thread(runner.wait_output, "Ready in ", LOAD_TIMEOUT)
    phone = "+15555550602"
    first = await text_and_read(runner, phone, "hi")
    assert first and replies.FAIL_OPEN not in first
    rasa_pid = runner.children()["rasa"]
    runner.remember_groups()
    os.kill(rasa_pid, signal.SIGKILL)

    got = await text_and_read(runner, phone, "my parents keep fighting and i feel alone")
    assert got and replies.FAIL_OPEN in got[0]
    conv_id = conversation_of(runner, phone)
    entry = next(r for r in await asyncio.to_thread(queue, runner) if r["conversation_id"] == conv_id)
    assert entry["state"] == "waiting"

    out = await asyncio.to_thread(runner.wait_output, "rasa exited with code -9; restarting in", 30)
    assert "Stopped" not in out  # the gateway and the actions went on
    await asyncio.to_thread(runner.wait_output, "Ready again", LOAD_TIMEOUT)
    assert http_status(runner.base + "/ready") == 200
    assert runner.children()["rasa"] != rasa_pid
    # And the line serves intakes again.
    again = await text_and_read(runner, "+15555550603", "hello")
    assert again and "automated helper" in again[0]


async def test_a_killed_gateway_is_restarted_and_answers(runner: Runner):
    await asyncio.to_thread(runner.wait_output, "Ready in ", LOAD_TIMEOUT)
    gateway_pid = runner.children()["gateway"]
    runner.remember_groups()
    os.kill(gateway_pid, signal.SIGKILL)
    await asyncio.to_thread(runner.wait_output, "gateway exited with code -9; restarting in", 30)
    await asyncio.to_thread(wait_until, lambda: http_status(runner.base + "/ready") == 200, 120)
    assert runner.children()["gateway"] != gateway_pid
    got = await text_and_read(runner, "+15555550604", "hi")
    assert got and "automated helper" in got[0]


def test_sigterm_stops_every_process_it_started(runner: Runner):
    pgids = runner.remember_groups()
    assert len(pgids) >= 4  # actions, rasa, gateway, the guard
    runner.popen.send_signal(signal.SIGTERM)
    assert runner.popen.wait(timeout=60) == 0
    assert alive_in_groups(pgids | {runner.popen.pid}) == {}
