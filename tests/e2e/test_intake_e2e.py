"""End to end through the real processes: a texter texts, Rasa runs the intake, the conversation lands in the
queue; imminent risk jumps the queue; a texter can ask for a person; forged webhooks leave no trace; Rasa dying
mid-intake fails open to the queue. Conversations use distinct numbers so the tests share one stack."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.sms import replies
from tests.e2e.conftest import Stack
from tests.support.fake_twilio import Failure
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


async def converse(stack: Stack, phone: str, answers: list[str], until_state: str = "waiting") -> list[str]:
    """Text each answer after the bot's previous reply; stop once the conversation reaches ``until_state``."""
    t = stack.texter(phone)
    seen = 0
    for answer in answers:
        assert await t.text(answer) == 200
        # Wait for the bot's answer to this text (one or more texts, then quiet).
        await stack.twilio.wait_for(phone, seen + 1, timeout=40)
        await asyncio.sleep(0.7)
        seen = len(stack.twilio.to(phone))
        entry = _entry_for(stack, phone)
        if entry and entry["state"] == until_state:
            break
    return [m.body for m in stack.twilio.to(phone)]


def _entry_for(stack: Stack, phone: str) -> dict | None:
    """This texter's latest conversation as `python -m bot queue --json` shows it (None if not queued)."""
    return _find_by_store(stack, phone, stack.queue())


def _find_by_store(stack: Stack, phone: str, rows: list[dict]) -> dict | None:
    from sqlalchemy import create_engine, select

    from bot.privacy import Privacy
    from bot.store.db import sync_url
    from bot.store.models import Conversation, Texter

    engine = create_engine(sync_url(stack.settings.database_url), future=True)
    try:
        with engine.connect() as conn:
            phone_hash = Privacy(stack.settings.privacy_key).hash_phone(phone)
            conv_id = conn.execute(
                select(Conversation.id)
                .join(Texter, Texter.id == Conversation.texter_id)
                .where(Texter.phone_hash == phone_hash)
                .order_by(Conversation.created_at.desc())
            ).scalar()
    finally:
        engine.dispose()
    return next((r for r in rows if r["conversation_id"] == conv_id), None)


async def test_full_intake_lands_in_the_queue_with_answers_and_urgency(stack: Stack):
    phone = "+15555550201"
    texts = await converse(
        stack, phone,
        ["hi", "my parents keep fighting and i feel really alone", "yeah im safe", "no", "nah", "no never", "16"],
    )
    assert "STOP" in texts[0]  # the greeting says what happens next and how to stop
    assert all(len(t) <= 320 for t in texts)
    entry = await eventually(lambda: asyncio.to_thread(_entry_for, stack, phone), timeout=30)
    assert entry["state"] == "waiting"
    assert entry["intake_complete"] is True and entry["handoff_reason"] == "completed"
    assert entry["urgency"]["level"] in ("none", "low")
    assert entry["summary"]
    assert "13-17" in entry["summary"]  # the age answer reached the counselor's summary
    assert isinstance(entry["waiting_seconds"], int)


async def test_a_failed_send_mid_reply_is_retried_and_the_reply_stays_in_order(stack: Stack):
    """The bot's texts for a turn go out the moment they are stored; when Twilio refuses the first (a 503), it is
    retried and the texts behind it wait for it: all arrive, once each, in order."""
    phone = "+15555550218"
    calm = stack.texter("+15555550219")
    assert await calm.text("hi") == 200  # the same greeting and first question, sent without trouble
    expected = [m.body for m in await stack.twilio.wait_for(calm.phone, 2, timeout=40)]
    await asyncio.sleep(0.7)
    expected = [m.body for m in stack.twilio.to(calm.phone)]
    assert len(expected) >= 2

    stack.twilio.failures.append(Failure(503, None, "Service Unavailable"))
    assert await stack.texter(phone).text("hi") == 200
    got = await stack.twilio.wait_for(phone, len(expected), timeout=40)
    await asyncio.sleep(1.0)  # nothing more, nothing doubled
    assert not stack.twilio.failures, "the failure was not met by this texter's reply"
    assert [m.body for m in stack.twilio.to(phone)] == expected == [m.body for m in got]


async def test_imminent_risk_goes_to_the_head_of_the_queue_within_seconds(stack: Stack):
    # Someone else is already waiting.
    await converse(stack, "+15555550202", ["hello", "just let me talk to someone"])
    phone = "+15555550203"
    started = time.monotonic()
    assert await stack.texter(phone).text("i already took all my pills, this is goodbye") == 200

    def at_head() -> bool:
        rows = stack.queue()
        entry = _entry_for(stack, phone)
        return bool(entry) and rows[0]["conversation_id"] == entry["conversation_id"]

    await eventually(lambda: asyncio.to_thread(at_head), timeout=20)
    elapsed = time.monotonic() - started
    entry = _entry_for(stack, phone)
    assert entry["urgency"]["level"] == "imminent"
    assert entry["urgency"]["reasons"]
    sent = await stack.twilio.wait_for(phone, 1)
    joined = " ".join(m.body for m in sent)
    assert "911" in joined and "988" in joined
    assert elapsed < 20


async def test_asking_for_a_person_hands_off_at_once(stack: Stack):
    phone = "+15555550204"
    texts = await converse(stack, phone, ["hey", "can i just talk to a real person"])
    entry = _entry_for(stack, phone)
    assert entry is not None and entry["state"] == "waiting"
    assert entry["handoff_reason"] == "requested"
    assert entry["intake_complete"] is False
    assert len(texts) >= 2


async def test_later_texts_go_to_the_transcript_not_to_rasa(stack: Stack):
    phone = "+15555550205"
    await converse(stack, phone, ["hi", "let me talk to someone please"])
    before = len(stack.twilio.to(phone))
    assert await stack.texter(phone).text("are you there? i keep thinking about killing myself tonight") == 200
    await asyncio.sleep(2)
    assert len(stack.twilio.to(phone)) == before  # the bot does not answer: a counselor will

    def risen() -> bool:
        entry = _entry_for(stack, phone)
        return bool(entry) and entry["urgency"]["level"] in ("high", "imminent", "moderate")

    await eventually(lambda: asyncio.to_thread(risen), timeout=15)


async def test_forged_signature_gets_403_and_leaves_no_trace(stack: Stack):
    phone = "+15555550206"
    t = stack.texter(phone)
    assert await t.post(t.form("hello"), signature="AAAAforged") == 403
    await asyncio.sleep(0.5)
    assert _find_by_store(stack, phone, stack.queue()) is None
    assert stack.twilio.to(phone) == []


async def test_rasa_killed_mid_intake_fails_open_then_comes_back(stack: Stack):
    import os
    import signal

    phone = "+15555550207"
    await converse(stack, phone, ["hi", "things are bad at home"], until_state="never")
    rasa = stack.proc("rasa")
    os.killpg(rasa.popen.pid, signal.SIGKILL)
    rasa.popen.wait(10)
    before = len(stack.twilio.to(phone))
    assert await stack.texter(phone).text("no") == 200
    sent = await stack.twilio.wait_for(phone, before + 1, timeout=30)
    assert sent[-1].body == replies.FAIL_OPEN
    entry = await eventually(lambda: asyncio.to_thread(_entry_for, stack, phone), timeout=20)
    assert entry["state"] == "waiting" and entry["intake_complete"] is False
    assert entry["handoff_reason"] == "fallback"

    # Rasa comes back: new conversations use it again.
    import subprocess

    from bot.runner import ROOT, rasa_env, wait_healthy

    env = rasa_env()
    env.update(stack.env)
    rasa.popen = subprocess.Popen(rasa.args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    await asyncio.to_thread(wait_healthy, rasa, 240)
    other = "+15555550208"
    texts = await converse(stack, other, ["hi"], until_state="never")
    assert texts and texts[0] != replies.FAIL_OPEN and "STOP" in texts[0]
