"""The supervisors' insights page (with a CSV of its aggregates) and the experiments page: thin handlers over
``bot.insights.figures`` and ``bot.experiments``; supervisors and admins only."""

from __future__ import annotations

import csv
import io
import warnings
from datetime import date, datetime, timedelta

from aiohttp import web

from bot.console.guard import supervisors
from bot.console.render import render
from bot.insights import charts, figures
from bot.services import SERVICES
from bot.store.models import utcnow

DEFAULT_DAYS = 7
MAX_DAYS = 366


def date_range(query: dict | web.Request, today: date | None = None) -> tuple[date, date]:
    """The page's inclusive day range from ``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (default: the last 7 days)."""
    q = query.query if isinstance(query, web.Request) else query
    today = today or utcnow().date()
    try:
        end = date.fromisoformat(str(q.get("to"))) if q.get("to") else today
        start = date.fromisoformat(str(q.get("from"))) if q.get("from") else end - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise web.HTTPBadRequest(text="Dates are YYYY-MM-DD.") from None
    if start > end:
        start, end = end, start
    if (end - start).days >= MAX_DAYS:
        start = end - timedelta(days=MAX_DAYS - 1)
    return start, end


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, datetime.min.time()), datetime.combine(end + timedelta(days=1), datetime.min.time())


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def secs(v: float | None) -> str:
    if v is None:
        return "—"
    s = round(v)
    return f"{s}s" if s < 60 else f"{s // 60}m {s % 60:02d}s"


def insight_charts(ins: figures.Insights) -> dict[str, object]:
    w = [lw for lw in ins.waits.by_level if lw.queued]
    return {
        "wait_p50": charts.bars("Median wait to first counselor reply, by urgency",
                                [(lw.level, lw.p50) for lw in w], fmt=secs, css=[f"bar-{lw.level}" for lw in w],
                                marker=figures.SERVED_TARGET_SECONDS, marker_label="5 min"),
        "served": charts.bars("Share served within 5 minutes, by urgency",
                              [(lw.level, lw.share_within_target) for lw in w], fmt=pct, max_value=1.0,
                              css=[f"bar-{lw.level}" for lw in w]),
        "drop_off": charts.bars("Where texters left the intake",
                                [(figures.QUESTION_LABELS.get(q, q), n) for q, n in ins.intake.drop_off.items()],
                                fmt=lambda v: f"{v:.0f}"),
        "reasons": charts.bars("How intakes ended", [(k, v) for k, v in sorted(ins.intake.reasons.items())],
                               fmt=lambda v: f"{v:.0f}"),
        "scores": charts.bars("Survey: did the conversation help? (1-5)",
                              [(str(k), v) for k, v in ins.surveys.scores.items()], fmt=lambda v: f"{v:.0f}"),
    }


@supervisors
async def insights(request: web.Request) -> web.StreamResponse:
    start, end = date_range(request)
    ins = await figures.insights(request.app[SERVICES].db, *bounds(start, end))
    return render(request, "insights.html", ins=ins, start=start, end=end, charts=insight_charts(ins), pct=pct,
                  secs=secs, labels=figures.QUESTION_LABELS, active_nav="insights")


@supervisors
async def insights_csv(request: web.Request) -> web.StreamResponse:
    start, end = date_range(request)
    ins = await figures.insights(request.app[SERVICES].db, *bounds(start, end))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "measure", "value"])
    writer.writerows(figures.csv_rows(ins))
    return web.Response(
        text=out.getvalue(), content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="insights-{start}-{end}.csv"'},
    )


@supervisors
async def experiments(request: web.Request) -> web.StreamResponse:
    warnings.simplefilter("ignore", FutureWarning)
    from bot.experiments import config
    from bot.experiments.report import analysis_for, format_value

    gw = request.app[SERVICES]
    error = ""
    try:
        declared = config.load(gw.settings.experiments_file)
    except config.ExperimentError as exc:
        declared, error = [], str(exc)
    now = utcnow()
    items = []
    for exp in declared:
        a = await analysis_for(gw.db, exp, now)
        forest = {m: charts.interval(
            f"{m}: effect of each variant against {exp.control}, with 95% CI",
            [(f"{c.variant} vs {exp.control}", c.effect, c.ci_low, c.ci_high) for c in a.comparisons if c.metric == m],
            fmt=(lambda v, m=m: format_effect(v, m))) for m in exp.metrics}
        items.append({"exp": exp, "a": a, "forest": forest})
    return render(request, "experiments.html", items=items, error=error, format_value=format_value,
                  format_effect=format_effect, labels=figures.QUESTION_LABELS, active_nav="experiments")


def format_effect(v: float | None, metric: str) -> str:
    if v is None:
        return "—"
    if metric in ("completion", "agreement"):
        return f"{v * 100:+.1f} pts"
    if metric == "time_to_handoff":
        return f"{v:+.0f} s"
    return f"{v:+.2f}"
