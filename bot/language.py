"""Which language a texter writes in (English or Spanish), and a texter's explicit request to switch.

Detection is lingua's (the ``lingua-language-detector`` package, Apache-2.0: its language models are compiled into
the package, so nothing is downloaded at run time), built for English and Spanish only and loaded once per
process (about a second; about 0.05 ms a text after that). Lingua alone cannot tell the language of one or two
words that both languages text ("no", "ok", "ya", "si") and is unsure of single SMS openers ("HOLA" 0.66), so:

- a text that is only such shared words keeps the conversation's language (``current``);
- a short first text settles on its cue words ("hola", "ayuda", "hi", "help") when it has them;
- otherwise lingua decides, and changing the language of a conversation under way takes a sure reading of two
  words or more ("me quiero morir" switches an English conversation; "yes" does not switch a Spanish one);
- an explicit request ("English please", "en español", "no hablo inglés") always wins.

``detect`` never raises and always returns "en" or "es"; "en" is the default when nothing tells.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

ENGLISH, SPANISH = "en", "es"
LANGUAGES = (ENGLISH, SPANISH)
DEFAULT = ENGLISH
MAX_CHARS = 600  # lingua reads the start of a long text: enough to tell, and it keeps the time per text flat

FIRST_MIN_CONFIDENCE = 0.6  # a first text in a language lingua is this sure of (else the default)
SWITCH_MIN_CONFIDENCE = 0.8  # a conversation under way changes language only on a reading this sure ...
SWITCH_MIN_WORDS = 2  # ... of at least this many words
CUE_MAX_WORDS = 3  # cue words settle texts of up to this many words

# Words both languages text, that tell nothing about the language by themselves.
SHARED_WORDS = frozenset(
    {
        "no", "si", "ok", "okay", "oki", "k", "kk", "ya", "yo", "lol", "eh", "ah", "oh", "mm", "mmm", "hm", "hmm",
        "x", "a", "o", "u", "bye", "porfa",  # "porfa" alone: a plea, but English texters in the US use it too
    }
)
# Short first texts whose language lingua is unsure of: these words settle it.
CUE_WORDS = {
    SPANISH: frozenset(
        {
            "hola", "ola", "holi", "holis", "buenas", "buenos", "dias", "días", "tardes", "noches", "ayuda",
            "ayudame", "ayúdame", "auxilio", "necesito", "gracias", "sí", "nel", "simon", "simón", "claro",
            "nada", "neta", "oye", "alguien", "hay", "estoy", "tengo", "quiero", "por", "favor", "jaja", "jajaja",
            "perdon", "perdón", "español", "espanol", "qué", "que", "como", "cómo", "donde", "dónde", "ayudan",
            "pues", "pos", "bueno", "vale", "mande", "wey", "güey", "sale", "va", "órale", "orale",
        }
    ),
    ENGLISH: frozenset(
        {
            "hi", "hii", "hey", "heyy", "hello", "helo", "help", "yes", "yeah", "yea", "yep", "yup", "nope", "nah",
            "thanks", "thank", "thx", "please", "pls", "plz", "im", "anyone", "someone", "there", "the", "is",
            "english", "idk", "what", "sup", "morning", "evening", "need", "talk", "sad",
        }
    ),
}

# ---- explicit requests ---------------------------------------------------------------------------------------

_NAMES = {
    ENGLISH: r"(?:english|ingles|ingl[eé]s|engl)",
    SPANISH: r"(?:spanish|espanol|español|castellano|espanish|spanglish)",
}
_POLITE = r"(?:please|pls|plz|por favor|porfa|porfavor|only|solo|nomas|nada mas|thanks|gracias|ok|okay|si|yes)"
_VERBS = (
    r"(?:speak|talk|text|write|chat|answer|reply|continue|go on|switch|change|hablar|hablo|hablas|habla|hablame"
    r"|hablamos|hablemos|escribir|escribo|escribes|escribeme|escribe|escribame|contestar|contesta|textear"
    r"|seguir|sigamos|seguimos|cambiar|cambia|understand|entiendo|entiendes|leo|read)"
)
_NEGATION = r"(?:no|not|dont|do not|cant|can not|cannot|nunca|never)"
_BETWEEN = r"(?:i|yo|really|realmente|very|well|muy|bien|mucho|le|lo|te|se|sé|se bien)"  # "i dont really speak"
_SHORT_REQUEST = {
    lang: re.compile(rf"^(?:{_POLITE} )*(?:(?:in|en|to|a|al) )?{name}(?: {_POLITE})*$") for lang, name in _NAMES.items()
}
_VERB_REQUEST = {
    lang: re.compile(
        rf"(?:(?P<neg>{_NEGATION})(?: {_BETWEEN})? )?{_VERBS}(?: (?:to me|with me|me|conmigo|it|lo|mejor|mas))?"
        rf"(?: (?:in|en|to|a|al))? {name}(?!\w)"
    )
    for lang, name in _NAMES.items()
}
_IN_LANGUAGE_ENDING = {
    lang: re.compile(rf"(?:^|\w )(?:in|en) {name}(?: {_POLITE})*$") for lang, name in _NAMES.items()
}
MAX_REQUEST_WORDS = 10


def _plain(text: str) -> str:
    """Lower case, apostrophes dropped, punctuation and emoji as single spaces (accents kept)."""
    text = unicodedata.normalize("NFKC", str(text or "")).casefold()
    text = text.replace("'", "").replace("’", "").replace("`", "")
    text = re.sub(r"[^\w]+", " ", text).replace("_", " ")
    return " ".join(text.split())


def _other(language: str) -> str:
    return SPANISH if language == ENGLISH else ENGLISH


def requested_switch(text: str | None) -> str | None:
    """The language the texter asks for in so many words, or None.

    "English please", "in english", "can we talk in english" -> "en"; "en español", "español por favor",
    "spanish", "hablas español?" -> "es"; "i dont speak english" and "no hablo inglés" -> "es";
    "no hablo español" -> "en". A long text that merely mentions a language ("my mom only speaks spanish and
    ...") is no request.
    """
    norm = _plain(text or "")
    if not norm or len(norm.split()) > MAX_REQUEST_WORDS:
        return None
    found: set[str] = set()
    for lang in LANGUAGES:
        if _SHORT_REQUEST[lang].match(norm):
            return lang
        for m in _VERB_REQUEST[lang].finditer(norm):
            found.add(_other(lang) if m.group("neg") else lang)
        if _IN_LANGUAGE_ENDING[lang].search(norm):
            found.add(lang)
    return found.pop() if len(found) == 1 else None


# ---- detection -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _detector() -> Any:
    """Lingua's detector for English and Spanish, its two models loaded now (once per process)."""
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH)
        .with_preloaded_language_models()
        .build()
    )


def warm_up() -> None:
    """Load the detector now (process start), not on the first texter's text."""
    _detector()


def _squeeze(word: str) -> str:
    """Repeated letters as one ("holaaa" -> "hola", "heyyy" -> "hey"), for looking words up."""
    return re.sub(r"(\w)\1+", r"\1", word)


_SQUEEZED_SHARED = frozenset(_squeeze(w) for w in SHARED_WORDS)
_SQUEEZED_CUES = {lang: frozenset(_squeeze(w) for w in words) for lang, words in CUE_WORDS.items()}


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", _plain(text))


def confidence(text: str) -> tuple[str, float]:
    """Lingua's reading of a text: the likelier language and how sure it is (0.5 to 1; 0 when it cannot tell)."""
    from lingua import Language

    values = _detector().compute_language_confidence_values(str(text or "")[:MAX_CHARS].casefold())
    if not values or values[0].value <= 0:
        return DEFAULT, 0.0
    top = values[0]
    return (SPANISH if top.language == Language.SPANISH else ENGLISH), float(top.value)


def detect(text: str | None, current: str | None = None) -> str:
    """The language to answer this text in: "en" or "es".

    ``current`` is the conversation's language so far (None for a first text). A text too short or mixed to
    tell keeps it; a first text that cannot be told is English.
    """
    kept = current if current in LANGUAGES else None
    asked = requested_switch(text)
    if asked:
        return asked
    words = _words(text or "")
    squeezed = [_squeeze(w) for w in words]
    if not words or all(w in _SQUEEZED_SHARED for w in squeezed):
        return kept or DEFAULT
    if kept is None and len(words) <= CUE_MAX_WORDS:
        cued = {lang for lang, cues in _SQUEEZED_CUES.items() if any(w in cues for w in squeezed)}
        if len(cued) == 1:
            return cued.pop()
    try:
        language, sure = confidence(text or "")
    except Exception:  # detection must never break a texter's turn
        return kept or DEFAULT
    if kept is None:
        return language if sure >= FIRST_MIN_CONFIDENCE else DEFAULT
    if language != kept and sure >= SWITCH_MIN_CONFIDENCE and len(words) >= SWITCH_MIN_WORDS:
        return language
    return kept
