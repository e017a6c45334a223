"""Telling English from Spanish in texters' words (bot.language), and explicit requests to switch."""

from __future__ import annotations

import pytest

from bot.language import detect, requested_switch


@pytest.mark.parametrize(
    "text",
    ["HOLA", "hola", "Hola?", "holaaa", "AYUDA", "hola necesito ayuda", "Buenas noches", "necesito hablar con alguien",
     "mis papás se pelean todo el tiempo y ya no aguanto", "me quiero morir", "q onda", "nel", "sí", "gracias",
     "tengo miedo de mi esposo", "estoy triste"],
)
def test_first_texts_in_spanish(text: str) -> None:
    assert detect(text) == "es"


@pytest.mark.parametrize(
    "text",
    ["hi", "hello", "hey", "HELP", "yes", "hi is anyone there", "i want to die", "my bf hit me again",
     "my parents keep fighting and i feel really alone", "idk", "im sad", "thanks"],
)
def test_first_texts_in_english(text: str) -> None:
    assert detect(text) == "en"


@pytest.mark.parametrize("text", ["si", "no", "ok", "ya", "15", "👍", "", "   ", "?!", "lol", "k"])
@pytest.mark.parametrize("current", ["en", "es"])
def test_short_shared_texts_keep_the_conversations_language(text: str, current: str) -> None:
    assert detect(text, current) == current


@pytest.mark.parametrize("text", ["si", "no", "ok", "15", "", "👍"])
def test_a_first_text_that_tells_nothing_is_english(text: str) -> None:
    assert detect(text) == "en"
    assert detect(text, None) == "en"


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("me quiero morir", "en", "es"),  # a clear Spanish sentence switches an English conversation
        ("ya no aguanto mi vida", "en", "es"),
        ("my mom yells at me every day", "es", "en"),
        ("yes", "es", "es"),  # one word does not switch a conversation under way
        ("hola", "en", "en"),
        ("sí", "en", "en"),
        ("yeah im safe", "es", "es"),  # lingua is not sure enough of a short mixed text
        ("tengo 15", "es", "es"),
        ("im 15", "es", "es"),
    ],
)
def test_switching_a_conversation_under_way_takes_a_sure_reading(text: str, current: str, expected: str) -> None:
    assert detect(text, current) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("English please", "en"), ("english", "en"), ("in english", "en"), ("ENGLISH PLS", "en"),
        ("can we talk in english", "en"), ("can you text me in english?", "en"), ("en inglés por favor", "en"),
        ("no hablo español", "en"), ("i dont speak spanish", "en"),
        ("en español", "es"), ("español por favor", "es"), ("Spanish", "es"), ("spanish please", "es"),
        ("hablas español?", "es"), ("in spanish please", "es"), ("no hablo inglés", "es"),
        ("i don't speak english", "es"), ("i dont really speak english", "es"), ("no, i only speak spanish", "es"),
        ("yo no se hablar ingles", "es"), ("podemos hablar en español", "es"), ("castellano", "es"),
    ],
)
def test_explicit_requests(text: str, expected: str) -> None:
    assert requested_switch(text) == expected
    other = "es" if expected == "en" else "en"
    assert detect(text, other) == expected  # a request always wins


@pytest.mark.parametrize(
    "text",
    ["hola", "yes", "my mom only speaks spanish and she yells at me all the time about everything",
     "i failed my english test and my parents are going to kill me", "no", "", "espa", "englishman"],
)
def test_not_a_request(text: str) -> None:
    assert requested_switch(text) is None


@pytest.mark.parametrize("text", ["是的", "нет", "\x00", "a" * 5000, "🙂" * 300, "1234 5678", "ñ"])
def test_anything_gives_a_language_never_an_exception(text: str) -> None:
    assert detect(text) in ("en", "es")
    assert detect(text, "es") in ("en", "es")
    assert detect(text, "fr") in ("en", "es")  # an unknown current language is ignored
