"""Insight figures against values computed by hand on a seeded store (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.insights import figures
from bot.store.db import Database, migrate
from tests.insights import seeding
from tests.insights.seeding import at

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

R988 = {"id": "r988", "name": "988 Lifeline"}
TEEN = {"id": "teen", "name": "Teen Line"}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Database]:
    migrate(database_url)
    db = Database(database_url, pool_size=2)
    ana = await seeding.counselor(db, "ana")
    ben = await seeding.counselor(db, "ben")
    s = lambda m: timedelta(seconds=m)  # noqa: E731

    async def conv(level: str, minute: float, **kw: object) -> tuple[str, int]:
        t = await seeding.texter(db)
        return await seeding.conversation(db, t, created=at(minute), level=level, **kw), t

    c1, t1 = await conv("imminent", 1, reason="imminent", queued=at(1), first_reply=at(1) + s(60), claimed=at(1.5),
                        closed=at(21.5), counselor_id=ana, report=seeding.report("imminent"),
                        answers={"topic": "x", "safe_now": "no", "screen_wish_dead": "yes",
                                 "screen_suicidal_thoughts": "yes"})
    c2, t2 = await conv("imminent", 2, reason="imminent", queued=at(2), first_reply=at(2) + s(420), claimed=at(3),
                        closed=at(13), counselor_id=ben, report=seeding.report("high"))
    c3, t3 = await conv("high", 3, reason="completed", queued=at(3), first_reply=at(3) + s(120), claimed=at(4),
                        closed=at(34), counselor_id=ana, referrals=[R988, TEEN],
                        report=seeding.report("high", given=["teen"], predicted=["r988"]))
    await conv("high", 4, state="waiting", reason="requested", queued=at(4),
               answers={"topic": "x", "safe_now": "unsure"})
    c5, t5 = await conv("moderate", 5, reason="completed", queued=at(5), first_reply=at(5) + s(600), claimed=at(6),
                        closed=at(21), counselor_id=ben, referrals=[R988],
                        report=seeding.report("moderate", given=["r988"], predicted=["r988"]))
    c6, t6 = await conv("low", 6, reason="fallback", queued=at(6), first_reply=at(6) + s(300), claimed=at(7),
                        closed=at(12), counselor_id=ana, report=seeding.report("moderate"))
    await conv("none", 7, state="intake", reason=None, bot_text="Thanks for sharing that. Are you safe right now?")
    await conv("imminent", -60, reason="imminent", queued=at(-60), first_reply=at(-40))  # before the range
    await seeding.survey(db, c1, t1, score=5, second="yes", sent=at(60))
    await seeding.survey(db, c2, t2, score=None, sent=at(60), status="sent")
    await seeding.survey(db, c3, t3, score=4, sent=at(60))
    await seeding.survey(db, c5, t5, score=2, sent=at(60))
    await seeding.survey(db, c6, t6, score=None, sent=at(60), status="crisis")
    db.ids = {"c2": c2}  # type: ignore[attr-defined]
    yield db
    await db.close()


async def test_figures_match_hand_computed_values(store: Database) -> None:
    ins = await figures.insights(store, at(0), at(24 * 60))
    w = {lw.level: lw for lw in ins.waits.by_level}
    assert (w["imminent"].queued, w["imminent"].served, w["imminent"].within_target) == (2, 2, 1)
    assert w["imminent"].p50 == pytest.approx(240) and w["imminent"].p90 == pytest.approx(384)
    assert (w["high"].queued, w["high"].served, w["high"].p50, w["high"].within_target) == (2, 1, 120, 1)
    assert (w["moderate"].p50, w["moderate"].within_target) == (600, 0)
    assert (w["low"].p50, w["low"].within_target) == (300, 1)
    assert ins.waits.urgent_share == pytest.approx(0.5)
    assert len(ins.waits.urgent_missed) == 2 and store.ids["c2"] in ins.waits.urgent_missed  # type: ignore[attr-defined]

    i = ins.intake
    assert (i.started, i.completed, i.in_intake) == (7, 2, 1)
    assert i.completion_rate == pytest.approx(2 / 7)
    assert i.reasons == {"imminent": 2, "completed": 2, "requested": 1, "fallback": 1}
    assert (i.fail_open, i.imminent_fast_path) == (1, 2)
    assert i.drop_off == {"topic": 2, "safe_now": 1, "screen_wish_dead": 1, "screen_method": 1}

    t = ins.triage
    assert (t.reviewed, t.agreed) == (5, 3)
    lv = {ls.level: ls for ls in t.by_level}
    assert (lv["imminent"].precision, lv["imminent"].recall) == (0.5, 1.0)
    assert (lv["high"].precision, lv["high"].recall) == (1.0, 0.5)
    assert (lv["moderate"].precision, lv["moderate"].recall) == (1.0, 0.5)
    assert (lv["low"].precision, lv["low"].recall) == (0.0, None)
    assert t.confusion["low"]["moderate"] == 1

    sv = ins.surveys
    assert (sv.sent, sv.answered, sv.replied, sv.crisis) == (5, 3, 3, 1)
    assert sv.mean == pytest.approx(11 / 3) and sv.helped_share == pytest.approx(2 / 3)
    assert sv.scores == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert sv.helped_by_level == {"imminent": (1, 1), "high": (1, 1), "moderate": (0, 1)}
    assert sv.second == {"yes": 1}

    loads = {c.name: c for c in ins.load.counselors}
    assert [c.name for c in ins.load.counselors] == ["Ana", "Ben"]
    assert (loads["Ana"].conversations, loads["Ana"].minutes) == (3, pytest.approx(55))
    assert (loads["Ben"].conversations, loads["Ben"].minutes) == (2, pytest.approx(25))
    n, med, p90 = ins.load.time_by_level["imminent"]
    assert (n, med, p90) == (2, pytest.approx(900), pytest.approx(1140))
    assert ins.load.time_by_level["high"] == (1, 1800, 1800)

    r = ins.referrals
    assert (r.reports_with_suggestions, r.used_any) == (2, 2)
    use = {u.referral_id: u for u in r.by_referral}
    assert (use["r988"].suggested, use["r988"].given, use["r988"].added_by_counselor,
            use["r988"].removed_by_counselor) == (2, 1, 0, 1)
    assert (use["teen"].suggested, use["teen"].given, use["teen"].added_by_counselor) == (1, 1, 1)

    rows = figures.csv_rows(ins)
    assert ("intake", "all", "fail_open", 1) in rows and ("wait", "imminent", "p90_seconds", 384.0) in rows
    assert not any("+1" in str(v) for *_, v in rows)


async def test_empty_range(store: Database) -> None:
    ins = await figures.insights(store, at(24 * 60), at(48 * 60))
    assert ins.intake.started == 0 and ins.intake.completion_rate is None and ins.waits.urgent_share is None
    assert ins.surveys.mean is None and ins.triage.agreement is None
