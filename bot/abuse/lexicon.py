"""Load and validate the abuse lexicons staff edit (data/lexicons/abuse/*.yml) into plain data.

One file per class (sexual, threat, spam, prank) plus targets.yml (who words are aimed at). Turning the phrases
into a spaCy matcher is the job of `bot.abuse.detector`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ABUSE_LEXICON_DIR = Path(__file__).resolve().parents[2] / "data" / "lexicons" / "abuse"
CLASSES: tuple[str, ...] = ("sexual", "threat", "spam", "prank")
#: Pattern features the detector computes, per class, that a class file may weigh.
FEATURES: Mapping[str, frozenset[str]] = {
    "spam": frozenset({"url", "short_url", "premium_number", "money", "shouty"}),
    "prank": frozenset({"roleplay_action", "repeated_lines", "long_paste"}),
    "sexual": frozenset(),
    "threat": frozenset(),
}
TARGET_LISTS: tuple[str, ...] = ("second_person", "first_person", "third_person", "reporting")


class AbuseLexiconError(ValueError):
    """An abuse lexicon file is malformed; the message names the file."""


@dataclass(frozen=True)
class ClassLexicon:
    """One class: phrases aimed by themselves, insults that need an addressee, weighted features."""

    name: str
    severity: int
    phrases: Mapping[str, float]
    insults: Mapping[str, float]
    features: Mapping[str, float]
    shorteners: frozenset[str] = frozenset()
    helplines: frozenset[str] = frozenset()
    long_chars: int = 700


@dataclass(frozen=True)
class AbuseLexicon:
    classes: Mapping[str, ClassLexicon]
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    window: int = 7
    vocative_max_tokens: int = 4
    spellings: Mapping[str, str] = field(default_factory=dict)  # disguised spelling -> word ("f*ck" -> "fuck")

    def severity(self, cls: str) -> int:
        return self.classes[cls].severity if cls in self.classes else 1


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AbuseLexiconError(f"{path.name}: not valid YAML: {exc}") from exc


def _weighted(path: Path, key: str, raw: Any) -> dict[str, float]:
    """`{weight: [phrase, ...]}` -> `{phrase: weight}` (the highest weight wins for a phrase listed twice)."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, Mapping):
        raise AbuseLexiconError(f"{path.name}: {key} must map a weight to a list of phrases")
    out: dict[str, float] = {}
    for weight, phrases in raw.items():
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise AbuseLexiconError(f"{path.name}: {key}: {weight!r} is not a weight") from None
        if not 0.0 < w <= 1.0:
            raise AbuseLexiconError(f"{path.name}: {key}: weight {w} must be in (0, 1]")
        if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise AbuseLexiconError(f"{path.name}: {key}: {weight} must list non-empty phrases")
        for phrase in phrases:
            p = phrase.strip().lower()
            out[p] = max(w, out.get(p, 0.0))
    return out


def _load_class(path: Path, name: str) -> ClassLexicon:
    raw = _read(path)
    if raw.get("class", name) != name:
        raise AbuseLexiconError(f"{path.name}: class must be {name!r}")
    severity = raw.get("severity", 1)
    if not isinstance(severity, int) or not 1 <= severity <= 5:
        raise AbuseLexiconError(f"{path.name}: severity must be a whole number from 1 to 5")
    features = {str(k): float(v) for k, v in (raw.get("features") or {}).items()}
    unknown = set(features) - FEATURES[name]
    if unknown:
        raise AbuseLexiconError(f"{path.name}: unknown features {sorted(unknown)} (known: {sorted(FEATURES[name])})")
    if any(not 0.0 <= w <= 1.0 for w in features.values()):
        raise AbuseLexiconError(f"{path.name}: feature weights must be in [0, 1]")
    return ClassLexicon(
        name=name,
        severity=severity,
        phrases=_weighted(path, "phrases", raw.get("phrases")),
        insults=_weighted(path, "insults", raw.get("insults")),
        features=features,
        shorteners=frozenset(str(d).lower() for d in raw.get("shorteners") or ()),
        helplines=frozenset(str(n) for n in raw.get("helplines") or ()),
        long_chars=int(raw.get("long_chars", 700)),
    )


def load_abuse_lexicon(directory: str | Path = ABUSE_LEXICON_DIR) -> AbuseLexicon:
    """Read and validate every abuse lexicon file in `directory` (a missing class file means an empty class)."""
    directory = Path(directory)
    classes: dict[str, ClassLexicon] = {}
    for name in CLASSES:
        path = directory / f"{name}.yml"
        classes[name] = (_load_class(path, name) if path.exists()
                         else ClassLexicon(name=name, severity=1, phrases={}, insults={}, features={}))
    targets_path = directory / "targets.yml"
    raw = _read(targets_path) if targets_path.exists() else {}
    targets: dict[str, tuple[str, ...]] = {}
    for key in TARGET_LISTS:
        words = raw.get(key) or []
        if not isinstance(words, list):
            raise AbuseLexiconError(f"targets.yml: {key} must be a list")
        targets[key] = tuple(str(w).lower() for w in words)
    spellings = raw.get("spellings") or {}
    if not isinstance(spellings, Mapping):
        raise AbuseLexiconError("targets.yml: spellings must map a spelling to a word")
    return AbuseLexicon(
        classes=classes,
        targets=targets,
        spellings={str(k).lower(): str(v).lower() for k, v in spellings.items()},
        window=int(raw.get("window", 7)),
        vocative_max_tokens=int(raw.get("vocative_max_tokens", 4)),
    )
