"""Load and validate the staff-edited lexicons (data/lexicons/*.yml) into plain pattern data.

This module only reads YAML and expands the pattern syntax described in data/lexicons/README.md into token
specs; turning them into spaCy matchers is the job of `bot.triage.analyzer`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.triage.levels import BANDS, LEVELS

LEXICON_DIR = Path(__file__).resolve().parents[2] / "data" / "lexicons"

#: Kinds whose matches are scored (risk signals) and their default level and score.
RISK_KINDS: Mapping[str, tuple[str, int]] = {
    "ideation": ("moderate", 52), "death_wish": ("moderate", 46), "mention": ("moderate", 40),
    "method": ("moderate", 56), "means": ("low", 28), "access": ("low", 35), "plan": ("high", 74),
    "attempt_now": ("imminent", 95), "attempt_past": ("high", 70), "farewell": ("moderate", 54),
    "self_harm": ("moderate", 46), "distress": ("low", 25), "need": ("low", 25),
}
#: Kinds that only modify nearby risk matches.
CUE_KINDS: frozenset[str] = frozenset({
    "negation", "reported", "intent", "desire", "soon", "past", "present", "today", "recent", "remote", "conditional",
    "humor", "exclude", "general", "hyperbole_before", "hyperbole_after",
})
NEEDS: frozenset[str] = frozenset({
    "third_party_risk", "domestic_violence", "sexual_assault", "child_abuse", "eating_disorder", "substance_use",
    "lgbtq", "veteran", "grief", "bullying", "self_harm",
})
CONTEXT_LISTS: tuple[str, ...] = ("transparent", "first_person", "third_person", "clause_breaks", "addressing")

# One pattern token: ("word", text) matched by normalized lemma, ("exact", text) by lower-case form,
# ("number",) any number.
PatternToken = tuple[str, ...]


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file and group."""


@dataclass(frozen=True)
class Group:
    """One named group of patterns that share a kind, level, score, label and need."""

    name: str
    kind: str
    level: str
    score: int
    label: str
    need: str | None = None
    alone: bool = True
    suppress: bool = False
    min_number: float | None = None
    max_number: float | None = None
    weight: int = 1               # distress only: how much one phrase adds to the accumulation (strong signs: 2)
    backed_score: int | None = None  # vague wording: its score when another suicide signal backs it up
    source: str = ""


@dataclass
class Lexicon:
    """Everything read from the lexicon folder."""

    groups: dict[str, Group] = field(default_factory=dict)
    patterns: dict[str, list[list[PatternToken]]] = field(default_factory=dict)
    slang: dict[str, str] = field(default_factory=dict)
    context: dict[str, list[str]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)   # member word -> class word

    def words(self) -> set[str]:
        """Every plain word used in a pattern, a slang expansion or a context list (for spelling repair)."""
        found: set[str] = set()
        for specs in self.patterns.values():
            for spec in specs:
                found.update(tok[1] for tok in spec if tok[0] in ("word", "exact"))
        for expansion in self.slang.values():
            found.update(expansion.split())
        for values in self.context.values():
            found.update(values)
        found.update(self.classes)
        return found


_TOKEN_RE = re.compile(r"\(|\)|\||\{[\w-]+\}|[^\s(){}|]+")


def _parse(text: str, macros: Mapping[str, list[str]], where: str, depth: int = 0) -> list[list[str]]:
    """Expand one pattern string into every word sequence it stands for."""
    tokens = _TOKEN_RE.findall(text)
    pos = 0

    def sequence() -> list[list[str]]:
        nonlocal pos
        results: list[list[str]] = [[]]
        while pos < len(tokens) and tokens[pos] not in (")", "|"):
            tok = tokens[pos]
            if tok == "(":
                pos += 1
                options = alternatives()
                if pos >= len(tokens) or tokens[pos] != ")":
                    raise LexiconError(f"{where}: missing ')' in {text!r}")
                pos += 1
            elif tok.startswith("{"):
                name = tok[1:-1]
                if name not in macros:
                    raise LexiconError(f"{where}: unknown macro {{{name}}} in {text!r}")
                if depth > 3:
                    raise LexiconError(f"{where}: macros nested too deep in {text!r}")
                options = [seq for alt in macros[name] for seq in _parse(str(alt), macros, where, depth + 1)]
                pos += 1
            else:
                options = [[tok]]
                pos += 1
            results = [a + b for a, b in itertools.product(results, options)]
            if len(results) > 20000:
                raise LexiconError(f"{where}: {text!r} expands to too many phrases; split it")
        return results

    def alternatives() -> list[list[str]]:
        nonlocal pos
        options = sequence()
        while pos < len(tokens) and tokens[pos] == "|":
            pos += 1
            options.extend(sequence())
        return options

    result = alternatives()
    if pos != len(tokens):
        raise LexiconError(f"{where}: unbalanced ')' in {text!r}")
    return result


def _spec(words: list[str]) -> list[PatternToken]:
    spec: list[PatternToken] = []
    for word in words:
        if word == "<num>":
            spec.append(("number",))
        elif word.startswith("=") and len(word) > 1:
            spec.append(("exact", word[1:].lower()))
        else:
            spec.append(("word", word.lower()))
    return spec


def _group(name: str, raw: Mapping[str, Any], where: str) -> Group:
    kind = raw.get("kind")
    if kind not in RISK_KINDS and kind not in CUE_KINDS:
        raise LexiconError(f"{where}: unknown kind {kind!r}")
    default_level, default_score = RISK_KINDS.get(kind, ("none", 0))
    level = raw.get("level", default_level)
    if level not in LEVELS:
        raise LexiconError(f"{where}: unknown level {level!r}")
    score = int(raw.get("score", default_score if level == default_level else BANDS[level][0]))
    if kind in RISK_KINDS and not BANDS[level][0] <= score <= BANDS[level][1]:
        raise LexiconError(f"{where}: score {score} is outside the {level} band {BANDS[level]}")
    need = raw.get("need")
    if need is not None and need not in NEEDS:
        raise LexiconError(f"{where}: unknown need {need!r}")
    if kind == "need" and need is None:
        raise LexiconError(f"{where}: kind need requires need:")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 4:
        raise LexiconError(f"{where}: weight must be a whole number from 0 to 4, not {weight!r}")
    backed = raw.get("backed_score")
    if backed is not None and (kind not in RISK_KINDS or isinstance(backed, bool) or not isinstance(backed, int)
                               or not score <= backed <= 100):
        raise LexiconError(f"{where}: backed_score must be a whole number from the group's score to 100")
    return Group(
        name=name, kind=kind, level=level, score=score, label=str(raw.get("label", name.replace("_", " "))),
        need=need, alone=bool(raw.get("alone", True)), suppress=bool(raw.get("suppress", kind == "exclude")),
        min_number=raw.get("min_number"), max_number=raw.get("max_number"), weight=weight, backed_score=backed,
        source=where,
    )


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LexiconError(f"{path.name}: not valid YAML: {exc}") from exc


def load_lexicon(directory: str | Path = LEXICON_DIR) -> Lexicon:
    """Read and validate every lexicon file in `directory`."""
    directory = Path(directory)
    lexicon = Lexicon()
    macros_raw = _read(directory / "macros.yml") if (directory / "macros.yml").exists() else {}
    macros = {str(k): [str(x) for x in v] for k, v in macros_raw.items()}
    if (directory / "slang.yml").exists():
        lexicon.slang = {str(k).lower(): str(v).lower() for k, v in _read(directory / "slang.yml").items()}
    if (directory / "context.yml").exists():
        context = _read(directory / "context.yml")
        lexicon.context = {key: [str(w).lower() for w in context.get(key) or []] for key in CONTEXT_LISTS}
    if (directory / "classes.yml").exists():
        for cls, members in (_read(directory / "classes.yml") or {}).items():
            for member in members or []:
                member = str(member).lower()
                if member in lexicon.classes and lexicon.classes[member] != str(cls):
                    raise LexiconError(f"classes.yml: {member!r} is in both {lexicon.classes[member]} and {cls}")
                if " " in member:
                    raise LexiconError(f"classes.yml: {member!r}: one word per entry")
                lexicon.classes[member] = str(cls).lower()
    if (directory / "intents.yml").exists():
        lexicon.intents = dict(_read(directory / "intents.yml").get("intents") or {})
        for intent, spec in lexicon.intents.items():
            if spec.get("level") not in LEVELS or (spec.get("need") and spec["need"] not in NEEDS):
                raise LexiconError(f"intents.yml: bad entry for {intent!r}")
    for path in sorted(directory.glob("*.yml")):
        data = _read(path)
        if not isinstance(data, Mapping) or "groups" not in data:
            continue
        for name, raw in (data["groups"] or {}).items():
            where = f"{path.name}: group {name}"
            if name in lexicon.groups:
                raise LexiconError(f"{where}: group name already used in {lexicon.groups[name].source}")
            group = _group(str(name), raw or {}, where)
            specs: list[list[PatternToken]] = []
            for pattern in raw.get("patterns") or []:
                if not isinstance(pattern, str):
                    raise LexiconError(f"{where}: pattern {pattern!r} is not text (quote patterns starting with {{)")
                for words in _parse(pattern, macros, where):
                    if words:
                        specs.append(_spec(words))
            if not specs:
                raise LexiconError(f"{where}: no patterns")
            lexicon.groups[group.name] = group
            lexicon.patterns[group.name] = specs
    return lexicon
