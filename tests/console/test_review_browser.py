"""The blind review in headless Chromium: a supervisor opens a random closed conversation, reads the transcript
without the counselor's label, picks a level, and only then sees the counselor's label."""

from __future__ import annotations

from tests.console.conftest import ConsoleServer
from tests.console.test_browser import browser, pytestmark, signed_in_page  # noqa: F401 - fixture and marks
from tests.console.test_labels_console import NOTES, _close_next


async def test_blind_review_in_the_browser(console: ConsoleServer, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    await console.seed({"topic": "school"}, ["exams are crushing me and i cant sleep"])
    ana, csrf = await console.signed_in("ana")
    conv_id = await _close_next(console, ana, csrf, "moderate")

    page = await signed_in_page(browser, console, "sam")
    await page.get_by_role("link", name="Label quality").click()
    await page.wait_for_url("**/console/reviews")
    await page.get_by_role("button", name="Review a random closed conversation").click()
    await page.wait_for_url(f"**/console/reviews/{conv_id}")
    assert "exams are crushing me" in await page.locator("#transcript").inner_text()
    body = await page.locator("main").inner_text()
    assert await page.locator("#counselor-level").count() == 0
    assert NOTES not in body and "MODERATE" not in body.replace("MODERATE\n", "", 1)  # only the picker's option

    await page.get_by_label("LOW").check()
    await page.get_by_role("button", name="Save review").click()
    await page.wait_for_selector("#counselor-level")
    assert "MODERATE" in await page.locator("#counselor-level").inner_text()
    assert "You disagree" in await page.locator("#review-result").inner_text()
    await page.context.close()
