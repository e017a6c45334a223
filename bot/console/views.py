"""What the console pages show, read from the store with one query per list (no N+1): the queue and the
counselor's own conversations, one conversation with its transcript and history, and the supervisor overview."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from bot.console.auth import can_supervise
from bot.console.report import Report, Turn, predict
from bot.console.sparkline import RiskPoint, trajectory
from bot.handoff.context import AGE_LABELS, HANDOFF_REASONS, SCREENER_KEYS, SCREENER_LABELS, answer_to_bool
from bot.handoff.queue import AgingRule, rank
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import AuditEvent, Conversation, Message, Texter, User, utcnow
from bot.triage import LEVELS
from bot.triage.referrals import NEED_LABELS

RECENT_CLOSED = timedelta(hours=12)
ALERT_KINDS = ("alert", "delivery_failed", "opted_out")
CLOSED_REASONS = {
    "counselor": "closed by the counselor",
    "opted_out": "texter opted out",
    "idle": "closed after silence",
}


_LEVEL_PREFIX = re.compile(r"^(IMMINENT|HIGH|MODERATE|LOW|NONE) \(\d+\)\.\s*")


def short_summary(summary: str | None) -> str:
    """The handoff summary without its leading "LEVEL (score)." (the badge beside it says that already)."""
    return _LEVEL_PREFIX.sub("", summary or "")


def texter_ref(phone_hash: str | None) -> str:
    """A short, stable reference to a texter from the keyed hash (never the number)."""
    return "t-" + (phone_hash or "")[:8]


@dataclass(frozen=True)
class WaitPolicy:
    """When a wait turns amber ("long") and red ("over target"), per urgency level, in seconds."""

    over: Mapping[str, int]

    @classmethod
    def from_settings(cls, settings: Settings) -> WaitPolicy:
        return cls(
            over={
                "imminent": settings.alert_imminent_wait_seconds,
                "high": settings.alert_high_wait_seconds,
                "moderate": max(settings.alert_high_wait_seconds * 3, 600),
                "low": max(settings.alert_high_wait_seconds * 6, 1800),
                "none": max(settings.alert_high_wait_seconds * 6, 1800),
            }
        )

    def limits(self, level: str) -> tuple[int, int]:
        over = self.over.get(level, self.over["none"])
        return over // 2, over

    def css(self, level: str, seconds: int) -> str:
        long_, over = self.limits(level)
        return "over" if seconds >= over else "long" if seconds >= long_ else "ok"


@dataclass
class Row:
    """One conversation in a list (queue, mine, supervisor): no transcript, no context beyond the summary."""

    id: str
    state: str
    level: str
    score: int
    reasons: list[str]
    needs: list[str]
    summary: str
    handoff_reason: str | None
    queued_at: datetime | None
    claimed_at: datetime | None
    closed_at: datetime | None
    closed_reason: str | None
    counselor_id: int | None
    counselor_name: str | None
    last_inbound_at: datetime | None
    alerted: bool
    report_filed: bool
    opted_out: bool
    texter: str
    waited: int = 0  # seconds in the queue (waiting) or since the claim (active)
    wait_css: str = "ok"
    wait_long: int = 0
    wait_over: int = 0
    position: int | None = None

    @property
    def urgency_level(self) -> str:  # the names AgingRule.priority reads
        return self.level

    @property
    def urgency_score(self) -> int:
        return self.score

    @property
    def reason_label(self) -> str:
        return HANDOFF_REASONS.get(self.handoff_reason or "", self.handoff_reason or "")


def _row_query() -> Select:
    """The columns a list needs, with the texter's opt-out and the counselor's name joined in."""
    counselor = aliased(User)
    return (
        select(
            Conversation.id,
            Conversation.state,
            Conversation.urgency_level,
            Conversation.urgency_score,
            Conversation.urgency_reasons,
            Conversation.needs,
            Conversation.context["summary"].as_string().label("summary"),
            Conversation.handoff_reason,
            Conversation.queued_at,
            Conversation.claimed_at,
            Conversation.closed_at,
            Conversation.closed_reason,
            Conversation.counselor_id,
            counselor.display_name.label("counselor_name"),
            Conversation.last_inbound_at,
            Conversation.alerted_at,
            Conversation.report["confirmed"].as_string().label("confirmed"),
            Texter.opted_out,
            Texter.phone_hash,
        )
        .join(Texter, Texter.id == Conversation.texter_id)
        .outerjoin(counselor, counselor.id == Conversation.counselor_id)
    )


def _to_row(r: Any, now: datetime, waits: WaitPolicy) -> Row:
    row = Row(
        id=r.id,
        state=r.state,
        level=r.urgency_level or "none",
        score=r.urgency_score or 0,
        reasons=list(r.urgency_reasons or []),
        needs=list(r.needs or []),
        summary=short_summary(r.summary),
        handoff_reason=r.handoff_reason,
        queued_at=r.queued_at,
        claimed_at=r.claimed_at,
        closed_at=r.closed_at,
        closed_reason=r.closed_reason,
        counselor_id=r.counselor_id,
        counselor_name=r.counselor_name,
        last_inbound_at=r.last_inbound_at,
        alerted=r.alerted_at is not None,
        report_filed=r.confirmed not in (None, "", "null"),
        opted_out=bool(r.opted_out),
        texter=texter_ref(r.phone_hash),
    )
    since = row.queued_at if row.state == "waiting" else row.claimed_at
    row.waited = max(0, int((now - since).total_seconds())) if since else 0
    if row.state == "waiting":
        row.wait_long, row.wait_over = waits.limits(row.level)
        row.wait_css = waits.css(row.level, row.waited)
    return row


def _ranked_waiting(rows: Sequence[Row], rule: AgingRule, now: datetime) -> list[Row]:
    waiting = rank([r for r in rows if r.state == "waiting"], rule, now)  # Row quacks like a Conversation here
    for i, r in enumerate(waiting, start=1):
        r.position = i
    return waiting


@dataclass
class QueuePage:
    waiting: list[Row]
    mine: list[Row]
    recent: list[Row]
    active_count: int
    limit: int
    by_level: dict[str, int]

    @property
    def at_limit(self) -> bool:
        return self.active_count >= self.limit


async def queue_page(
    db: Database, user: User, *, limit: int, rule: AgingRule, waits: WaitPolicy
) -> QueuePage:
    """The queue (everyone waiting, ranked) and the user's own active and recently closed conversations."""
    now = utcnow()
    mine_filter = and_(
        Conversation.counselor_id == user.id,
        or_(
            Conversation.state == "active",
            and_(Conversation.state == "closed", Conversation.closed_at >= now - RECENT_CLOSED),
        ),
    )
    query = _row_query().where(or_(Conversation.state == "waiting", mine_filter))
    async with db.session() as s:
        rows = [_to_row(r, now, waits) for r in await s.execute(query)]
    waiting = _ranked_waiting(rows, rule, now)
    mine = sorted(
        (r for r in rows if r.state == "active" and r.counselor_id == user.id), key=lambda r: r.claimed_at or now
    )
    recent = sorted(
        (r for r in rows if r.state == "closed"), key=lambda r: r.closed_at or now, reverse=True
    )
    return QueuePage(
        waiting=waiting,
        mine=mine,
        recent=recent,
        active_count=len(mine),
        limit=limit,
        by_level=dict(Counter(r.level for r in waiting)),
    )


def queue_json(page: QueuePage) -> dict[str, Any]:
    """The queue page as JSON (for scripts and the live badge): no summaries of other people's conversations."""

    def item(r: Row) -> dict[str, Any]:
        return {
            "conversation_id": r.id,
            "state": r.state,
            "position": r.position,
            "level": r.level,
            "score": r.score,
            "waited_seconds": r.waited,
            "wait": r.wait_css,
            "reasons": r.reasons,
            "needs": r.needs,
        }

    return {
        "waiting": [item(r) for r in page.waiting],
        "mine": [item(r) for r in page.mine],
        "active_count": page.active_count,
        "limit": page.limit,
    }


# --- one conversation -----------------------------------------------------------------------------------------

OUT_STATUS = {
    "pending": "sending",
    "sending": "sending",
    "unknown": "sending (checking)",
    "sent": "sent",
    "local": "sent (local outbox)",
    "delivered": "delivered",
    "failed": "NOT DELIVERED",
    "undelivered": "NOT DELIVERED",
    "held": "held: texter opted out",
}
AUTHORS = {"texter": "Texter", "bot": "Assistant", "counselor": "Counselor", "system": "Automatic text"}


@dataclass
class MessageView:
    id: int
    direction: str
    author: str
    author_label: str
    body: str
    media: str
    status: str
    status_label: str
    failed: bool
    error_code: int | None
    at: datetime


def media_marker(count: int) -> str:
    if count <= 0:
        return ""
    return f"[{count} picture{'s' if count != 1 else ''}]"


def _message_view(m: Any) -> MessageView:
    failed = m.direction == "out" and m.status in ("failed", "undelivered")
    if m.direction == "out":
        label = OUT_STATUS.get(m.status, m.status)
        if failed and m.error_code:
            label += f" (error {m.error_code})"
    else:
        label = "arrived after STOP: not answered" if m.status == "ignored" else ""
    author_label = AUTHORS.get(m.author, m.author)
    if m.author == "counselor" and m.counselor_name:
        author_label = m.counselor_name
    return MessageView(
        id=m.id,
        direction=m.direction,
        author=m.author,
        author_label=author_label,
        body=m.body or "",
        media=media_marker(m.num_media or 0),
        status=m.status,
        status_label=label,
        failed=failed or m.status == "held",
        error_code=m.error_code,
        at=m.created_at,
    )


@dataclass
class HistoryItem:
    id: str
    created_at: datetime
    level: str
    closed_reason: str
    outcome: str | None
    assessed_level: str | None


@dataclass
class ConversationView:
    """Everything the conversation screen shows."""

    id: str
    state: str
    level: str
    score: int
    reasons: list[str]
    needs: list[tuple[str, str]]
    summary: str
    handoff_reason: str
    intake_complete: bool
    topic: str
    safe_now: str
    age: str
    screener: list[tuple[str, str]]
    referrals: list[dict[str, Any]]
    counselor_id: int | None
    counselor_name: str | None
    opted_out: bool
    texter: str
    queued_at: datetime | None
    claimed_at: datetime | None
    closed_reason: str | None
    messages: list[MessageView]
    history: list[HistoryItem]
    predicted: Report
    confirmed: Report | None
    failures: int = 0
    risk: list[RiskPoint] = field(default_factory=list)  # each texter message's own risk, oldest first
    can_reply: bool = False
    can_close: bool = False
    needs_report: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class NotFound(LookupError):
    """No such conversation, or not one this user may see (the two look the same to the user)."""


def can_view(user: User, counselor_id: int | None) -> bool:
    """Supervisors and admins see every conversation; a counselor sees only the ones assigned to them."""
    return can_supervise(user.role) or (counselor_id is not None and counselor_id == user.id)


def _yes_no(value: Any) -> str:
    b = answer_to_bool(value)
    if b is True:
        return "yes"
    if b is False:
        return "no"
    return str(value) if value not in (None, "") else "not asked"


async def conversation_view(db: Database, user: User, conv_id: str) -> ConversationView:
    """The conversation, its transcript (one query) and the texter's earlier conversations (one query)."""
    async with db.session() as s:
        conv = await s.get(Conversation, conv_id)
        if conv is None or not can_view(user, conv.counselor_id):
            raise NotFound(conv_id)
        counselor = aliased(User)
        msgs = list(
            await s.execute(
                select(
                    Message.id,
                    Message.direction,
                    Message.author,
                    Message.body,
                    Message.num_media,
                    Message.status,
                    Message.error_code,
                    Message.created_at,
                    Message.risk_score,
                    Message.risk_level,
                    counselor.display_name.label("counselor_name"),
                )
                .outerjoin(counselor, counselor.id == Message.counselor_id)
                .where(Message.conversation_id == conv_id)
                .order_by(Message.id)
            )
        )
        earlier = list(
            await s.execute(
                select(
                    Conversation.id,
                    Conversation.created_at,
                    Conversation.urgency_level,
                    Conversation.closed_reason,
                    Conversation.report,
                )
                .where(
                    Conversation.texter_id == conv.texter_id,
                    Conversation.id != conv.id,
                    Conversation.created_at <= conv.created_at,
                )
                .order_by(Conversation.created_at.desc())
                .limit(10)
            )
        )
        counselor_name = None
        if conv.counselor_id is not None:
            counselor_name = await s.scalar(select(User.display_name).where(User.id == conv.counselor_id))
    ctx = conv.context or {}
    answers = ctx.get("answers") or {}
    messages = [_message_view(m) for m in msgs]
    claimed = conv.claimed_at
    turns = [
        Turn(author=m.author, body=m.body, after_claim=bool(claimed and m.at >= claimed)) for m in messages
    ]
    predicted = predict(
        ctx, urgency_level=conv.urgency_level, needs=conv.needs or [], turns=turns, opted_out=conv.texter.opted_out
    )
    stored = conv.report or {}
    confirmed = Report.from_dict(stored.get("confirmed"))
    history = []
    for h in earlier:
        rep = Report.from_dict((h.report or {}).get("confirmed"))
        history.append(
            HistoryItem(
                id=h.id,
                created_at=h.created_at,
                level=h.urgency_level,
                closed_reason=CLOSED_REASONS.get(h.closed_reason or "", h.closed_reason or "still open"),
                outcome=rep.outcome if rep else None,
                assessed_level=rep.risk_level if rep else None,
            )
        )
    owner = conv.counselor_id == user.id
    view = ConversationView(
        id=conv.id,
        state=conv.state,
        level=conv.urgency_level,
        score=conv.urgency_score,
        reasons=list(conv.urgency_reasons or []),
        needs=[(n, NEED_LABELS.get(n, n.replace("_", " "))) for n in conv.needs or []],
        summary=short_summary(str(ctx.get("summary") or "")),
        handoff_reason=HANDOFF_REASONS.get(conv.handoff_reason or "", conv.handoff_reason or ""),
        intake_complete=bool(conv.intake_complete),
        topic=str(answers.get("topic") or ""),
        safe_now=_yes_no(answers.get("safe_now")),
        age=AGE_LABELS.get(str(answers.get("age_range") or ""), "unknown"),
        screener=[
            (SCREENER_LABELS[k], _yes_no(answers.get(k, answers.get(f"screen_{k}")))) for k in SCREENER_KEYS
        ],
        referrals=list(ctx.get("referrals") or []),
        counselor_id=conv.counselor_id,
        counselor_name=counselor_name,
        opted_out=bool(conv.texter.opted_out),
        texter=texter_ref(conv.texter.phone_hash),
        queued_at=conv.queued_at,
        claimed_at=conv.claimed_at,
        closed_reason=CLOSED_REASONS.get(conv.closed_reason or "", conv.closed_reason),
        messages=messages,
        history=history,
        predicted=predicted,
        confirmed=confirmed,
        failures=sum(1 for m in messages if m.failed),
        risk=trajectory([m for m in msgs if m.direction == "in" and m.author == "texter"]),
    )
    view.can_reply = owner and conv.state == "active" and not view.opted_out
    view.can_close = owner and conv.state == "active"
    view.needs_report = owner and conv.state == "closed" and confirmed is None
    return view


# --- supervisor overview ----------------------------------------------------------------------------------------


@dataclass
class LevelStats:
    level: str
    waiting: int = 0
    active: int = 0
    longest: int = 0
    median: int = 0
    over: int = 0


@dataclass
class Load:
    user_id: int
    name: str
    role: str
    active: int
    limit: int
    online: bool

    @property
    def full(self) -> bool:
        return self.active >= self.limit


def _loads(users: Sequence[User], active: Mapping[int | None, int], limit_of: Any, online: set[int]) -> list[Load]:
    return [
        Load(u.id, u.display_name or u.username, u.role, active.get(u.id, 0), limit_of(u), u.id in online)
        for u in users
        if u.role != "admin" or active.get(u.id)
    ]


async def counselor_loads(db: Database, *, limit_of: Any, online: set[int]) -> list[Load]:
    """Every active account that takes conversations, with its current number of active ones (two queries)."""
    async with db.session() as s:
        users = list(
            await s.scalars(select(User).where(User.active.is_(True)).order_by(User.display_name, User.username))
        )
        counts = dict(
            (
                await s.execute(
                    select(Conversation.counselor_id, func.count())
                    .where(Conversation.state == "active")
                    .group_by(Conversation.counselor_id)
                )
            ).all()
        )
    return _loads(users, counts, limit_of, online)


@dataclass
class AlertItem:
    kind: str
    conversation_id: str | None
    at: datetime
    level: str | None
    state: str | None
    detail: str


@dataclass
class SupervisorPage:
    waiting: list[Row]
    active: list[Row]
    intake: int
    levels: list[LevelStats]
    loads: list[Load]
    alerts: list[AlertItem]
    overdue: list[Row]


def _alert_detail(kind: str, data: Mapping[str, Any]) -> str:
    if kind == "alert":
        wait = data.get("wait_seconds")
        return f"{data.get('level', '')} risk waiting" + (f" {int(wait) // 60} min" if wait else ", just queued")
    if kind == "delivery_failed":
        return "a text did not reach the texter" + (f" (error {data['error_code']})" if data.get("error_code") else "")
    return "texter opted out (STOP)"


async def supervisor_page(
    db: Database,
    *,
    rule: AgingRule,
    waits: WaitPolicy,
    limit_of: Any,
    online: set[int],
) -> SupervisorPage:
    """The whole queue, waits per level, every counselor's load and recent alerts (three queries)."""
    now = utcnow()
    query = _row_query().where(Conversation.state.in_(("intake", "waiting", "active")))
    async with db.session() as s:
        rows = [_to_row(r, now, waits) for r in await s.execute(query)]
        users = list(
            await s.scalars(select(User).where(User.active.is_(True)).order_by(User.display_name, User.username))
        )
        events = list(
            await s.execute(
                select(AuditEvent.kind, AuditEvent.conversation_id, AuditEvent.created_at, AuditEvent.data,
                       Conversation.urgency_level, Conversation.state)
                .outerjoin(Conversation, Conversation.id == AuditEvent.conversation_id)
                .where(AuditEvent.kind.in_(ALERT_KINDS), AuditEvent.created_at >= now - RECENT_CLOSED)
                .order_by(AuditEvent.id.desc())
                .limit(40)
            )
        )
    waiting = _ranked_waiting(rows, rule, now)
    active = sorted((r for r in rows if r.state == "active"), key=lambda r: (-LEVELS.index(r.level), r.waited))
    levels = []
    for level in reversed(LEVELS):
        waits_here = [r.waited for r in waiting if r.level == level]
        levels.append(
            LevelStats(
                level=level,
                waiting=len(waits_here),
                active=sum(1 for r in active if r.level == level),
                longest=max(waits_here, default=0),
                median=int(statistics.median(waits_here)) if waits_here else 0,
                over=sum(1 for r in waiting if r.level == level and r.wait_css == "over"),
            )
        )
    per_counselor = Counter(r.counselor_id for r in active)
    loads = _loads(users, per_counselor, limit_of, online)
    alerts = [
        AlertItem(
            e.kind, e.conversation_id, e.created_at, e.urgency_level, e.state, _alert_detail(e.kind, e.data or {})
        )
        for e in events
    ]
    overdue = [r for r in waiting if r.level in ("imminent", "high") and r.wait_css == "over"]
    return SupervisorPage(
        waiting=waiting,
        active=active,
        intake=sum(1 for r in rows if r.state == "intake"),
        levels=levels,
        loads=loads,
        alerts=alerts,
        overdue=overdue,
    )
