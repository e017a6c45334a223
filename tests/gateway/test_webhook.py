"""The webhook's promises: signatures, exactly-once storage, any body, and a fast empty-TwiML answer."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.sms import replies
from bot.sms.signature import sign
from tests.support.stack import RunningGateway, Texter
from tests.support.store_queries import conversations, count_messages, inbound, outbound, texters
from tests.support.waiting import eventually

PHONE = "+15555550123"


def texter(gw: RunningGateway, phone: str = PHONE) -> Texter:
    return Texter(gw.url, gw.settings.twilio_auth_token, phone)


async def test_forged_missing_and_replayed_signatures_get_403_and_store_nothing(gateway_without_rasa):
    gw = gateway_without_rasa
    t = texter(gw)
    form = t.form("hello")
    assert await t.post(form, signature="forged-signature") == 403
    assert await t.post(form, signature="") == 403
    # A real signature replayed on a different body (or a different URL) is not valid either.
    good = sign(gw.settings.twilio_auth_token, gw.url + "/twilio/sms", form)
    assert await t.post({**form, "Body": "something else"}, signature=good) == 403
    assert await t.post(form, signature=good, path="/twilio/status") == 403
    # Signed with another account's token.
    assert await t.post(form, signature=sign("another-token", gw.url + "/twilio/sms", form)) == 403
    assert await count_messages(gw.gateway.db) == 0
    assert await texters(gw.gateway.db) == []


async def test_answers_with_empty_twiml(gateway_without_rasa):
    gw = gateway_without_rasa
    t = texter(gw)
    form = t.form("hi")
    async with aiohttp.ClientSession() as session:
        sig = sign(gw.settings.twilio_auth_token, gw.url + "/twilio/sms", form)
        async with session.post(gw.url + "/twilio/sms", data=form, headers={"X-Twilio-Signature": sig}) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/xml"
            assert (await resp.text()).endswith("<Response/>")


async def test_duplicate_and_retried_message_sids_are_stored_and_processed_once(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    t = texter(gw)
    form = t.form("I need to talk to someone")
    results = await asyncio.gather(*(t.post(form) for _ in range(5)))  # Twilio retry + fallback URL, at once
    assert results == [200] * 5
    assert await t.post(form) == 200  # a late retry
    await fake_twilio.wait_for(PHONE, 1)
    await asyncio.sleep(0.5)
    rows = await inbound(gw.gateway.db)
    assert len(rows) == 1 and rows[0].status == "processed"
    assert len(fake_twilio.to(PHONE)) == 1  # answered once
    assert len(await conversations(gw.gateway.db)) == 1


async def test_out_of_order_retries_keep_arrival_order(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    t = texter(gw)
    first, second = t.form("first text"), t.form("second text")
    assert await t.post(first) == 200
    assert await t.post(second) == 200
    assert await t.post(first) == 200  # Twilio retries the first after the second arrived
    await eventually(lambda: _all_processed(gw))
    rows = await inbound(gw.gateway.db)
    assert [r.body for r in rows] == ["first text", "second text"]


async def _all_processed(gw: RunningGateway) -> bool:
    rows = await inbound(gw.gateway.db)
    return bool(rows) and all(r.status in ("processed", "ignored") for r in rows)


async def test_malformed_requests_get_400_and_store_nothing(gateway_without_rasa):
    gw = gateway_without_rasa
    t = texter(gw)
    no_sid = {k: v for k, v in t.form("hi").items() if k != "MessageSid"}
    assert await t.post(no_sid) == 400
    no_from = {k: v for k, v in t.form("hi").items() if k != "From"}
    assert await t.post(no_from) == 400
    async with aiohttp.ClientSession() as session:
        sig = sign(gw.settings.twilio_auth_token, gw.url + "/twilio/sms", {})
        async with session.post(
            gw.url + "/twilio/sms", data=b"\xff\xfe not a form", headers={"X-Twilio-Signature": sig,
                                                                         "Content-Type": "application/json"}
        ) as resp:
            assert resp.status in (400, 403)
        async with session.get(gw.url + "/twilio/sms") as resp:
            assert resp.status == 405
    assert await count_messages(gw.gateway.db) == 0


async def test_empty_missing_huge_emoji_and_non_latin_bodies_are_kept_whole(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    bodies = {
        "+15555550131": "",
        "+15555550132": None,
        "+15555550133": "x" * 5000,
        "+15555550134": "😭😭💊 can't do this anymore 🙏",
        "+15555550135": "لا أستطيع النوم، أشعر بالوحدة",
        "+15555550136": "我很难过，没有人可以说话",
    }
    for phone, body in bodies.items():
        t = texter(gw, phone)
        form = t.form(body or "")
        if body is None:
            form.pop("Body")
        assert await t.post(form) == 200
    await eventually(lambda: _count_processed(gw, len(bodies)))
    stored = {r.body for r in await inbound(gw.gateway.db)}
    assert stored == {b or "" for b in bodies.values()}
    # Everyone got an answer: those with words the fail-open text (Rasa is down here), the empty ones (an empty
    # body, or no Body field at all) a kind request for words: never silence.
    for phone, body in bodies.items():
        sent = await fake_twilio.wait_for(phone, 1)
        if not body:
            assert sent[0].body == replies.EMPTY
    for msg in fake_twilio.messages:
        assert len(msg.body) <= 1600


async def _count_processed(gw: RunningGateway, n: int) -> bool:
    rows = await inbound(gw.gateway.db)
    return len(rows) == n and all(r.status in ("processed", "ignored") for r in rows)


async def test_media_only_text_gets_a_kind_reply_and_the_count_reaches_the_transcript(gateway_without_rasa,
                                                                                       fake_twilio):
    gw = gateway_without_rasa
    t = texter(gw)
    form = t.form("", NumMedia="2", MediaContentType0="image/jpeg", MediaUrl0="https://example.invalid/m/1",
                  MediaContentType1="image/png", MediaUrl1="https://example.invalid/m/2")
    assert await t.post(form) == 200
    sent = await fake_twilio.wait_for(PHONE, 1)
    assert "can't see pictures" in sent[0].body
    rows = await inbound(gw.gateway.db)
    assert rows[0].num_media == 2 and rows[0].conversation_id is not None


async def test_phone_numbers_are_encrypted_at_rest_and_absent_from_logs(gateway_without_rasa, fake_twilio, caplog):
    gw = gateway_without_rasa
    t = texter(gw)
    with caplog.at_level("DEBUG"):
        assert await t.text("my secret words here") == 200
        await fake_twilio.wait_for(PHONE, 1)
    [row] = await texters(gw.gateway.db)
    assert PHONE not in row.phone_enc and PHONE.lstrip("+") not in row.phone_enc
    assert gw.gateway.privacy.decrypt(row.phone_enc) == PHONE
    assert row.phone_hash == gw.gateway.privacy.hash_phone(PHONE)
    conv = (await conversations(gw.gateway.db))[0]
    assert PHONE.lstrip("+") not in conv.id
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= 20)
    assert PHONE.lstrip("+") not in logged
    assert "secret words" not in logged


async def test_health(gateway_without_rasa):
    async with aiohttp.ClientSession() as session, session.get(gateway_without_rasa.url + "/health") as resp:
        assert resp.status == 200
        assert (await resp.json())["database"] == "ok"


async def test_outbound_rows_are_linked_to_the_conversation(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    assert await texter(gw).text("hello?") == 200
    await fake_twilio.wait_for(PHONE, 1)
    out = await eventually(lambda: _sent(gw))
    conv = (await conversations(gw.gateway.db))[0]
    assert all(m.conversation_id == conv.id for m in out)


async def _sent(gw: RunningGateway):
    rows = await outbound(gw.gateway.db)
    return rows if rows and all(r.status == "sent" for r in rows) else None
