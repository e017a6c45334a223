"""Batch scoring of JSON lines: `{"id", "text", "answers"?}` in, `{"id", "level", "score", "reasons", "needs",
"abuse"}` out (`abuse`: the abuse classes found in the text with a score each, `{}` for none).

Uses the same scoring as the live assistant for a first message (free text + screener answers). A bad line gives
an error line for that id (or null) and scoring goes on; nothing here raises on input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.abuse.detector import score_abuse
from bot.triage.levels import Urgency
from bot.triage.screener import SCREENER_KEYS, parse_answer
from bot.triage.urgency import assess_many

CHUNK = 512


def _parse_line(line: str) -> tuple[Any, str | None, dict[str, bool | None] | None, str | None]:
    """(id, text, answers, error) for one input line."""
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, ValueError) as exc:
        return None, None, None, f"invalid JSON: {exc.msg if hasattr(exc, 'msg') else exc}"
    if not isinstance(item, Mapping):
        return None, None, None, "each line must be a JSON object"
    item_id = item.get("id")
    text = item.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        return item_id, None, None, '"text" must be a string'
    raw_answers = item.get("answers")
    if raw_answers is None:
        return item_id, text, None, None
    if not isinstance(raw_answers, Mapping):
        return item_id, None, None, '"answers" must be an object'
    unknown = sorted(set(raw_answers) - set(SCREENER_KEYS))
    if unknown:
        return item_id, None, None, f"unknown answer keys: {', '.join(map(str, unknown))}"
    return item_id, text, {key: parse_answer(value) for key, value in raw_answers.items()}, None


def _score_one(text: str, answers: dict[str, bool | None] | None) -> Urgency | str:
    try:
        return next(assess_many([(text, answers)]))
    except Exception as exc:
        return f"could not score: {type(exc).__name__}"


def score_lines(lines: Iterable[str]) -> Iterator[str]:
    """One output JSON line per non-blank input line, in order."""
    chunk: list[tuple[Any, str | None, dict[str, bool | None] | None, str | None]] = []

    def flush() -> Iterator[str]:
        good = [(text or "", answers) for _, text, answers, error in chunk if error is None]
        try:
            results = list(assess_many(good))
        except Exception:
            results = [_score_one(text, answers) for text, answers in good]
        scored = iter(results)
        abuse = iter(score_abuse([text for text, _ in good]))
        for item_id, _, _, error in chunk:
            result = next(scored) if error is None else error
            if isinstance(result, str) and error is None:
                next(abuse)
            if isinstance(result, str):
                yield json.dumps({"id": item_id, "error": result}, ensure_ascii=False)
            else:
                yield json.dumps({"id": item_id, **result.to_dict(), "abuse": next(abuse)}, ensure_ascii=False)
        chunk.clear()

    for line in lines:
        if not line.strip():
            continue
        chunk.append(_parse_line(line))
        if len(chunk) >= CHUNK:
            yield from flush()
    if chunk:
        yield from flush()
