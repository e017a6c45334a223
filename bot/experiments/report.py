"""An experiment's outcomes read from the store, its guard-rail looks (which stop a harmful variant) and its report
as text for ``python -m bot experiments report``.

A conversation counts ("settles") once it left the intake, or once it has been in the intake ``settle_minutes``
(then it dropped off). Outcomes per conversation: intake completed; seconds from the first text to the queue;
where it dropped off; the texter's 1-5 survey score; whether the counselor's confirmed risk level equals the
triage's level.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from bot.experiments.assign import stopped_variants
from bot.experiments.config import Experiment
from bot.experiments.stats import Analysis, Unit, analyze, guardrail_decision, look_sizes
from bot.insights.figures import QUESTION_LABELS, _last_bot_texts, confirmed_level, drop_off_point
from bot.store.db import Database
from bot.store.models import Conversation, ExperimentAssignment, ExperimentLook, Survey


def _settled(exp: Experiment, now: datetime):  # type: ignore[no-untyped-def]
    settle = now - timedelta(minutes=exp.settle_minutes)
    return or_(Conversation.state != "intake", and_(Conversation.created_at <= settle))


async def settled_counts(db: Database, exp: Experiment, now: datetime) -> dict[str, int]:
    """Settled conversations per variant (one cheap query: the periodic guard-rail check starts with it)."""
    async with db.session() as s:
        rows = await s.execute(
            select(ExperimentAssignment.variant, func.count())
            .join(Conversation, Conversation.id == ExperimentAssignment.conversation_id)
            .where(ExperimentAssignment.experiment == exp.name, _settled(exp, now))
            .group_by(ExperimentAssignment.variant)
        )
        return {variant: int(n) for variant, n in rows}


async def units_for(db: Database, exp: Experiment, now: datetime) -> list[Unit]:
    """Every settled conversation of the experiment, in assignment order, with its outcomes."""
    async with db.session() as s:
        rows = list(await s.execute(
            select(ExperimentAssignment.variant, Conversation.id, Conversation.state, Conversation.created_at,
                   Conversation.queued_at, Conversation.intake_complete, Conversation.handoff_reason,
                   Conversation.context, Conversation.report, Conversation.urgency_level, Survey.score)
            .join(Conversation, Conversation.id == ExperimentAssignment.conversation_id)
            .outerjoin(Survey, Survey.conversation_id == Conversation.id)
            .where(ExperimentAssignment.experiment == exp.name, _settled(exp, now))
            .order_by(ExperimentAssignment.assigned_at, ExperimentAssignment.conversation_id)
        ))
    last_bot = await _last_bot_texts(db, [r.id for r in rows if not r.handoff_reason and not r.intake_complete])
    units = []
    for r in rows:
        confirmed = confirmed_level(r.report)
        units.append(Unit(
            variant=r.variant,
            completed=bool(r.intake_complete),
            time_to_handoff=(r.queued_at - r.created_at).total_seconds() if r.queued_at else None,
            drop_off=drop_off_point(r, last_bot.get(r.id)),
            survey_score=r.score,
            agreement=None if confirmed is None else confirmed == r.urgency_level,
        ))
    return units


async def analysis_for(db: Database, exp: Experiment, now: datetime) -> Analysis:
    async with db.session() as s:
        stopped = sorted(await stopped_variants(s, exp.name))
    return analyze(exp, await units_for(db, exp, now), stopped)


async def check_guardrails(db: Database, experiments: Sequence[Experiment], now: datetime) -> list[tuple[str, str]]:
    """Evaluate every planned guard-rail look that the data has reached and that nobody evaluated yet; stop the
    variants found significantly worse. Returns (experiment, variant) pairs stopped now. Safe to run from several
    gateways: a look is a row with a primary key, written once."""
    stopped_now = []
    for exp in experiments:
        async with db.session() as s:
            done = set(await s.scalars(select(ExperimentLook.look).where(ExperimentLook.experiment == exp.name)))
            stopped = await stopped_variants(s, exp.name)
        units: list[Unit] | None = None
        counts: dict[str, int] | None = None
        for look, size in enumerate(look_sizes(exp), start=1):
            if look in done:
                continue
            live = [v.name for v in exp.variants if v.name not in stopped]
            counts = counts if counts is not None else await settled_counts(db, exp, now)
            if len(live) < 2 or any(counts.get(name, 0) < size for name in live):
                break  # the looks come in order: a later one cannot be reached before this one
            units = units if units is not None else await units_for(db, exp, now)
            stop, result = guardrail_decision(exp, units, size, live)
            try:
                async with db.transaction() as s:
                    s.add(ExperimentLook(experiment=exp.name, look=look, evaluated_at=now, stopped=stop,
                                         result={"size": size, "alpha": exp.guardrail.alpha_per_look, "p": result}))
            except IntegrityError:
                break  # another gateway evaluated it
            stopped |= set(stop)
            stopped_now += [(exp.name, v) for v in stop]
    return stopped_now


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _num(v: float | None, metric: str) -> str:
    if v is None:
        return "-"
    if metric in ("completion", "agreement"):
        return f"{v * 100:+.1f} pts" if abs(v) <= 1 else f"{v:.3f}"
    if metric == "time_to_handoff":
        return f"{v:+.0f} s"
    return f"{v:+.2f}"


def format_value(v: float | None, metric: str) -> str:
    if v is None:
        return "-"
    if metric in ("completion", "agreement"):
        return _pct(v)
    if metric == "time_to_handoff":
        return f"{v:.0f} s"
    return f"{v:.2f}"


def format_report(exp: Experiment, a: Analysis) -> str:
    """The plain-text report (the console page shows the same numbers)."""
    lines = [f"Experiment {exp.name}: {exp.description}".rstrip(": "),
             f"Varies: {', '.join(exp.responses)} (slot {exp.slot}); control: {exp.control}",
             "Stopping rule: fixed horizon of "
             f"{exp.horizon} settled conversations per variant; no early decision (guard rail only: "
             f"{exp.guardrail.looks} planned looks, one-sided alpha {exp.guardrail.alpha:g} split evenly).",
             "Arms: " + ", ".join(f"{v.name} n={a.counts[v.name]} (weight {v.weight:g})"
                                  + (" STOPPED by guard rail" if v.name in a.stopped else "") for v in exp.variants),
             "Sample ratio: " + ("-" if a.srm_p is None else f"chi-square p={a.srm_p:.4f}")
             + (" MISMATCH: check assignment before reading anything else" if a.srm_flag else " ok")]
    if a.horizon_reached:
        lines.append(f"Horizon reached: VERDICT on the first {exp.horizon} conversations of each arm "
                     f"(Holm-corrected across metrics, alpha {exp.alpha:g}).")
    else:
        lines.append("INTERIM: the horizon is not reached; these numbers are not a decision.")
    for c in a.comparisons:
        verdict = ""
        if a.horizon_reached and c.p_holm is not None:
            verdict = "  -> significant" if c.significant else "  -> no significant difference"
        ci = "-" if c.ci_low is None else f"[{_num(c.ci_low, c.metric)}, {_num(c.ci_high, c.metric)}]"
        p = "-" if c.p_value is None else f"p={c.p_value:.4f} holm={c.p_holm:.4f}"
        need = "" if c.still_needed is None else f"; {c.still_needed} more per arm for MDE {exp.mde[c.metric]:g}"
        lines.append(
            f"  {c.variant} vs {exp.control} {c.metric}: {format_value(c.value, c.metric)} vs "
            f"{format_value(c.control_value, c.metric)} (n {c.n}/{c.n_control}); effect "
            f"{_num(c.effect, c.metric)} 95% CI {ci}; {p} [{c.test}]{need}{verdict}"
        )
    for variant, drops in a.drop_off.items():
        lines.append(f"  drop-off {variant}: " + ", ".join(f"{QUESTION_LABELS.get(q, q)} {n}"
                                                            for q, n in sorted(drops.items(), key=lambda x: -x[1])))
    return "\n".join(lines)
