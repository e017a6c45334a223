"""assess() over a whole conversation: rising urgency, floors, screener, safety answer, NLU intents, emoji."""

from __future__ import annotations

import itertools

from bot.triage import Urgency, assess
from bot.triage.levels import rank


def test_urgency_rises_as_texts_arrive() -> None:
    texts = ["hi", "i'm having a really hard time", "i want to die", "i have a bottle of pills right here"]
    levels = [assess(texts[: i + 1]).level for i in range(len(texts))]
    assert levels == ["none", "low", "moderate", "high"]
    assert all(rank(a) <= rank(b) for a, b in itertools.pairwise(levels))


def test_signals_combine_across_messages() -> None:
    result = assess(["i want to end it", "i have my dads gun", "tonight"])
    assert result.level == "imminent"
    assert any("Thoughts" in reason for reason in result.reasons)


def test_floor_keeps_urgency_from_dropping() -> None:
    earlier = assess(["im going to kill myself"])
    assert earlier.level == "high"
    later = assess(["im ok now, forget it"], floor=earlier)
    assert later.level == "high" and later.score >= earlier.score
    assert Urgency.from_dict(later.to_dict()) == later


def test_never_below_screener() -> None:
    result = assess(["i'm not suicidal"], {"wish_dead": True, "plan": True})
    assert result.level == "high"
    assert result.reasons[0] == "Screener: plan (item 5)"


def test_text_can_raise_above_screener() -> None:
    result = assess(["i just took all my pills"], {"wish_dead": True})
    assert result.level == "imminent"


def test_safe_now_answers() -> None:
    assert assess(["hi"], safe_now="no").level == "high"
    assert assess(["hi"], safe_now="unsure").level == "moderate"
    assert assess(["hi"], safe_now="yes").level == "none"
    assert assess(["hi"], {"intent": True, "plan": True}, safe_now="no").level == "imminent"


def test_nlu_intents() -> None:
    assert assess(["help"], intents=["attempt_in_progress"]).level == "imminent"
    assert assess(["help"], intents=["express_suicidal_ideation"]).level == "moderate"
    assert assess(["help"], intents=["request_human", "greet"]).level == "none"
    self_harm = assess(["x"], intents=["express_self_harm"])
    assert "self_harm" in self_harm.needs


def test_reasons_are_short_and_quote_the_words() -> None:
    result = assess(["i have been feeling really low for months and tonight im going to kill myself with my pills"])
    assert result.level == "imminent"
    assert 1 <= len(result.reasons) <= 5
    assert all(len(reason) <= 120 for reason in result.reasons)
    assert any('"' in reason for reason in result.reasons)


def test_needs_are_collected_across_messages() -> None:
    result = assess(["im 15 and gay", "my dad hits me when he finds out", "i want to die"])
    assert {"lgbtq", "child_abuse"} <= set(result.needs)
    assert result.level == "moderate"


def test_emoji_signals() -> None:
    assert assess(["💊💊💊"]).level == "low"
    assert assess(["i want to die 💊💊"]).level == "high"
    assert assess(["i want to die 🔫"]).level == "high"


def test_odd_input_does_not_crash() -> None:
    odd = ["\x00\x01", "🙂" * 500, "a" * 20000, "ﷺ", "\n\n\n", "$$$ 1000000 mg", "k" * 3 + "ms" * 50, "<script>"]
    for text in odd:
        assert assess([text]).level in ("none", "low", "moderate", "high", "imminent")
