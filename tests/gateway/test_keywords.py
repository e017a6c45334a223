"""Twilio's rules for keywords: STOP and friends, START, HELP; and error 21610 from the API."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.sms import replies
from bot.store.models import AuditEvent
from tests.gateway.test_webhook import PHONE, texter
from tests.support.store_queries import conversations, inbound, texters
from tests.support.waiting import eventually


async def _settled(gw, n: int) -> bool:
    rows = await inbound(gw.gateway.db)
    return len(rows) == n and all(r.status in ("processed", "ignored") for r in rows)


async def test_stop_then_text_then_start(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    t = texter(gw)
    assert await t.text("hi is anyone there") == 200
    await fake_twilio.wait_for(PHONE, 1)

    assert await t.text("stop") == 200  # any case
    await eventually(lambda: _settled(gw, 2))
    [row] = await texters(gw.gateway.db)
    assert row.opted_out
    [conv] = await conversations(gw.gateway.db)
    assert conv.state == "closed" and conv.closed_reason == "opted_out"

    assert await t.text("are you still there") == 200
    await eventually(lambda: _settled(gw, 3))
    await asyncio.sleep(0.5)
    assert len(fake_twilio.to(PHONE)) == 1  # nothing more was sent

    assert await t.text("START") == 200
    sent = await fake_twilio.wait_for(PHONE, 2)
    assert sent[1].body == replies.OPTED_IN
    assert await t.text("hello again") == 200
    await fake_twilio.wait_for(PHONE, 3)
    assert len(await conversations(gw.gateway.db)) == 2  # a fresh conversation after START


async def test_every_opt_out_keyword_whole_body_any_case(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    words = ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "Quit", "REVOKE", "optout"]
    for i, word in enumerate(words):
        assert await texter(gw, f"+1555555030{i}").text(word) == 200
    # "stop" inside a sentence is not a keyword.
    assert await texter(gw, "+15555550399").text("please don't stop talking to me") == 200
    await eventually(lambda: _settled(gw, len(words) + 1))
    opted = {gw.gateway.privacy.hash_phone(f"+1555555030{i}") for i in range(len(words))}
    for row in await texters(gw.gateway.db):
        assert row.opted_out == (row.phone_hash in opted)
    await fake_twilio.wait_for("+15555550399", 1)
    assert all(m.to == "+15555550399" for m in fake_twilio.messages)


async def test_yes_answers_a_question_unless_opted_out(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    t = texter(gw)
    assert await t.text("yes") == 200
    sent = await fake_twilio.wait_for(PHONE, 1)
    assert sent[0].body != replies.OPTED_IN


async def test_help_and_info_get_the_help_text(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    assert await texter(gw).text("HELP") == 200
    assert await texter(gw, "+15555550124").text("info") == 200
    assert (await fake_twilio.wait_for(PHONE, 1))[0].body == replies.HELP
    assert (await fake_twilio.wait_for("+15555550124", 1))[0].body == replies.HELP
    assert "911" in replies.HELP and "988" in replies.HELP and "STOP" in replies.HELP


async def test_error_21610_marks_the_number_opted_out_and_holds_the_rest(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    fake_twilio.opted_out.add(PHONE)  # opted out at the carrier, not through us
    t = texter(gw)
    assert await t.text("hello") == 200
    await eventually(lambda: _opted_out(gw))
    assert await t.text("anyone?") == 200
    await eventually(lambda: _settled(gw, 2))
    await asyncio.sleep(0.5)
    assert fake_twilio.to(PHONE) == []
    async with gw.gateway.db.session() as s:
        kinds = list(await s.scalars(select(AuditEvent.kind)))
    assert "opted_out" in kinds


async def _opted_out(gw) -> bool:
    rows = await texters(gw.gateway.db)
    return bool(rows) and rows[0].opted_out


# ---- the keyword table itself (plain functions): English and Spanish ------------------------------------------

def test_spanish_opt_out_words_any_case_and_accents():
    from bot.sms.keywords import Keyword, match

    for body in ["PARAR", "parar", "Parar.", "CANCELAR", "cancelár!", "baja", "BAJA", "Detener", "dar de baja",
                 "  Darme de  baja "]:
        found = match(body, opted_out=False)
        assert found is not None and found.keyword is Keyword.OPT_OUT and found.language == "es", body
        assert not found.twilio  # Twilio does not know these: the gateway holds and confirms itself
    for body in ["STOP", "stop", "Cancel", "unsubscribe"]:
        found = match(body, opted_out=False)
        assert found is not None and found.keyword is Keyword.OPT_OUT and found.language == "en" and found.twilio


def test_words_a_distressed_texter_may_send_are_not_opt_outs():
    from bot.sms.keywords import classify

    for body in ["para", "alto", "no más", "ya basta", "parar de sufrir", "quiero parar todo", "baja la voz"]:
        assert classify(body, opted_out=False) is None, body


def test_ayuda_starts_a_conversation_it_is_not_the_help_keyword():
    from bot.sms.keywords import Keyword, classify, match

    assert classify("AYUDA", opted_out=False) is None
    assert classify("ayuda!", opted_out=False) is None
    assert classify("HELP", opted_out=False) is Keyword.HELP
    found = match("información", opted_out=False)
    assert found is not None and found.keyword is Keyword.HELP and found.language == "es"


def test_spanish_opt_in_and_si_only_when_opted_out():
    from bot.sms.keywords import Keyword, keyword_language, match

    for body in ["COMENZAR", "comenzar", "Iniciar", "ALTA", "reanudar"]:
        found = match(body, opted_out=True)
        assert found is not None and found.keyword is Keyword.OPT_IN and found.language == "es", body
    assert match("sí", opted_out=False) is None  # an answer to a question
    assert match("Sí", opted_out=True).keyword is Keyword.OPT_IN
    assert keyword_language("Sí", opted_out=True) == "es"
    assert keyword_language("YES", opted_out=True) == "en"
    assert keyword_language("yes", opted_out=False) is None
    assert keyword_language("hola", opted_out=True) is None


def test_opt_out_confirmations_exist_in_both_languages():
    from bot.sms.replies import text

    assert "COMENZAR" in text("opted_out", "es") and "START" in text("opted_out", "en")
    for language in ("en", "es"):
        assert "911" in text("opted_out", language) and "988" in text("opted_out", language)


async def test_spanish_opt_out_is_confirmed_in_spanish_and_then_nothing_more(gateway_without_rasa, fake_twilio):
    gw = gateway_without_rasa
    t = texter(gw)
    assert await t.text("hola, necesito ayuda") == 200
    first = await fake_twilio.wait_for(PHONE, 1)
    assert first[0].body == replies.text("fail_open", "es")  # Rasa is down here: the fail-open text, in Spanish
    assert await t.text("PARAR") == 200
    sent = await fake_twilio.wait_for(PHONE, 2)
    assert sent[1].body == replies.text("opted_out", "es")
    assert await t.text("sigo aquí") == 200
    await asyncio.sleep(1.5)
    assert len(fake_twilio.to(PHONE)) == 2  # opted out: nothing more until COMENZAR / START
