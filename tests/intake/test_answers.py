"""Reading free-form yes/no/unsure answers and ages the way texters send them."""

from __future__ import annotations

from datetime import date

import pytest

from bot.intake.answers import age_bucket, normalize, parse_age, parse_recency, parse_yes_no
from bot.intake.questions import SAFE_NOW_WORDS

YES_ANSWERS = [
    "yes", "Yes.", "YES", "yeah", "ya", "yep", "yup", "ye", "y", "Y", "yes i have", "yeah i have",
    "yesss", "YESSSS", "yeahhhh", "yaaa", "👍", "👍🏽", "yes 👍", "ya i did", "i have", "i did",
    "i think so", "sometimes", "all the time", "a little", "sure", "yh", "yess ma'am", "sí", "si",
]
NO_ANSWERS = [
    "no", "No", "NO", "nope", "nah", "na", "n", "nooo", "NOOOO", "nahhh", "not really", "not rly", "never",
    "no i havent", "no i haven't", "no, I have not", "nope never", "not at all", "i don't think so",
    "i dont think so", "👎", "no 👎", "nah not really", "definitely not", "not lately", "noe",
]
UNSURE_ANSWERS = [
    "idk", "IDK", "i don't know", "i dont know", "dunno", "not sure", "im not sure", "I'm not sure",
    "maybe", "kinda", "kind of", "sort of", "sorta", "i guess", "possibly", "no idea", "🤷", "🤷‍♀️",
    "hmm not sure", "maybeee", "kindaaa", "yes and no", "no sé",
]


@pytest.mark.parametrize("text", YES_ANSWERS)
def test_yes_in_many_forms(text: str) -> None:
    assert parse_yes_no(text) == "yes"


@pytest.mark.parametrize("text", NO_ANSWERS)
def test_no_in_many_forms(text: str) -> None:
    assert parse_yes_no(text) == "no"


@pytest.mark.parametrize("text", UNSURE_ANSWERS)
def test_unsure_in_many_forms(text: str) -> None:
    assert parse_yes_no(text) == "unsure"


@pytest.mark.parametrize(
    "text",
    ["banana", "purple", "", "   ", "?!?", "what do you mean", "yeah no", "no, yes", "😂", "1234", "know", "nothings"],
)
def test_unreadable_or_contradictory_gives_none(text: str) -> None:
    assert parse_yes_no(text) is None


@pytest.mark.parametrize(
    "text",
    ["是的", "нет", "نعم", "はい", "예", "Ja, natürlich", "ไม่", "\u200b", "\x00", "a" * 5000, "🙂" * 300],
)
def test_any_language_or_junk_never_crashes(text: str) -> None:
    assert parse_yes_no(text) in ("yes", "no", "unsure", None)
    assert parse_age(text) is None or isinstance(parse_age(text), str)


def test_clear_answer_wins_over_hedge() -> None:
    assert parse_yes_no("yeah i guess") == "yes"
    assert parse_yes_no("idk probably not") == "no"


def test_longest_phrase_wins() -> None:
    # "not sure" is not the "no"-word "not"; "i dont know" is not "i dont".
    assert parse_yes_no("not sure") == "unsure"
    assert parse_yes_no("i do not know") == "unsure"
    assert parse_yes_no("i have not") == "no"


def test_words_inside_other_words_do_not_count() -> None:
    assert parse_yes_no("yesterday") is None
    assert parse_yes_no("nobody") is None


def test_normalize_spells_out_emoji_and_drops_punctuation() -> None:
    assert normalize("YES!!! 👍") == "yes yes"
    assert normalize("I'm  not   sure...") == "im not sure"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"),
        ("im safe", "yes"),
        ("no im safe", "yes"),
        ("nah im good", "yes"),
        ("i'm ok", "yes"),
        ("safe", "yes"),
        ("not safe", "no"),
        ("i don't feel safe", "no"),
        ("no", "no"),
        ("im not ok", "no"),
        ("not sure if im safe", "unsure"),
        ("idk", "unsure"),
        ("i'm safe for now i guess", "unsure"),
    ],
)
def test_safe_now_reads_its_own_words(text: str, expected: str) -> None:
    assert parse_yes_no(text, own=SAFE_NOW_WORDS) == expected


def test_intents_only_count_when_the_question_lists_them() -> None:
    # affirm/deny intents never answer on their own (gibberish can be classed "deny" with high confidence).
    assert parse_yes_no("banana", intent="deny") is None
    from bot.intake.questions import IDEATION_INTENTS

    assert parse_yes_no("i want to die", intent="express_suicidal_ideation", own=IDEATION_INTENTS) == "yes"
    # The words still come first.
    assert parse_yes_no("no", intent="express_suicidal_ideation", own=IDEATION_INTENTS) == "no"


TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15", "13_17"),
        ("im 15", "13_17"),
        ("I'm 15.", "13_17"),
        ("fifteen", "13_17"),
        ("Fifteen!!", "13_17"),
        ("i am sixteen years old", "13_17"),
        ("16yo", "13_17"),
        ("12", "under_13"),
        ("im 12 and a half", "under_13"),
        ("under 13", "under_13"),
        ("13", "13_17"),
        ("17", "13_17"),
        ("18", "18_24"),
        ("twenty two", "18_24"),
        ("twenty-two", "18_24"),
        ("24", "18_24"),
        ("25", "25_34"),
        ("34", "25_34"),
        ("35", "35_64"),
        ("64", "35_64"),
        ("65", "65_plus"),
        ("65+", "65_plus"),
        ("over 65", "65_plus"),
        ("82", "65_plus"),
        ("18-24", "18_24"),
        ("18 - 24", "18_24"),
        ("18 to 24", "18_24"),
        ("between 25 and 34", "25_34"),
        ("13-17", "13_17"),
        ("15 or 16", "13_17"),
        ("in my 20s", "18_24"),
        ("late 20s", "25_34"),
        ("early thirties", "25_34"),
        ("mid 40s", "35_64"),
        ("im a teenager", "13_17"),
        ("teen", "13_17"),
        ("under 18", "13_17"),
        ("born in 2010", "13_17"),
        ("2001", "25_34"),
        ("im 15 and this has been going on for 3 years", "13_17"),
        ("i just turned 18", "18_24"),
    ],
)
def test_age_from_numbers_words_and_ranges(text: str, expected: str) -> None:
    assert parse_age(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["rather not say", "prefer not to say", "skip", "no", "nope", "pass"])
def test_declining_the_age_is_unknown_not_a_reask(text: str) -> None:
    assert parse_age(text, today=TODAY) == "unknown"


@pytest.mark.parametrize("text", ["idk", "old", "banana", "", "40 or 15", "im 3", "999"])
def test_unreadable_age_gives_none(text: str) -> None:
    assert parse_age(text, today=TODAY) is None


def test_age_bucket_edges() -> None:
    assert [age_bucket(a) for a in (12, 13, 17, 18, 24, 25, 34, 35, 64, 65)] == [
        "under_13", "13_17", "13_17", "18_24", "18_24", "25_34", "25_34", "35_64", "35_64", "65_plus",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 weeks ago", "yes"),
        ("two weeks ago", "yes"),
        ("a few days ago", "yes"),
        ("yes a few weeks ago", "yes"),
        ("last month", "yes"),
        ("yesterday", "yes"),
        ("3 months ago", "yes"),
        ("4 months ago", "no"),
        ("last year", "no"),
        ("no it was years ago", "no"),
        ("a long time ago", "no"),
        ("when i was 14", "no"),
        ("yeah", "yes"),
        ("nope", "no"),
        ("not sure", "unsure"),
        ("banana", None),
    ],
)
def test_recency_reads_when_it_happened(text: str, expected: str | None) -> None:
    assert parse_recency(text) == expected
