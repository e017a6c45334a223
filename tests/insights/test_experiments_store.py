"""Experiments on the store: assignments stored at the first turn, outcomes read back, a harmful variant stopped
by its guard rail (and given no new conversations), the report and the CLI command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import numpy as np
import pytest

from bot.experiments import assign, config
from bot.experiments.report import analysis_for, check_guardrails, format_report
from bot.settings import ROOT
from bot.store.db import Database, migrate
from bot.store.models import ExperimentLook
from tests.insights import seeding
from tests.insights.seeding import at

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

EXP = config.parse({"experiments": [{
    "name": "greeting", "varies": ["utter_greet"], "variants": [{"name": "a"}, {"name": "b"}], "horizon": 80,
    "guardrail": {"looks": 2, "alpha": 0.05}, "minimum_detectable_effect": {"completion": 0.1},
}]})[0]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    migrate(database_url)
    database = Database(database_url, pool_size=2)
    yield database
    await database.close()


async def seed_arm(db: Database, variant: str, n: int, completion: float, rng: np.random.Generator,
                   start: float) -> None:
    t = await seeding.texter(db)
    for i in range(n):
        done = bool(rng.random() < completion)
        await seeding.conversation(
            db, t, created=at(start + i), state="waiting", queued=at(start + i + 2),
            reason="completed" if done else "requested",
            answers={} if done else {"topic": "x"}, variant=("greeting", variant),
        )


async def test_assignment_is_stored_once_and_sent_in_metadata(db: Database) -> None:
    t = await seeding.texter(db)
    conv = await seeding.conversation(db, t, created=at(0), state="intake", reason=None)
    async with db.transaction() as s:
        first = await assign.assignments_for(s, conv, [EXP], new=True)
    async with db.transaction() as s:
        again = await assign.assignments_for(s, conv, [EXP], new=False)
    assert first == again and first["greeting"] == assign.choose("greeting", conv, EXP.variants)
    assert assign.rasa_metadata(first) == {"experiments": first}
    late = await seeding.conversation(db, t, created=at(1), state="intake", reason=None)
    async with db.transaction() as s:
        assert await assign.assignments_for(s, late, [EXP], new=False) == {}


async def test_a_worse_variant_is_stopped_and_gets_no_new_conversations(db: Database) -> None:
    rng = np.random.default_rng(1)
    await seed_arm(db, "a", 45, 0.8, rng, 0)
    await seed_arm(db, "b", 45, 0.3, rng, 0.5)
    now = at(24 * 60)
    assert await check_guardrails(db, [EXP], now) == [("greeting", "b")]
    assert await check_guardrails(db, [EXP], now) == []  # each planned look is evaluated once
    async with db.session() as s:
        look = await s.get(ExperimentLook, ("greeting", 1))
    assert look.stopped == ["b"] and look.result["size"] == 40 and look.result["p"]["b"]["completion"] < 0.025

    t = await seeding.texter(db)
    for i in range(30):
        conv = await seeding.conversation(db, t, created=at(2000 + i), state="intake", reason=None)
        async with db.transaction() as s:
            assert await assign.assignments_for(s, conv, [EXP], new=True) == {"greeting": "a"}

    a = await analysis_for(db, EXP, at(3000))  # the new ones went silent in the intake: settled drop-offs
    assert a.stopped == ["b"] and a.counts == {"a": 45 + 30, "b": 45}
    text = format_report(EXP, a)
    assert "STOPPED by guard rail" in text and "INTERIM" in text and "fixed horizon" in text


async def test_report_at_the_horizon_gives_a_verdict(db: Database) -> None:
    rng = np.random.default_rng(2)
    await seed_arm(db, "a", 80, 0.5, rng, 0)
    await seed_arm(db, "b", 80, 0.5, rng, 0.5)
    a = await analysis_for(db, EXP, at(24 * 60))
    assert a.horizon_reached and not a.srm_flag
    completion = next(c for c in a.comparisons if c.metric == "completion")
    assert completion.n == completion.n_control == 80 and completion.p_value is not None
    assert "VERDICT" in format_report(EXP, a)


async def test_silent_intakes_settle_as_drop_offs(db: Database) -> None:
    t = await seeding.texter(db)
    await seeding.conversation(db, t, created=at(0), state="intake", reason=None, variant=("greeting", "a"),
                               bot_text="Thanks for sharing that. Are you safe right now?")
    assert (await analysis_for(db, EXP, at(30))).counts["a"] == 0  # not settled yet
    a = await analysis_for(db, EXP, at(61))
    assert a.counts["a"] == 1 and a.drop_off == {"a": {"safe_now": 1}}


def test_cli_report_and_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"DATABASE_URL": url, "VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bot", "experiments", "check"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "greeting" in done.stdout
    done = subprocess.run([sys.executable, "-m", "bot", "experiments", "report"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "Experiment greeting" in done.stdout and "INTERIM" in done.stdout
