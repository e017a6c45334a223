"""Find risk signals in one message with spaCy: SMS normalization, a PhraseMatcher built from the lexicons, and
the context around each match (negation, hedging, who it is about, past or present, intent, timeframe, humor,
hyperbole).

The pipeline is the project's spaCy pipeline (`bot.nlp`: tokenizer + lookup lemmatizer, its own instance).
Every word gets a normalized key, stored as spaCy's NORM: the lemma (from the lemmatizer's lookup table) of its
SMS-repaired form (slang.yml, word classes, missing apostrophes via the tokenizer's exceptions, repeated letters
collapsed), or "<num>" for a number. The key is computed once per vocabulary entry (a NORM getter on the vocab),
never per token, which is what makes thousands of texts a second possible. Patterns are keyed the same way and
matched with a PhraseMatcher on NORM, so "kill myself" matches "KILLING MYSELF", "kiiiill myself" or "kms".
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.nlp import load as load_nlp
from bot.triage.lexicon import LEXICON_DIR, RISK_KINDS, Group, Lexicon, PatternToken, load_lexicon

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

NUM = "<num>"
_REPEAT = re.compile(r"(\w)\1{2,}")
_DOUBLE = re.compile(r"([a-z])\1")
_INVISIBLE = re.compile("[\ufe0f\ufe0e\u200d\U0001f3fb-\U0001f3ff]")
_WORD_HYPHEN = re.compile(r"(?<=[A-Za-z])[-_](?=[A-Za-z])")
_NUMBER_UNIT = re.compile(r"(?<=\d)(?=(?:pills?|tabs?|tablets?|caps?|capsules?|mgs?|milligrams?)\b)", re.I)
_CLAUSE_PUNCT = frozenset({".", "!", "?", ";", ",", ":", "...", "…", "..", "!!", "?!", "—", "–"})
_REFLEXIVE_OTHER = frozenset({"herself", "himself", "themselves", "themself"})
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12,
    "first": 1, "second": 2, "third": 3,
}
#: Cue kinds attached when they come just before a match (only transparent words between).
_ATTACHED = ("negation", "reported", "intent", "desire")
_MAX_GAP = 4
#: Clause-scoped cues (past, present, when, conditional, general) count only this many tokens around a match.
_WINDOW = 10
#: A hyperbole cue counts when it ends at most this many tokens before a match ("when the wifi dies i want to
#: die") or starts at most _HYPERBOLE_AFTER tokens after it ("i want to die because of this exam").
_HYPERBOLE_BEFORE = 7
_HYPERBOLE_AFTER = 2
#: Soft breaks: a hyperbole cue may reach across them ("when my team loses, i want to die"), not across others.
_SOFT_BREAKS = (",", ":", "—", "–")


def parse_number(text: str) -> float | None:
    """The value of a number token ("20", "1,000", "twenty"), or None."""
    cleaned = text.lower().replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return _NUMBER_WORDS.get(cleaned)


def prepare(text: str) -> str:
    """Text clean-up before tokenizing: invisible emoji modifiers, curly apostrophes, word-hyphens, "20pills"."""
    text = _INVISIBLE.sub("", text).replace("\u2019", "'").replace("\u2018", "'")
    text = _WORD_HYPHEN.sub(" ", text)
    return _NUMBER_UNIT.sub(" ", text)


@dataclass(frozen=True)
class Hit:
    """One risk match in one message, with what its context says about it."""

    group: Group
    quote: str
    about: str = "self"           # "self", "other" (a third party) or "you" (said to someone else)
    negated: bool = False
    reported: bool = False        # "they told me to kill myself": someone else's words
    intent: bool = False
    desire: bool = False
    past: bool = False            # only in the past ("used to", "years ago") and nothing says "now"
    when: str | None = None       # "today" / "recent" (3 months) / "remote" when the clause or message says
    when_quote: str = ""
    conditional: bool = False     # "what if I took ..."
    general: bool = False         # advice or news ("if you're feeling suicidal, call 988")
    hyperbole: bool = False       # said about a situation or cause ("this exam makes me want to die")


@dataclass(frozen=True)
class MessageSignals:
    """Everything found in one message."""

    hits: tuple[Hit, ...] = ()
    soon: str = ""                # quote of a timeframe within 24 hours, if any
    humor: bool = False


@dataclass(frozen=True)
class _Match:
    group: Group
    start: int
    end: int


class Analyzer:
    """Compiled lexicons + pipeline; `analyze(texts)` gives `MessageSignals` per text (cached per text)."""

    def __init__(self, lexicon: Lexicon, nlp: Language, cache_size: int = 4096) -> None:
        # spaCy is imported here, after bot.nlp has loaded it (see bot.nlp.pipeline._import_spacy).
        from spacy.attrs import LIKE_NUM, NORM, ORTH

        self._norm_attr = NORM
        from spacy.matcher import PhraseMatcher
        from spacy.tokens import Doc

        self._like_num = nlp.vocab.lex_attr_getters.get(LIKE_NUM, lambda text: False)
        self.lexicon = lexicon
        self.nlp = nlp
        self._doc_cls = Doc
        self._table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
        self._slang_single = {k: v for k, v in lexicon.slang.items() if " " not in v}
        self._known = set(self._table.values()) | lexicon.words() | set(self._slang_single)
        self._key_cache: dict[str, str] = {}
        self._word_cache: dict[str, tuple[str, ...]] = {}
        # Numbers written as words of a pattern ("988") match literally; any other number is "<num>".
        self._literal_numbers = frozenset(w for w in lexicon.words() if w.isdigit())
        self._num_hash = nlp.vocab.strings.add(NUM)
        self._classes: dict[str, str] = {}
        classes = {self.key_of_norm(word): self.key_of_norm(cls) for word, cls in lexicon.classes.items()}
        self._classes = classes
        self._key_cache.clear()
        self._install_keys({k: v for k, v in lexicon.slang.items() if " " in v}, NORM, ORTH)
        ctx = lexicon.context
        self._transparent = self._hashes_of(ctx.get("transparent", []))
        self._first = self._hashes_of(ctx.get("first_person", []))
        self._third = self._hashes_of(ctx.get("third_person", []))
        self._breaks = (self._hashes_of(ctx.get("clause_breaks", [])) | self._hashes_of(_CLAUSE_PUNCT)
                        | {nlp.vocab.strings.add("\n")})
        self._hard_breaks = self._breaks - self._hashes_of(_SOFT_BREAKS)
        self._reflexive_other = self._hashes_of(sorted(_REFLEXIVE_OTHER))
        self._first_subject = self._hashes_of(["i", "me", "myself"])
        self._addressing = self._hashes_of(ctx.get("addressing", []))
        self._negation_words = self._hashes_of(["not", "never", "no", "n't"])
        self._yourself = self._hashes_of(["yourself", "yourselves"])
        # Label -> (group, exact-form constraints as ((offset, form), ...)).
        self._labels: dict[int, tuple[Group, tuple[tuple[int, str], ...]]] = {}
        self.matcher = PhraseMatcher(nlp.vocab, attr="NORM")
        self._compile()
        self._cache: OrderedDict[str, MessageSignals] = OrderedDict()
        self._cache_size = cache_size

    # ---- normalization -------------------------------------------------------------------------------------
    def _install_keys(self, multi_word_slang: dict[str, str], norm_attr: int, orth_attr: int) -> None:
        """Make NORM carry the key: for every vocabulary entry (now and future) and every tokenizer exception."""
        vocab = self.nlp.vocab
        vocab.lex_attr_getters[norm_attr] = self.key_of_text
        for lexeme in list(vocab):
            lexeme.norm_ = self.key_of_text(lexeme.orth_)
        rules = {text: [{**attrs, norm_attr: self.key_of_norm(str(attrs.get(norm_attr, attrs[orth_attr])))}
                        for attrs in pieces]
                 for text, pieces in self.nlp.tokenizer.rules.items()}
        for word, expansion in multi_word_slang.items():
            parts = expansion.split()
            if len(word) < len(parts):
                continue  # a shorter word cannot be split into more tokens
            for variant in {word, word.upper(), word.capitalize()}:
                pieces = [variant[i] for i in range(len(parts) - 1)] + [variant[len(parts) - 1:]]
                rules[variant] = [{orth_attr: piece, norm_attr: self.key_of_norm(norm)}
                                  for piece, norm in zip(pieces, parts, strict=True)]
        self.nlp.tokenizer.rules = rules

    def key_of_text(self, text: str) -> str:
        """Key of one vocabulary entry (a token's text): "<num>" for numbers, else `key_of_norm`."""
        if text not in self._literal_numbers and self._like_num(text):
            return NUM
        return self.key_of_norm(text)

    def _repair(self, word: str) -> str:
        """Collapse repeated letters ("pleaseeee" -> "please", "sooo" -> "so") to a known word when possible."""
        two = _REPEAT.sub(r"\1\1", word)
        one = _REPEAT.sub(r"\1", word)
        for candidate in (two, one, re.sub(r"(\w)\1+", r"\1", word)):
            if candidate in self._known:
                return candidate
        return one

    def key_of_norm(self, norm: str) -> str:
        key = self._key_cache.get(norm)
        if key is None:
            text = "\n" if "\n" in norm else (_INVISIBLE.sub("", norm.lower()) or norm)
            text = self._slang_single.get(text, text)
            if _REPEAT.search(text) or (text not in self._known and _DOUBLE.search(text)):
                text = self._repair(text)
                text = self._slang_single.get(text, text)
            key = self._table.get(text, text)
            key = self._classes.get(key, key)
            if len(self._key_cache) < 200_000:
                self._key_cache[norm] = key
        return key

    def _word_keys(self, word: str) -> tuple[str, ...]:
        keys = self._word_cache.get(word)
        if keys is None:
            doc = self.nlp.make_doc(prepare(word))
            keys = tuple(t.norm_ for t in doc if not t.is_space)
            self._word_cache[word] = keys
        return keys

    def _hashes_of(self, words: Iterable[str]) -> frozenset[int]:
        strings = self.nlp.vocab.strings
        return frozenset(strings.add(k) for w in words for k in self._word_keys(w))

    # ---- compiling -----------------------------------------------------------------------------------------
    def _pattern_keys(self, spec: list[PatternToken]) -> tuple[tuple[str, ...], tuple[tuple[int, str], ...]]:
        keys: list[str] = []
        exact: list[tuple[int, str]] = []
        for tok in spec:
            if tok[0] == "number":
                keys.append(NUM)
            elif tok[0] == "exact":
                word_keys = self._word_keys(tok[1])
                if len(word_keys) == 1:
                    exact.append((len(keys), tok[1]))
                keys.extend(word_keys)
            else:
                keys.extend(self._word_keys(tok[1]))
        return tuple(keys), tuple(exact)

    def _compile(self) -> None:
        vocab = self.nlp.vocab
        for name, specs in self.lexicon.patterns.items():
            group = self.lexicon.groups[name]
            by_label: dict[str, set[tuple[str, ...]]] = {}
            for spec in specs:
                keys, exact = self._pattern_keys(spec)
                if not keys:
                    continue
                label = name + "".join(f"|{i}={form}" for i, form in exact)
                by_label.setdefault(label, set()).add(keys)
            for label, phrases in by_label.items():
                label_id = vocab.strings.add(label)
                exact = tuple((int(i), form) for i, form in (part.split("=", 1) for part in label.split("|")[1:]))
                self._labels[label_id] = (group, exact)
                docs = []
                for keys in phrases:
                    doc = self._doc_cls(vocab, words=list(keys))
                    for token, key in zip(doc, keys, strict=True):
                        token.norm_ = key
                    docs.append(doc)
                self.matcher.add(label, docs)

    # ---- analysis ------------------------------------------------------------------------------------------
    def _matches(self, doc: Doc) -> list[_Match]:
        found: list[_Match] = []
        seen: set[tuple[str, int, int]] = set()
        for label_id, start, end in self.matcher(doc):
            group, exact = self._labels[label_id]
            if any(doc[start + i].lower_ != form for i, form in exact):
                continue
            if group.min_number is not None or group.max_number is not None:
                values = [parse_number(t.text) for t in doc[start:end] if t.norm == self._num_hash]
                if any(v is not None and ((group.min_number is not None and v < group.min_number)
                                          or (group.max_number is not None and v > group.max_number))
                       for v in values):
                    continue
            if (group.name, start, end) not in seen:
                seen.add((group.name, start, end))
                found.append(_Match(group, start, end))
        return found

    def _clauses(self, keys: list[int]) -> Callable[[int], int]:
        """Clause number of a token position; clause breaks (punctuation, "but", line breaks) are their own."""
        breaks = self._breaks
        bounds = [i for i, key in enumerate(keys) if key in breaks]
        bound_set = set(bounds)

        def clause_of(i: int) -> int:
            return -1 - i if i in bound_set else bisect_right(bounds, i)

        return clause_of

    def _attached(self, cue: _Match, m: _Match, keys: list[int], same_clause: bool) -> bool:
        """True when `cue` starts before `m` in the same clause with only transparent words between.

        A cue may overlap the match ("stopped feeling" + "feeling suicidal"), except when the match already
        contains its own negation ("don't think" + "not sure I want to live" is one hedged statement)."""
        if not (cue.start < m.start and cue.end <= m.end and m.start - cue.end <= _MAX_GAP and same_clause):
            return False
        if cue.end > m.start and keys[m.start] in self._negation_words:
            return False
        return all(k in self._transparent for k in keys[cue.end:m.start])

    def _hyperbole(self, before: list[_Match], after: list[_Match], m: _Match, keys: list[int]) -> bool:
        """True when a hyperbole cue frames `m`: just before it (a situation or a cause: "when ...", "makes me")
        or just after it (a cause or a comparison: "because ...", "than ..."), with no sentence break between."""
        for cue in before:
            if cue.end <= m.start and m.start - cue.end <= _HYPERBOLE_BEFORE and not any(
                    k in self._hard_breaks for k in keys[cue.end:m.start]):
                return True
        for cue in after:
            if cue.start >= m.end and cue.start - m.end <= _HYPERBOLE_AFTER and not any(
                    k in self._hard_breaks for k in keys[m.end:cue.start]):
                return True
        return False

    def _about(self, m: _Match, keys: list[int], clauses: Callable[[int], int]) -> str:
        """Who a match is about. Its own words decide first: "herself" is someone else, "yourself" the person
        addressed, "I"/"me"/"myself" the texter, and so is "my" in a farewell or a plan ("this is my last text":
        a farewell is always the writer's own). Otherwise the nearest subject word before it in its clause,
        skipping people who are addressed ("goodbye everyone", "love you guys") rather than talked about."""
        inside = set(keys[m.start:m.end])
        if inside & self._reflexive_other:
            return "other"
        if inside & self._yourself:
            return "you"
        if inside & self._first_subject or (m.group.kind in ("farewell", "plan") and inside & self._first):
            return "self"
        here = clauses(m.start)
        for i in range(m.start - 1, -1, -1):
            if clauses(i) != here:
                break
            if keys[i] in self._first:
                return "self"
            if keys[i] in self._third and not (i > 0 and keys[i - 1] in self._addressing):
                return "other"
        return "self"

    def _signals(self, doc: Doc) -> MessageSignals:
        matches = self._matches(doc)
        if not matches:
            return MessageSignals()
        keys: list[int] = doc.to_array(self._norm_attr).tolist()
        clauses = self._clauses(keys)
        risks: list[_Match] = []
        cues: dict[str, list[tuple[_Match, int]]] = {}      # kind -> [(cue, clause)]
        for m in matches:
            if m.group.kind in RISK_KINDS:
                risks.append(m)
            else:
                cues.setdefault(m.group.kind, []).append((m, clauses(m.start)))
        suppressors = [m for m in matches if m.group.suppress]
        soon = next((doc[c.start:c.end].text for c, _ in cues.get("soon", [])), "")
        humor = "humor" in cues
        empty: list[tuple[_Match, int]] = []

        def in_clause(kind: str, clause: int, m: _Match) -> list[_Match]:
            """Cues of `kind` in the clause of `m` and near it (texts without punctuation are one long clause)."""
            return [c for c, where in cues.get(kind, empty)
                    if where == clause and c.end >= m.start - _WINDOW and c.start <= m.end + _WINDOW]

        before = [c for c, _ in cues.get("hyperbole_before", empty)]
        after = [c for c, _ in cues.get("hyperbole_after", empty)]
        framed = [m for m in risks if (before or after) and self._hyperbole(before, after, m, keys)]
        hits: list[Hit] = []
        for m in risks:
            if any(s.group is not m.group and ((s.start <= m.start and m.end <= s.end)
                                               or (s.group.kind == "exclude" and s.start < m.end and m.start < s.end))
                   for s in suppressors):
                continue
            here = clauses(m.start)
            attached = {kind: [c for c, where in cues.get(kind, empty)
                               if self._attached(c, m, keys, where == here)] for kind in _ATTACHED}
            # intent inside a match must open it ("gonna kill myself"), not sit in its middle ("want to go to sleep")
            inside = {kind: any((c.start == m.start if kind == "intent" else m.start <= c.start) and c.end <= m.end
                                for c, _ in cues.get(kind, empty))
                      for kind in ("intent", "desire")}
            present = any(in_clause(kind, here, m) for kind in ("present", "today", "recent"))
            when, when_quote = None, ""
            for kind in ("today", "recent", "remote"):
                found = in_clause(kind, here, m) or [c for c, _ in cues.get(kind, empty)]
                if found:
                    when, when_quote = kind, doc[found[0].start:found[0].end].text
                    break
            start = min([m.start] + [c.start for kind in ("negation", "intent") for c in attached[kind]])
            while start > 0 and not doc[start - 1].whitespace_ and doc[start - 1].is_alpha:
                start -= 1  # quote whole words: "dont wanna", not "nt wanna"
            hits.append(Hit(
                group=m.group,
                quote=doc[start:m.end].text,
                about=self._about(m, keys, clauses),
                negated=bool(attached["negation"]),
                reported=bool(attached["reported"]),
                intent=bool(attached["intent"]) or inside["intent"],
                desire=bool(attached["desire"]) or inside["desire"],
                past=bool(in_clause("past", here, m)) and not present,
                when=when,
                when_quote=when_quote,
                conditional=any(c.start < m.start for c in in_clause("conditional", here, m)),
                general=bool(in_clause("general", here, m)),
                # overlapping matches are one statement: "i want to die" and "want to die" share the framing
                hyperbole=any(f.start < m.end and m.start < f.end for f in framed),
            ))
        return MessageSignals(tuple(hits), soon, humor)

    def analyze(self, texts: Sequence[str], batch_size: int = 256) -> list[MessageSignals]:
        """Signals for each text (same order); texts already seen come from the cache."""
        results: list[MessageSignals | None] = [self._cache.get(t) for t in texts]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            docs = self.nlp.tokenizer.pipe((prepare(texts[i]) for i in todo), batch_size=batch_size)
            for i, doc in zip(todo, docs, strict=True):
                signals = self._signals(doc)
                results[i] = signals
                self._remember(texts[i], signals)
        return [r if r is not None else MessageSignals() for r in results]

    def analyze_stream(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[MessageSignals]:
        """Signals for a stream of texts, without caching (for batch scoring of many distinct texts)."""
        for doc in self.nlp.tokenizer.pipe((prepare(t) for t in texts), batch_size=batch_size):
            yield self._signals(doc)

    def _remember(self, text: str, signals: MessageSignals) -> None:
        self._cache[text] = signals
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


_ANALYZERS: dict[tuple[str, str | None], Analyzer] = {}


def get_analyzer(lexicon_dir: str | Path = LEXICON_DIR, nlp_path: str | Path | None = None) -> Analyzer:
    """The shared analyzer for a lexicon folder (built once per process; building takes about a second)."""
    cache_key = (str(lexicon_dir), str(nlp_path) if nlp_path else None)
    analyzer = _ANALYZERS.get(cache_key)
    if analyzer is None:
        nlp = load_nlp(nlp_path) if nlp_path else load_nlp()
        analyzer = Analyzer(load_lexicon(lexicon_dir), nlp)
        _ANALYZERS[cache_key] = analyzer
    return analyzer
