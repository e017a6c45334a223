"""Messaging keywords: opt-out, opt-in and help, in English (Twilio's) and Spanish, matched on the whole body.

Case, accents and end punctuation do not matter ("Cancelár!" is CANCELAR). Twilio handles its own English
keywords at the carrier level (it blocks an opted-out number and sends the STOP confirmation itself); the Spanish
ones are only ours, so for them the gateway must hold the number's texts and confirm in Spanish itself
(``KeywordMatch.twilio`` tells which).

Chosen with care, because a false opt-out silences someone who may be in crisis: only words that mean
"unsubscribe" when texted alone (PARAR, CANCELAR, BAJA, DETENER, DAR DE BAJA); not "PARA", "ALTO" or "NO MÁS",
which a distressed texter may write for other reasons. "AYUDA" is deliberately NOT a help keyword: it is how
people ask for help in Spanish (988 takes Spanish texts as "AYUDA"), so it must start a conversation in Spanish
(the intake's greeting and questions, a counselor after them), not get the line's information text. English
HELP stays a keyword because carriers require it to return the information text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum

# Twilio's default keywords (Advanced Opt-Out), English.
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})
# Spanish: ours only (written without accents: the body's accents are dropped before matching).
OPT_OUT_ES = frozenset({"PARAR", "CANCELAR", "BAJA", "DETENER", "DAR DE BAJA", "DARME DE BAJA", "DESUSCRIBIR"})
OPT_IN_ES = frozenset({"COMENZAR", "INICIAR", "ALTA", "REANUDAR", "SI"})
HELP_ES = frozenset({"INFORMACION"})
# Answers to a question unless the number is opted out (then they opt it back in).
OPT_IN_ONLY_WHEN_OPTED_OUT = frozenset({"YES", "SI"})


class Keyword(Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


@dataclass(frozen=True)
class KeywordMatch:
    """A keyword, the language it is in ("en" / "es"), and whether Twilio itself acts on it."""

    keyword: Keyword
    language: str
    twilio: bool


_TABLE: tuple[tuple[frozenset[str], Keyword, str, bool], ...] = (
    (OPT_OUT, Keyword.OPT_OUT, "en", True),
    (OPT_OUT_ES, Keyword.OPT_OUT, "es", False),
    (OPT_IN, Keyword.OPT_IN, "en", True),
    (OPT_IN_ES, Keyword.OPT_IN, "es", False),
    (HELP, Keyword.HELP, "en", True),
    (HELP_ES, Keyword.HELP, "es", False),
)


def _word(body: str) -> str:
    """The body as a keyword: upper case, no accents, no end punctuation, single spaces."""
    text = unicodedata.normalize("NFD", str(body or "").strip())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.strip().strip(".!?¡¿").upper()
    return " ".join(text.split())


def match(body: str, *, opted_out: bool) -> KeywordMatch | None:
    """The keyword a text is, if any, with its language. YES / SÍ opt in only an opted-out number."""
    word = _word(body)
    for words, keyword, language, twilio in _TABLE:
        if word not in words:
            continue
        if keyword is Keyword.OPT_IN and word in OPT_IN_ONLY_WHEN_OPTED_OUT and not opted_out:
            return None
        return KeywordMatch(keyword, language, twilio)
    return None


def classify(body: str, *, opted_out: bool) -> Keyword | None:
    """The keyword a text is, if any (``match`` also says its language)."""
    found = match(body, opted_out=opted_out)
    return found.keyword if found else None


def keyword_language(body: str, *, opted_out: bool) -> str | None:
    """The language ("en" / "es") of the keyword a text is, or None when it is no keyword."""
    found = match(body, opted_out=opted_out)
    return found.language if found else None
