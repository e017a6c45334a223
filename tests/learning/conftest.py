"""Learning-loop fixtures: a migrated store on every backend, conversations written straight into it (texter,
texts, a handoff urgency), console users, and the project's own small set of example texts (written for these
tests; nothing from the development data)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from bot.privacy import Privacy
from bot.store.db import Database, migrate
from bot.store.models import Conversation, Message, Texter, User, utcnow

PRIVACY_KEY = "test-privacy-key"

# Written for these tests: plain texts a line might receive, at risk (1) or not (0).
AT_RISK = [
    "i want to kill myself tonight",
    "i took a whole bottle of pills and i feel dizzy",
    "nobody would miss me if i was gone",
    "i have the rope ready in my closet",
    "i keep thinking about ending my life",
    "im going to jump off the bridge after work",
    "i dont want to be alive anymore",
    "i wrote goodbye letters to my family",
    "i bought a gun to end it",
    "i cut myself deep and cant stop the bleeding",
    "this is my last text, goodbye everyone",
    "i have been saving up my meds to take them all at once",
    "i want to die and i know how i would do it",
    "i am standing on the roof right now",
    "everyone would be better off without me so im ending it",
    "i cant stop thinking about suicide",
    "i swallowed 40 of my moms pills",
    "i plan to overdose this weekend",
    "theres no point living, im done",
    "i looked up how many pills it takes",
    "tonight is the night i end it",
    "i want to hang myself",
    "im sitting in the car with the engine running in the garage",
    "i just want to disappear forever and never wake up",
]
NOT_AT_RISK = [
    "my exam is tomorrow and im stressed",
    "i had a fight with my sister about the dishes",
    "work has been really busy this week",
    "i feel a bit lonely since i moved to a new city",
    "my dog is sick and i am worried about him",
    "can you help me find a food bank near me",
    "i broke up with my boyfriend last month and im sad",
    "school is boring and my teacher is strict",
    "i cant sleep well lately because of noise",
    "my parents are getting a divorce and its hard",
    "i need someone to talk to about my job",
    "i failed my driving test again",
    "money is tight and rent is due",
    "my friend stopped talking to me",
    "i feel anxious before presentations",
    "im bored and want to chat",
    "my roommate is messy and it annoys me",
    "i lost my phone and feel stressed",
    "i am nervous about starting college",
    "my grandma is in the hospital",
    "i think i need better study habits",
    "i got a bad grade on my essay",
    "i moved schools and miss my old friends",
    "this homework is killing me lol",
]


def new_phone() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


@dataclass
class Store:
    url: str
    db: Database
    privacy: Privacy

    async def user(self, username: str, role: str = "counselor") -> int:
        async with self.db.transaction() as s:
            u = User(username=username, display_name=username.title(), password_hash="-", role=role)
            s.add(u)
            await s.flush()
            return u.id

    async def conversation(
        self, texts: Sequence[str], *, phone: str | None = None, state: str = "closed", level: str = "low",
        score: int = 20, model: str = "lexicon", reasons: Sequence[str] = ("a reason",),
        counselor_id: int | None = None, closed_days_ago: float = 0,
    ) -> str:
        """A conversation with the texter's texts, one bot reply, and the urgency predicted at handoff."""
        from datetime import timedelta

        phone = phone or new_phone()
        async with self.db.transaction() as s:
            from sqlalchemy import select

            texter = await s.scalar(select(Texter).where(Texter.phone_hash == self.privacy.hash_phone(phone)))
            if texter is None:
                texter = Texter(phone_hash=self.privacy.hash_phone(phone), phone_enc=self.privacy.encrypt(phone))
                s.add(texter)
                await s.flush()
            conv = Conversation(
                id="c_" + secrets.token_hex(8), texter_id=texter.id, state=state, urgency_level=level,
                urgency_score=score, urgency_reasons=list(reasons), counselor_id=counselor_id,
                context={"answers": {"topic": texts[0] if texts else ""},
                         "summary": f"Says: {texts[0] if texts else ''}",
                         "urgency": {"level": level, "score": score, "reasons": list(reasons), "needs": [],
                                     "model": model}},
            )
            if state == "closed":
                conv.closed_at = utcnow() - timedelta(days=closed_days_ago)
                conv.report = {"confirmed": {"risk_level": level, "notes": "private counselor notes"}}
            s.add(conv)
            await s.flush()
            for body in texts:
                s.add(Message(texter_id=texter.id, conversation_id=conv.id, direction="in", author="texter",
                              body=body, status="processed"))
            s.add(Message(texter_id=texter.id, conversation_id=conv.id, direction="out", author="bot",
                          body="Thanks for reaching out.", status="sent"))
            return conv.id


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    migrate(database_url)
    db = Database(database_url, pool_size=2)
    yield Store(database_url, db, Privacy(PRIVACY_KEY))
    await db.close()
