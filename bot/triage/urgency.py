"""One urgency per conversation: screener answers, the safety answer, NLU intents and free-text signals combined,
and the process-wide live learned model that scores free text on top of the lexicon.

The result is never lower than the screener alone and never lower than `floor` (urgency never drops once raised).

Free text without a live model: the lexicon's rules (bot.triage.rules). With a live model (`use_model`): the
lexicon still analyzes the texts (negation, third party, past, hyperbole, timeframe) and its signals are features
of the model; the free-text level and score are the model's (its probability mapped into the level's band), the
reasons are the words that weighed most plus the lexicon's own reasons where both see risk. The lexicon's hard
imminent cues (an attempt in progress, a plan or intent with a timeframe such as "tonight") are a floor the model
can never lower, like the screener, the safety answer and `floor`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from bot.triage.analyzer import MessageSignals, get_analyzer
from bot.triage.learned import LearnedModel, join_texts
from bot.triage.levels import LEXICON, Urgency, clamp_to_band, merge, rank
from bot.triage.rules import MAX_REASONS, combine
from bot.triage.screener import score_screener

_live: LearnedModel | None = None
_swap = threading.Lock()


def use_model(model: LearnedModel | None) -> None:
    """Make `model` the process-wide live scorer of free text (None = the lexicon alone). Atomic: a scoring call
    in flight finishes with the model it started with."""
    global _live
    if model is not None and not isinstance(model, LearnedModel):
        raise TypeError(f"use_model needs a LearnedModel or None, not {type(model).__name__}")
    with _swap:
        _live = model


def live_model() -> LearnedModel | None:
    """The live learned model, or None when the lexicon alone scores."""
    return _live


def model_name(model: LearnedModel | None) -> str:
    """The scorer name an urgency records: the model's version ("candidate" before it is stored), or "lexicon"."""
    return LEXICON if model is None else (model.version or "candidate")


def live_model_version() -> str:
    """Version of the live model; "lexicon" when none is live."""
    return model_name(_live)


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


def with_model(lexicon: Urgency, model: LearnedModel, probability: float, words: Sequence[str]) -> Urgency:
    """Free-text urgency from the lexicon's and the model's views of the same texts (see the module docstring)."""
    learned = model.urgency(probability, words)
    if lexicon.level == "imminent":
        return replace(merge(lexicon, learned), model=learned.model)
    reasons = list(learned.reasons)
    if rank(lexicon.level) >= 1 and rank(learned.level) >= 1:
        reasons.extend(r for r in lexicon.reasons if r not in reasons)
    return Urgency(learned.level, learned.score, tuple(reasons[:MAX_REASONS]), lexicon.needs, learned.model)


def text_urgency(texts: Sequence[str], model: LearnedModel | str | None = "live") -> Urgency:
    """Urgency from free text alone (every texter message of the conversation, oldest first), scored by `model`
    ("live" = the live model; None = the lexicon alone)."""
    if isinstance(model, str):
        model = _live
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        return Urgency("none", 0, model=model_name(model))
    lexicon = combine(get_analyzer().analyze(texts))
    if model is None:
        return lexicon
    ((probability, words),) = model.score_texts([join_texts(texts)])
    return with_model(lexicon, model, probability, words)


def assess(texts: Sequence[str], answers: Mapping[str, bool | None] | None = None, *, safe_now: str | None = None,
           intents: Sequence[str] = (), floor: Urgency | None = None) -> Urgency:
    """Urgency of a conversation from everything known so far (texts oldest first)."""
    model = _live
    answers = answers or {}
    parts: list[Urgency | None] = [text_urgency(texts, model), score_screener(answers), _safety(safe_now, answers),
                                   floor]
    parts.extend(_intents(intents))
    return replace(merge(*parts), model=model_name(model))


def assess_many(items: Iterable[tuple[str, Mapping[str, bool | None] | None]]) -> Iterator[Urgency]:
    """Batch scoring of independent single messages (text, answers), streamed through spaCy's `pipe`, with the
    live model when there is one (its batch fast path: the lexicon's signals are computed once for both)."""
    model = _live
    analyzer = get_analyzer()
    pending = list(items) if not isinstance(items, list) else items
    if model is None:
        signals: Iterator[MessageSignals] = analyzer.analyze_stream(text for text, _ in pending)
        for (_, answers), sig in zip(pending, signals, strict=True):
            yield merge(combine([sig]), score_screener(answers or {}))
        return
    name = model_name(model)
    for start in range(0, len(pending), 1024):
        chunk = pending[start:start + 1024]
        texts = [text if isinstance(text, str) else "" for text, _ in chunk]
        sigs = list(analyzer.analyze_stream(texts))
        scored = model.score_texts(texts, signals=sigs)
        for text, (_, answers), sig, (probability, words) in zip(texts, chunk, sigs, scored, strict=True):
            if not text.strip():
                yield replace(score_screener(answers or {}), model=name)
                continue
            free = with_model(combine([sig]), model, probability, words)
            yield replace(merge(free, score_screener(answers or {})), model=name)
