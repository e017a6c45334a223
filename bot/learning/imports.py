"""Reading labelled texts from files: CSV with a `text,label` header, or JSON lines `{"text": ..., "label": ...}`.

A label is 0/1 or a level name (none, low, moderate, high, imminent; moderate and above count as 1). Every row
that cannot be used is skipped with a reason; phone-number-like digit runs are replaced before anything is kept.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.triage.levels import LEVELS

#: Levels counted as "at risk" (label 1): the queue's moderate-or-above.
RISK_FROM = "moderate"
MAX_TEXT_CHARS = 5000
REQUIRED_COLUMNS = ("text", "label")
# A phone number: 10 or more digits with the usual separators (doses like "800mg" or "40 pills" stay).
_PHONE = re.compile(r"(?<![\w])\+?\d(?:[\s().-]*\d){9,}(?![\w])")


def binary(level: str) -> int:
    """1 when ``level`` is moderate or above, else 0."""
    return int(LEVELS.index(level) >= LEVELS.index(RISK_FROM))


def redact_numbers(text: str) -> str:
    return _PHONE.sub("[number]", text)


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Row:
    """One usable labelled text."""

    text: str
    label: int
    level: str | None
    language: str
    line: int


@dataclass(frozen=True)
class Skip:
    line: int
    reason: str


class ImportFileError(ValueError):
    """The file as a whole cannot be read (unknown format, missing columns)."""


def parse_label(value: object) -> tuple[int, str | None] | None:
    """(label, level) from 0/1 (number or string) or a level name; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value in (0, 1):
        return int(value), None
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("0", "1"):
            return int(v), None
        if v in LEVELS:
            return binary(v), v
    return None


def _row(line: int, text: object, label: object, language: object) -> Row | Skip:
    if not isinstance(text, str) or not text.strip():
        return Skip(line, "empty text")
    if len(text) > MAX_TEXT_CHARS:
        return Skip(line, f"text longer than {MAX_TEXT_CHARS} characters")
    parsed = parse_label(label)
    if parsed is None:
        return Skip(line, "bad label (use 0, 1 or a level: " + ", ".join(LEVELS) + ")")
    lang = str(language).strip().lower()[:16] if isinstance(language, str) and language.strip() else "en"
    return Row(redact_numbers(text.strip()), parsed[0], parsed[1], lang, line)


def read_rows(path: Path) -> Iterator[Row | Skip]:
    """Rows of a .csv file (header with `text` and `label`, optional `language`) or JSON lines (.jsonl/.json/.ndjson,
    or any file whose first non-blank character is `{`)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        head = fh.read(4096)
        fh.seek(0)
        first = head.lstrip()[:1]
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first == "{":
            yield from _json_lines(fh)
        else:
            yield from _csv_rows(fh, path)


def _csv_rows(fh, path: Path) -> Iterator[Row | Skip]:  # type: ignore[no-untyped-def]
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(fh)
    header = next(reader, None)
    names = [h.strip().lower().lstrip("\ufeff") for h in header or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ImportFileError(
            f"{path.name}: a CSV file needs a header row with the columns text,label (optional: language); "
            f"found: {','.join(names) or 'nothing'}"
        )
    ti, li = names.index("text"), names.index("label")
    gi = names.index("language") if "language" in names else None
    for n, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) <= max(ti, li):
            yield Skip(n, "missing columns")
            continue
        yield _row(n, record[ti], record[li], record[gi] if gi is not None and gi < len(record) else None)


def _json_lines(fh) -> Iterator[Row | Skip]:  # type: ignore[no-untyped-def]
    for n, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            yield Skip(n, "invalid JSON")
            continue
        if not isinstance(item, dict):
            yield Skip(n, "not a JSON object")
            continue
        yield _row(n, item.get("text"), item.get("label"), item.get("language"))
