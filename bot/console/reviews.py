"""What the rater-quality pages show and do: the agreement overview with its adjudication list, a random closed
conversation for a blind review (the counselor's label hidden until the review is saved), and settling a
disagreement. The labels themselves are changed only through bot.learning.labels."""

from __future__ import annotations

from dataclasses import dataclass

from bot.console.auth import can_supervise
from bot.console.views import ConversationView, conversation_view
from bot.learning import labels, quality
from bot.store.db import Database
from bot.store.models import User


class NotAllowed(PermissionError):
    """Only supervisors and admins review and settle."""


def _check(user: User) -> None:
    if not can_supervise(user.role):
        raise NotAllowed("Only supervisors review labels.")


async def overview(db: Database) -> quality.QualityReport:
    return await quality.quality_report(db)


async def next_review(db: Database, user: User) -> str | None:
    _check(user)
    return await quality.next_for_review(db, user.id)


@dataclass
class ReviewPage:
    """A conversation to review. ``revealed`` (the counselor's label and this reviewer's) only once the reviewer
    has saved a review: before that the page carries no trace of the counselor's label."""

    c: ConversationView
    mine: str | None = None
    counselor_level: str | None = None
    adjudicated: str | None = None
    own_report: bool = False

    @property
    def revealed(self) -> bool:
        return self.mine is not None


async def review_page(db: Database, user: User, conv_id: str) -> ReviewPage:
    _check(user)
    view = await conversation_view(db, user, conv_id)
    async with db.session() as s:
        report = await labels.report_label(s, conv_id)
        mine = await labels.review_by(s, conv_id, user.id)
    if report is None:
        raise labels.LabelError("This conversation has no counselor label to review.")
    page = ReviewPage(view, own_report=report.labeller_id == user.id)
    if mine is not None:
        page.mine = mine.level
        page.counselor_level = report.level
    return page


async def save_review(db: Database, user: User, conv_id: str, level: str) -> None:
    _check(user)
    await labels.record_review(db, conv_id, user.id, level)


async def settle(db: Database, user: User, conv_id: str, level: str) -> None:
    _check(user)
    await labels.settle(db, conv_id, user.id, level)
