"""Labels through the real console over HTTP: a filed report becomes a label beside the prediction; a supervisor's
blind review never shows the counselor's label before it is saved; a disagreement is settled on the adjudication
list; the card shows each texter message's risk as an inline SVG sparkline."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import Conversation, Label, User
from tests.console.conftest import ConsoleServer

FETCH = {"X-Requested-With": "fetch"}
NOTES = "ana-private-notes-7731"


async def _user_id(server: ConsoleServer, username: str) -> int:
    async with server.db.session() as s:
        return await s.scalar(select(User.id).where(User.username == username))


async def _close_next(server: ConsoleServer, client, csrf: str, level: str) -> str:  # type: ignore[no-untyped-def]
    async with client.post("/console/take-next", data={"csrf": csrf}, headers=FETCH) as resp:
        conv_id = (await resp.json())["conversation_id"]
    form = [("csrf", csrf), ("risk_level", level), ("outcome", "de_escalated"), ("issues", "family"),
            ("notes", NOTES)]
    async with client.post(f"/console/c/{conv_id}/close", data=form, headers=FETCH) as resp:
        assert resp.status == 200, await resp.text()
    return conv_id


async def test_report_label_blind_review_and_adjudication(console: ConsoleServer) -> None:
    await console.seed({"safe_now": "no", "screen_wish_dead": "yes"}, ["my mom yells and i want it to stop"])
    ana, ana_csrf = await console.signed_in("ana")
    conv_id = await _close_next(console, ana, ana_csrf, "high")
    ana_id, sam_id = await _user_id(console, "ana"), await _user_id(console, "sam")

    async with console.db.session() as s:
        conv = await s.get(Conversation, conv_id)
        (label,) = list(await s.scalars(select(Label).where(Label.conversation_id == conv_id)))
    assert (label.source, label.level, label.label, label.labeller_id) == ("report", "high", 1, ana_id)
    assert label.needs == ["family"] and len(label.message_ids) == 1
    assert (label.predicted_level, label.predicted_score) == (conv.context["urgency"]["level"],
                                                             conv.context["urgency"]["score"])
    assert label.predicted_model == "lexicon"

    # counselors do not review
    async with ana.get("/console/reviews", allow_redirects=False) as resp:
        assert resp.status == 403

    sam, sam_csrf = await console.signed_in("sam")
    async with sam.get("/console/reviews") as resp:
        page = await resp.text()
    assert "1 not yet reviewed" in page and "No disagreements waiting." in page
    async with sam.post("/console/reviews/next", data={"csrf": sam_csrf}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == f"/console/reviews/{conv_id}"
    async with sam.get(f"/console/reviews/{conv_id}") as resp:
        blind = await resp.text()
    assert "my mom yells and i want it to stop" in blind  # the transcript
    assert 'name="level"' in blind
    for hidden in ("counselor-level", "Counselor's level", NOTES, "de-escalated", "Ana:"):
        assert hidden not in blind

    form = {"csrf": sam_csrf, "level": "moderate"}
    async with sam.post(f"/console/reviews/{conv_id}", data=form, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == f"/console/reviews/{conv_id}?notice=reviewed"
    async with sam.get(f"/console/reviews/{conv_id}?notice=reviewed") as resp:
        revealed = await resp.text()
    assert 'id="counselor-level"' in revealed and "You disagree" in revealed
    async with sam.post(f"/console/reviews/{conv_id}", data=form, headers=FETCH) as resp:
        assert resp.status == 400  # once per reviewer

    async with sam.get("/console/reviews") as resp:
        page = await resp.text()
    assert f'data-id="{conv_id}"' in page and "0 not yet reviewed" in page
    async with sam.post(f"/console/reviews/{conv_id}/settle", data={"csrf": sam_csrf, "level": "high"},
                        allow_redirects=False) as resp:
        assert resp.status == 303
    async with sam.get("/console/reviews") as resp:
        page = await resp.text()
    assert f'data-id="{conv_id}"' not in page and "No disagreements waiting." in page
    async with console.db.session() as s:
        rows = {(r.source, r.level, r.labeller_id) for r in
                await s.scalars(select(Label).where(Label.conversation_id == conv_id))}
    assert rows == {("report", "high", ana_id), ("review", "moderate", sam_id), ("adjudication", "high", sam_id)}


async def test_card_shows_risk_per_message_as_a_sparkline(console: ConsoleServer) -> None:
    texts = ["hi, i had a rough day", "my mom and i fought again", "i just want to die tonight"]
    conv_id = await console.seed({"topic": "family"}, texts)
    ana, csrf = await console.signed_in("ana")
    async with ana.post("/console/take-next", data={"csrf": csrf}, headers=FETCH) as resp:
        assert (await resp.json())["conversation_id"] == conv_id
    async with ana.get(f"/console/c/{conv_id}") as resp:
        page = await resp.text()
    assert '<svg class="spark"' in page and page.count('class="spark-dot') == 3
    label = page.split('aria-label="Risk per texter message, oldest first: ', 1)[1].split('"', 1)[0]
    scores = [int(x) for x in label.split(" (")[0].split(", ")]
    assert len(scores) == 3 and scores[-1] > scores[0] and label.endswith("(rising)")
