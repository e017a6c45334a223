"""Score one text for abuse aimed at the line: sexual, threat, spam, prank, each 0-1 with the quoted words.

Same machinery as the triage: the project's spaCy pipeline and the triage's normalized keys (NORM carries the
lemma of the SMS-repaired word, so "FUCK U", "fuk you" and "fuck you" are one pattern), a PhraseMatcher built
from the lexicons staff edit under data/lexicons/abuse/, and a few pattern features (links, premium numbers,
role-play actions, repeated lines). Cues of one class combine as independent evidence: 1 - (1-w1)(1-w2)...

Who the words are aimed at decides everything. A phrase counts only when it is not someone else's words ("he told
me to send nudes") nor about a third person; an insult counts only when said to the reader ("you stupid bitch",
or a short text on its own). When the triage sees the texter's own risk in the text ("i want to kill myself"),
every class is capped below the flag level: a person in distress is never flagged as abuse, whatever words they
use. A learned layer (trained from supervisors' decisions and counselors' flags) may adjust the scores later;
`Detector(learned=...)` is the hook.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.abuse.lexicon import ABUSE_LEXICON_DIR, CLASSES, AbuseLexicon, load_abuse_lexicon
from bot.triage.analyzer import Analyzer, get_analyzer, prepare

if TYPE_CHECKING:
    from spacy.tokens import Doc

#: A class is "found" (flagged for review) at this score.
FOUND = 0.5
#: Scores of a text that carries the texter's own risk are capped here (below FOUND): never flagged.
DISTRESS_CAP = 0.4
#: Triage kinds that mean the texter speaks of their own pain or risk.
DISTRESS_KINDS = frozenset({"ideation", "death_wish", "plan", "attempt_now", "attempt_past", "farewell", "self_harm",
                            "distress", "method"})
MAX_QUOTES = 5
_BREAKS = frozenset({".", "!", "?", ";", ":", ",", "\n", "...", "..", "!!", "?!", "…", "but"})
# Object forms of the first person: "you ignore me bitch" still speaks to the reader.
_FIRST_OBJECT = frozenset({"me", "my", "mine", "us", "our"})
_TLDS = ("com|net|org|info|biz|io|co|ly|me|xyz|top|club|site|online|link|app|gl|cc|us|uk|ru|cn|gd|at|id|to|tk|ml|"
         "ga|cf|gq|shop|store|vip|live|win|bet|loan|click|work|gg|tv|ws")
_URL = re.compile(
    rf"(?i)\b(?:https?://\S+|www\.\S+|(?:[a-z0-9-]+\.)+(?:{_TLDS})(?![a-z0-9-])(?:/\S*)?)")
_DOMAIN = re.compile(r"(?i)^(?:https?://)?(?:www\.)?([^/\s?#]+)")
_PREMIUM = re.compile(
    r"(?i)\b1?[-. (]*(?:900|976)[-. )]*\d{3}[-. ]*\d{4}\b"          # 1-900 / 1-976 numbers
    r"|\b(?:text|txt|reply|send|sms|msg)\b[^.\n]{0,30}?\bto\b\s*(?:no\s*[:.]?\s*)?(\d{5,6})\b"  # short codes
    r"|\b(?:09\d{2}|087\d)[ -]?\d{3}[ -]?\d{3,4}\b")                # UK premium-rate
_MONEY = re.compile(r"(?i)[$£€]\s?\d[\d,]*(?:\.\d+)?k?|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|dollars|bucks|btc|eth|usdt)\b")
_ROLEPLAY = re.compile(r"(?i)\*\s?[a-z]+(?:s|ing|ed)\b[^*\n]{0,40}\*")
_LETTERS = re.compile(r"[A-Za-z]")


class LearnedLayer(Protocol):
    """A model trained from labels (supervisors' decisions, counselors' flags) that adjusts lexicon scores."""

    def adjust(self, text: str, signals: AbuseSignals) -> AbuseSignals: ...


@dataclass(frozen=True)
class AbuseSignals:
    """What the detector found in one text: a score per class (0-1) and the quoted words behind each."""

    scores: Mapping[str, float] = field(default_factory=dict)
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    distress: bool = False   # the texter's own risk is in the text: capped, never flagged

    @property
    def found(self) -> dict[str, float]:
        """Classes at or above FOUND, highest first."""
        return dict(sorted(((c, s) for c, s in self.scores.items() if s >= FOUND), key=lambda kv: -kv[1]))

    def to_dict(self) -> dict[str, float]:
        """`{"spam": 0.97}` for the classes found, `{}` for none (the batch command's `abuse` object)."""
        return {c: round(s, 2) for c, s in self.found.items()}

    def quotes(self, cls: str) -> tuple[str, ...]:
        return self.evidence.get(cls, ())

    def __bool__(self) -> bool:
        return bool(self.found)


NONE = AbuseSignals()


@dataclass
class _Cues:
    weights: dict[str, dict[str, float]] = field(default_factory=lambda: {c: {} for c in CLASSES})

    def add(self, cls: str, quote: str, weight: float) -> None:
        bucket = self.weights[cls]
        key = quote.strip().lower()
        if weight > bucket.get(key, 0.0):
            bucket[key] = weight

    def signals(self, originals: dict[str, str], distress: bool) -> AbuseSignals:
        scores: dict[str, float] = {}
        evidence: dict[str, tuple[str, ...]] = {}
        for cls, cues in self.weights.items():
            if not cues:
                continue
            miss = 1.0
            for w in cues.values():
                miss *= 1.0 - w
            score = 1.0 - miss
            if distress:
                score = min(score, DISTRESS_CAP)
            scores[cls] = round(score, 4)
            ranked = sorted(cues, key=lambda k: -cues[k])[:MAX_QUOTES]
            evidence[cls] = tuple(originals.get(k, k) for k in ranked)
        return AbuseSignals(scores, evidence, distress)


class Detector:
    """Compiled abuse lexicons on the triage's pipeline; `score(text)` is pure and cached per text."""

    def __init__(self, lexicon: AbuseLexicon, analyzer: Analyzer, learned: LearnedLayer | None = None,
                 cache_size: int = 4096) -> None:
        from spacy.matcher import PhraseMatcher

        self.lexicon = lexicon
        self.analyzer = analyzer  # its vocabulary carries the normalized keys in NORM
        self.nlp = analyzer.nlp
        self.learned = learned
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="NORM")
        strings = self.nlp.vocab.strings
        self._labels: dict[int, tuple[str, str, float]] = {}  # label -> (class, "phrase"|"insult"|"target", w)
        for cls, cl in lexicon.classes.items():
            for kind, table in (("phrase", cl.phrases), ("insult", cl.insults)):
                by_weight: dict[float, list[str]] = {}
                for phrase, weight in table.items():
                    by_weight.setdefault(weight, []).append(phrase)
                for weight, phrases in by_weight.items():
                    self._add(f"{cls}|{kind}|{weight}", (cls, kind, weight), phrases)
        single: dict[str, set[int]] = {}
        for name, words in lexicon.targets.items():
            multi = []
            single[name] = set()
            for word in words:
                keys = self._keys(word)
                if len(keys) == 1:
                    single[name].add(strings.add(keys[0]))
                elif keys:
                    multi.append(word)
            if multi:
                self._add(f"@{name}", ("@", name, 0.0), multi)
        self._second = frozenset(single.get("second_person", ()))
        self._first = frozenset(single.get("first_person", ()))
        self._third = frozenset(single.get("third_person", ()))
        self._reporting = frozenset(single.get("reporting", ()))
        self._first_object = frozenset(strings.add(k) for w in _FIRST_OBJECT for k in self._keys(w))
        self._breaks = frozenset(strings.add(k) for w in _BREAKS for k in self._keys(w)) | {strings.add("\n")}
        spam = lexicon.classes["spam"]
        self._shorteners = spam.shorteners
        self._helplines = frozenset(re.sub(r"\D", "", n) for n in spam.helplines)
        self._cache: OrderedDict[str, AbuseSignals] = OrderedDict()
        self._cache_size = cache_size
        spellings = sorted(lexicon.spellings, key=len, reverse=True)
        self._respell_re = (re.compile(r"(?i)(?<![\w*@#$!])(" + "|".join(re.escape(w) for w in spellings)
                                       + r")(ing|in'?|ed|er|s)?(?![\w*])") if spellings else None)

    def _prepare(self, text: str) -> str:
        """The triage's clean-up, after disguised spellings are read as their words ("f*ck" -> "fuck")."""
        if self._respell_re is not None:
            spellings = self.lexicon.spellings
            text = self._respell_re.sub(lambda m: spellings[m.group(1).lower()] + (m.group(2) or ""), text)
        return prepare(text)

    def _keys(self, text: str) -> tuple[str, ...]:
        return tuple(t.norm_ for t in self.nlp.make_doc(prepare(text)) if not t.is_space)

    def _add(self, label: str, meaning: tuple[str, str, float], phrases: Iterable[str]) -> None:
        from spacy.tokens import Doc

        docs = []
        for phrase in phrases:
            keys = self._keys(phrase)
            words = set(re.findall(r"[\w']+", phrase.lower())) | set(re.findall(r"\w+", phrase.lower()))
            if not keys or any(len(k) == 1 and k not in words for k in keys):
                continue  # a word the lemma table folds into a letter ("ass" -> "a") would match anything
            doc = Doc(self.nlp.vocab, words=list(keys))
            for token, key in zip(doc, keys, strict=True):
                token.norm_ = key
            docs.append(doc)
        if docs:
            self._labels[self.nlp.vocab.strings.add(label)] = meaning
            self.matcher.add(label, docs)

    # ---- scoring -------------------------------------------------------------------------------------------
    def score(self, text: str) -> AbuseSignals:
        """The abuse signals of one text (cached: the same text scores once)."""
        found = self._cache.get(text)
        if found is None:
            found = self._score_doc(text, self.nlp.make_doc(self._prepare(text)))
            self._cache[text] = found
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found

    def score_many(self, texts: Sequence[str], batch_size: int = 256) -> list[AbuseSignals]:
        """Signals for many distinct texts (batch scoring; not cached)."""
        docs = self.nlp.tokenizer.pipe((self._prepare(t) for t in texts), batch_size=batch_size)
        return [self._score_doc(t, d) for t, d in zip(texts, docs, strict=True)]

    def _distress(self, text: str, doc: Doc) -> bool:
        """The texter speaks of their own pain: a triage risk hit about themselves, and they say "I"/"me"/"my"
        somewhere (the triage reads "you're worthless" as about the writer; here it is said to the reader)."""
        if not any(t.norm in self._first for t in doc):
            return False
        signals = self.analyzer.analyze([text])[0]
        return any(h.group.kind in DISTRESS_KINDS and h.about == "self" and not (h.negated or h.reported or h.general)
                   for h in signals.hits)

    def _score_doc(self, text: str, doc: Doc) -> AbuseSignals:
        if not text or not text.strip():
            return NONE
        cues = _Cues()
        originals: dict[str, str] = {}

        def add(cls: str, quote: str, weight: float) -> None:
            if weight <= 0:
                return
            originals.setdefault(quote.strip().lower(), quote.strip())
            cues.add(cls, quote, weight)

        matches = self.matcher(doc)
        if matches:
            keys = [t.norm for t in doc]
            second_at: set[int] = {i for i, k in enumerate(keys) if k in self._second}
            for label_id, start, end in matches:
                cls, kind, _ = self._labels[label_id]
                if cls == "@" and kind == "second_person":
                    second_at.update(range(start, end))
            for label_id, start, end in matches:
                cls, kind, weight = self._labels[label_id]
                if cls == "@":
                    continue
                aimed = (self._phrase_aimed(keys, start, second_at) if kind == "phrase"
                         else self._insult_aimed(doc, keys, start, end, second_at))
                if aimed:
                    add(cls, doc[start:end].text, weight)
        self._features(text, add)
        found = any(cues.weights.values())
        signals = cues.signals(originals, self._distress(text, doc)) if found else NONE
        if self.learned is not None:
            signals = self.learned.adjust(text, signals)
        return signals

    def _before(self, keys: list[int], start: int) -> Iterable[int]:
        """Positions before `start` in the same clause, nearest first, within the lexicon's window."""
        stop = max(0, start - self.lexicon.window)
        for i in range(start - 1, stop - 1, -1):
            if keys[i] in self._breaks:
                return
            yield i

    def _phrase_aimed(self, keys: list[int], start: int, second_at: set[int]) -> bool:
        """A phrase is aimed unless someone else's words are reported or a third person is its nearest subject."""
        for i in self._before(keys, start):
            k = keys[i]
            if k in self._reporting or k in self._third:
                return False
            if i in second_at or (k in self._first and k not in self._first_object):
                return True
        return True

    def _insult_aimed(self, doc: Doc, keys: list[int], start: int, end: int, second_at: set[int]) -> bool:
        """An insult is aimed when "you" is its nearest person word, or the whole text is a short address."""
        for i in self._before(keys, start):
            k = keys[i]
            if i in second_at:
                return True
            if k in self._reporting or k in self._third or (k in self._first and k not in self._first_object):
                return False
        words = [t for t in doc if not (t.is_punct or t.is_space)]
        if len(words) <= self.lexicon.vocative_max_tokens and not any(t.norm in self._first for t in words):
            return True
        # "..., bitch" closing a clause that spoke to the reader
        return any(i in second_at for i in range(max(0, start - self.lexicon.window * 2), start))

    def _features(self, text: str, put: Callable[[str, str, float], None]) -> None:
        spam = self.lexicon.classes["spam"].features
        prank_cl = self.lexicon.classes["prank"]
        prank = prank_cl.features
        for m in _URL.finditer(text):
            url = m.group(0).rstrip(".,!?)")
            domain_match = _DOMAIN.match(url)
            domain = domain_match.group(1).lower() if domain_match else ""
            if domain in self._shorteners:
                put("spam", url, spam.get("short_url", 0.0))
            else:
                put("spam", url, spam.get("url", 0.0))
        for m in _PREMIUM.finditer(text):
            number = re.sub(r"\D", "", m.group(1) or m.group(0))
            if number not in self._helplines:
                put("spam", m.group(0), spam.get("premium_number", 0.0))
        money = _MONEY.search(text)
        if money:
            put("spam", money.group(0), spam.get("money", 0.0))
        letters = _LETTERS.findall(text)
        if len(letters) >= 12 and "!" in text and sum(c.isupper() for c in letters) / len(letters) > 0.7:
            put("spam", text.strip()[:40], spam.get("shouty", 0.0))
        action = _ROLEPLAY.search(text)
        if action:
            put("prank", action.group(0), prank.get("roleplay_action", 0.0))
        lines = [re.sub(r"\W+", " ", ln).strip().lower() for ln in text.splitlines() if ln.strip()]
        if len(lines) >= 4:
            long_lines = [ln for ln in lines if len(ln.split()) >= 3]
            repeated = {ln for ln in long_lines if long_lines.count(ln) >= 2}
            if repeated:
                put("prank", sorted(repeated, key=len)[-1][:60], prank.get("repeated_lines", 0.0))
        if len(text) > prank_cl.long_chars:
            put("prank", text.strip()[:40] + "…", prank.get("long_paste", 0.0))


_DETECTORS: dict[tuple[str, str | None], Detector] = {}


def get_detector(lexicon_dir: str | Path = ABUSE_LEXICON_DIR, nlp_path: str | Path | None = None) -> Detector:
    """The shared detector (built once per process, on the shared triage analyzer's pipeline)."""
    key = (str(lexicon_dir), str(nlp_path) if nlp_path else None)
    detector = _DETECTORS.get(key)
    if detector is None:
        analyzer = get_analyzer(nlp_path=nlp_path) if nlp_path else get_analyzer()
        detector = Detector(load_abuse_lexicon(lexicon_dir), analyzer)
        _DETECTORS[key] = detector
    return detector


def warm_up() -> None:
    """Build the shared detector now (and the triage analyzer under it), not on the first text."""
    get_detector()


def score(text: str) -> AbuseSignals:
    """Score one text with the shared detector (pure and fast; the router calls this on every turn)."""
    return get_detector().score(text)


def score_many(texts: Sequence[str]) -> list[AbuseSignals]:
    return get_detector().score_many(texts)


def severity(cls: str) -> int:
    return get_detector().lexicon.severity(cls)


def score_abuse(texts: Sequence[str]) -> list[dict[str, float]]:
    """`{"spam": 0.97}` per text (`{}` for none; a text that fails to score gets `{}`): the batch command's."""
    try:
        return [s.to_dict() for s in score_many(texts)]
    except Exception:
        out = []
        for text in texts:
            try:
                out.append(score(text).to_dict())
            except Exception:
                out.append({})
        return out
