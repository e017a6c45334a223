"""Spanish answers, as texters send them: with or without accents, slang, numbers in words, Spanish time phrases."""

from __future__ import annotations

from datetime import date

import pytest

from bot.intake.answers import parse_age, parse_recency, parse_yes_no
from bot.intake.messages import LANGUAGE_SWITCHED
from bot.intake.questions import IDEATION_INTENTS, SAFE_NOW_WORDS, interpret

TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    "text",
    ["sí", "si", "SI", "Sí.", "siii", "sip", "simon", "Simón", "ya", "claro", "claro que sí", "creo que si",
     "pues si", "la neta si", "a veces", "todo el tiempo", "si, a veces", "un poco", "lo he hecho", "si 👍"],
)
def test_spanish_yes(text: str) -> None:
    assert parse_yes_no(text) == "yes"


@pytest.mark.parametrize(
    "text",
    ["no", "NO", "nel", "nop", "nunca", "jamás", "para nada", "no, nunca", "la verdad no", "creo que no",
     "claro que no", "no lo he hecho", "no he pensado en eso", "no mucho", "nones", "nel pastel", "ni de chiste"],
)
def test_spanish_no(text: str) -> None:
    assert parse_yes_no(text) == "no"


@pytest.mark.parametrize(
    "text",
    ["no sé", "no se", "nose", "No lo sé", "ni idea", "más o menos", "mas o menos", "masomenos", "tal vez",
     "quizás", "a lo mejor", "puede ser", "no estoy segura", "no estoy seguro", "depende", "si y no"],
)
def test_spanish_unsure(text: str) -> None:
    assert parse_yes_no(text) == "unsure"


def test_spanish_and_does_not_read_as_yes() -> None:
    # "y" alone is an English "yes"; inside a Spanish answer it is "and".
    assert parse_yes_no("y") == "yes" and parse_yes_no("n") == "no"
    assert parse_yes_no("nunca y no quiero") == "no"
    assert parse_yes_no("no y no") == "no"


def test_a_sentence_that_says_no_but_means_yes_is_unsure() -> None:
    # "no quiero vivir" is "I don't want to live": not a "no" to "have you wished you were dead?".
    assert parse_yes_no("no quiero vivir", "express_suicidal_ideation", IDEATION_INTENTS) == "unsure"
    assert parse_yes_no("i dont want to be alive", "express_suicidal_ideation", IDEATION_INTENTS) == "unsure"
    assert parse_yes_no("no", "express_suicidal_ideation", IDEATION_INTENTS) == "no"  # a bare no is a no
    assert parse_yes_no("no quiero vivir", "deny", IDEATION_INTENTS) == "no"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sí, estoy a salvo", "yes"), ("estoy bien", "yes"), ("no, todo bien", "yes"),
        ("todo bien", "yes"),
        ("no, estoy bien", "no"),  # commas get lost in texts: "no estoy bien" (I'm not OK) is the safer reading
        ("estoy segura", "yes"), ("no estoy bien", "no"), ("no estoy a salvo", "no"), ("estoy en peligro", "no"),
        ("ayuda", "no"), ("no me siento segura", "no"), ("no estoy segura", "unsure"), ("no sé", "unsure"),
        ("más o menos bien", "unsure"), ("estoy mal", "no"), ("no estoy mal", "yes"),
    ],
)
def test_safe_now_in_spanish(text: str, expected: str) -> None:
    assert parse_yes_no(text, own=SAFE_NOW_WORDS) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tengo 15", "13_17"), ("15 años", "13_17"), ("tengo 16 anos", "13_17"), ("tengo quince", "13_17"),
        ("quince años", "13_17"), ("dieciséis", "13_17"), ("veintidós", "18_24"), ("tengo treinta y cinco", "35_64"),
        ("de 18 a 24", "18_24"), ("entre 25 y 34", "25_34"), ("menos de 13", "under_13"), ("más de 65", "65_plus"),
        ("soy adolescente", "13_17"), ("soy menor de edad", "13_17"), ("tengo veintitantos", "18_24"),
        ("nací en 2009", "13_17"), ("acabo de cumplir 18", "18_24"), ("prefiero no decir", "unknown"),
        ("paso", "unknown"),
    ],
)
def test_spanish_ages(text: str, expected: str) -> None:
    assert parse_age(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hace 2 semanas", "yes"), ("hace un mes", "yes"), ("hace unos días", "yes"), ("ayer", "yes"),
        ("la semana pasada", "yes"), ("anoche", "yes"), ("hace poco", "yes"), ("el año pasado", "no"),
        ("hace 2 años", "no"), ("hace años", "no"), ("hace mucho", "no"), ("cuando era niña", "no"),
        ("cuando tenía 14", "no"), ("hace 6 meses", "no"), ("sí", "yes"), ("nel", "no"),
    ],
)
def test_spanish_recency(text: str, expected: str) -> None:
    assert parse_recency(text) == expected


def test_ask_once_then_move_on_in_spanish() -> None:
    first = interpret("screen_wish_dead", "plátano", None, 0)
    assert first.value is None and first.attempts == 1
    second = interpret("screen_wish_dead", "morado", None, first.attempts)
    assert second.value == "unknown" and second.attempts == 0
    assert interpret("screen_wish_dead", "nel", None, 0).value == "no"


@pytest.mark.parametrize("text", ["English please", "en español", "no hablo inglés", "spanish pls"])
@pytest.mark.parametrize("slot", ["topic", "safe_now", "screen_wish_dead", "age_range"])
def test_asking_for_the_other_language_asks_again_without_an_attempt(slot: str, text: str) -> None:
    outcome = interpret(slot, text, "switch_language", 0)
    assert outcome.value is None and outcome.attempts == 0 and outcome.detour == LANGUAGE_SWITCHED
    # a re-ask already in progress keeps its count
    assert interpret(slot, text, None, 1).attempts == 1
