"""Every response in both languages, picked the way Rasa picks them: by the `language` slot (and, for a question,
whether it is asked again). Uses Rasa's own variation filter on the real domain.yml."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.core.nlg.generator import ResponseVariationFilter

from bot.intake.messages import DETOURS, HANDOFF_RESPONSES, LANGUAGE_SWITCHED, RISK_CARE, SAFETY_NOW
from bot.intake.questions import ANSWER_SLOTS

SPANISH_MARKS = ("¿", "á", "é", "í", "ó", "ú", "ñ", "Hola", "Gracias", "Claro", "Solo para", "Soy", "Si ", "Te ",
                 "Me ", "Perdón", "Puedes")


def picked(domain: dict[str, Any], name: str, language: str | None, attempts: float = 0.0) -> list[str]:
    slots = {"language": language, "intake_attempts": attempts}
    return [v["text"] for v in ResponseVariationFilter(domain["responses"]).responses_for_utter_action(name, "rest",
                                                                                                       slots)]


def looks_spanish(text: str) -> bool:
    return any(mark in text for mark in SPANISH_MARKS)


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_response_has_exactly_one_variation_per_language(domain: dict[str, Any], language: str) -> None:
    for name in domain["responses"]:
        for attempts in (0.0, 1.0):
            texts = picked(domain, name, language, attempts)
            assert len(texts) == 1, (name, language, attempts)
            assert looks_spanish(texts[0]) is (language == "es"), (name, texts[0])


@pytest.mark.parametrize("slot", ANSWER_SLOTS)
def test_each_question_and_its_reask_in_both_languages(domain: dict[str, Any], slot: str) -> None:
    name = f"utter_ask_{slot}"
    en_ask, en_reask = picked(domain, name, "en", 0)[0], picked(domain, name, "en", 1)[0]
    es_ask, es_reask = picked(domain, name, "es", 0)[0], picked(domain, name, "es", 1)[0]
    assert len({en_ask, en_reask, es_ask, es_reask}) == 4
    assert en_reask.startswith("Just to check") and es_reask.startswith("Solo para confirmar")


def test_without_a_language_the_texter_gets_english(domain: dict[str, Any]) -> None:
    # rasa shell, rasa test, or a tracker from before the slot existed
    assert picked(domain, "utter_greet", None) == picked(domain, "utter_greet", "en")
    assert picked(domain, "utter_ask_safe_now", None) == picked(domain, "utter_ask_safe_now", "en")


def test_spanish_risk_texts_name_911_and_988_with_its_spanish_option(domain: dict[str, Any]) -> None:
    names = [RISK_CARE, SAFETY_NOW, "utter_hotline_numbers"]
    names += [n for reason in HANDOFF_RESPONSES.values() for n in reason if n != "utter_handoff_imminent"]
    for name in names:
        (text,) = picked(domain, name, "es")
        assert "911" in text and "988" in text, name
    for name in (RISK_CARE, SAFETY_NOW, "utter_hotline_numbers"):
        assert "marca 2 para español" in picked(domain, name, "es")[0]


def test_the_spanish_screener_asks_the_c_ssrs_items(domain: dict[str, Any]) -> None:
    asks = {slot: picked(domain, f"utter_ask_{slot}", "es")[0] for slot in ANSWER_SLOTS}
    assert "muerto" in asks["screen_wish_dead"] and "dormirte y no despertar" in asks["screen_wish_dead"]
    assert "quitarte la vida" in asks["screen_suicidal_thoughts"]
    assert "cómo lo harías" in asks["screen_method"]
    assert "intención" in asks["screen_intent"] and "intención" in asks["screen_plan"]
    assert "terminar con tu vida" in asks["screen_behavior"] and "pastillas" in asks["screen_behavior"]
    assert "3 meses" in asks["screen_behavior_recent"]
    assert "años" in asks["age_range"]


def test_detours_and_the_language_switch_exist_in_both_languages(domain: dict[str, Any]) -> None:
    for name in (*DETOURS.values(), LANGUAGE_SWITCHED):
        assert looks_spanish(picked(domain, name, "es")[0]) and not looks_spanish(picked(domain, name, "en")[0])
