"""The gateway's own texts to texters, in English and Spanish, from the staff-edited data/texts.yml.

The file is read and checked once, when this module is first imported (so a broken edit stops the gateway at
start, not in front of a texter): every text has both languages, is under 320 characters, and the texts marked
``risk`` name 911 and 988. ``text(key, language)`` gives one text; an unknown language falls back to English.
The module-level constants (``FAIL_OPEN``, ``HELP``...) are the English texts, for callers that have no language.
``python -m bot.sms.replies --check`` checks the file (or another one) and says what is wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.settings import ROOT

TEXTS_PATH = ROOT / "data" / "texts.yml"
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
MAX_CHARS = 320  # two SMS segments of plain text; fewer for Spanish accents (UCS-2), so keep them short
RISK_NUMBERS = ("911", "988")
EMERGENCY_PLACEHOLDER = "{emergency}"
REQUIRED_KEYS = (
    "emergency", "fail_open", "help", "empty", "media_only", "opted_out", "opted_in", "imminent", "rate_limited",
    "blocked", "queue_next", "queue_soon", "queue_busy", "still_waiting", "idle_closed",
)


class TextsError(ValueError):
    """data/texts.yml is missing a text or a language, or a text breaks a rule."""


def load_texts(path: Path = TEXTS_PATH) -> dict[str, dict[str, str]]:
    """Read and check the texts file: ``{key: {language: text}}`` with ``{emergency}`` filled in."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TextsError(f"{path}: cannot read it ({exc})") from exc
    entries = raw.get("texts") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise TextsError(f"{path}: expected a top-level `texts:` mapping")
    problems = [f"{key}: missing" for key in REQUIRED_KEYS if key not in entries]
    texts: dict[str, dict[str, str]] = {}
    risk_keys: set[str] = set()
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            problems.append(f"{key}: expected en / es texts")
            continue
        if entry.get("risk"):
            risk_keys.add(str(key))
        texts[str(key)] = {}
        for language in LANGUAGES:
            value = entry.get(language)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{key}.{language}: missing")
                continue
            texts[str(key)][language] = " ".join(value.split())
    emergency = texts.get("emergency", {})
    for key, by_language in texts.items():
        for language, value in by_language.items():
            if EMERGENCY_PLACEHOLDER in value:
                value = by_language[language] = value.replace(EMERGENCY_PLACEHOLDER, emergency.get(language, ""))
            problems += _rule_problems(f"{key}.{language}", value, key in risk_keys)
    if problems:
        raise TextsError(f"{path}: " + "; ".join(problems))
    return texts


def _rule_problems(name: str, value: str, risk: bool) -> list[str]:
    problems = []
    if len(value) >= MAX_CHARS:
        problems.append(f"{name}: {len(value)} characters (keep it under {MAX_CHARS})")
    if risk and not all(number in value for number in RISK_NUMBERS):
        problems.append(f"{name}: a risk text must name 911 and 988")
    return problems


_TEXTS = load_texts()


def text(key: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The text ``key`` in ``language`` ("en" / "es"; anything else gets English), ``{name}`` filled from values."""
    by_language: Mapping[str, str] = _TEXTS[key]
    body = by_language.get(language) or by_language[DEFAULT_LANGUAGE]
    return body.format(**values) if values else body


def queue_position(position: int, language: str = DEFAULT_LANGUAGE) -> str:
    """Where the texter is in line, without promising a time."""
    if position <= 1:
        return text("queue_next", language)
    if position <= 3:
        return text("queue_soon", language)
    return text("queue_busy", language)


# English, under the names the gateway has always used.
EMERGENCY = text("emergency")
FAIL_OPEN = text("fail_open")
HELP = text("help")
MEDIA_ONLY = text("media_only")
EMPTY = text("empty")
OPTED_OUT = text("opted_out")
OPTED_IN = text("opted_in")
IMMINENT = text("imminent")
RATE_LIMITED = text("rate_limited")
BLOCKED = text("blocked")
STILL_WAITING = text("still_waiting")
IDLE_CLOSED = text("idle_closed")


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.sms.replies --check [PATH]``: check a texts file, print what is wrong, exit 1 if anything."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--check"]:
        args = args[1:]
    path = Path(args[0]) if args else TEXTS_PATH
    try:
        texts = load_texts(path)
    except TextsError as exc:
        print(exc)
        return 1
    print(f"{path}: {len(texts)} texts, each in {' and '.join(LANGUAGES)}: all good.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
