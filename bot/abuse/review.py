"""The supervisors' review queue for abuse, and every transition on it: record, dismiss, warn, block, unblock;
counselors' flags and their one-action "End abusive conversation"; the figures.

One open review per texter: what the detector, the behaviour signals or a counselor found merges into it. The queue
is ordered by likelihood x severity (a returning number weighs more), and shows the evidence: the quoted words,
the behaviour figures, the conversation id and a short keyed-hash texter reference, never a number. Every decision
is audited (AuditEvent rows carry no message bodies and no numbers). Nobody is blocked here without a person's
decision; automatic blocks are `bot.abuse.policy`'s, only where staff switched them on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.abuse import blocks
from bot.abuse.behaviour import Behaviour
from bot.abuse.blocks import BlockStatus, texter_ref
from bot.abuse.detector import FOUND, AbuseSignals
from bot.abuse.lexicon import CLASSES
from bot.abuse.policy import combined_scores
from bot.handoff import queue
from bot.sms import outbox
from bot.store.db import Database
from bot.store.models import (
    AbuseBlock,
    AbuseFlag,
    AbuseReview,
    AuditEvent,
    CloseReason,
    Conversation,
    Texter,
    utcnow,
)

#: How bad each class is when true (data/lexicons/abuse/*.yml may say otherwise for the text classes).
SEVERITY: dict[str, int] = {"sexual": 3, "threat": 3, "abusive": 3, "spam": 1, "prank": 1}
#: What a counselor's flag means as a class, and how sure a person's word is.
FLAG_LABELS: dict[str, str] = {"abusive": "abusive", "prank": "prank", "spam": "spam"}
COUNSELOR_LIKELIHOOD = 0.9
RETURNING_WEIGHT = 1.5
MAX_QUOTES = 8
STATUSES = ("open", "dismissed", "warned", "blocked")

# Texts to texters: short, kind, with 911 and 988.
WARNING_TEXT = (
    "This line is for people who need support. Texts that are abusive or not serious can get this number blocked. "
    "If you need to talk, we're here. If you're in danger, call 911, or call or text 988."
)
CLOSING_TEXT = (
    "We're ending this chat now. You can text us again when you need support. "
    "If you're in danger, call 911, or call or text 988 any time."
)


class ReviewError(LookupError):
    """No such review, or it was already decided, or the action is not possible."""


def severity_of(cls: str) -> int:
    return SEVERITY.get(cls, 1)


def priority(scores: Mapping[str, float], *, returning: bool = False, hits: int = 1) -> float:
    """Likelihood x severity of the worst class; a returning abusive number weighs more; repeats a little."""
    worst = max((s * severity_of(c) for c, s in scores.items()), default=0.0)
    return round(worst * (RETURNING_WEIGHT if returning else 1.0) + 0.05 * math.log2(max(1, hits)), 4)


def _merge_quotes(old: Mapping[str, list[str]], new: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    out = {k: list(v) for k, v in old.items()}
    for cls, quotes in new.items():
        bucket = out.setdefault(cls, [])
        for q in quotes:
            if q not in bucket and len(bucket) < MAX_QUOTES:
                bucket.append(q)
    return out


async def record(
    session: AsyncSession,
    texter_id: int,
    conversation_id: str | None,
    message_id: int | None,
    signals: AbuseSignals | None,
    behaviour: Behaviour | None = None,
    *,
    source: str = "detector",
    flood_per_minute: int = 20,
    extra_scores: Mapping[str, float] | None = None,
    extra_evidence: Mapping[str, Iterable[str]] | None = None,
    now: datetime | None = None,
) -> AbuseReview | None:
    """Put what was found for this texter in the review queue (inside the caller's transaction).

    Nothing is recorded when no class reaches FOUND and the behaviour is unremarkable (so the router may call
    this on every turn). A texter with an open review gets it updated, not a second one."""
    now = now or utcnow()
    scores = {c: s for c, s in combined_scores(signals, behaviour, flood_per_minute).items() if s >= FOUND}
    for c, s in (extra_scores or {}).items():
        scores[c] = max(s, scores.get(c, 0.0))
    evidence: dict[str, list[str]] = {c: list(signals.quotes(c)) for c in scores if signals and signals.quotes(c)}
    if extra_evidence:
        evidence = _merge_quotes(evidence, extra_evidence)
    figures: dict = {}
    if behaviour is not None:
        lines = behaviour.evidence(flood_per_minute)
        if lines:
            evidence = _merge_quotes(evidence, {"behaviour": lines})
        figures = behaviour.to_dict()
    returning = bool(behaviour and behaviour.returning)
    if not scores and not returning:
        return None
    review = await session.scalar(
        select(AbuseReview).where(AbuseReview.texter_id == texter_id, AbuseReview.status == "open")
        .order_by(AbuseReview.id.desc()).limit(1)
    )
    if review is None:
        review = AbuseReview(texter_id=texter_id, conversation_id=conversation_id, message_id=message_id,
                             status="open", sources=[source], scores=scores, evidence=evidence, behaviour=figures,
                             hits=1, created_at=now, updated_at=now)
        review.priority = priority(scores, returning=returning)
        session.add(review)
        await session.flush()
        session.add(AuditEvent(kind="abuse_flagged", conversation_id=conversation_id, created_at=now,
                               data={"review": review.id, "source": source,
                                     "classes": {c: round(s, 2) for c, s in scores.items()}}))
        return review
    merged = dict(review.scores or {})
    for c, s in scores.items():
        merged[c] = max(s, merged.get(c, 0.0))
    review.scores = merged
    review.evidence = _merge_quotes(review.evidence or {}, evidence)
    if figures:
        old = review.behaviour or {}
        review.behaviour = {k: max(v, old.get(k, v)) if isinstance(v, int) and not isinstance(v, bool) else v
                            for k, v in figures.items()}
    if source not in (review.sources or []):
        review.sources = [*(review.sources or []), source]
    review.hits = (review.hits or 1) + 1
    review.conversation_id = conversation_id or review.conversation_id
    review.message_id = message_id or review.message_id
    review.priority = priority(merged, returning=returning or bool((review.behaviour or {}).get("abusive_closes")),
                               hits=review.hits)
    review.updated_at = now
    return review


# ---- the queue ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """One row of the review queue as a supervisor sees it."""

    id: int
    texter_id: int
    texter: str                      # short keyed-hash reference, never the number
    conversation_id: str | None
    status: str
    sources: tuple[str, ...]
    scores: dict[str, float]
    evidence: dict[str, list[str]]
    behaviour: dict
    priority: float
    hits: int
    created_at: datetime
    updated_at: datetime
    block: BlockStatus = field(default_factory=lambda: blocks.NOT_BLOCKED)

    @property
    def top_class(self) -> str:
        return max(self.scores, key=lambda c: self.scores[c] * severity_of(c)) if self.scores else "behaviour"


async def pending(session: AsyncSession, *, now: datetime | None = None, limit: int = 100) -> list[ReviewItem]:
    """Open reviews, most likely x most severe first (then oldest)."""
    now = now or utcnow()
    rows = await session.execute(
        select(AbuseReview, Texter.phone_hash).join(Texter, Texter.id == AbuseReview.texter_id)
        .where(AbuseReview.status == "open")
        .order_by(AbuseReview.priority.desc(), AbuseReview.created_at, AbuseReview.id).limit(limit)
    )
    items = []
    for r, phone_hash in rows:
        items.append(ReviewItem(
            id=r.id, texter_id=r.texter_id, texter=texter_ref(phone_hash), conversation_id=r.conversation_id,
            status=r.status, sources=tuple(r.sources or ()), scores=dict(r.scores or {}),
            evidence={k: list(v) for k, v in (r.evidence or {}).items()}, behaviour=dict(r.behaviour or {}),
            priority=r.priority, hits=r.hits, created_at=r.created_at, updated_at=r.updated_at,
            block=await blocks.status(session, r.texter_id, now),
        ))
    return items


async def _open_review(session: AsyncSession, review_id: int) -> AbuseReview:
    review = await session.get(AbuseReview, review_id)
    if review is None:
        raise ReviewError("No such review.")
    if review.status != "open":
        raise ReviewError(f"This review was already decided ({review.status}).")
    return review


def _decide(session: AsyncSession, review: AbuseReview, status: str, user_id: int | None, now: datetime,
            reason: str = "", **data: object) -> None:
    review.status = status
    review.decided_by = user_id
    review.decided_at = now
    review.decision_reason = reason[:200] or None
    session.add(AuditEvent(kind=f"abuse_{status}", conversation_id=review.conversation_id, user_id=user_id,
                           created_at=now, data={"review": review.id, **data}))


async def dismiss(db: Database, review_id: int, user_id: int | None, *, reason: str = "",
                  now: datetime | None = None) -> None:
    """Not abuse: close the review (counts against the detector's precision)."""
    now = now or utcnow()
    async with db.transaction() as s:
        _decide(s, await _open_review(s, review_id), "dismissed", user_id, now, reason)


async def warn(db: Database, review_id: int, user_id: int | None, *, now: datetime | None = None) -> None:
    """Send the templated warning text (through the outbox, in the same transaction) and close the review."""
    now = now or utcnow()
    async with db.transaction() as s:
        review = await _open_review(s, review_id)
        texter = await s.get(Texter, review.texter_id)
        if texter is None or texter.opted_out:
            raise ReviewError("The texter opted out (STOP): nothing can be sent.")
        await outbox.enqueue(s, texter_id=review.texter_id, conversation_id=review.conversation_id,
                             body=WARNING_TEXT, author="system")
        _decide(s, review, "warned", user_id, now)


async def block(db: Database, review_id: int, user_id: int | None, *, duration: str, reason: str,
                now: datetime | None = None) -> None:
    """Block the texter for 24h, 30d or permanently, with a reason, and close the review."""
    now = now or utcnow()
    duration = blocks.parse_duration(duration)
    if not reason.strip():
        raise ValueError("Give a reason for the block.")
    async with db.transaction() as s:
        review = await _open_review(s, review_id)
        await blocks.block(s, review.texter_id, duration=duration, reason=reason.strip(), by_user_id=user_id,
                           now=now, conversation_id=review.conversation_id)
        _decide(s, review, "blocked", user_id, now, reason.strip(), duration=duration)


async def unblock(db: Database, texter_id: int, user_id: int | None, *, now: datetime | None = None) -> bool:
    async with db.transaction() as s:
        return await blocks.unblock(s, texter_id, by_user_id=user_id, now=now)


# ---- counselors --------------------------------------------------------------------------------------------------


async def flag_conversation(db: Database, conv_id: str, user_id: int | None, label: str,
                            predicted: Mapping[str, float] | None = None, *,
                            now: datetime | None = None) -> AbuseFlag:
    """A counselor flags a conversation as abusive, prank or spam: kept as a label, and the texter is reviewed."""
    if label not in FLAG_LABELS:
        raise ValueError("Flag as abusive, prank or spam.")
    now = now or utcnow()
    async with db.transaction() as s:
        conv = await s.get(Conversation, conv_id)
        if conv is None:
            raise ReviewError("No such conversation.")
        flag = AbuseFlag(conversation_id=conv_id, texter_id=conv.texter_id, user_id=user_id, label=label,
                         predicted=dict(predicted or {}), created_at=now)
        s.add(flag)
        await record(s, conv.texter_id, conv_id, None, None, source="counselor_flag", now=now,
                     extra_scores={FLAG_LABELS[label]: COUNSELOR_LIKELIHOOD},
                     extra_evidence={FLAG_LABELS[label]: ["flagged by a counselor"]})
        s.add(AuditEvent(kind="abuse_flag", conversation_id=conv_id, user_id=user_id, created_at=now,
                         data={"label": label}))
        await s.flush()
        return flag


async def end_abusive(db: Database, conv_id: str, user_id: int, *, expect_counselor: int | None,
                      now: datetime | None = None) -> Conversation:
    """The counselor's one action: close with reason "abuse" (the queue's own close), send the line's closing
    text, and put the number in the review queue."""
    now = now or utcnow()
    async with db.transaction() as s:
        query = select(Conversation).where(Conversation.id == conv_id)
        if db.postgres:
            query = query.with_for_update(of=Conversation)
        conv = await s.scalar(query)
        if conv is None:
            raise queue.NotAvailable("No such conversation.")
        if expect_counselor is not None and conv.counselor_id != expect_counselor:
            raise queue.NotAvailable("This conversation was transferred to someone else.")
        await queue.close(s, conv, CloseReason.ABUSE, by_user_id=user_id)
        texter = await s.get(Texter, conv.texter_id)
        if texter is not None and not texter.opted_out:
            await outbox.enqueue(s, texter_id=conv.texter_id, conversation_id=conv.id, body=CLOSING_TEXT,
                                 author="system")
        s.add(AbuseFlag(conversation_id=conv.id, texter_id=conv.texter_id, user_id=user_id, label="abusive",
                        predicted={}, created_at=now))
        await record(s, conv.texter_id, conv.id, None, None, source="counselor_end", now=now,
                     extra_scores={"abusive": COUNSELOR_LIKELIHOOD},
                     extra_evidence={"abusive": ["conversation ended as abusive by a counselor"]})
    return conv


# ---- figures -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Flags per class, reviews, blocks, and the precision of flags as confirmed by supervisors."""

    flags: dict[str, int]                 # reviews per class found (detector, behaviour or counselor)
    counselor_flags: dict[str, int]       # counselors' flags per label
    reviews: dict[str, int]               # per status
    blocks_active: dict[str, int]         # 24h / 30d / permanent
    blocks_total: int
    confirmed: dict[str, int]             # per class: warned or blocked
    decided: dict[str, int]               # per class: warned, blocked or dismissed

    @property
    def precision(self) -> dict[str, float | None]:
        return {c: (self.confirmed.get(c, 0) / n if n else None) for c, n in self.decided.items()}

    @property
    def overall_precision(self) -> float | None:
        n = sum(self.decided.values())
        return sum(self.confirmed.values()) / n if n else None


async def figures(session: AsyncSession, now: datetime | None = None) -> Figures:
    now = now or utcnow()
    flags: dict[str, int] = {c: 0 for c in (*CLASSES, "abusive")}
    confirmed: dict[str, int] = {}
    decided: dict[str, int] = {}
    reviews = dict.fromkeys(STATUSES, 0)
    for status, scores in await session.execute(select(AbuseReview.status, AbuseReview.scores)):
        reviews[status] = reviews.get(status, 0) + 1
        for cls, s in (scores or {}).items():
            if s < FOUND:
                continue
            flags[cls] = flags.get(cls, 0) + 1
            if status != "open":
                decided[cls] = decided.get(cls, 0) + 1
                if status in ("warned", "blocked"):
                    confirmed[cls] = confirmed.get(cls, 0) + 1
    counselor = {label: 0 for label in FLAG_LABELS}
    for label, n in await session.execute(select(AbuseFlag.label, func.count()).group_by(AbuseFlag.label)):
        counselor[label] = n
    active = {"24h": 0, "30d": 0, "permanent": 0}
    for b in await blocks.active_blocks(session, now):
        if b.until is None:
            active["permanent"] += 1
        elif b.until - now > blocks.DURATIONS["24h"]:  # type: ignore[operator]
            active["30d"] += 1
        else:
            active["24h"] += 1
    total = int(await session.scalar(select(func.count()).select_from(AbuseBlock)) or 0)
    return Figures(flags, counselor, reviews, active, total, confirmed, decided)
