"""Split a long reply into texts of at most Twilio's 1,600 characters, on sentence boundaries, in order."""

from __future__ import annotations

import re

TWILIO_MAX_CHARS = 1600
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_message(text: str, limit: int = TWILIO_MAX_CHARS) -> list[str]:
    """Parts of ``text`` no longer than ``limit``, broken after sentences, then words, then characters."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(text) if s.strip()):
        for piece in _fit(sentence.strip(), limit):
            candidate = f"{current} {piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                parts.append(current)
                current = piece
    if current:
        parts.append(current)
    return parts


def _fit(sentence: str, limit: int) -> list[str]:
    """A sentence longer than the limit is broken between words (or, failing that, hard)."""
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces
