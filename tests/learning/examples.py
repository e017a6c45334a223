"""Labelled texts written for these tests (never the development data): plain and implicit risk, and everyday
texts, some with risk words used figuratively, built from small templates so a tiny model has enough to learn."""

from __future__ import annotations

import itertools

_RISK_OPENERS = ["honestly", "i guess", "ok so", "idk", "please", "sorry but"]
_RISK = [
    "i gave away all my things today and wrote the letters",
    "i wont be around next week, take care of my cat",
    "i have everything ready for tonight",
    "i already took the pills an hour ago",
    "i counted out enough of my pills for tonight",
    "i want to end my life",
    "i am going to kill myself",
    "the rope is in my room and im ready",
    "i said goodbye to my brother for the last time",
    "i wont wake up tomorrow and thats the plan",
    "im done fighting, this is the end for me",
    "i looked up how much it takes and i have enough",
]
_CALM_OPENERS = ["lol", "ugh", "so", "haha", "anyway", "honestly"]
_CALM = [
    "this traffic is killing me",
    "i could just die of embarrassment after that meeting",
    "id kill for a pizza right now",
    "my exam is tomorrow and i am so stressed",
    "my sister keeps taking my clothes",
    "work was long but i made it through",
    "i need help finding a food bank near me",
    "my landlord will not fix the heater",
    "this song is so sad i love it",
    "my cat knocked my phone off the table",
    "i am nervous about my first day at the new job",
    "that movie ending destroyed me",
]


def at_risk(n: int) -> list[str]:
    return [f"{o} {t}" for o, t in itertools.islice(itertools.product(_RISK_OPENERS, _RISK), n)]


def not_at_risk(n: int) -> list[str]:
    return [f"{o} {t}" for o, t in itertools.islice(itertools.product(_CALM_OPENERS, _CALM), n)]


def jsonl(n_each: int) -> str:
    import json

    rows = [{"text": t, "label": 1} for t in at_risk(n_each)] + [{"text": t, "label": 0} for t in not_at_risk(n_each)]
    return "\n".join(json.dumps(r) for r in rows) + "\n"
