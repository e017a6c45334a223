"""The C-SSRS screener's triage rule: seven yes/no/unknown answers -> an `Urgency`.

Rule (Columbia Protocol screener): yes to item 4 (intent) or 5 (plan), or suicidal behaviour within the past
3 months, is high risk; yes to item 3 (method) or behaviour longer ago is moderate; yes to item 1 or 2 only is low.
All answered no is none. Partial answers: unknown (None) items never lower the result; only yes answers raise it.
Behaviour with an unknown "when" counts as recent (high): the safe side, a counselor asks.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.triage.levels import Urgency, clamp_to_band, level_for_score

SCREENER_KEYS: tuple[str, ...] = (
    "wish_dead", "suicidal_thoughts", "method", "intent", "plan", "behavior", "behavior_recent",
)

# key -> (score when yes, counselor-readable reason). Scores sit inside the level bands of levels.py.
_ITEMS: Mapping[str, tuple[int, str]] = {
    "wish_dead": (20, "Screener: wishes to be dead (item 1)"),
    "suicidal_thoughts": (30, "Screener: suicidal thoughts (item 2)"),
    "method": (50, "Screener: thought about how (item 3)"),
    "intent": (75, "Screener: intent to act (item 4)"),
    "plan": (80, "Screener: plan (item 5)"),
}
_BEHAVIOR_PAST = (55, "Screener: past attempt or preparation, over 3 months ago (item 6)")
_BEHAVIOR_RECENT = (82, "Screener: attempt or preparation in the last 3 months (item 6)")
_BEHAVIOR_WHEN_UNKNOWN = (70, "Screener: past attempt or preparation, when unknown (item 6)")


def _yes(answers: Mapping[str, bool | None], key: str) -> bool:
    return answers.get(key) is True


def score_screener(answers: Mapping[str, bool | None]) -> Urgency:
    """Urgency from the screener answers alone (missing keys and None mean "not known")."""
    hits: list[tuple[int, str]] = [_ITEMS[key] for key in _ITEMS if _yes(answers, key)]
    if _yes(answers, "behavior_recent"):
        hits.append(_BEHAVIOR_RECENT)
    elif _yes(answers, "behavior"):
        hits.append(_BEHAVIOR_PAST if answers.get("behavior_recent") is False else _BEHAVIOR_WHEN_UNKNOWN)
    if not hits:
        return Urgency("none", 0)
    hits.sort(key=lambda hit: hit[0], reverse=True)
    top_score = hits[0][0]
    level = level_for_score(top_score)
    # Each further yes adds a little, so more yes answers rank higher within the same level.
    score = clamp_to_band(level, top_score + 2 * (len(hits) - 1))
    return Urgency(level, score, tuple(reason for _, reason in hits), ())


def parse_answer(value: object) -> bool | None:
    """A screener answer from a slot/JSON value: True/False, "yes"/"no"; anything else (unsure, unknown) None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("yes", "y", "true"):
            return True
        if text in ("no", "n", "false"):
            return False
    return None
