"""The trained NLU on texter-style messages: answers must never be mistaken for a request to hand off.

`rasa test core` scores the conversation tests with their labelled intents, so this module checks that the
trained model really gives those labels, and that everyday answers ("im 15", "i tried once years ago") never
land in the two intents that end the intake at once. Needs the trained model (make model); skipped without.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "intake.tar.gz"
HANDOFF_INTENTS = {"request_human", "attempt_in_progress"}

pytestmark = pytest.mark.skipif(
    not MODEL.exists() or not (Path.cwd() / "build" / "spacy_en").exists(),
    reason="needs the trained model (make model) and build/spacy_en, run from the project root",
)

ANSWERS = [
    "im 15", "15", "fifteen", "18-24", "in my 20s", "65+", "im 42", "born in 2009", "rather not say",
    "yes", "yeah", "ya", "ye", "yes i have", "sometimes", "yeah kinda", "kinda", "sort of", "maybe", "i guess",
    "idk", "not really", "nah", "no", "nope never", "👍", "YESSS", "ok", "banana", "no im safe", "im safe",
    "i had pills saved up once", "i tried when i was 14", "no it was years ago", "2 weeks ago", "last year",
    "my dog died", "my parents are getting divorced", "i feel like nobody gets me", "school is a lot",
    "i have thought about it", "i wrote a goodbye letter once", "i attempted a few years ago",
    # Spanish
    "tengo 15", "15 años", "quince", "de 18 a 24", "prefiero no decir", "sí", "si", "simon", "ya", "claro", "nel",
    "no", "para nada", "no sé", "más o menos", "a veces", "tal vez", "sí estoy bien", "estoy bien", "no estoy bien",
    "una vez junté pastillas", "lo intenté cuando tenía 14", "no, fue hace años", "hace 2 semanas",
    "el año pasado", "se murió mi perro", "mis papás se van a divorciar", "siento que nadie me entiende",
    "lo he pensado", "una vez escribí una carta de despedida", "lo intenté hace unos años", "plátano",
]


@pytest.fixture(scope="module")
def parse() -> Any:
    from rasa.core.agent import Agent

    agent = Agent.load(str(MODEL))
    loop = asyncio.new_event_loop()

    def intent_of(text: str) -> str:
        return loop.run_until_complete(agent.parse_message(text))["intent"]["name"]

    yield intent_of
    loop.close()


def labelled_messages() -> list[tuple[str, str]]:
    stories = yaml.safe_load((ROOT / "tests" / "test_conversations.yml").read_text())["stories"]
    return [
        (step["user"].strip(), step["intent"])
        for story in stories
        for step in story["steps"]
        if "user" in step and "intent" in step
    ]


def test_conversation_tests_carry_the_intents_the_model_gives(parse: Any) -> None:
    wrong = [(text, label, parse(text)) for text, label in labelled_messages() if parse(text) != label]
    assert wrong == []


def test_everyday_answers_never_end_the_intake(parse: Any) -> None:
    wrong = [(text, parse(text)) for text in ANSWERS if parse(text) in HANDOFF_INTENTS]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("just let me talk to someone", "request_human"),
        ("can i talk to a real person", "request_human"),
        ("human pls", "request_human"),
        ("i already took the pills", "attempt_in_progress"),
        ("i took a whole bottle of my moms pills", "attempt_in_progress"),
        ("im on the bridge right now", "attempt_in_progress"),
        ("quiero hablar con una persona", "request_human"),
        ("pásame con alguien por favor", "request_human"),
        ("ya me tomé todas las pastillas", "attempt_in_progress"),
        ("me tome un frasco de pastillas de mi mama", "attempt_in_progress"),
        ("estoy en el puente ahorita", "attempt_in_progress"),
    ],
)
def test_handoff_requests_and_attempts_are_recognised(parse: Any, text: str, intent: str) -> None:
    assert parse(text) == intent
