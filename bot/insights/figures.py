"""Every figure of the supervisors' insights page, computed from the gateway's store by plain query functions.

Scope: conversations *started* in ``[start, end)`` (UTC). Definitions (the page and the CSV say the same):
- wait to first counselor reply = first text written by a counselor - ``queued_at``; percentiles are linear
  interpolation between order statistics (numpy's default); "served within 5 min" counts every queued high /
  imminent conversation in the denominator, answered or not.
- intake completion = ``intake_complete``; drop-off point = the first question still required by the screener's
  skip logic given the answers in the handoff context, or, for a texter who went silent in the intake (still in
  ``intake``), the last question the assistant asked.
- fail-open = handoff reason "fallback"; imminent fast path = handoff reason "imminent".
- triage against counselors = ``urgency_level`` at close vs the level in the counselor's confirmed report.
- counselor time = ``closed_at - claimed_at``. Counselor figures are totals to plan staffing and support
  counselors, listed by name, never ranked.
- referrals: suggested (handoff context) vs given (confirmed report) vs predicted (report prefill from the texts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import yaml
from sqlalchemy import func, select

from bot.intake.questions import next_questions
from bot.learning.quality import Agreement, quality_report
from bot.settings import ROOT
from bot.store.db import Database
from bot.store.models import Conversation, Message, Survey, User
from bot.triage import LEVELS

SERVED_TARGET_SECONDS = 300
URGENT = ("high", "imminent")
QUESTION_ORDER = (
    "topic", "safe_now", "screen_wish_dead", "screen_suicidal_thoughts", "screen_method", "screen_intent",
    "screen_plan", "screen_behavior", "screen_behavior_recent", "age_range",
)
QUESTION_LABELS = {
    "greeting": "before the first question",
    "topic": "what's going on",
    "safe_now": "safe right now?",
    "screen_wish_dead": "screener 1: wished dead",
    "screen_suicidal_thoughts": "screener 2: suicidal thoughts",
    "screen_method": "screener 3: method",
    "screen_intent": "screener 4: intent",
    "screen_plan": "screener 5: plan",
    "screen_behavior": "screener 6: behavior",
    "screen_behavior_recent": "screener 6: past 3 months",
    "age_range": "age",
}


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


@dataclass
class LevelWait:
    level: str
    queued: int
    served: int
    p50: float | None
    p90: float | None
    within_target: int  # served within 5 minutes

    @property
    def share_within_target(self) -> float | None:
        return self.within_target / self.queued if self.queued else None


@dataclass
class Waits:
    by_level: list[LevelWait]
    urgent_queued: int
    urgent_within_target: int
    urgent_missed: list[str]  # conversation ids of high/imminent texters not answered within 5 minutes

    @property
    def urgent_share(self) -> float | None:
        return self.urgent_within_target / self.urgent_queued if self.urgent_queued else None


@dataclass
class Intake:
    started: int
    completed: int
    in_intake: int  # never handed off (still in the intake, or went silent there)
    reasons: dict[str, int]
    drop_off: dict[str, int]  # question -> conversations that stopped there (not completed)

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.started if self.started else None

    @property
    def fail_open(self) -> int:
        return self.reasons.get("fallback", 0)

    @property
    def imminent_fast_path(self) -> int:
        return self.reasons.get("imminent", 0)


@dataclass
class LevelScore:
    level: str
    predicted: int
    confirmed: int
    both: int

    @property
    def precision(self) -> float | None:
        return self.both / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.both / self.confirmed if self.confirmed else None


@dataclass
class Triage:
    reviewed: int
    agreed: int
    by_level: list[LevelScore]
    confusion: dict[str, dict[str, int]]  # predicted -> confirmed -> count

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None


@dataclass
class Surveys:
    sent: int
    answered: int  # a 1-5 score was read
    replied: int  # any answer filed (score or free text)
    crisis: int  # replies that were a call for help: not feedback, a new conversation
    scores: dict[int, int]
    mean: float | None
    helped: int  # 4 or 5
    helped_by_level: dict[str, tuple[int, int]]  # level -> (helped, answered)
    second: dict[str, int]

    @property
    def response_rate(self) -> float | None:
        return self.replied / self.sent if self.sent else None

    @property
    def helped_share(self) -> float | None:
        return self.helped / self.answered if self.answered else None


@dataclass
class CounselorLoad:
    name: str
    conversations: int
    levels: dict[str, int]
    minutes: float  # total counselor time on closed conversations


@dataclass
class Load:
    counselors: list[CounselorLoad]  # alphabetical: support, not a ranking
    time_by_level: dict[str, tuple[int, float | None, float | None]]  # level -> (n, median s, p90 s)


@dataclass
class ReferralUse:
    referral_id: str
    name: str
    suggested: int
    given: int
    added_by_counselor: int  # given, though the prefill had not seen it in the texts
    removed_by_counselor: int  # the prefill saw it in the texts, the counselor did not confirm it


@dataclass
class Referrals:
    reports_with_suggestions: int
    used_any: int
    by_referral: list[ReferralUse]

    @property
    def used_share(self) -> float | None:
        return self.used_any / self.reports_with_suggestions if self.reports_with_suggestions else None


@dataclass
class Insights:
    start: datetime
    end: datetime
    waits: Waits
    intake: Intake
    triage: Triage
    surveys: Surveys
    load: Load
    referrals: Referrals
    rater_agreement: Agreement | None = None  # counselors' reports against supervisors' blind reviews (all time)
    notes: list[str] = field(default_factory=list)


# --- queries -------------------------------------------------------------------------------------------------------


async def _conversations(db: Database, start: datetime, end: datetime) -> list[Any]:
    first_reply = (
        select(func.min(Message.created_at))
        .where(Message.conversation_id == Conversation.id, Message.author == "counselor",
               Message.direction == "out")
        .scalar_subquery()
    )
    async with db.session() as s:
        rows = await s.execute(
            select(
                Conversation.id, Conversation.state, Conversation.urgency_level, Conversation.created_at,
                Conversation.queued_at, Conversation.claimed_at, Conversation.closed_at,
                Conversation.closed_reason, Conversation.handoff_reason, Conversation.intake_complete,
                Conversation.context, Conversation.report, Conversation.counselor_id,
                first_reply.label("first_reply"),
            ).where(Conversation.created_at >= start, Conversation.created_at < end)
            .order_by(Conversation.created_at)
        )
        return list(rows)


def waits_from(rows: Sequence[Any]) -> Waits:
    by_level = []
    urgent_queued = urgent_within = 0
    missed: list[str] = []
    for level in reversed(LEVELS):
        queued = [r for r in rows if r.urgency_level == level and r.queued_at is not None]
        waits = [max(0.0, (r.first_reply - r.queued_at).total_seconds()) for r in queued if r.first_reply]
        within = sum(1 for w in waits if w <= SERVED_TARGET_SECONDS)
        by_level.append(LevelWait(level, len(queued), len(waits), percentile(waits, 50), percentile(waits, 90),
                                  within))
        if level in URGENT:
            urgent_queued += len(queued)
            urgent_within += within
            missed += [r.id for r in queued if r.first_reply is None
                       or (r.first_reply - r.queued_at).total_seconds() > SERVED_TARGET_SECONDS]
    return Waits(by_level, urgent_queued, urgent_within, sorted(missed))


@lru_cache(maxsize=1)
def question_texts() -> dict[str, str]:
    """Every wording of every intake question in domain.yml (all variations) -> its slot."""
    try:
        domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    except OSError:
        return {}
    out = {}
    for name, variations in (domain.get("responses") or {}).items():
        if name.startswith("utter_ask_"):
            for v in variations or []:
                if isinstance(v, dict) and v.get("text"):
                    out[" ".join(str(v["text"]).split())] = name.removeprefix("utter_ask_")
    return out


def drop_off_point(row: Any, last_bot_text: str | None) -> str | None:
    """Where a conversation that did not complete the intake stopped (None when it completed)."""
    if row.intake_complete:
        return None
    if row.handoff_reason:  # left the intake through a handoff: the first required question not answered
        missing = next_questions((row.context or {}).get("answers") or {})
        return missing[0] if missing else "age_range"
    if last_bot_text:
        return question_texts().get(" ".join(last_bot_text.split()), "greeting")
    return "greeting"


async def _last_bot_texts(db: Database, conv_ids: Sequence[str]) -> dict[str, str]:
    if not conv_ids:
        return {}
    last = (
        select(Message.conversation_id, func.max(Message.id).label("mid"))
        .where(Message.conversation_id.in_(list(conv_ids)), Message.author == "bot")
        .group_by(Message.conversation_id)
        .subquery()
    )
    async with db.session() as s:
        rows = await s.execute(select(last.c.conversation_id, Message.body).join(Message, Message.id == last.c.mid))
        return {r.conversation_id: r.body for r in rows}


async def intake_from(db: Database, rows: Sequence[Any]) -> Intake:
    silent = [r.id for r in rows if not r.handoff_reason and not r.intake_complete]
    last_bot = await _last_bot_texts(db, silent)
    drop: Counter[str] = Counter()
    for r in rows:
        point = drop_off_point(r, last_bot.get(r.id))
        if point:
            drop[point] += 1
    order = ["greeting", *QUESTION_ORDER]
    return Intake(
        started=len(rows),
        completed=sum(1 for r in rows if r.intake_complete),
        in_intake=len(silent),
        reasons=dict(Counter(r.handoff_reason for r in rows if r.handoff_reason)),
        drop_off={q: drop[q] for q in order if drop[q]},
    )


def confirmed_level(report: Any) -> str | None:
    level = ((report or {}).get("confirmed") or {}).get("risk_level")
    return level if level in LEVELS else None


def triage_from(rows: Sequence[Any]) -> Triage:
    pairs = [(r.urgency_level, confirmed_level(r.report)) for r in rows]
    pairs = [(p, c) for p, c in pairs if c is not None and p in LEVELS]
    confusion = {p: {c: 0 for c in LEVELS} for p in LEVELS}
    for p, c in pairs:
        confusion[p][c] += 1
    by_level = [
        LevelScore(level, sum(1 for p, _ in pairs if p == level), sum(1 for _, c in pairs if c == level),
                   sum(1 for p, c in pairs if p == c == level))
        for level in reversed(LEVELS)
    ]
    return Triage(len(pairs), sum(1 for p, c in pairs if p == c), by_level, confusion)


async def surveys_for(db: Database, rows: Sequence[Any]) -> Surveys:
    level_of = {r.id: r.urgency_level for r in rows}
    ids = list(level_of)
    found: list[Any] = []
    async with db.session() as s:
        for i in range(0, len(ids), 500):
            found += list(await s.execute(
                select(Survey.conversation_id, Survey.status, Survey.score, Survey.second, Survey.score_text)
                .where(Survey.conversation_id.in_(ids[i:i + 500]))
            ))
    scored = [r for r in found if r.score is not None]
    helped_by_level: dict[str, tuple[int, int]] = {}
    for level in reversed(LEVELS):
        mine = [r for r in scored if level_of.get(r.conversation_id) == level]
        if mine:
            helped_by_level[level] = (sum(1 for r in mine if r.score >= 4), len(mine))
    scores = Counter(r.score for r in scored)
    return Surveys(
        sent=len(found),
        answered=len(scored),
        replied=sum(1 for r in found if r.score_text is not None),
        crisis=sum(1 for r in found if r.status == "crisis"),
        scores={k: scores[k] for k in range(1, 6)},
        mean=float(np.mean([r.score for r in scored])) if scored else None,
        helped=sum(1 for r in scored if r.score >= 4),
        helped_by_level=helped_by_level,
        second=dict(Counter(r.second for r in found if r.second)),
    )


async def load_from(db: Database, rows: Sequence[Any]) -> Load:
    async with db.session() as s:
        names = {u.id: (u.display_name or u.username) for u in await s.scalars(select(User))}
    per: dict[int, CounselorLoad] = {}
    for r in rows:
        if r.counselor_id is None or r.claimed_at is None:
            continue
        c = per.setdefault(r.counselor_id, CounselorLoad(names.get(r.counselor_id, "?"), 0, {}, 0.0))
        c.conversations += 1
        c.levels[r.urgency_level] = c.levels.get(r.urgency_level, 0) + 1
        if r.closed_at is not None:
            c.minutes += (r.closed_at - r.claimed_at).total_seconds() / 60.0
    time_by_level = {}
    for level in reversed(LEVELS):
        spans = [(r.closed_at - r.claimed_at).total_seconds() for r in rows
                 if r.urgency_level == level and r.claimed_at and r.closed_at]
        if spans:
            time_by_level[level] = (len(spans), percentile(spans, 50), percentile(spans, 90))
    return Load(sorted(per.values(), key=lambda c: c.name.lower()), time_by_level)


def referrals_from(rows: Sequence[Any]) -> Referrals:
    uses: dict[str, ReferralUse] = {}
    with_suggestions = used_any = 0
    for r in rows:
        suggested = {x.get("id"): x.get("name") or x.get("id") for x in (r.context or {}).get("referrals") or []
                     if x.get("id")}
        report = r.report or {}
        confirmed = report.get("confirmed")
        if not suggested or not confirmed:
            continue
        with_suggestions += 1
        given = set(confirmed.get("referrals_given") or []) & set(suggested)
        predicted = set((report.get("predicted") or {}).get("referrals_given") or []) & set(suggested)
        used_any += bool(given)
        for rid, name in suggested.items():
            u = uses.setdefault(rid, ReferralUse(rid, str(name), 0, 0, 0, 0))
            u.suggested += 1
            u.given += rid in given
            u.added_by_counselor += rid in given and rid not in predicted
            u.removed_by_counselor += rid in predicted and rid not in given
    return Referrals(with_suggestions, used_any, sorted(uses.values(), key=lambda u: (-u.suggested, u.referral_id)))


async def insights(db: Database, start: datetime, end: datetime) -> Insights:
    """Every figure for conversations started in ``[start, end)``."""
    rows = await _conversations(db, start, end)
    return Insights(
        start=start, end=end,
        waits=waits_from(rows),
        intake=await intake_from(db, rows),
        triage=triage_from(rows),
        surveys=await surveys_for(db, rows),
        load=await load_from(db, rows),
        referrals=referrals_from(rows),
        rater_agreement=(await quality_report(db, disagreements_limit=0)).overall,
    )


# --- CSV -----------------------------------------------------------------------------------------------------------


def csv_rows(ins: Insights) -> list[tuple[str, str, str, Any]]:
    """The aggregates as (section, item, measure, value) rows; the only identifiers are conversation ids."""
    out: list[tuple[str, str, str, Any]] = [("range", "start", "utc", ins.start.isoformat()),
                                            ("range", "end", "utc", ins.end.isoformat())]
    for w in ins.waits.by_level:
        out += [("wait", w.level, "queued", w.queued), ("wait", w.level, "served", w.served),
                ("wait", w.level, "p50_seconds", _r(w.p50)), ("wait", w.level, "p90_seconds", _r(w.p90)),
                ("wait", w.level, "within_5_min", w.within_target)]
    out.append(("wait", "high+imminent", "share_within_5_min", _r(ins.waits.urgent_share, 4)))
    if ins.rater_agreement is not None:
        a = ins.rater_agreement
        out += [("raters", "all", "reviewed", a.reviewed), ("raters", "all", "kappa", _r(a.kappa, 4)),
                ("raters", "all", "percent_agreement", _r(a.percent, 2))]
    out += [("wait", "high+imminent", "not_within_5_min", cid) for cid in ins.waits.urgent_missed]
    i = ins.intake
    out += [("intake", "all", "started", i.started), ("intake", "all", "completed", i.completed),
            ("intake", "all", "completion_rate", _r(i.completion_rate, 4)), ("intake", "all", "in_intake", i.in_intake),
            ("intake", "all", "fail_open", i.fail_open), ("intake", "all", "imminent_fast_path", i.imminent_fast_path)]
    out += [("handoff_reason", k, "count", v) for k, v in sorted(i.reasons.items())]
    out += [("drop_off", k, "count", v) for k, v in i.drop_off.items()]
    t = ins.triage
    out += [("triage", "all", "reviewed", t.reviewed), ("triage", "all", "agreement", _r(t.agreement, 4))]
    for ls in t.by_level:
        out += [("triage", ls.level, "precision", _r(ls.precision, 4)),
                ("triage", ls.level, "recall", _r(ls.recall, 4))]
    s = ins.surveys
    out += [("survey", "all", "sent", s.sent), ("survey", "all", "answered", s.answered),
            ("survey", "all", "crisis_replies", s.crisis), ("survey", "all", "mean_score", _r(s.mean, 3)),
            ("survey", "all", "helped_share", _r(s.helped_share, 4))]
    out += [("survey", f"score_{k}", "count", v) for k, v in s.scores.items()]
    for c in ins.load.counselors:
        out += [("counselor", c.name, "conversations", c.conversations),
                ("counselor", c.name, "minutes", _r(c.minutes))]
    for level, (n, med, p90) in ins.load.time_by_level.items():
        out += [("counselor_time", level, "conversations", n), ("counselor_time", level, "median_seconds", _r(med)),
                ("counselor_time", level, "p90_seconds", _r(p90))]
    r = ins.referrals
    out += [("referrals", "all", "reports_with_suggestions", r.reports_with_suggestions),
            ("referrals", "all", "used_any", r.used_any)]
    for u in r.by_referral:
        out += [("referral", u.referral_id, "suggested", u.suggested), ("referral", u.referral_id, "given", u.given),
                ("referral", u.referral_id, "added_by_counselor", u.added_by_counselor),
                ("referral", u.referral_id, "removed_by_counselor", u.removed_by_counselor)]
    return out


def _r(value: float | None, digits: int = 1) -> Any:
    return "" if value is None else round(value, digits)
