"""A Spanish intake through the real Rasa server and action server: Spanish questions come back, Spanish answers
are read, and the handoff carries them; imminent risk gets the Spanish safety text; a texter can switch language.

Until the gateway's router sends the language, these tests post to Rasa's REST channel themselves with the
metadata the gateway sends on every turn (``{"language": "es"}``)."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
import pytest

from tests.support.stack import RasaStack

pytestmark = pytest.mark.e2e


class RestTexter:
    """One conversation on Rasa's REST channel, as the gateway holds it (a pseudonymous sender id)."""

    def __init__(self, rasa: RasaStack) -> None:
        self.url = rasa.rasa_url + "/webhooks/rest/webhook"
        self.sender = "c_" + secrets.token_hex(8)
        self.handoff: dict[str, Any] | None = None

    async def text(self, message: str, language: str) -> list[str]:
        body = {"sender": self.sender, "message": message, "metadata": {"language": language}}
        async with aiohttp.ClientSession() as session, session.post(
            self.url, json=body, timeout=aiohttp.ClientTimeout(total=60)
        ) as resp:
            assert resp.status == 200
            replies = await resp.json()
        for reply in replies:
            handoff = (reply.get("custom") or {}).get("handoff")
            if handoff:
                self.handoff = handoff
        return [r["text"] for r in replies if r.get("text")]


async def test_full_spanish_intake_reaches_the_handoff(rasa_stack: RasaStack) -> None:
    t = RestTexter(rasa_stack)
    steps = [
        ("hola", ["Hola, soy un asistente automático", "¿Qué está pasando contigo hoy?"]),
        ("mis papás se pelean todo el tiempo y me siento muy sola", ["¿Estás a salvo en este momento?"]),
        ("sí, estoy a salvo", ["¿has deseado estar muerto o muerta"]),
        ("no", ["¿has tenido de verdad pensamientos de quitarte la vida?"]),
        ("nel", ["¿Alguna vez has hecho algo"]),
        ("para nada", ["¿cuántos años tienes?"]),
        ("tengo 15", ["Gracias por responder"]),
    ]
    everything: list[str] = []
    for message, expected in steps:
        texts = await t.text(message, "es")
        everything += texts
        for words in expected:
            assert any(words in text for text in texts), (message, words, texts)
    assert all(len(text) < 320 for text in everything)
    assert not any("Just to check" in text or "What's going on" in text for text in everything)
    assert t.handoff is not None
    assert t.handoff["reason"] == "completed"
    answers = t.handoff["answers"]
    assert answers["safe_now"] == "yes" and answers["age_range"] == "13_17"
    assert answers["screen_wish_dead"] == answers["screen_suicidal_thoughts"] == answers["screen_behavior"] == "no"


async def test_an_unreadable_spanish_answer_is_asked_once_more_in_spanish(rasa_stack: RasaStack) -> None:
    t = RestTexter(rasa_stack)
    await t.text("hola", "es")
    await t.text("me siento muy sola", "es")
    texts = await t.text("plátano", "es")
    assert any(text.startswith("Solo para confirmar: ¿estás a salvo") for text in texts), texts
    texts = await t.text("no sé", "es")
    assert any("¿has deseado estar muerto o muerta" in text for text in texts), texts


async def test_spanish_imminent_risk_gets_the_spanish_safety_text_and_hands_off(rasa_stack: RasaStack) -> None:
    t = RestTexter(rasa_stack)
    texts = await t.text("ya me tomé todas las pastillas", "es")
    joined = " ".join(texts)
    assert "911" in joined and "988" in joined and "marca 2 para español" in joined, texts
    assert any(text.startswith("Te estoy conectando con un consejero ahora mismo") for text in texts), texts
    assert t.handoff is not None and t.handoff["reason"] == "imminent"
    assert t.handoff["urgency"]["level"] == "imminent"


async def test_switching_language_mid_intake(rasa_stack: RasaStack) -> None:
    t = RestTexter(rasa_stack)
    assert any("What's going on for you today?" in text for text in await t.text("hi", "en"))
    texts = await t.text("en español por favor", "es")  # the gateway switched: metadata says es from now on
    assert texts[0] == "Claro, seguimos en español."
    assert any("¿Qué está pasando contigo hoy?" in text for text in texts), texts
    texts = await t.text("me siento muy triste", "es")
    assert any("¿Estás a salvo en este momento?" in text for text in texts), texts
    texts = await t.text("English please", "en")
    assert texts[0] == "Sure, let's go on in English."
    assert any("Are you safe right now?" in text for text in texts), texts
    texts = await t.text("yes", "en")
    assert any("have you wished you were dead" in text for text in texts), texts
