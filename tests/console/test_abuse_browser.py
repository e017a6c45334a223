"""The abuse review queue in headless Chromium: a supervisor reads the evidence in priority order, blocks one
texter for 24 hours with a reason, dismisses another, sends a warning, then unblocks; a counselor flags a
conversation from the conversation screen."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.abuse import blocks, review
from bot.abuse.behaviour import Behaviour
from bot.abuse.detector import score
from bot.store.models import AbuseFlag, AbuseReview, Conversation, Message, utcnow
from tests.console.conftest import ConsoleServer
from tests.console.test_browser import ARGS, CHROMIUM, signed_in_page
from tests.console.test_browser import pytestmark as browser_marks

pytestmark = browser_marks


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def _flag(console: ConsoleServer, conv_id: str, text: str, behaviour: Behaviour | None = None) -> int:
    async with console.db.transaction() as s:
        conv = await s.get(Conversation, conv_id)
        return conv.texter_id if await review.record(s, conv.texter_id, conv_id, None, score(text), behaviour) else 0


async def test_supervisor_reviews_blocks_dismisses_warns_and_unblocks(console: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]
    prank = await console.seed({}, ["hey"])
    threat = await console.seed({}, ["hello"])
    spam = await console.seed({}, ["hi"])
    await _flag(console, prank, "*walks in* sup")
    threat_texter = await _flag(console, threat, "i know where you live, you stupid bitch")
    await _flag(console, spam, "You have won a gift card, claim now at bit.ly/zz",
                Behaviour(same_text_numbers=5, texts_last_minute=3))

    page = await signed_in_page(browser, console, "sam")
    await page.get_by_role("link", name="Abuse review").click()
    await page.wait_for_url("**/console/abuse")
    reviews = page.locator("li.review")
    assert await reviews.count() == 3
    assert await reviews.nth(0).get_attribute("data-class") == "threat"   # most severe first
    first = await reviews.nth(0).inner_text()
    assert "i know where you live" in first and "stupid bitch" in first and f"Conversation {threat}" in first
    spam_item = page.locator("li.review[data-class=spam]")
    assert "the same text from 5 numbers" in await spam_item.inner_text()
    assert "+1555" not in await page.content()

    top = reviews.nth(0)
    await top.get_by_label("Block for").select_option("24h")
    await top.get_by_label("Reason").fill("threats to a counselor")
    await top.get_by_role("button", name="Block").click()
    await page.wait_for_url("**/console/abuse?notice=blocked")
    assert await page.locator("li.review").count() == 2
    blocked = page.locator("ul.blocks li")
    assert await blocked.count() == 1 and "threats to a counselor" in await blocked.inner_text()
    async with console.db.session() as s:
        st = await blocks.status(s, threat_texter, utcnow())
    assert st.blocked and not st.permanent

    await page.locator("li.review[data-class=prank]").get_by_role("button", name="Dismiss").click()
    await page.wait_for_url("**/console/abuse?notice=dismissed")
    await page.locator("li.review[data-class=spam]").get_by_role("button", name="Send warning text").click()
    await page.wait_for_url("**/console/abuse?notice=warned")
    assert await page.locator("li.review").count() == 0
    assert "Nothing to review." in await page.locator("#queue-h + p").inner_text()
    figures = await page.locator("#review-figures").inner_text()
    assert "0 open, 1 dismissed, 1 warned, 1 blocked" in figures and "1 for 24 hours" in figures
    assert await page.locator("tr[data-class=threat] .precision").inner_text() == "100%"
    assert await page.locator("tr[data-class=prank] .precision").inner_text() == "0%"

    await page.locator("ul.blocks li").get_by_role("button", name="Unblock").click()
    await page.wait_for_url("**/console/abuse?notice=unblocked")
    assert await page.locator("ul.blocks li").count() == 0
    async with console.db.session() as s:
        assert not (await blocks.status(s, threat_texter, utcnow())).blocked
        warned = list(await s.scalars(select(Message).where(Message.conversation_id == spam,
                                                            Message.direction == "out")))
        statuses = sorted(r.status for r in await s.scalars(select(AbuseReview)))
    assert [m.body for m in warned] == [review.WARNING_TEXT]
    assert statuses == ["blocked", "dismissed", "warned"]
    await page.context.close()


async def test_counselor_flags_from_the_conversation_screen(console: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]
    conv_id = await console.seed({}, ["is this the real life? is this just fantasy?"])
    page = await signed_in_page(browser, console, "ana")
    await page.get_by_role("button", name="Take next").click()
    await page.wait_for_url(f"**/console/c/{conv_id}**")
    await page.get_by_label("Flag this conversation as").select_option("prank")
    await page.get_by_role("button", name="Flag for review").click()
    await page.wait_for_url("**notice=flagged")
    assert "flagged for review" in await page.locator(".notice").inner_text()
    assert await page.get_by_role("link", name="Abuse review").count() == 0   # counselors do not review
    async with console.db.session() as s:
        flag = await s.scalar(select(AbuseFlag).where(AbuseFlag.conversation_id == conv_id))
    assert flag.label == "prank" and "prank" in flag.predicted
    await page.context.close()
