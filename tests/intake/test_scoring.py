"""Scoring during the intake, the handoff reason and context, and the texts the texter can get."""

from __future__ import annotations

from typing import Any

import pytest

import bot.intake.handoff as intake_handoff
from bot.intake.handoff import handoff_context
from bot.intake.messages import DETOURS, HANDOFF_RESPONSES, RISK_CARE, SAFETY_NOW
from bot.intake.questions import ANSWER_SLOTS
from bot.intake.scoring import (
    Conversation,
    conversation_from_events,
    handoff_reason,
    needs_care_message,
    score,
    urgency_slots,
)
from tests.intake.trackers import ALL_NO, user_event


def test_conversation_keeps_every_texter_text_and_intent_in_order() -> None:
    events = [
        {"event": "action", "name": "action_listen"},
        user_event("hi", "greet"),
        {"event": "bot", "text": "Hi, I'm an automated helper."},
        user_event("  ", "nlu_fallback"),
        user_event("i feel awful", "express_distress"),
        {"event": "slot", "name": "topic", "value": "i feel awful"},
    ]
    conversation = conversation_from_events(events)
    assert conversation.texts == ["hi", "i feel awful"]
    assert conversation.intents == ["greet", "nlu_fallback", "express_distress"]
    assert conversation.latest_intent == "express_distress"


def test_score_uses_screener_answers_safety_texts_and_intents() -> None:
    calm = Conversation(["hi", "ok"], ["greet", "thanks"])
    assert score(ALL_NO, calm).level == "none"
    assert score(ALL_NO | {"screen_wish_dead": "yes"}, calm).level == "low"
    assert score({"safe_now": "no"}, calm).level == "high"
    assert score({}, Conversation(["i want to die"], ["express_suicidal_ideation"])).level == "moderate"
    assert score({}, Conversation(["ok"], ["attempt_in_progress"])).level == "imminent"


def test_unvalidated_text_in_a_slot_is_not_scored_as_an_answer() -> None:
    # While the form runs, a slot briefly holds the raw reply; only real answers count.
    assert score({"screen_intent": "yes i guess", "screen_plan": "banana"}, Conversation([], [])).level == "none"


def test_urgency_slots_are_plain_values() -> None:
    u = score({"safe_now": "no"}, Conversation([], []))
    assert urgency_slots(u) == {
        "urgency_level": "high", "urgency_score": float(u.score), "urgency_reasons": list(u.reasons)
    }


@pytest.mark.parametrize(
    ("slots", "conversation", "reason"),
    [
        (ALL_NO, Conversation(["hi"], ["greet", "give_age"]), "completed"),
        ({"topic": "t"}, Conversation(["hi", "human pls"], ["greet", "request_human"]), "requested"),
        ({}, Conversation(["i took 30 pills"], ["attempt_in_progress"]), "imminent"),
        (ALL_NO | {"safe_now": "no", "screen_suicidal_thoughts": "yes", "screen_intent": "yes", "screen_plan": "yes"},
         Conversation(["yes"], ["affirm"]), "imminent"),
    ],
)
def test_handoff_reason(slots: dict[str, Any], conversation: Conversation, reason: str) -> None:
    assert handoff_reason(score(slots, conversation), slots, conversation) == reason
    assert handoff_context(slots, conversation).reason == reason


def test_handoff_context_fails_open_to_a_counselor(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("triage bug")

    monkeypatch.setattr(intake_handoff, "build_context", broken)
    ctx = handoff_context({"topic": "t"}, Conversation(["help"], ["express_distress"]))
    assert ctx.urgency.level == "high"
    assert ctx.reason == "requested"
    assert ctx.answers == {"topic": "t"}
    assert ctx.summary


# ---- the texts themselves (domain.yml) ----------------------------------------------------------------------

def all_texts(domain: dict[str, Any], name: str) -> list[str]:
    return [variant["text"] for variant in domain["responses"][name]]


def test_every_response_is_short(domain: dict[str, Any]) -> None:
    for name, variants in domain["responses"].items():
        for variant in variants:
            assert len(variant["text"]) < 320, name


def test_risk_and_handoff_texts_name_911_and_988(domain: dict[str, Any]) -> None:
    names = [RISK_CARE, SAFETY_NOW, "utter_hotline_numbers"]
    names += [n for reason in HANDOFF_RESPONSES.values() for n in reason if n != "utter_handoff_imminent"]
    for name in names:
        for text in all_texts(domain, name):
            assert "911" in text and "988" in text, name


def test_greeting_says_what_happens_next(domain: dict[str, Any]) -> None:
    english, spanish, *experiment_variants = all_texts(domain, "utter_greet")
    for text in (english, *experiment_variants):  # a variant of an intake experiment keeps the safety words
        for words in ("automated", "counselor", "911", "STOP"):
            assert words in text
    for words in ("automático", "consejero", "911", "PARAR"):
        assert words in spanish


def test_every_question_and_message_the_actions_use_exists(domain: dict[str, Any]) -> None:
    used = {RISK_CARE, SAFETY_NOW, *DETOURS.values()}
    used |= {n for names in HANDOFF_RESPONSES.values() for n in names}
    used |= {f"utter_ask_{slot}" for slot in ANSWER_SLOTS}
    assert used <= set(domain["responses"])
    assert list(domain["forms"]["intake_form"]["required_slots"]) == list(ANSWER_SLOTS)


def test_every_question_with_set_answers_has_its_reask(domain: dict[str, Any]) -> None:
    for slot in ANSWER_SLOTS:
        conditions = [v.get("condition") for v in domain["responses"][f"utter_ask_{slot}"]]
        reask = {"type": "slot", "name": "intake_attempts", "value": 1}
        assert any(c and reask in c for c in conditions), slot


@pytest.mark.parametrize(
    ("slots", "conversation", "care"),
    [
        ({"topic": "school"}, Conversation(["school is a lot"], ["express_distress"]), False),
        ({"screen_wish_dead": "yes"}, Conversation(["yes"], ["affirm"]), True),
        ({"safe_now": "no"}, Conversation(["no"], ["deny"]), True),
        ({}, Conversation(["i want to die"], ["express_suicidal_ideation"]), True),
        ({}, Conversation(["i already took the pills"], ["attempt_in_progress"]), False),  # handoff says it
    ],
)
def test_care_message_on_a_sign_of_risk(slots: dict[str, Any], conversation: Conversation, care: bool) -> None:
    assert needs_care_message(score(slots, conversation), slots) is care
