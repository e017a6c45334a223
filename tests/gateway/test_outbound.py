"""The outbound path: retries with backoff, no duplicate after an ambiguous failure, order, status callbacks."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.sms import outbox
from bot.store.models import AuditEvent, Message
from tests.gateway.test_webhook import PHONE, texter
from tests.support.fake_twilio import Failure
from tests.support.store_queries import outbound
from tests.support.waiting import eventually


async def _outbound_statuses(gw) -> list[str]:
    return [m.status for m in await outbound(gw.gateway.db)]


async def _statuses_become(gw, expected: list[str], timeout: float = 20) -> None:
    async def check() -> bool:
        assert await _outbound_statuses(gw) == expected
        return True

    await eventually(check, timeout=timeout)


async def test_twilio_api_down_then_back(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    port = int(fake_twilio.url.rsplit(":", 1)[1])
    await fake_twilio.stop()  # connection refused
    assert await texter(gw).text("hello") == 200  # the webhook does not depend on the API
    await eventually(lambda: _attempted(gw), timeout=10)
    await fake_twilio.start(port)
    sent = await fake_twilio.wait_for(PHONE, 1, timeout=40)
    assert len(sent) == 1
    await _statuses_become(gw, ["sent"])


async def _attempted(gw) -> bool:
    rows = await outbound(gw.gateway.db)
    return bool(rows) and rows[0].attempts >= 1


async def test_429_and_5xx_are_retried_4xx_is_not(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    fake_twilio.failures = [Failure(429, 20429, "Too Many Requests"), Failure(503, None, "unavailable")]
    assert await texter(gw).text("first") == 200
    await fake_twilio.wait_for(PHONE, 1, timeout=30)
    await _statuses_become(gw, ["sent"])

    fake_twilio.failures = [Failure(400, 21211, "Invalid 'To' Phone Number")]
    other = "+15555550177"
    assert await texter(gw, other).text("second") == 200
    await eventually(lambda: _failed(gw))
    assert fake_twilio.to(other) == []
    async with gw.gateway.db.session() as s:
        events = list(await s.scalars(select(AuditEvent).where(AuditEvent.kind == "delivery_failed")))
    assert events and events[0].data["error_code"] == 21211


async def _failed(gw) -> bool:
    return "failed" in await _outbound_statuses(gw)


async def test_ambiguous_send_is_checked_not_repeated(database_url, fake_twilio, tmp_path, monkeypatch):
    from tests.support.ports import free_port
    from tests.support.stack import gateway_env, in_process_gateway

    fake_twilio.slow_accepts = 1  # Twilio takes the message, but answers after the client gave up
    fake_twilio.slow_seconds = 3
    env = gateway_env(tmp_path, database_url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}",
                      twilio=fake_twilio, RASA_TIMEOUT="1", SEND_TIMEOUT="1")
    async with in_process_gateway(env) as gw:
        assert await texter(gw).text("hello") == 200
        await _statuses_become(gw, ["sent"], timeout=30)
        await asyncio.sleep(1)
    assert len(fake_twilio.to(PHONE)) == 1  # checked against the Messages list, not sent twice


async def test_long_replies_are_split_and_sent_in_order(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    assert await texter(gw).text("hi") == 200
    await fake_twilio.wait_for(PHONE, 1)
    rows = await outbound(gw.gateway.db)
    sentences = [f"Sentence number {i} is here to make this long." for i in range(80)]
    async with gw.gateway.db.transaction() as s:
        parts = await outbox.enqueue(s, texter_id=rows[0].texter_id, conversation_id=rows[0].conversation_id,
                                     body=" ".join(sentences), author="counselor")
    gw.gateway.outbox.work.wake.set()
    assert len(parts) >= 3
    sent = await fake_twilio.wait_for(PHONE, 1 + len(parts))
    got = " ".join(m.body for m in sent[1:])
    assert got == " ".join(sentences)
    assert all(len(m.body) <= 1600 and m.body.endswith(".") for m in sent[1:])


async def test_status_callbacks_record_delivery_and_failure(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    fake_twilio.status_auth_token = gw.settings.twilio_auth_token
    assert await texter(gw).text("hi") == 200
    [msg] = await fake_twilio.wait_for(PHONE, 1)
    assert msg.status_callback == gw.url + "/twilio/status"
    await _statuses_become(gw, ["sent"])
    assert await fake_twilio.post_status(msg, "delivered") == 200
    await _statuses_become(gw, ["delivered"])
    assert await fake_twilio.post_status(msg, "sent") == 200  # late, out of order: ignored
    assert await _outbound_statuses(gw) == ["delivered"]

    assert await texter(gw, "+15555550188").text("hello") == 200
    [other] = await fake_twilio.wait_for("+15555550188", 1)
    await eventually(lambda: _sent_count(gw, 2))
    assert await fake_twilio.post_status(other, "undelivered", 30003) == 200
    async with gw.gateway.db.session() as s:
        row = await s.scalar(select(Message).where(Message.twilio_sid == other.sid))
    assert row.status == "undelivered" and row.error_code == 30003
    # Forged status callbacks are refused.
    fake_twilio.status_auth_token = "not-the-token"
    assert await fake_twilio.post_status(other, "delivered") == 403


async def _sent_count(gw, n: int) -> bool:
    return sum(1 for s in await _outbound_statuses(gw) if s in ("sent", "delivered")) >= n
