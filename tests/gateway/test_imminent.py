"""An imminent-risk text during the intake goes to the head of the queue from the gateway itself, with the safety
text, without waiting for a Rasa turn. Rasa is down here, so the answer shows it never needed Rasa: a fail-open
would have sent the plain fail-open text instead."""

from __future__ import annotations

from bot.handoff.queue import AgingRule, rank
from bot.sms import replies
from tests.gateway.test_webhook import PHONE, texter
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
