"""The intake's question order, the C-SSRS screener's skip logic, and the ask-once-more rule."""

from __future__ import annotations

import pytest

from bot.intake.questions import (
    ANSWER_SLOTS,
    MAX_TOPIC_CHARS,
    intake_answers,
    interpret,
    next_questions,
    required_questions,
    resolve,
    topic_from_first_message,
)

BASE = ["topic", "safe_now", "screen_wish_dead", "screen_suicidal_thoughts"]
FOLLOW_UPS = ["screen_method", "screen_intent", "screen_plan"]


def test_nothing_answered_asks_topic_first() -> None:
    assert next_questions({})[0] == "topic"
    assert required_questions({}) == [*BASE, "screen_behavior", "age_range"]


def test_all_no_path_skips_follow_ups_and_recency() -> None:
    slots = {"topic": "school", "safe_now": "yes", "screen_wish_dead": "no", "screen_suicidal_thoughts": "no"}
    assert next_questions(slots) == ["screen_behavior", "age_range"]
    slots |= {"screen_behavior": "no"}
    assert next_questions(slots) == ["age_range"]
    slots |= {"age_range": "13_17"}
    assert next_questions(slots) == []


@pytest.mark.parametrize("answer", ["yes", "unsure"])
def test_q2_yes_or_unsure_asks_method_intent_plan(answer: str) -> None:
    slots = {"topic": "t", "safe_now": "no", "screen_wish_dead": "yes", "screen_suicidal_thoughts": answer}
    assert next_questions(slots) == [*FOLLOW_UPS, "screen_behavior", "age_range"]


@pytest.mark.parametrize("answer", ["no", "unknown"])
def test_q2_no_or_unknown_skips_to_behavior(answer: str) -> None:
    slots = {"topic": "t", "safe_now": "yes", "screen_wish_dead": "yes", "screen_suicidal_thoughts": answer}
    assert next_questions(slots) == ["screen_behavior", "age_range"]


@pytest.mark.parametrize(
    ("answer", "asks_recency"), [("yes", True), ("unsure", True), ("no", False), ("unknown", False)]
)
def test_q6_recency_only_after_yes_or_unsure(answer: str, asks_recency: bool) -> None:
    slots = dict.fromkeys(BASE, "no") | {"screen_behavior": answer}
    assert ("screen_behavior_recent" in next_questions(slots)) is asks_recency


def test_required_questions_keep_the_screener_order() -> None:
    slots = {"screen_suicidal_thoughts": "yes", "screen_behavior": "yes"}
    assert required_questions(slots) == list(ANSWER_SLOTS)


def test_resolve_asks_once_more_then_moves_on() -> None:
    first = resolve(None, 0)
    assert (first.value, first.attempts) == (None, 1)
    second = resolve(None, first.attempts)
    assert (second.value, second.attempts) == ("unknown", 0)
    assert resolve("yes", 1).value == "yes"
    assert resolve("yes", 1).attempts == 0


def test_interpret_reads_each_kind_of_question() -> None:
    assert interpret("safe_now", "yeah", None, 0).value == "yes"
    assert interpret("screen_plan", "nah", None, 0).value == "no"
    assert interpret("age_range", "im 15", "ask_for_number", 0).value == "13_17"  # the words win
    assert interpret("topic", "  my mom  and i keep fighting ", None, 0).value == "my mom and i keep fighting"


def test_unreadable_answer_is_asked_once_then_unknown() -> None:
    first = interpret("screen_wish_dead", "banana", "deny", 0)
    assert first.value is None and first.attempts == 1 and first.detour is None
    second = interpret("screen_wish_dead", "purple", None, first.attempts)
    assert second.value == "unknown" and second.attempts == 0


def test_a_question_instead_of_an_answer_gets_answered_and_counts_as_an_attempt() -> None:
    first = interpret("safe_now", "are you a bot?", "bot_challenge", 0)
    assert (first.value, first.attempts, first.detour) == (None, 1, "utter_iamabot")
    second = interpret("safe_now", "whats the hotline", "ask_for_number", 1)
    assert (second.value, second.detour) == ("unknown", "utter_hotline_numbers")
    topic = interpret("topic", "is this a real person", "bot_challenge", 0)
    assert topic.value is None and topic.detour == "utter_iamabot"
    assert interpret("topic", "is this a real person", "bot_challenge", 1).value == "is this a real person"


def test_topic_is_any_text_but_clipped() -> None:
    assert interpret("topic", "🙃", None, 0).value == "🙃"
    assert len(interpret("topic", "word " * 500, None, 0).value or "") == MAX_TOPIC_CHARS


def test_intake_answers_leave_out_raw_unvalidated_text() -> None:
    slots = {
        "topic": "my friend",
        "safe_now": "yeah i think",  # raw text not yet validated
        "screen_wish_dead": "no",
        "age_range": "13_17",
        "urgency_level": "low",
        "requested_slot": "safe_now",
    }
    assert intake_answers(slots) == {"topic": "my friend", "screen_wish_dead": "no", "age_range": "13_17"}


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("my boyfriend hit me again and i dont know what to do", "express_distress", True),
        ("my friend says she wants to die", "third_party_concern", True),
        ("hi", "greet", False),
        ("i need help", "express_distress", False),  # too short to be the story
        ("whats the weather like today", "out_of_scope", False),
    ],
)
def test_first_message_as_topic(text: str, intent: str, expected: bool) -> None:
    assert (topic_from_first_message(text, intent) is not None) is expected
