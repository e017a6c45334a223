"""Behaviour signals over the store: floods, the same text from many numbers, only keywords, a returning number
whose earlier conversations were closed as abusive.

Numbers are never seen here: a texter is its row id (one row per keyed phone hash, so a returning number is the
same row), and a text is a keyed hash of its normalized form (`TextHasher`), kept with who sent it and when so the
same text from many numbers within a window can be counted. `observe` is the one call the router makes per turn,
inside its own transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sms.keywords import HELP, OPT_IN, OPT_OUT
from bot.store.models import AbuseTextSeen, Conversation, Message, utcnow

COORDINATED_WINDOW = timedelta(hours=1)
#: The same text from this many numbers within the window is coordinated (and from half as many, worth a look).
COORDINATED_NUMBERS = 3
#: Texts shorter than this (after normalizing) are too common to say anything when many numbers send them.
MIN_HASHED_CHARS = 20
MIN_HASHED_WORDS = 4
#: Only-keywords needs at least this many recent texts, all of them keywords.
KEYWORDS_MIN_TEXTS = 5
RECENT_TEXTS = 10
KEYWORDS = frozenset(w.lower() for w in OPT_OUT | OPT_IN | HELP) | {"test", "hi", "hello", "?", "ok"}
_NON_WORD = re.compile(r"[\W_]+")


def normalize_text(text: str) -> str:
    """Lower case, punctuation and spacing folded: copies of one text differ in neither."""
    return _NON_WORD.sub(" ", text.lower()).strip()


class TextHasher:
    """Keyed hashes of normalized texts (HMAC-SHA256 with a key derived from the line's PRIVACY_KEY)."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a privacy secret is required")
        self._key = hashlib.sha256(b"crisis-intake/abuse-text\0" + secret.encode()).digest()

    def hash(self, text: str) -> str | None:
        """The keyed hash of a text, or None when it is too short to count (a "hi" from many numbers is normal)."""
        norm = normalize_text(text)
        if len(norm) < MIN_HASHED_CHARS or len(norm.split()) < MIN_HASHED_WORDS:
            return None
        return hmac.new(self._key, norm.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Behaviour:
    """What a texter's behaviour says at one turn (figures a supervisor can read)."""

    texts_last_minute: int = 0
    same_text_numbers: int = 0      # distinct numbers that sent this same text within the window (this one too)
    keyword_texts: int = 0          # of the texter's last RECENT_TEXTS texts, how many were only a keyword
    recent_texts: int = 0
    abusive_closes: int = 0         # earlier conversations of this number closed as abusive

    @property
    def keywords_only(self) -> bool:
        return self.recent_texts >= KEYWORDS_MIN_TEXTS and self.keyword_texts == self.recent_texts

    @property
    def returning(self) -> bool:
        return self.abusive_closes > 0

    def scores(self, flood_per_minute: int) -> dict[str, float]:
        """Behaviour as class scores: a flood or the same text from many numbers is spam-like, only keywords is
        prank-like. A returning number scores nothing by itself: it raises the priority of what else is found."""
        out: dict[str, float] = {}
        if self.same_text_numbers >= COORDINATED_NUMBERS:
            out["spam"] = 0.97 if self.same_text_numbers >= 2 * COORDINATED_NUMBERS else 0.9
        if flood_per_minute > 0 and self.texts_last_minute > flood_per_minute:
            out["spam"] = max(out.get("spam", 0.0), 0.7)
        if self.keywords_only:
            out["prank"] = 0.6
        return out

    def evidence(self, flood_per_minute: int) -> list[str]:
        """The figures in words, for the review queue."""
        lines = []
        if flood_per_minute > 0 and self.texts_last_minute > flood_per_minute:
            lines.append(f"{self.texts_last_minute} texts in the last minute (limit {flood_per_minute})")
        if self.same_text_numbers >= COORDINATED_NUMBERS:
            lines.append(f"the same text from {self.same_text_numbers} numbers within "
                         f"{int(COORDINATED_WINDOW.total_seconds() // 60)} minutes")
        if self.keywords_only:
            lines.append(f"only keywords in the last {self.recent_texts} texts")
        if self.returning:
            lines.append(f"returning number: {self.abusive_closes} earlier conversation(s) closed as abusive")
        return lines

    def notable(self, flood_per_minute: int) -> bool:
        return bool(self.scores(flood_per_minute)) or self.returning

    def to_dict(self) -> dict[str, int | bool]:
        return {**asdict(self), "keywords_only": self.keywords_only}


async def texts_per_minute(session: AsyncSession, texter_id: int, now: datetime) -> int:
    """Inbound texts from this texter in the minute up to `now` (from the durable inbox)."""
    return int(await session.scalar(
        select(func.count()).select_from(Message)
        .where(Message.texter_id == texter_id, Message.direction == "in",
               Message.created_at > now - timedelta(minutes=1), Message.created_at <= now)
    ) or 0)


async def note_text(session: AsyncSession, texter_id: int, text_hash: str, now: datetime) -> None:
    session.add(AbuseTextSeen(text_hash=text_hash, texter_id=texter_id, seen_at=now))


async def same_text_numbers(session: AsyncSession, text_hash: str, now: datetime,
                            window: timedelta = COORDINATED_WINDOW) -> int:
    """How many distinct numbers sent this text (by keyed hash) within `window` before `now`."""
    return int(await session.scalar(
        select(func.count(func.distinct(AbuseTextSeen.texter_id)))
        .where(AbuseTextSeen.text_hash == text_hash, AbuseTextSeen.seen_at > now - window,
               AbuseTextSeen.seen_at <= now)
    ) or 0)


async def keyword_texts(session: AsyncSession, texter_id: int, limit: int = RECENT_TEXTS) -> tuple[int, int]:
    """(texts that were only a keyword, texts) among the texter's last `limit` inbound texts."""
    bodies = list(await session.scalars(
        select(Message.body).where(Message.texter_id == texter_id, Message.direction == "in")
        .order_by(Message.id.desc()).limit(limit)
    ))
    keywords = sum(1 for b in bodies if (b or "").strip().strip(".!").lower() in KEYWORDS)
    return keywords, len(bodies)


async def abusive_closes(session: AsyncSession, texter_id: int) -> int:
    """Earlier conversations of this texter (the same keyed phone hash) closed with reason "abuse"."""
    return int(await session.scalar(
        select(func.count()).select_from(Conversation)
        .where(Conversation.texter_id == texter_id, Conversation.closed_reason == "abuse")
    ) or 0)


async def observe(session: AsyncSession, texter_id: int, text: str, now: datetime | None,
                  hasher: TextHasher) -> Behaviour:
    """Note this turn's text and compute the texter's behaviour figures (call once per turn, after the texts
    are stored, inside the router's transaction)."""
    now = now or utcnow()
    same = 0
    text_hash = hasher.hash(text) if text else None
    if text_hash is not None:
        await note_text(session, texter_id, text_hash, now)
        await session.flush()
        same = await same_text_numbers(session, text_hash, now)
    keywords, recent = await keyword_texts(session, texter_id)
    return Behaviour(
        texts_last_minute=await texts_per_minute(session, texter_id, now),
        same_text_numbers=same,
        keyword_texts=keywords,
        recent_texts=recent,
        abusive_closes=await abusive_closes(session, texter_id),
    )


async def forget_old(session: AsyncSession, now: datetime | None = None,
                     window: timedelta = COORDINATED_WINDOW) -> int:
    """Drop text hashes older than the window (a periodic job may call this; nothing else needs them)."""
    now = now or utcnow()
    result = await session.execute(delete(AbuseTextSeen).where(AbuseTextSeen.seen_at <= now - window))
    return result.rowcount or 0
