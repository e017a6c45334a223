"""The intake's questions: their order, the C-SSRS screener's skip logic, and how each answer is read.

One table drives everything: the validation action reads answers through ``interpret`` and gets the
form's required slots from ``required_questions``; adding a question means one row here plus its slot and
``utter_ask_`` response in domain.yml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.intake.answers import NO, UNSURE, YES, Lexicon, parse_age, parse_recency, parse_yes_no
from bot.intake.messages import DETOURS, LANGUAGE_SWITCHED
from bot.language import requested_switch

UNKNOWN = "unknown"
YES_NO_VALUES = (YES, NO, UNSURE, UNKNOWN)
AGE_VALUES = ("under_13", "13_17", "18_24", "25_34", "35_64", "65_plus", UNKNOWN)
MAX_TOPIC_CHARS = 600
MAX_REASKS = 1  # an unreadable answer is asked once more, then recorded as "unknown"
FOLLOW_UP_ON = (YES, UNSURE)  # a screener answer that opens its follow-up questions

SAFE_NOW_WORDS = Lexicon(
    {
        YES: (
            "safe", "im safe", "i am safe", "i feel safe", "safe for now", "im ok", "im okay", "i am ok",
            "im fine", "i am fine", "im good", "all good", "ok", "okay", "fine", "good", "im alright",
            "a salvo", "estoy a salvo", "estoy bien", "bien", "todo bien", "estoy segura", "estoy seguro",
            "me siento segura", "me siento seguro", "tranquila", "tranquilo", "por ahora si", "estoy tranquila",
            "estoy tranquilo", "no estoy mal",
        ),
        NO: (
            "not safe", "unsafe", "im not safe", "i am not safe", "i dont feel safe", "dont feel safe",
            "not feeling safe", "not really safe", "never safe", "not ok", "not okay", "not fine", "not good",
            "im not ok", "im not okay", "in danger", "danger", "no im not", "help",
            "no estoy a salvo", "no a salvo", "no estoy bien", "no me siento segura", "no me siento seguro",
            "no me siento a salvo", "en peligro", "peligro", "estoy en peligro", "ayuda", "auxilio", "nada bien",
            "estoy mal", "mal",
        ),
    }
)
IDEATION_INTENTS = Lexicon(intents={"express_suicidal_ideation": YES})


@dataclass(frozen=True)
class Question:
    """One intake question: its slot, how its answer is read, and the values it may hold."""

    slot: str
    parse: Callable[[str, str | None], str | None]
    values: tuple[str, ...] | None = None  # None: free text


def _yes_no(own: Lexicon | None = None) -> Callable[[str, str | None], str | None]:
    return lambda text, intent: parse_yes_no(text, intent, own)


def _free_text(text: str, intent: str | None) -> str | None:
    clean = " ".join(str(text or "").split())
    return clean[:MAX_TOPIC_CHARS] or None


def _age(text: str, intent: str | None) -> str | None:
    return parse_age(text)


def _recency(text: str, intent: str | None) -> str | None:
    return parse_recency(text)


QUESTIONS: dict[str, Question] = {
    q.slot: q
    for q in (
        Question("topic", _free_text),
        Question("safe_now", _yes_no(SAFE_NOW_WORDS), YES_NO_VALUES),
        Question("screen_wish_dead", _yes_no(IDEATION_INTENTS), YES_NO_VALUES),
        Question("screen_suicidal_thoughts", _yes_no(IDEATION_INTENTS), YES_NO_VALUES),
        Question("screen_method", _yes_no(), YES_NO_VALUES),
        Question("screen_intent", _yes_no(), YES_NO_VALUES),
        Question("screen_plan", _yes_no(), YES_NO_VALUES),
        Question("screen_behavior", _yes_no(), YES_NO_VALUES),
        Question("screen_behavior_recent", _recency, YES_NO_VALUES),
        Question("age_range", _age, AGE_VALUES),
    )
}
ANSWER_SLOTS = tuple(QUESTIONS)


@dataclass(frozen=True)
class Outcome:
    """What to do with one answer: the slot value (None = ask again), the failed attempts so far, and a
    detour response to send first when the texter asked something instead of answering ("are you a bot?")."""

    value: str | None
    attempts: int
    detour: str | None = None


def resolve(parsed: str | None, attempts: int, max_reasks: int = MAX_REASKS) -> Outcome:
    """Keep a readable answer; ask an unreadable one again up to ``max_reasks`` times, then "unknown"."""
    if parsed is not None:
        return Outcome(parsed, 0)
    if attempts >= max_reasks:
        return Outcome(UNKNOWN, 0)
    return Outcome(None, attempts + 1)


def interpret(slot: str, text: Any, intent: str | None, attempts: int) -> Outcome:
    """Read the texter's answer to the question behind ``slot`` and decide: keep, ask again, or move on.

    A request for the other language ("English please") is answered and the question asked again. Otherwise
    the words come first: "15" is an age even if the NLU took it for a hotline question. When the words do
    not answer and the texter asked something the bot can answer (bot or not, a hotline number), the outcome
    carries that detour; it still counts as an attempt, so a misread answer can never loop.
    """
    question = QUESTIONS[slot]
    if requested_switch(str(text or "")):
        # "English please" / "en español": the gateway switched the language; say so and ask again in it. Not an
        # attempt at the answer, so the question comes back in full.
        return Outcome(None, attempts, LANGUAGE_SWITCHED)
    detour = DETOURS.get(intent or "")
    parsed = question.parse(str(text) if text is not None else "", intent)
    if detour and question.values is None and attempts < MAX_REASKS:
        parsed = None  # "are you a bot?" is not what is going on: answer it, then ask again
    outcome = resolve(parsed, attempts)
    return Outcome(outcome.value, outcome.attempts, detour if parsed is None else None)


def required_questions(slots: Mapping[str, Any]) -> list[str]:
    """The slots the intake needs given the answers so far, in order (the C-SSRS screener's skip logic).

    Q3-Q5 (method, intent, plan) only follow a yes (or unsure) to Q2 (suicidal thoughts); Q6 (behavior) is
    always asked; its recency question only follows a yes (or unsure) to Q6.
    """
    required = ["topic", "safe_now", "screen_wish_dead", "screen_suicidal_thoughts"]
    if slots.get("screen_suicidal_thoughts") in FOLLOW_UP_ON:
        required += ["screen_method", "screen_intent", "screen_plan"]
    required.append("screen_behavior")
    if slots.get("screen_behavior") in FOLLOW_UP_ON:
        required.append("screen_behavior_recent")
    required.append("age_range")
    return required


def next_questions(slots: Mapping[str, Any]) -> list[str]:
    """The required slots still unanswered, in the order they will be asked."""
    return [slot for slot in required_questions(slots) if slots.get(slot) is None]


def intake_answers(slots: Mapping[str, Any]) -> dict[str, str]:
    """The answers given so far (only values a question may hold: raw, unvalidated text is left out)."""
    answers: dict[str, str] = {}
    for slot, question in QUESTIONS.items():
        value = slots.get(slot)
        if value is None or value == "":
            continue
        if question.values is None or value in question.values:
            answers[slot] = str(value)
    return answers


TOPIC_INTENTS = (
    "express_distress", "express_suicidal_ideation", "express_self_harm", "past_attempt", "third_party_concern",
)
MIN_TOPIC_WORDS = 4


def topic_from_first_message(text: str | None, intent: str | None) -> str | None:
    """A first message that already says what is going on ("my bf hit me again") answers the topic question."""
    if intent not in TOPIC_INTENTS or len(str(text or "").split()) < MIN_TOPIC_WORDS:
        return None
    return _free_text(str(text), intent)
