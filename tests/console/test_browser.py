"""The console in headless Chromium (Debian's package, driven by Playwright): sign in, take next, reply,
close with a report, and live updates across two counselors and a supervisor without reloading."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.handoff import jobs
from bot.store.models import Conversation, Message, utcnow
from tests.console.conftest import PASSWORD, ConsoleServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium: apt-get install -y chromium"),
]

TIMEOUT = 10_000  # ms, for anything the page waits on


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def signed_in_page(browser, server: ConsoleServer, username: str):  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT)
    await page.goto(server.url + "/console/")
    assert "/console/login" in page.url
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#live-status[data-state=on]")
    return page


async def test_take_next_reply_and_close_with_report(console: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]
    await console.seed({"topic": "school stress"}, ["exams tomorrow and I can't focus"], waited=60)
    urgent = await console.seed(
        {"topic": "I can't do this anymore", "safe_now": "no", "screen_wish_dead": "yes",
         "screen_suicidal_thoughts": "yes", "age_range": "18_24"},
        ["I can't do this anymore"],
    )
    page = await signed_in_page(browser, console, "ana")
    assert await page.locator("#take-h").inner_text() == "Queue 2 waiting"
    await page.get_by_role("button", name="Take next").focus()  # keyboard only
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/console/c/{urgent}**")
    card = page.locator(".summary-card")
    assert "HIGH" in await card.locator("h1").inner_text()
    assert "18-24" in await card.inner_text()
    assert "I can't do this anymore" in await page.locator("#transcript").inner_text()

    insert = page.locator("button.insert").first
    referral = await insert.get_attribute("data-insert")
    await page.locator("#reply-body").fill("Thank you for telling me. I'm here with you.")
    await insert.click()
    assert referral and referral in await page.locator("#reply-body").input_value()
    await page.locator("#reply-body").press("Control+Enter")
    await page.wait_for_selector(".from-counselor .status-local")
    assert await page.locator("#reply-body").input_value() == ""

    async with console.db.session() as s:
        sent = list(await s.scalars(select(Message).where(Message.conversation_id == urgent,
                                                          Message.author == "counselor")))
    assert sent and sent[0].body.startswith("Thank you for telling me.") and referral in sent[-1].body
    assert all(m.status == "local" for m in sent)

    await page.get_by_text("Close and report").click()
    # re-predicted on opening: the referral just sent is ticked
    await page.wait_for_selector("input[name=referrals]:checked")
    await page.get_by_label("made a safety plan").check()
    await page.get_by_role("button", name="Close conversation and save report").click()
    await page.wait_for_url("**/console/?notice=closed")
    assert "Conversation closed and report saved." in await page.locator(".notice").inner_text()
    async with console.db.session() as s:
        conv = await s.get(Conversation, urgent)
    assert conv.state == "closed"
    assert conv.report["confirmed"]["outcome"] == "safety_plan" and "outcome" in conv.report["changed"]
    await page.context.close()


async def test_live_updates_across_two_counselors(console: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]
    first = await console.seed({"safe_now": "no", "screen_wish_dead": "yes"}, ["it's all too much"])
    second = await console.seed({"topic": "lonely"}, ["nobody talks to me"])
    a = await signed_in_page(browser, console, "ana")
    b = await signed_in_page(browser, console, "ben")
    assert await b.locator(f"tr[data-id={first}]").count() == 1

    await a.get_by_role("button", name="Take next").click()
    await a.wait_for_url(f"**/console/c/{first}**")
    await b.wait_for_selector(f"tr[data-id={first}]", state="detached")  # B's queue updated without reload
    assert await b.locator("#take-h").inner_text() == "Queue 1 waiting"

    texter = console.texter()
    assert await texter.text("hello, can somebody talk to me tonight") == 200  # Rasa down: fails open
    await b.wait_for_selector("#take-h:has-text('Queue 2 waiting')")  # a new conversation arrived live

    # a real text from the texter A is helping, through the signed webhook
    ana_texter = console.texter(await _phone_of(console, first))
    assert await ana_texter.text("are you still there?") == 200
    await a.wait_for_selector("#transcript :text('are you still there?')")  # new text without reload
    assert await b.locator(f"tr[data-id={second}]").count() == 1
    await a.context.close()
    await b.context.close()


async def _phone_of(server: ConsoleServer, conv_id: str) -> str:
    async with server.db.session() as s:
        conv = await s.get(Conversation, conv_id)
        return server.gateway.privacy.decrypt(conv.texter.phone_enc)


async def test_supervisor_sees_alert_and_reassigns_live(console: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]
    urgent = await console.seed({"safe_now": "no", "screen_wish_dead": "yes"}, ["I want to disappear"])
    sup = await signed_in_page(browser, console, "sam")
    await sup.goto(console.url + "/console/supervisor")
    await sup.wait_for_selector("#live-status[data-state=on]")
    ben = await signed_in_page(browser, console, "ben")

    late = utcnow() + timedelta(seconds=console.settings.alert_high_wait_seconds + 5)
    await jobs.run_once(console.gateway.services, late)
    await sup.wait_for_selector(f"#alerts .alert-line a[href='/console/c/{urgent}']")
    alert = await sup.locator("#alerts .alert-line").first.inner_text()
    assert "ALERT: HIGH risk texter" in alert

    row = sup.locator("#sq-h + table tr", has_text="HIGH").first
    await row.get_by_label("Assign").select_option(label="Ben 0/3")
    await row.get_by_role("button", name="Assign").click()
    await sup.wait_for_url("**/console/supervisor**")
    await sup.wait_for_selector("#sa-h + table :text('Ben')")
    await ben.wait_for_selector(f"a[href='/console/c/{urgent}']")  # Ben's queue page shows it live
    async with console.db.session() as s:
        assert (await s.get(Conversation, urgent)).state == "active"
    await sup.context.close()
    await ben.context.close()

