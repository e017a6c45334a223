"""The insights and experiments pages: supervisors and admins only, figures from a seeded store, the CSV export,
and both pages in headless Chromium (server-rendered SVG charts, no script needed)."""

from __future__ import annotations

import contextvars
import csv
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bot.experiments import config
from bot.experiments.report import check_guardrails
from tests.console.conftest import ConsoleServer, add_user, start_console, stop_console
from tests.console.test_browser import ARGS, CHROMIUM, signed_in_page
from tests.insights import seeding
from tests.insights.seeding import at

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
PRIVACY: contextvars.ContextVar = contextvars.ContextVar("privacy", default=None)
DAY = "from=2026-11-02&to=2026-11-02"
EXPERIMENTS = """
experiments:
  - name: greeting
    description: shorter first text
    varies: [utter_greet]
    variants: [{name: a, weight: 1}, {name: b, weight: 1}]
    horizon: 40
    minimum_detectable_effect: {completion: 0.1}
    guardrail: {looks: 2, alpha: 0.05}
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    path = tmp_path / "experiments.yml"
    path.write_text(EXPERIMENTS)
    srv = await start_console(tmp_path, EXPERIMENTS_FILE=str(path))
    PRIVACY.set(srv.gateway.privacy)
    for name, role in (("ana", "counselor"), ("sam", "supervisor"), ("ada", "admin")):
        await add_user(srv.db, name, role)
    yield srv
    await stop_console(srv)


async def seed_shift(db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A small simulated shift on 2026-11-02: an imminent texter answered in 1 minute, a high one in 7, a
    completed moderate intake, a fail-open, and a texter who went silent at the safety question."""
    from datetime import timedelta

    cara = await seeding.counselor(db, "cara")
    ids = {}
    t = await seeding.texter(db, privacy=PRIVACY.get())
    ids["imminent"] = await seeding.conversation(
        db, t, created=at(0), level="imminent", reason="imminent", queued=at(0), first_reply=at(1), claimed=at(0.5),
        closed=at(30), counselor_id=cara, report=seeding.report("imminent"))
    await seeding.survey(db, ids["imminent"], t, score=5, second="yes", sent=at(60))
    t = await seeding.texter(db, privacy=PRIVACY.get())
    ids["high"] = await seeding.conversation(
        db, t, created=at(1), level="high", queued=at(1), first_reply=at(8), claimed=at(2), closed=at(20),
        counselor_id=cara, report=seeding.report("moderate"), referrals=[{"id": "r988", "name": "988 Lifeline"}])
    t = await seeding.texter(db, privacy=PRIVACY.get())
    await seeding.conversation(db, t, created=at(2), level="moderate", queued=at(3), first_reply=at(3) + timedelta(
        seconds=30), claimed=at(3), closed=at(10), counselor_id=cara, report=seeding.report("moderate"))
    t = await seeding.texter(db, privacy=PRIVACY.get())
    await seeding.conversation(db, t, created=at(4), level="low", reason="fallback", state="waiting", queued=at(4))
    t = await seeding.texter(db, privacy=PRIVACY.get())
    await seeding.conversation(db, t, created=at(5), level="none", reason=None, state="intake",
                               bot_text="Thanks for sharing that. Are you safe right now?")
    return ids


async def seed_experiment(db) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    for variant, rate, offset in (("a", 0.8, 0.0), ("b", 0.3, 0.5)):
        t = await seeding.texter(db, privacy=PRIVACY.get())
        for i in range(45):
            done = bool(rng.random() < rate)
            await seeding.conversation(db, t, created=at(-3000 + i + offset), state="waiting",
                                       queued=at(-3000 + i + offset + 1), reason="completed" if done else "requested",
                                       answers={} if done else {"topic": "x"}, variant=("greeting", variant))


async def test_pages_are_for_supervisors_and_admins(server: ConsoleServer) -> None:
    for path in ("/console/insights", "/console/insights.csv", "/console/experiments"):
        counselor, _ = await server.signed_in("ana")
        async with counselor.get(path) as resp:
            assert resp.status == 403, path
        for who in ("sam", "ada"):
            client, _ = await server.signed_in(who)
            async with client.get(path) as resp:
                assert resp.status == 200, (who, path)
    anonymous = await server.client()
    async with anonymous.get("/console/insights", allow_redirects=False) as resp:
        assert resp.status == 303


async def test_csv_has_the_aggregates_and_conversation_ids_only(server: ConsoleServer) -> None:
    ids = await seed_shift(server.db)
    client, _ = await server.signed_in("sam")
    async with client.get(f"/console/insights.csv?{DAY}") as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0] == ["section", "item", "measure", "value"]
    table = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert table[("intake", "all", "started")] == "5" and table[("intake", "all", "fail_open")] == "1"
    assert table[("wait", "high+imminent", "share_within_5_min")] == "0.5"
    assert ("wait", "high+imminent", "not_within_5_min") in table
    assert ids["high"] in [r[3] for r in rows if r[2] == "not_within_5_min"]
    assert table[("drop_off", "safe_now", "count")] == "1"
    assert not any("+1" in r[3] for r in rows[1:])


async def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A full-page screenshot when INSIGHTS_SCREENSHOTS names a folder (for the notes; never compared)."""
    folder = os.environ.get("INSIGHTS_SCREENSHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


browser_only = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


@browser_only
@pytest.mark.browser
async def test_insights_page_in_the_browser(server: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]
    await seed_shift(server.db)
    page = await signed_in_page(browser, server, "sam")
    await page.get_by_role("link", name="Insights").click()
    await page.wait_for_url("**/console/insights")
    await page.get_by_label("From", exact=True).fill("2026-11-02")
    await page.get_by_label("To", exact=True).fill("2026-11-02")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(f"**/console/insights?{DAY}")
    assert await page.locator("#urgent-served").inner_text() == "50%"
    assert await page.locator("#completion").inner_text() == "40%"  # the high and moderate intakes
    assert await page.locator("#fail-open").inner_text() == "1"
    assert await page.locator("#imminent-fast").inner_text() == "1"
    assert await page.locator("#helped").inner_text() == "100%"
    assert await page.locator("#agreement").inner_text() == "67%"
    assert "safe right now?" in await page.locator("#drop-table").inner_text()
    assert "Cara" in await page.locator("#load-table").inner_text()
    assert await page.locator("svg.chart").count() >= 4
    assert await page.locator("svg.chart rect.bar-imminent").count() >= 1
    await shot(page, "insights")
    async with page.expect_download() as download:
        await page.locator("#csv-link").click()
    assert (await download.value).suggested_filename == "insights-2026-11-02-2026-11-02.csv"
    await page.context.close()


@browser_only
@pytest.mark.browser
async def test_experiments_page_in_the_browser(server: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]
    page = await signed_in_page(browser, server, "ada")
    await page.goto(server.url + "/console/experiments")
    section = page.locator("#exp-greeting")
    assert "Interim numbers: not a decision" in await section.locator(".interim").inner_text()
    assert "fixed horizon" in await page.locator("main").inner_text()

    await seed_experiment(server.db)
    exp = config.load(Path(server.settings.experiments_file))
    assert await check_guardrails(server.db, exp, at(0)) == [("greeting", "b")]
    await page.reload()
    assert "Stopped by guard rail" in await section.locator("tr[data-variant=b]").inner_text()
    assert "Horizon reached" in await section.locator(".verdict").first.inner_text()
    row = await section.locator("tr[data-metric=completion]").inner_text()
    assert "pts" in row and "different" in row
    assert await section.locator("svg.chart circle.chart-dot").count() >= 1
    await shot(page, "experiments")
    await page.context.close()
