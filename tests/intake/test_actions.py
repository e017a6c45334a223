"""The custom actions, run with real rasa_sdk trackers and dispatchers against the real domain and triage."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from actions.validate_intake import ValidateIntakeForm
from bot.intake.scoring import Conversation, score
from tests.intake.trackers import ALL_NO, form_tracker

IMMINENT_TEXT = "i already took the pills"


def slot_sets(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages if m.get("response")]


async def validate(domain: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await ValidateIntakeForm().run(dispatcher, form_tracker(domain, **kwargs), domain)
    return slot_sets(events), dispatcher


async def test_readable_answer_is_kept_scored_and_the_next_question_requested(domain: dict[str, Any]) -> None:
    slots, _ = await validate(
        domain, earlier=[("hi", "greet"), ("school stuff", "express_distress")], answer=("yeah", "affirm"),
        slots={"topic": "school stuff"}, requested_slot="safe_now",
    )
    assert slots["safe_now"] == "yes"
    assert slots["intake_attempts"] == 0
    assert slots["requested_slot"] == "screen_wish_dead"
    said = Conversation(["hi", "school stuff", "yeah"], ["greet", "express_distress", "affirm"])
    expected = score({"topic": "school stuff", "safe_now": "yes"}, said)
    assert (slots["urgency_level"], slots["urgency_score"]) == (expected.level, expected.score)


async def test_unreadable_answer_is_asked_once_more_then_unknown(domain: dict[str, Any]) -> None:
    base = {"topic": "t", "safe_now": "yes"}
    slots, dispatcher = await validate(
        domain, earlier=[("hi", "greet")], answer=("banana", "deny"), slots=base, requested_slot="screen_wish_dead",
    )
    assert slots["screen_wish_dead"] is None
    assert slots["intake_attempts"] == 1
    assert slots["requested_slot"] == "screen_wish_dead"  # the form asks again (the "Just to check" variant)
    assert dispatcher.messages == []

    slots, _ = await validate(
        domain, earlier=[("hi", "greet"), ("banana", "deny")], answer=("purple", "out_of_scope"),
        slots=base | {"intake_attempts": 1.0}, requested_slot="screen_wish_dead",
    )
    assert slots["screen_wish_dead"] == "unknown"
    assert slots["intake_attempts"] == 0
    assert slots["requested_slot"] == "screen_suicidal_thoughts"


async def test_q2_no_skips_method_intent_plan(domain: dict[str, Any]) -> None:
    slots, _ = await validate(
        domain, earlier=[("hi", "greet")], answer=("nope", "deny"),
        slots={"topic": "t", "safe_now": "yes", "screen_wish_dead": "no"}, requested_slot="screen_suicidal_thoughts",
    )
    assert slots["screen_suicidal_thoughts"] == "no"
    assert slots["requested_slot"] == "screen_behavior"


async def test_q2_yes_asks_method_and_sends_one_caring_message(domain: dict[str, Any]) -> None:
    slots, dispatcher = await validate(
        domain, earlier=[("hi", "greet")], answer=("yes", "affirm"),
        slots={"topic": "t", "safe_now": "yes", "screen_wish_dead": "no"}, requested_slot="screen_suicidal_thoughts",
    )
    assert slots["requested_slot"] == "screen_method"
    assert slots["urgency_level"] == "low"
    assert responses(dispatcher) == ["utter_risk_care"]
    assert slots["risk_acknowledged"] is True

    _, again = await validate(
        domain, earlier=[("hi", "greet"), ("yes", "affirm")], answer=("yes", "affirm"),
        slots={"topic": "t", "safe_now": "yes", "screen_wish_dead": "no", "screen_suicidal_thoughts": "yes",
               "risk_acknowledged": True},
        requested_slot="screen_method",
    )
    assert responses(again) == []  # once is enough; the handoff message names 911 / 988 again


async def test_imminent_answer_ends_the_form_at_once(domain: dict[str, Any]) -> None:
    slots, dispatcher = await validate(
        domain, earlier=[("hi", "greet")], answer=(IMMINENT_TEXT, "express_distress"),
        slots={"topic": "t", "safe_now": "yes"}, requested_slot="screen_wish_dead",
    )
    assert slots["urgency_level"] == "imminent"
    assert slots["requested_slot"] is None  # no more questions: action_handoff sends the safety message
    assert dispatcher.messages == []


async def test_imminent_first_message_asks_nothing(domain: dict[str, Any]) -> None:
    slots, dispatcher = await validate(domain, earlier=[], answer=(IMMINENT_TEXT, "express_suicidal_ideation"))
    assert slots["urgency_level"] == "imminent"
    assert slots["requested_slot"] is None
    assert dispatcher.messages == []


async def test_not_safe_with_intent_and_plan_is_imminent(domain: dict[str, Any]) -> None:
    answered = {"topic": "t", "safe_now": "no", "screen_wish_dead": "yes", "screen_suicidal_thoughts": "yes",
                "screen_method": "yes", "screen_intent": "yes"}
    slots, _ = await validate(
        domain, earlier=[("hi", "greet")], answer=("yeah", "affirm"), slots=answered, requested_slot="screen_plan",
    )
    assert slots["screen_plan"] == "yes"
    assert slots["urgency_level"] == "imminent"
    assert slots["requested_slot"] is None


async def test_first_message_that_tells_the_story_is_the_topic(domain: dict[str, Any]) -> None:
    text = "my parents keep screaming at each other and i cant take it"
    slots, _ = await validate(domain, earlier=[], answer=(text, "express_distress"))
    assert slots["topic"] == text
    assert slots["requested_slot"] == "safe_now"


async def test_plain_hello_starts_with_the_topic_question(domain: dict[str, Any]) -> None:
    slots, _ = await validate(domain, earlier=[], answer=("hi", "greet"))
    assert slots.get("topic") is None
    assert slots["requested_slot"] == "topic"


async def test_interrupting_intent_fills_nothing_so_the_form_rejects(domain: dict[str, Any]) -> None:
    slots, dispatcher = await validate(
        domain, earlier=[("hi", "greet")], answer=("just let me talk to someone", "request_human"),
        slots={"topic": "t"}, requested_slot="safe_now", extracted=False,
    )
    # Only requested_slot: Rasa sees nothing validated, rejects the form, and the request_human rule hands off.
    assert set(slots) == {"requested_slot"}
    assert dispatcher.messages == []


async def test_question_instead_of_answer_is_answered_and_asked_again(domain: dict[str, Any]) -> None:
    slots, dispatcher = await validate(
        domain, earlier=[("hi", "greet")], answer=("wait are you a bot", "bot_challenge"),
        slots={"topic": "t"}, requested_slot="safe_now",
    )
    assert responses(dispatcher) == ["utter_iamabot"]
    assert slots["safe_now"] is None
    assert slots["requested_slot"] == "safe_now"


async def test_age_words_win_over_a_misread_intent(domain: dict[str, Any]) -> None:
    answered = {k: v for k, v in ALL_NO.items() if k != "age_range"}
    slots, _ = await validate(
        domain, earlier=[("hi", "greet")], answer=("im 15", "ask_for_number"), slots=answered,
        requested_slot="age_range",
    )
    assert slots["age_range"] == "13_17"
    assert slots["requested_slot"] is None  # intake complete


async def run_handoff(domain: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    tracker = form_tracker(domain, **kwargs)
    events = await ActionHandoff().run(dispatcher, tracker, domain)
    customs = [m["custom"] for m in dispatcher.messages if m.get("custom")]
    assert len(customs) == 1
    assert dispatcher.messages[-1]["custom"] == customs[0]  # the payload comes after the texter's messages
    json.dumps(customs[0])  # travels as JSON through the REST channel
    return slot_sets(events), responses(dispatcher), customs[0]["handoff"]


async def test_handoff_after_a_completed_intake(domain: dict[str, Any]) -> None:
    slots, said, ctx = await run_handoff(domain, earlier=[("hi", "greet")], answer=("ok", "thanks"), slots=ALL_NO)
    assert said == ["utter_handoff_completed"]
    assert ctx["reason"] == "completed"
    assert ctx["intake_complete"] is True
    assert ctx["answers"] == ALL_NO
    assert ctx["urgency"]["level"] == "none"
    assert ctx["summary"]
    assert slots["urgency_level"] == "none"


async def test_handoff_when_the_texter_asks_for_a_person(domain: dict[str, Any]) -> None:
    _, said, ctx = await run_handoff(
        domain, earlier=[("hi", "greet")], answer=("can i talk to a real person", "request_human"),
        slots={"topic": "t"}, requested_slot="safe_now", extracted=False,
    )
    assert said == ["utter_handoff_requested"]
    assert ctx["reason"] == "requested"
    assert ctx["intake_complete"] is False
    assert ctx["answers"] == {"topic": "t"}


async def test_imminent_handoff_sends_the_safety_message_first(domain: dict[str, Any]) -> None:
    slots, said, ctx = await run_handoff(
        domain, earlier=[("hi", "greet")], answer=(IMMINENT_TEXT, "attempt_in_progress")
    )
    assert said == ["utter_safety_now", "utter_handoff_imminent"]
    assert ctx["reason"] == "imminent"
    assert ctx["urgency"]["level"] == "imminent"
    assert slots["urgency_level"] == "imminent"


async def test_attempt_intent_alone_is_imminent(domain: dict[str, Any]) -> None:
    _, said, ctx = await run_handoff(domain, earlier=[], answer=("i already did it", "attempt_in_progress"))
    assert said[0] == "utter_safety_now"
    assert ctx["urgency"]["level"] == "imminent"
