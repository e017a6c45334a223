"""One urgency per conversation: screener answers, the safety answer, NLU intents and free-text signals combined.

The result is never lower than the screener alone and never lower than `floor` (urgency never drops once raised).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from bot.triage.analyzer import MessageSignals, get_analyzer
from bot.triage.levels import Urgency, clamp_to_band, merge
from bot.triage.rules import combine
from bot.triage.screener import score_screener


def _safety(safe_now: str | None, answers: Mapping[str, bool | None]) -> Urgency | None:
    if safe_now == "no":
        if answers.get("intent") is True and answers.get("plan") is True:
            return Urgency("imminent", 96, ("Not safe right now", "Screener: intent and plan"))
        return Urgency("high", 72, ("Not safe right now",))
    if safe_now == "unsure":
        return Urgency("moderate", 45, ("Unsure if safe right now",))
    return None


def _intents(intents: Sequence[str]) -> list[Urgency]:
    table = get_analyzer().lexicon.intents
    found: list[Urgency] = []
    for name in dict.fromkeys(intents):
        spec = table.get(name)
        if spec:
            level = spec["level"]
            found.append(Urgency(level, clamp_to_band(level, int(spec.get("score", 0))),
                                 (str(spec.get("reason", f"NLU: {name}")),),
                                 (spec["need"],) if spec.get("need") else ()))
    return found


def warm_up() -> None:
    """Build the analyzer (spaCy pipeline + lexicon matchers) now rather than on the first text."""
    get_analyzer()


def text_urgency(texts: Sequence[str]) -> Urgency:
    """Urgency from free text alone (every texter message of the conversation, oldest first)."""
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        return Urgency("none", 0)
    return combine(get_analyzer().analyze(texts))


def assess(texts: Sequence[str], answers: Mapping[str, bool | None] | None = None, *, safe_now: str | None = None,
           intents: Sequence[str] = (), floor: Urgency | None = None) -> Urgency:
    """Urgency of a conversation from everything known so far (texts oldest first)."""
    answers = answers or {}
    parts: list[Urgency | None] = [text_urgency(texts), score_screener(answers), _safety(safe_now, answers), floor]
    parts.extend(_intents(intents))
    return merge(*parts)


def assess_many(items: Iterable[tuple[str, Mapping[str, bool | None] | None]]) -> Iterator[Urgency]:
    """Batch scoring of independent single messages (text, answers), streamed through spaCy's `pipe`."""
    analyzer = get_analyzer()
    pending = list(items) if not isinstance(items, list) else items
    signals: Iterator[MessageSignals] = analyzer.analyze_stream(text for text, _ in pending)
    for (_, answers), sig in zip(pending, signals, strict=True):
        yield merge(combine([sig]), score_screener(answers or {}))
