"""Risk always wins: a text scored high or imminent reaches a human even from a blocked or rate-limited number,
with a visible badge, the safety text (911 / 988) and a supervisor alert."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.sms import replies
from bot.sms.blocklist import set_blocked
from bot.store.models import AuditEvent
from tests.gateway.test_webhook import PHONE, texter
from tests.support.ports import free_port
from tests.support.stack import gateway_env, in_process_gateway
from tests.support.store_queries import conversations, inbound
from tests.support.waiting import eventually

AT_RISK = [
    "i took all my pills an hour ago and i want to die tonight",  # imminent
    "i keep thinking about killing myself, i have a plan",  # high or above
]


async def _queued(gw) -> list:
    return [c for c in await conversations(gw.gateway.db) if c.state == "waiting"]


async def _alerts(gw, why: str) -> list[AuditEvent]:
    async with gw.gateway.db.session() as s:
        rows = await s.scalars(select(AuditEvent).where(AuditEvent.kind == "alert"))
        return [a for a in rows if a.data.get("why") == why]


@pytest.mark.parametrize("body", AT_RISK)
async def test_a_blocked_number_at_risk_reaches_the_queue_with_badge_safety_text_and_alert(
    gateway_without_rasa, fake_twilio, body
):
    gw = gateway_without_rasa
    assert await set_blocked(gw.gateway.db, gw.gateway.privacy, PHONE, True, "abusive")
    assert await texter(gw).text(body) == 200
    queued = await eventually(lambda: _queued(gw))
    conv = queued[0]
    assert conv.context["answers"]["restricted"] == "blocked"
    assert conv.context["summary"].startswith("BLOCKED NUMBER.")
    sent = await fake_twilio.wait_for(PHONE, 1)
    assert sent[0].body == replies.IMMINENT and "911" in sent[0].body and "988" in sent[0].body
    assert await eventually(lambda: _alerts(gw, "blocked"))


async def test_a_blocked_number_not_at_risk_is_still_only_stored(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    assert await set_blocked(gw.gateway.db, gw.gateway.privacy, PHONE, True, "abusive")
    assert await texter(gw).text("lol whatever") == 200
    rows = await eventually(lambda: _all(gw, "ignored"))
    assert len(rows) == 1
    assert await _queued(gw) == []
    assert [m.body for m in await fake_twilio.wait_for(PHONE, 1)] == [replies.BLOCKED]


async def _all(gw, status: str) -> list:
    rows = await inbound(gw.gateway.db)
    return rows if rows and all(r.status == status for r in rows) else []


async def test_a_rate_limited_number_at_risk_reaches_the_queue(database_url, fake_twilio, tmp_path):
    env = gateway_env(tmp_path, database_url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}",
                      twilio=fake_twilio, RASA_TIMEOUT="1", RATE_LIMIT_PER_MINUTE="2", INBOX_WORKERS="1")
    async with in_process_gateway(env) as gw:
        t = texter(gw)
        for i in range(4):
            assert await t.text(f"hey {i}") == 200
        await eventually(lambda: _settled(gw, 4))
        assert await t.text(AT_RISK[0]) == 200
        # Its first texts failed open to the queue (Rasa is down here); the text at risk raises it to imminent.
        async def imminent() -> list:
            return [c for c in await _queued(gw) if c.urgency_level == "imminent"]

        assert await eventually(imminent)
        assert await eventually(lambda: _alerts(gw, "rate_limited"))
        async def safety_text_sent() -> bool:
            return any(m.body == replies.IMMINENT for m in fake_twilio.to(PHONE))

        assert await eventually(safety_text_sent)


async def _settled(gw, n: int) -> bool:
    rows = await inbound(gw.gateway.db)
    return len(rows) == n and all(r.status in ("processed", "ignored") for r in rows)


async def test_a_flagged_number_at_risk_reaches_the_queue_and_its_review_is_kept(gateway_without_rasa, fake_twilio):
    from bot.store.models import AbuseReview

    gw = gateway_without_rasa
    t = texter(gw)
    assert await t.text("shut up you stupid bitch, i will find you") == 200  # aimed at the counselor: flagged
    async def reviewed() -> list:
        async with gw.gateway.db.session() as s:
            return list(await s.scalars(select(AbuseReview)))

    assert await eventually(reviewed)
    assert await t.text(AT_RISK[0]) == 200
    async def imminent() -> list:
        return [c for c in await _queued(gw) if c.urgency_level == "imminent"]

    assert await eventually(imminent)


async def test_a_time_limited_block_at_risk_reaches_the_queue(gateway_without_rasa, fake_twilio):
    from bot.abuse import blocks
    from bot.store.models import utcnow

    gw = gateway_without_rasa
    assert await texter(gw).text("hello") == 200
    await fake_twilio.wait_for(PHONE, 1)
    texter_id = (await inbound(gw.gateway.db))[0].texter_id
    async with gw.gateway.db.transaction() as s:
        await blocks.block(s, texter_id, duration="24h", reason="abusive", source="supervisor",
                           now=utcnow())
    assert await texter(gw).text(AT_RISK[0]) == 200
    async def imminent() -> list:
        return [c for c in await conversations(gw.gateway.db) if c.urgency_level == "imminent"]

    assert await eventually(imminent)
    assert await eventually(lambda: _alerts(gw, "blocked"))
