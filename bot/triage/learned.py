"""The learned scorer on top of the lexicon: a calibrated P(at risk) for a texter's words, a level from operating
points chosen on validation data, the words that weighed most, and a safe, versioned serialization.

Features (see `Featurizer`): hashed word 1-2-grams and character 2-5-grams inside words (robust to SMS spelling),
both TF-IDF weighted, plus the lexicon's own signals (`bot.triage.analyzer`: risk kinds found and their context:
negated, about someone else, in the past, hyperbole, joking tone, timeframe ..., and the lexicon's level), so
what the lexicon knows carries over. A logistic regression scores them; Platt scaling fitted on out-of-fold scores
makes the score a probability. Training lives in `bot.triage.training`; this module only scores.

The bytes of a model hold no pickle and no code: a small header (format version, sha256 of the payload, JSON
metadata and parameters) and a NumPy `.npz` payload read with `allow_pickle=False`. Anything wrong raises
`ModelError`.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from bot.triage.levels import BANDS, LEVELS, Urgency

if TYPE_CHECKING:
    from bot.triage.analyzer import MessageSignals

MAGIC = b"crisis-intake triage model\n"
FORMAT_VERSION = 1
#: Levels the model itself can give; `imminent` stays with the hard cues (attempt in progress, plan + tonight) and
#: the screener, which are floors the model can never lower.
MODEL_LEVELS: tuple[str, ...] = ("none", "low", "moderate", "high")
#: Weight of a character n-gram against a word n-gram when explanations rank words (see `_learn_words`).
CHAR_SHARE = 6 ** -0.5

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019](?=\w)")
_WORD = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)
_DISPLAY = re.compile(r"^[^\w]+|[^\w]+$", re.UNICODE)


class ModelError(Exception):
    """Model bytes are corrupt, truncated, of another format version or inconsistent."""


def normalize(text: str) -> str:
    """Lower case, links and @handles replaced, letters repeated 3+ times cut to 2 ("soooo" -> "soo"),
    apostrophes inside words dropped ("don't" -> "dont", as SMS writes it)."""
    text = _URL.sub(" http ", text.lower())
    text = _HANDLE.sub(" @user ", text)
    text = _APOSTROPHE.sub("", text)
    return _REPEAT.sub(r"\1\1", text)


def word_tokens(normalized: str) -> list[str]:
    """Words, numbers, and single punctuation or emoji characters of a normalized text."""
    return _WORD.findall(normalized)


@dataclass(frozen=True)
class Params:
    """Everything that shapes the features and the fit; stored with the model."""

    word_bits: int = 18
    char_bits: int = 18
    char_min: int = 3
    char_max: int = 5
    word_weight: float = 1.0
    char_weight: float = 1.0
    lex_weight: float = 1.0
    C: float = 4.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Params:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def lexicon_features(texts: Sequence[str], language: str | Sequence[str] = "en",
                     signals: Sequence[MessageSignals] | None = None) -> list[list[str]]:
    """Names of the lexicon's signals in each text (one text = a whole conversation's words joined).

    A risk match gives its kind, its group and one name per context flag (kind|negated, kind|other, kind|past,
    kind|hyperbole, ...); the message gives humor and soon; the lexicon's own level of the text gives lex=LEVEL.
    `signals`: the analyzer's signals of these texts when the caller has them already."""
    from bot.triage.analyzer import get_analyzer
    from bot.triage.rules import combine

    languages = [language] * len(texts) if isinstance(language, str) else list(language)
    found = signals if signals is not None else get_analyzer().analyze_stream(texts)
    out: list[list[str]] = []
    for sig, lang in zip(found, languages, strict=True):
        names = {f"lang={lang or 'en'}"}
        if sig.humor:
            names.add("humor")
        if sig.soon:
            names.add("soon")
        for hit in sig.hits:
            kind = hit.group.kind
            flags = [name for name, on in (
                ("negated", hit.negated), ("reported", hit.reported), ("general", hit.general),
                ("past", hit.past), ("conditional", hit.conditional), ("hyperbole", hit.hyperbole),
                ("intent", hit.intent), ("desire", hit.desire)) if on]
            if hit.about != "self":
                flags.append(hit.about)
            if hit.when:
                flags.append(f"when_{hit.when}")
            names.add(f"kind={kind}")
            names.update(f"kind={kind}|{flag}" for flag in flags)
            if not flags:
                names.add(f"group={hit.group.name}")
        names.add(f"lex={combine([sig]).level}")
        out.append(sorted(names))
    return out


class Featurizer:
    """Text -> sparse feature rows: [word TF-IDF | char TF-IDF | lexicon signals], each block scaled by its weight."""

    def __init__(self, params: Params, word_idf: np.ndarray | None = None, char_idf: np.ndarray | None = None,
                 lex_vocab: Sequence[str] = ()) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.params = params
        self.words = HashingVectorizer(
            analyzer="word", tokenizer=word_tokens, preprocessor=normalize, token_pattern=None, lowercase=False,
            ngram_range=(1, 2), n_features=2 ** params.word_bits, alternate_sign=False, norm=None)
        self.chars = HashingVectorizer(
            analyzer="char_wb", preprocessor=normalize, lowercase=False,
            ngram_range=(params.char_min, params.char_max), n_features=2 ** params.char_bits,
            alternate_sign=False, norm=None)
        self.word_idf = word_idf
        self.char_idf = char_idf
        self.lex_vocab = list(lex_vocab)
        self._lex_index = {name: i for i, name in enumerate(self.lex_vocab)}

    @property
    def n_features(self) -> int:
        return 2 ** self.params.word_bits + 2 ** self.params.char_bits + len(self.lex_vocab)

    # ---- fitting (training only) ---------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], lex: Sequence[Sequence[str]]) -> Featurizer:
        """Learn the IDF of both hashed blocks and the lexicon-signal vocabulary from training texts."""
        self.fit_transform(texts, lex)
        return self

    def fit_transform(self, texts: Sequence[str], lex: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """`fit`, then the feature rows of the same texts (each text is hashed once)."""
        words, chars = self.words.transform(texts), self.chars.transform(texts)
        self.word_idf, self.char_idf = _idf(words), _idf(chars)
        self.lex_vocab = sorted({name for names in lex for name in names})
        self._lex_index = {name: i for i, name in enumerate(self.lex_vocab)}
        return self._rows(words, chars, lex)

    # ---- transforming --------------------------------------------------------------------------------------
    def _block(self, counts: sp.csr_matrix, idf: np.ndarray | None, weight: float) -> sp.csr_matrix:
        counts = counts.tocsr().astype(np.float64)
        counts.data = np.log1p(counts.data)   # sublinear term frequency
        if idf is not None:
            counts = counts @ sp.diags(idf)
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.diags(weight / norms) @ counts

    def lex_matrix(self, lex: Sequence[Sequence[str]]) -> sp.csr_matrix:
        rows, cols = [], []
        for r, names in enumerate(lex):
            for name in names:
                c = self._lex_index.get(name)
                if c is not None:
                    rows.append(r)
                    cols.append(c)
        data = np.full(len(rows), self.params.lex_weight, dtype=np.float64)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(lex), max(len(self.lex_vocab), 0)))

    def transform(self, texts: Sequence[str], lex: Sequence[Sequence[str]]) -> sp.csr_matrix:
        return self._rows(self.words.transform(texts), self.chars.transform(texts), lex)

    def _rows(self, words: sp.spmatrix, chars: sp.spmatrix, lex: Sequence[Sequence[str]]) -> sp.csr_matrix:
        p = self.params
        blocks = [self._block(words, self.word_idf, p.word_weight), self._block(chars, self.char_idf, p.char_weight),
                  self.lex_matrix(lex)]
        return sp.hstack(blocks, format="csr")


def _idf(counts: sp.spmatrix) -> np.ndarray:
    """Smoothed inverse document frequency per hashed column (sklearn's formula)."""
    n = counts.shape[0]
    df = np.bincount(counts.tocsr().indices, minlength=counts.shape[1])
    return (np.log((1 + n) / (1 + df)) + 1.0).astype(np.float32)


@dataclass
class LearnedModel:
    """A trained scorer: features, linear weights, Platt calibration and operating points."""

    params: Params
    coef: np.ndarray                     # one weight per feature column
    intercept: float
    calibration: tuple[float, float]     # P = 1 / (1 + exp(-(a * z + b))) on the linear score z
    thresholds: dict[str, float]         # lowest probability of each level above none ("low", "moderate", "high")
    word_idf: np.ndarray
    char_idf: np.ndarray
    lex_vocab: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str = ""

    def __post_init__(self) -> None:
        self.featurizer = Featurizer(self.params, self.word_idf, self.char_idf, self.lex_vocab)
        self._word_weights: dict[str, float] = {}
        if self.coef.shape != (self.featurizer.n_features,):
            raise ModelError(f"model has {self.coef.shape} weights for {self.featurizer.n_features} features")
        previous = 0.0
        for name in MODEL_LEVELS[1:]:
            value = self.thresholds.get(name)
            if value is None or not previous <= value <= 1.0 or math.isnan(value):
                raise ModelError(f"bad operating point for {name!r}: {value!r}")
            previous = value

    # ---- scoring -------------------------------------------------------------------------------------------
    def _matrix(self, texts: Sequence[str], languages: str | Sequence[str] = "en",
                signals: Sequence[MessageSignals] | None = None) -> tuple[sp.csr_matrix, list[list[str]]]:
        lex = lexicon_features(texts, languages, signals)
        return self.featurizer.transform(texts, lex), lex

    def decision(self, matrix: sp.csr_matrix) -> np.ndarray:
        """Linear scores (log-odds before calibration) of feature rows."""
        return np.asarray(matrix @ self.coef).ravel() + self.intercept

    def calibrate(self, z: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * z + b)))

    def probabilities(self, texts: Sequence[str], languages: str | Sequence[str] = "en",
                      signals: Sequence[MessageSignals] | None = None) -> list[float]:
        """Calibrated P(at risk) of each text on its own (batch scoring); `signals` = the analyzer's signals of
        these texts when the caller has them already (saves analyzing twice)."""
        if not texts:
            return []
        texts = [t if isinstance(t, str) else "" for t in texts]
        matrix, _ = self._matrix(texts, languages, signals)
        return [float(p) for p in self.calibrate(self.decision(matrix))]

    def score_texts(self, texts: Sequence[str], languages: str | Sequence[str] = "en",
                    signals: Sequence[MessageSignals] | None = None, k: int = 3,
                    ) -> list[tuple[float, list[str]]]:
        """(probability, words that weighed most) of each text on its own; words only for texts the model puts
        above `none` (explaining costs more than scoring)."""
        if not texts:
            return []
        texts = [t if isinstance(t, str) else "" for t in texts]
        matrix, _ = self._matrix(texts, languages, signals)
        probabilities = self.calibrate(self.decision(matrix))
        explained = [i for i, p in enumerate(probabilities) if p >= self.thresholds["low"]]
        tokens = {i: list(dict.fromkeys(word_tokens(normalize(texts[i])))) for i in explained}
        self._learn_words({w for i in explained for w in tokens[i]})
        out = [(float(p), []) for p in probabilities]
        for i in explained:
            out[i] = (out[i][0], self._top_words({w: self._word_weights[w] for w in tokens[i]}, k))
        return out

    def word_weight(self, word: str) -> float:
        """How much one word pushes a text towards risk: its own weight plus its character n-grams' (both
        IDF-weighted). Explanations rank a text's words by it; cached per word."""
        self._learn_words({word})
        return self._word_weights[word]

    def _learn_words(self, words: set[str]) -> None:
        new = sorted(w for w in words if w not in self._word_weights)
        if not new:
            return
        if len(self._word_weights) > 100_000:
            self._word_weights.clear()
        p = self.params
        n_word, n_char = 2 ** p.word_bits, 2 ** p.char_bits
        word_part = (self.coef[:n_word] * self.word_idf) * p.word_weight
        char_part = (self.coef[n_word:n_word + n_char] * self.char_idf) * p.char_weight
        unigrams = self.featurizer.words.transform(new).tocsr()
        grams = self.featurizer.chars.transform(new).tocsr()
        unigrams.data[:] = 1.0
        grams.data[:] = 1.0
        # both blocks are normalized per text; a text has about six times as many character n-grams as word
        # n-grams, so one character n-gram counts about 1/sqrt(6) of one word n-gram (for ranking words only)
        totals = unigrams @ word_part + (grams @ char_part) * CHAR_SHARE
        self._word_weights.update(zip(new, totals.tolist(), strict=True))

    def probability(self, texts: Sequence[str], language: str = "en") -> float:
        """Calibrated P(at risk) of a conversation from its texter texts (oldest first), scored as one text."""
        return self.probabilities([join_texts(texts)], language)[0]

    def level(self, probability: float) -> str:
        """The level whose operating point `probability` reaches (none below the `low` point)."""
        found = "none"
        for name in MODEL_LEVELS[1:]:
            if probability >= self.thresholds[name]:
                found = name
        return found

    def score(self, probability: float) -> int:
        """`probability` mapped into the score band of its level (linear between the level's operating points)."""
        level = self.level(probability)
        i = MODEL_LEVELS.index(level)
        lo_p = self.thresholds[level] if level != "none" else 0.0
        hi_p = self.thresholds[MODEL_LEVELS[i + 1]] if i + 1 < len(MODEL_LEVELS) else 1.0
        lo, hi = BANDS[level]
        frac = 0.0 if hi_p <= lo_p else (probability - lo_p) / (hi_p - lo_p)
        return round(lo + max(0.0, min(1.0, frac)) * (hi - lo))

    def urgency(self, probability: float, words: Sequence[str] = ()) -> Urgency:
        """The model's own urgency for a probability, with a reason naming the words that weighed most."""
        level = self.level(probability)
        reason = f"Model: {probability:.0%} at risk"
        if words:
            reason += ": " + ", ".join(f'"{w}"' for w in words)
        if len(reason) > 118:
            reason = reason[:117].rstrip(", ") + "…"
        return Urgency(level, self.score(probability), (reason,) if level != "none" else (),
                       model=self.version or "candidate")

    # ---- explaining ----------------------------------------------------------------------------------------
    def contributions(self, text: str, language: str = "en") -> dict[str, float]:
        """How much each word of `text` (and each lexicon signal, as "lexicon: NAME") added to the linear score."""
        matrix, lex = self._matrix([text], language)
        return self._contributions(text, matrix, lex[0])

    def _contributions(self, text: str, row: sp.csr_matrix, lex: Sequence[str]) -> dict[str, float]:
        from sklearn.utils import murmurhash3_32

        p = self.params
        values = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        n_word, n_char = 2 ** p.word_bits, 2 ** p.char_bits
        norm = normalize(text)

        def weight(index: int) -> float:
            return float(self.coef[index]) * values.get(index, 0.0)

        out: dict[str, float] = {}
        tokens = word_tokens(norm)
        grams = [(t,) for t in tokens] + list(itertools.pairwise(tokens))
        for gram in dict.fromkeys(grams):
            index = abs(murmurhash3_32(" ".join(gram), seed=0)) % n_word
            share = weight(index) / len(gram)
            for token in gram:
                out[token] = out.get(token, 0.0) + share
        raws = list(dict.fromkeys(norm.split()))
        if raws:
            # each word's character n-grams (once each, as char_wb makes them), weighted by the text's values
            grams = self.featurizer.chars.transform(raws).tocsr()
            grams.data[:] = 1.0
            chars = row[:, n_word:n_word + n_char].multiply(self.coef[n_word:n_word + n_char].reshape(1, -1))
            totals = np.asarray((grams @ sp.csr_matrix(chars).T).todense()).ravel()
            for raw, total in zip(raws, totals.tolist(), strict=True):
                parts = word_tokens(raw) or [raw]
                for token in parts:
                    out[token] = out.get(token, 0.0) + total / len(parts)
        base = n_word + n_char
        for name in lex:
            index = self.featurizer._lex_index.get(name)
            if index is not None:
                out[f"lexicon: {name}"] = weight(base + index)
        return out

    def explain(self, texts: Sequence[str], k: int = 3) -> list[str]:
        """The (at most k) words of the texts that push towards risk the most (`word_weight`), strongest first."""
        words = list(dict.fromkeys(word_tokens(normalize(join_texts(texts)))))
        self._learn_words(set(words))
        return self._top_words({w: self._word_weights[w] for w in words}, k)

    @staticmethod
    def _top_words(contributions: Mapping[str, float], k: int) -> list[str]:
        words = [(w, c) for w, c in contributions.items()
                 if c > 0 and not w.startswith("lexicon: ") and _DISPLAY.sub("", w)]
        words.sort(key=lambda item: -item[1])
        return [w for w, _ in words[:k]]

    # ---- serialization -------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, coef=self.coef.astype(np.float32), word_idf=self.word_idf.astype(np.float32),
            char_idf=self.char_idf.astype(np.float32))
        payload = buffer.getvalue()
        header = {
            "format": FORMAT_VERSION, "sha256": hashlib.sha256(payload).hexdigest(), "params": self.params.to_dict(),
            "intercept": self.intercept, "calibration": list(self.calibration), "thresholds": self.thresholds,
            "lex_vocab": self.lex_vocab, "metadata": self.metadata,
        }
        head = json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return MAGIC + len(head).to_bytes(8, "big") + head + payload

    @classmethod
    def from_bytes(cls, data: bytes) -> LearnedModel:
        """The model in `data`; raises ModelError when the bytes are not a whole, untouched model of this format."""
        try:
            if not isinstance(data, bytes | bytearray | memoryview):
                raise ModelError("model data must be bytes")
            data = bytes(data)
            if not data.startswith(MAGIC):
                raise ModelError("not a triage model (bad magic)")
            at = len(MAGIC)
            size = int.from_bytes(data[at:at + 8], "big")
            head_bytes = data[at + 8:at + 8 + size]
            if len(head_bytes) != size:
                raise ModelError("truncated model header")
            header = json.loads(head_bytes.decode("utf-8"))
            if not isinstance(header, dict):
                raise ModelError("bad model header")
            if header.get("format") != FORMAT_VERSION:
                raise ModelError(f"model format {header.get('format')!r}, this code reads {FORMAT_VERSION}")
            payload = data[at + 8 + size:]
            if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
                raise ModelError("model payload does not match its sha256 (corrupt or truncated)")
            with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
                coef = np.asarray(arrays["coef"], dtype=np.float64)
                word_idf = np.asarray(arrays["word_idf"], dtype=np.float32)
                char_idf = np.asarray(arrays["char_idf"], dtype=np.float32)
            params = Params.from_dict(header["params"])
            if word_idf.shape != (2 ** params.word_bits,) or char_idf.shape != (2 ** params.char_bits,):
                raise ModelError("model IDF arrays do not match its parameters")
            a, b = (float(x) for x in header["calibration"])
            if not all(map(math.isfinite, (a, b, float(header["intercept"])))) or not np.isfinite(coef).all():
                raise ModelError("model has non-finite weights")
            return cls(params=params, coef=coef, intercept=float(header["intercept"]), calibration=(a, b),
                       thresholds={str(k): float(v) for k, v in dict(header["thresholds"]).items()},
                       word_idf=word_idf, char_idf=char_idf, lex_vocab=[str(x) for x in header["lex_vocab"]],
                       metadata=dict(header.get("metadata") or {}))
        except ModelError:
            raise
        except Exception as exc:  # anything malformed inside: JSON, npz, keys, types
            raise ModelError(f"unreadable model: {type(exc).__name__}: {exc}") from exc


def join_texts(texts: Sequence[str]) -> str:
    """A conversation's texter texts as one text (what training examples hold): one line per message."""
    return "\n".join(t.strip() for t in texts if isinstance(t, str) and t.strip())


__all__ = ["LEVELS", "MODEL_LEVELS", "Featurizer", "LearnedModel", "ModelError", "Params", "join_texts",
           "lexicon_features", "normalize"]
