"""Rater quality: supervisors' blind reviews against counselors' report labels. Agreement per counselor and
overall (Cohen's kappa, percent agreement, confusion of levels), the disagreements waiting for adjudication, the
random sample of closed conversations to review, and the training weight of each counselor's labels.

Weight rule (documented in the README): a counselor with fewer than MIN_REVIEWS reviewed conversations keeps
weight 1.0 (nothing known yet); otherwise the weight is kappa scaled linearly from KAPPA_FLOOR (weight 0: left out
of training) to KAPPA_GOOD (weight 1.0). A label a reviewer agreed with, or one a supervisor settled, weighs 1.0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from bot.learning.labels import ADJUDICATION, REPORT, REVIEW
from bot.store.db import Database
from bot.store.models import Conversation, Label, User
from bot.triage.levels import LEVELS

MIN_REVIEWS = 5
KAPPA_FLOOR = 0.2
KAPPA_GOOD = 0.6


def label_weight(kappa: float | None, reviewed: int) -> float:
    """The training weight of a counselor's labels from their agreement with supervisors (see the module doc)."""
    if reviewed < MIN_REVIEWS or kappa is None:
        return 1.0
    if kappa < KAPPA_FLOOR:
        return 0.0
    return round(min(1.0, (kappa - KAPPA_FLOOR) / (KAPPA_GOOD - KAPPA_FLOOR)), 3)


def kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa over the five levels; None when undefined (no pairs, or chance agreement is total)."""
    if not first:
        return None
    from sklearn.metrics import cohen_kappa_score

    if len(set(first) | set(second)) == 1:
        return None  # both raters used one and the same level throughout: kappa is 0/0
    value = float(cohen_kappa_score(list(first), list(second), labels=list(LEVELS)))
    return None if math.isnan(value) else value


@dataclass
class Agreement:
    """Agreement of one counselor (or everyone) with the supervisors who reviewed their conversations."""

    name: str
    user_id: int | None
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (counselor's level, reviewer's level)

    @property
    def reviewed(self) -> int:
        return len(self.pairs)

    @property
    def kappa(self) -> float | None:
        return kappa([a for a, _ in self.pairs], [b for _, b in self.pairs])

    @property
    def percent(self) -> float | None:
        return 100.0 * sum(a == b for a, b in self.pairs) / len(self.pairs) if self.pairs else None

    @property
    def confusion(self) -> list[list[int]]:
        """Rows: the counselor's level; columns: the reviewer's level (both in LEVELS order)."""
        grid = [[0] * len(LEVELS) for _ in LEVELS]
        for a, b in self.pairs:
            grid[LEVELS.index(a)][LEVELS.index(b)] += 1
        return grid

    @property
    def weight(self) -> float:
        return label_weight(self.kappa, self.reviewed)


@dataclass
class Disagreement:
    conversation_id: str
    counselor: str
    counselor_level: str
    reviewer: str
    reviewer_level: str


@dataclass
class QualityReport:
    overall: Agreement
    counselors: list[Agreement]
    disagreements: list[Disagreement]
    to_review: int

    def weight_of(self, user_id: int | None) -> float:
        for a in self.counselors:
            if a.user_id == user_id:
                return a.weight
        return 1.0


async def quality_report(db: Database, *, disagreements_limit: int = 50) -> QualityReport:
    """Every (report, review) pair, grouped by counselor, plus unsettled disagreements (three queries)."""
    report, review = aliased(Label), aliased(Label)
    counselor, reviewer = aliased(User), aliased(User)
    adjudication = aliased(Label)
    settled = exists().where(adjudication.conversation_id == report.conversation_id,
                             adjudication.source == ADJUDICATION)
    async with db.session() as s:
        rows = list(await s.execute(
            select(report.conversation_id, report.labeller_id, report.level.label("counselor_level"),
                   review.level.label("reviewer_level"), counselor.display_name, counselor.username,
                   reviewer.display_name.label("reviewer_display"), reviewer.username.label("reviewer_username"),
                   settled.label("settled"))
            .join(review, and_(review.conversation_id == report.conversation_id, review.source == REVIEW))
            .outerjoin(counselor, counselor.id == report.labeller_id)
            .outerjoin(reviewer, reviewer.id == review.labeller_id)
            .where(report.source == REPORT)
            .order_by(review.id)
        ))
        to_review = await s.scalar(select(func.count()).select_from(_reviewable(None).subquery()))
    overall = Agreement("Everyone", None)
    per: dict[int | None, Agreement] = {}
    disagreements: list[Disagreement] = []
    for r in rows:
        name = r.display_name or r.username or "unknown"
        pair = (r.counselor_level, r.reviewer_level)
        overall.pairs.append(pair)
        per.setdefault(r.labeller_id, Agreement(name, r.labeller_id)).pairs.append(pair)
        if pair[0] != pair[1] and not r.settled and len(disagreements) < disagreements_limit:
            disagreements.append(Disagreement(r.conversation_id, name, pair[0],
                                              r.reviewer_display or r.reviewer_username or "unknown", pair[1]))
    counselors = sorted(per.values(), key=lambda a: a.name.lower())
    return QualityReport(overall, counselors, disagreements, int(to_review or 0))


def _reviewable(reviewer_id: int | None):  # type: ignore[no-untyped-def]
    """Closed conversations with a counselor label and no review yet (not the reviewer's own)."""
    review = aliased(Label)
    reviewed = exists().where(review.conversation_id == Conversation.id, review.source == REVIEW)
    query = (
        select(Conversation.id)
        .join(Label, and_(Label.conversation_id == Conversation.id, Label.source == REPORT))
        .where(Conversation.state == "closed", ~reviewed)
    )
    if reviewer_id is not None:
        query = query.where(Label.labeller_id != reviewer_id)
    return query


async def next_for_review(db: Database, reviewer_id: int) -> str | None:
    """A random closed, counselor-labelled conversation nobody reviewed yet (never the reviewer's own)."""
    async with db.session() as s:
        return await s.scalar(_reviewable(reviewer_id).order_by(func.random()).limit(1))


async def counselor_weights(db: Database) -> dict[int | None, float]:
    report = await quality_report(db, disagreements_limit=0)
    return defaultdict(lambda: 1.0, {a.user_id: a.weight for a in report.counselors})
