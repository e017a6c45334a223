"""Parse free-form SMS answers: yes / no / unsure ("yeah", "nah", "idk", 👍) and an age or age range.

English and Spanish words are read alike, whatever the conversation's language ("sí", "nel", "no sé", "tengo 15",
"hace 2 semanas"): texters mix them, and a word of one language never means the opposite in the other. Accents are
dropped before matching ("si" and "sí" are one word), because texters often leave them out.

Texters answer the way people text: caps, repeated letters ("yesss", "nooo"), emoji, short forms. The parsers
return a canonical value, or ``None`` when the text cannot be read (the caller then asks once more).
The words decide, not the NLU's affirm/deny intents: DIET's character n-grams put gibberish ("banana") into
"deny" with high confidence, and a false "no" on a suicide screener item is the wrong way to fail.
Any text, in any language, is safe to pass in: unknown input gives ``None``, never an exception.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

YES, NO, UNSURE = "yes", "no", "unsure"
DECLINED = "unknown"

# Phrases are written lower case, without apostrophes ("dont", "im"): the text is normalised the same way.
YES_PHRASES = (
    "yes", "ye", "yea", "yeah", "yah", "ya", "yep", "yup", "yas", "yesh", "yeh", "yez", "yeap", "ues", "yse",
    "yh", "aye", "sure", "yes i have",
    "definitely", "absolutely", "of course", "correct", "true", "right", "affirmative", "totally", "for sure",
    "uh huh", "mhm", "mm hmm", "i have", "i did", "i do", "i am", "i was", "i had", "i think so", "probably",
    "always", "all the time", "sometimes", "often", "a lot", "constantly", "every day", "everyday", "lately",
    "a little", "a bit", "on and off", "oui",
    # Spanish
    "si", "sip", "sipi", "simon", "claro", "claro que si", "por supuesto", "obvio", "asi es", "exacto", "cierto",
    "efectivamente", "afirmativo", "creo que si", "pues si", "ps si", "la neta si", "seguro que si", "si he",
    "lo he hecho", "lo hice", "a veces", "muchas veces",
    "todo el tiempo", "siempre", "seguido", "un poco", "un poquito", "mucho", "bastante", "ultimamente",
    "de vez en cuando", "por desgracia si", "desgraciadamente si",
)
NO_PHRASES = (
    "no", "nope", "nah", "na", "nay", "noe", "not", "not really", "never", "not at all", "no way", "none",
    "nothing", "negative", "not lately", "nada", "nop", "i havent", "i have not", "i didnt", "i did not",
    "i dont", "i do not", "im not", "i am not", "i wasnt", "i was not", "absolutely not", "definitely not",
    "of course not", "probably not", "i dont think so", "i do not think so", "not that i know of",
    # Spanish ("no" and "nada" above)
    "nel", "nones", "nunca", "jamas", "para nada", "de ninguna manera", "ni de chiste", "ni loca", "ni loco",
    "claro que no", "creo que no", "no creo", "la verdad no", "no realmente", "no tanto", "no he", "no lo he hecho",
    "no lo hice", "no he pensado", "nunca he pensado", "no mucho", "ninguno", "ninguna", "tampoco", "negativo",
    "nunca he", "no ultimamente",
)
UNSURE_PHRASES = (
    "idk", "idek", "dk", "dunno", "i dunno", "dont know", "i dont know", "do not know", "i do not know",
    "not sure", "im not sure", "i am not sure", "not really sure", "not so sure", "unsure", "no idea",
    "maybe", "kinda", "kind of", "sort of", "sorta", "i guess", "i suppose", "possibly", "perhaps", "depends",
    "it depends", "hard to say", "not certain", "somewhat", "ish", "meh", "eh", "hmm", "yes and no",
    "could be", "might be",
    # Spanish
    "no se", "nose", "no lo se", "ni idea", "ni se", "no estoy segura", "no estoy seguro", "no se si", "tal vez",
    "talvez", "quizas", "quiza", "a lo mejor", "puede ser", "puede que si", "mas o menos", "masomenos",
    "como que si", "depende", "algo asi", "no sabria", "no sabria decir", "no sabria decirte", "si y no",
    "no siempre",
)
# One letter answers only when they are the whole text: "y" is "yes" alone, but "and" inside a Spanish answer.
WHOLE_TEXT_ONLY = {"y": YES, "n": NO}
# A sentence ("no quiero vivir") whose "no" the NLU reads as suicidal thoughts is "unsure", not "no"; a bare "no"
# is a no, whatever the NLU thought of it.
MIN_WORDS_FOR_MEANING = 3

EMOJI_WORDS = {
    "👍": " yes ", "👌": " yes ", "✅": " yes ", "✔": " yes ", "☑": " yes ", "🙆": " yes ",
    "👎": " no ", "❌": " no ", "✖": " no ", "🙅": " no ", "⛔": " no ", "🚫": " no ",
    "🤷": " unsure ", "🤔": " unsure ",
}


@dataclass(frozen=True)
class Lexicon:
    """A question's own words per answer value, and the NLU intents that answer it ("i want to die" -> yes)."""

    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    intents: Mapping[str, str] = field(default_factory=dict)


GENERIC = Lexicon({YES: YES_PHRASES, NO: NO_PHRASES, UNSURE: UNSURE_PHRASES})


def strip_accents(text: str) -> str:
    """"sí" -> "si", "año" -> "ano": Latin letters without their accents (other scripts are left alone)."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def normalize(text: str) -> str:
    """Lower case, emoji spelled out, accents and apostrophes dropped, punctuation turned into single spaces."""
    text = unicodedata.normalize("NFKC", str(text or ""))
    for emoji, word in EMOJI_WORDS.items():
        text = text.replace(emoji, word)
    text = strip_accents(text.casefold()).replace("'", "").replace("’", "").replace("`", "")
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.replace("_", " ").split())


@lru_cache(maxsize=2048)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """``yes`` -> ``y+e+s+``: each letter may repeat, so "yesss" and "nooo" match too."""
    words = ["".join(re.escape(ch) + "+" for ch in word) for word in normalize(phrase).split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


def _matches(text: str, lexicons: Iterable[tuple[Lexicon, bool]]) -> list[tuple[str, bool]]:
    """Non-overlapping phrase matches as (value, from_own_words), longest first: "not sure" beats "not"."""
    found = []
    for lexicon, own in lexicons:
        for value, phrases in lexicon.phrases.items():
            for phrase in phrases:
                for m in _phrase_pattern(phrase).finditer(text):
                    found.append((m.start(), m.end(), value, own))
    found.sort(key=lambda f: (-(f[1] - f[0]), not f[3], f[0]))
    chosen: list[tuple[int, int, str, bool]] = []
    for start, end, value, own in found:
        if all(end <= s or start >= e for s, e, _, _ in chosen):
            chosen.append((start, end, value, own))
    return [(value, own) for _, _, value, own in chosen]


def _decide(values: Iterable[str]) -> str | None:
    """One answer from the values found: a clear yes or no wins over "unsure"; yes and no together is unclear."""
    kinds = set(values)
    definite = kinds & {YES, NO}
    if len(definite) == 1:
        return definite.pop()
    if definite:
        return None
    return UNSURE if UNSURE in kinds else None


def parse_yes_no(text: str | None, intent: str | None = None, own: Lexicon | None = None) -> str | None:
    """Read a yes/no/unsure answer from a text, or from a content intent of ``own`` when the words do not tell.

    ``own`` holds a question's own words (for "are you safe?": "im ok", "not safe"); they win over the
    generic yes/no words ("no im safe" is a yes), but any doubt ("idk if im safe") makes it "unsure".
    Returns "yes", "no", "unsure" or None (cannot tell).
    """
    own = own or Lexicon()
    norm = normalize(text or "")
    for letter, value in WHOLE_TEXT_ONLY.items():
        if _phrase_pattern(letter).fullmatch(norm):
            return value
    found = _matches(norm, ((own, True), (GENERIC, False))) if norm else []
    own_values = [value for value, is_own in found if is_own]
    generic_values = [value for value, is_own in found if not is_own]
    if own_values:
        if UNSURE in generic_values or UNSURE in own_values:
            return UNSURE
        answer = _decide(own_values)
        if answer is not None:
            return answer
    answer = _decide(generic_values)
    meant = own.intents.get(intent) if intent else None
    if answer == NO and meant == YES and len(norm.split()) >= MIN_WORDS_FOR_MEANING:
        return UNSURE  # "no quiero vivir", "i dont want to be alive": the words say no, the meaning says yes
    if answer is not None:
        return answer
    return meant


# ---- age -------------------------------------------------------------------------------------------------

AGE_BUCKETS = ((13, "under_13"), (18, "13_17"), (25, "18_24"), (35, "25_34"), (65, "35_64"))
MIN_AGE, MAX_AGE = 5, 110
DECLINE_PHRASES = (
    "rather not", "prefer not", "id rather not", "not saying", "not telling", "wont say", "dont want to say",
    "none of your business", "skip", "pass", "no", "nope", "nah", "private", "no comment",
    "prefiero no", "prefiero no decir", "no quiero decir", "no te voy a decir", "no voy a decir", "paso",
    "saltar", "salta", "siguiente", "privado", "no importa", "nel",
)
UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    # Spanish, without accents (as normalized); "uno/una" and "once" are left out: "una vez" is "once".
    "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
    "doce": 12, "trece": 13, "catorce": 14, "quince": 15, "dieciseis": 16, "diecisiete": 17, "dieciocho": 18,
    "diecinueve": 19, "veinte": 20, "veintiuno": 21, "veintiun": 21, "veintidos": 22, "veintitres": 23,
    "veinticuatro": 24, "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28,
    "veintinueve": 29,
}
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
    "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90,
}
DECADE_WORDS = {
    "twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60,
    "seventies": 70, "eighties": 80, "nineties": 90,
    "veintitantos": 20, "treintaitantos": 30, "treinta y tantos": 30, "cuarenta y tantos": 40,
    "cincuenta y tantos": 50, "sesenta y tantos": 60,
}
STAGE_OFFSETS = {"early": 1, "mid": 4, "middle": 4, "late": 7}
WORD_BUCKETS = {
    "teen": "13_17", "teenager": "13_17", "minor": "13_17", "highschool": "13_17", "high school": "13_17",
    "middle school": "13_17", "senior citizen": "65_plus", "retired": "65_plus", "elderly": "65_plus",
    "adolescente": "13_17", "menor de edad": "13_17", "secundaria": "13_17", "prepa": "13_17",
    "preparatoria": "13_17", "jubilada": "65_plus", "jubilado": "65_plus", "tercera edad": "65_plus",
}
AGE_CUES = r"(?:im|i am|i m|age|aged|turned|turning|just turned|tengo|edad|cumpli|cumplo|voy a cumplir)"


def age_bucket(age: int) -> str:
    """The age_range slot value for an age in years."""
    for upper, bucket in AGE_BUCKETS:
        if age < upper:
            return bucket
    return "65_plus"


def _words_to_digits(text: str) -> str:
    """"twenty two" -> "22", "fifteen" -> "15"; other words are left alone."""
    tokens = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text).split()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in TENS:
            value = TENS[tok]
            if i + 1 < len(tokens) and tokens[i + 1] in UNITS and 0 < UNITS[tokens[i + 1]] < 10:
                value += UNITS[tokens[i + 1]]
                i += 1
            elif tokens[i + 1 : i + 2] == ["y"] and 0 < UNITS.get(tokens[i + 2] if i + 2 < len(tokens) else "", 0) < 10:
                value += UNITS[tokens[i + 2]]  # "treinta y cinco"
                i += 2
            out.append(str(value))
        elif tok in UNITS:
            out.append(str(UNITS[tok]))
        else:
            out.append(tok)
        i += 1
    return " ".join(out)


def _normalize_age_text(text: str) -> str:
    """Lower case, number words as digits, "15yo" split, and any range written as "low - high"."""
    norm = strip_accents(unicodedata.normalize("NFKC", str(text or "")).casefold())
    norm = norm.replace("'", "").replace("\u2019", "").replace("\u2013", "-").replace("\u2014", "-")
    norm = re.sub(r"(\d)([a-z])", r"\1 \2", norm)  # 15yo -> 15 yo
    norm = re.sub(r"(\d+)\s*\+", r"\1 plus", norm)  # 65+ -> 65 plus
    norm = re.sub(r"[^\w\s-]+", " ", norm)
    norm = _words_to_digits(" ".join(norm.split()))
    return re.sub(r"(\d)\s*(?:-|to|or|and|a|y|o)\s*(\d)", r"\1 - \2", norm)


def parse_age(text: str | None, *, today: date | None = None) -> str | None:
    """Read an age range from "15", "im 15", "fifteen", "18-24", "in my 30s", "under 13", "born 2009".

    Returns an age_range slot value, "unknown" when the texter declines, or None when it cannot tell.
    """
    norm = _normalize_age_text(text or "")
    if not norm:
        return None
    year = (today or date.today()).year

    for phrase, bucket in WORD_BUCKETS.items():
        if re.search(rf"(?<!\w){phrase}s?(?!\w)", norm):
            return bucket
    m = re.search(r"(?:under|below|less than|younger than|menos de|menor de)\s+(\d{1,3})", norm)
    if m and int(m.group(1)) > MIN_AGE:
        return age_bucket(int(m.group(1)) - 1)
    m = re.search(r"(?:over|above|older than|more than|mas de|mayor de)\s+(\d{1,3})", norm)
    if m and MIN_AGE <= int(m.group(1)) <= MAX_AGE:
        return age_bucket(int(m.group(1)) + 1)
    m = re.search(r"(\d{1,3})\s+plus", norm)
    if m and MIN_AGE <= int(m.group(1)) <= MAX_AGE:
        return age_bucket(int(m.group(1)))

    decade = _decade(norm)
    if decade is not None:
        return age_bucket(decade)
    m = re.search(r"(?<!\d)(\d{1,3}) - (\d{1,3})(?!\d)", norm)
    if m:
        low, high = int(m.group(1)), int(m.group(2))
        if MIN_AGE <= low <= high <= MAX_AGE:
            return age_bucket(low)

    m = re.search(rf"(?<!\w){AGE_CUES}\s+(\d{{1,3}})(?!\d)", norm)
    if m and MIN_AGE <= int(m.group(1)) <= MAX_AGE:
        return age_bucket(int(m.group(1)))
    ages = [int(n) for n in re.findall(r"(?<!\d)(\d{1,3})(?!\d)", norm) if MIN_AGE <= int(n) <= MAX_AGE]
    born = [int(n) for n in re.findall(r"(?<!\d)(\d{4})(?!\d)", norm)]
    ages += [year - n for n in born if year - MAX_AGE <= n <= year - MIN_AGE]
    buckets = {age_bucket(a) for a in ages}
    if len(buckets) == 1:
        return buckets.pop()
    if not ages and _declined(norm):
        return DECLINED
    return None


def _decade(norm: str) -> int | None:
    """"in my 30s" -> 30, "late twenties" -> 27, "early 20s" -> 21: a representative age, or None."""
    m = re.search(r"(?:(early|mid|middle|late)\s+)?(?<!\d)([1-9])0\s*s(?!\w)", norm)
    if m:
        return int(m.group(2)) * 10 + STAGE_OFFSETS.get(m.group(1) or "", 0)
    for word, base in DECADE_WORDS.items():
        m = re.search(rf"(?:(early|mid|middle|late)\s+)?{word}(?!\w)", norm)
        if m:
            return base + STAGE_OFFSETS.get(m.group(1) or "", 0)
    return None


def _declined(norm: str) -> bool:
    return any(_phrase_pattern(p).search(norm) for p in DECLINE_PHRASES)


# ---- when (screener item 6: "was that in the past 3 months?") -------------------------------------------

RECENT_DAYS = 92  # "the past 3 months"
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365, "dia": 1, "semana": 7, "mes": 30, "ano": 365}
AMOUNT_WORDS = {
    "a": 1, "an": 1, "a few": 3, "few": 3, "a couple": 2, "a couple of": 2, "couple": 2, "several": 5,
    "un": 1, "una": 1, "unos": 3, "unas": 3, "unos cuantos": 3, "unas cuantas": 3, "un par de": 2, "pocos": 3,
    "pocas": 3, "varios": 5, "varias": 5,
}
RECENT_PHRASES = (
    "yesterday", "today", "tonight", "this morning", "last night", "last week", "this week", "last month",
    "this month", "the other day", "recently", "lately", "just now", "earlier", "days ago", "weeks ago",
    "ayer", "hoy", "anoche", "esta manana", "esta semana", "la semana pasada", "el mes pasado", "este mes",
    "hace poco", "hace unos dias", "recien", "recientemente", "ultimamente", "el otro dia", "ahorita",
)
LONG_AGO_PHRASES = (
    "last year", "years ago", "long time ago", "a long time ago", "ages ago", "when i was a kid", "as a kid",
    "when i was little", "when i was younger", "way back",
    "el ano pasado", "hace anos", "hace mucho", "hace mucho tiempo", "cuando era nina", "cuando era nino",
    "de nina", "de nino", "cuando era chica", "cuando era chico", "cuando era mas chica", "cuando era mas chico",
    "de chiquita", "de chiquito", "cuando era joven",
)


def parse_recency(text: str | None) -> str | None:
    """"2 weeks ago", "hace 2 semanas" -> "yes"; "last year", "el año pasado" -> "no" (within the past 3 months?);
    else a plain yes/no answer."""
    norm = _words_to_digits(normalize(text or ""))
    amounts = "|".join(sorted(map(re.escape, AMOUNT_WORDS), key=len, reverse=True))
    m = re.search(rf"(?<!\w)(\d{{1,3}}|{amounts})\s+(day|week|month|year)s?\s+ago(?!\w)", norm)
    m = m or re.search(rf"(?<!\w)hace\s+(\d{{1,3}}|{amounts})\s+(dia|semana|mes|ano)(?:s|es)?(?!\w)", norm)
    if m:
        amount = int(m.group(1)) if m.group(1).isdigit() else AMOUNT_WORDS[m.group(1)]
        return "yes" if amount * UNIT_DAYS[m.group(2)] <= RECENT_DAYS else "no"
    if any(_phrase_pattern(p).search(norm) for p in LONG_AGO_PHRASES):
        return "no"
    if any(_phrase_pattern(p).search(norm) for p in RECENT_PHRASES):
        return "yes"
    if re.search(r"(?<!\w)(?:when i was|cuando tenia) (\d{1,2})(?!\w)", norm):
        return "no"  # "when i was 14": an age in the past, so not in the past 3 months
    return parse_yes_no(text)
