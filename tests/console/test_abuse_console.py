"""The console's abuse actions over HTTP: a counselor's one-action "End abusive conversation", flags, the
supervisors-only review page and its actions, and who may do what."""

from __future__ import annotations

from sqlalchemy import select

from bot.abuse import review
from bot.abuse.detector import score
from bot.store.models import AbuseFlag, AbuseReview, AuditEvent, Conversation, Message
from tests.console.conftest import ConsoleServer


async def _take(console: ConsoleServer, username: str) -> tuple[object, str, str]:
    client, csrf = await console.signed_in(username)
    async with client.post("/console/take-next", data={"csrf": csrf}, allow_redirects=False) as resp:  # type: ignore
        assert resp.status == 303
        conv_id = resp.headers["Location"].split("/console/c/")[1].split("?")[0]
    return client, csrf, conv_id


async def test_counselor_ends_an_abusive_conversation_in_one_action(console: ConsoleServer) -> None:
    await console.seed({"topic": "hey"}, ["what are you wearing", "send nudes"])
    ana, csrf, conv_id = await _take(console, "ana")
    ben, ben_csrf = await console.signed_in("ben")
    async with ben.post(f"/console/c/{conv_id}/end-abusive", data={"csrf": ben_csrf}, allow_redirects=False) as r:
        assert r.status == 404   # not ben's conversation
    async with ana.post(f"/console/c/{conv_id}/end-abusive", data={"csrf": csrf},  # type: ignore[attr-defined]
                        allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/console/?notice=ended"
    async with console.db.session() as s:
        conv = await s.get(Conversation, conv_id)
        out = list(await s.scalars(select(Message).where(Message.conversation_id == conv_id,
                                                         Message.direction == "out")))
        reviews = list(await s.scalars(select(AbuseReview).where(AbuseReview.texter_id == conv.texter_id)))
        flags = list(await s.scalars(select(AbuseFlag).where(AbuseFlag.conversation_id == conv_id)))
        audit = [e.kind for e in await s.scalars(select(AuditEvent).where(AuditEvent.conversation_id == conv_id))]
    assert conv.state == "closed" and conv.closed_reason == "abuse"
    assert [m.body for m in out] == [review.CLOSING_TEXT]
    assert "911" in review.CLOSING_TEXT and "988" in review.CLOSING_TEXT and len(review.CLOSING_TEXT) < 320
    assert len(reviews) == 1 and reviews[0].status == "open" and "counselor_end" in reviews[0].sources
    assert reviews[0].scores == {"abusive": review.COUNSELOR_LIKELIHOOD}
    assert [f.label for f in flags] == ["abusive"]
    assert "closed" in audit and "abuse_flagged" in audit
    async with ana.post(f"/console/c/{conv_id}/end-abusive", data={"csrf": csrf},  # type: ignore[attr-defined]
                        headers={"X-Requested-With": "fetch"}) as resp:
        assert resp.status == 409   # once only: no second closing text


async def test_counselor_flags_and_review_page_is_for_supervisors(console: ConsoleServer) -> None:
    await console.seed({"topic": "hi"}, ["Congratulations you have won, claim now at bit.ly/q"])
    ana, csrf, conv_id = await _take(console, "ana")
    async with ana.post(f"/console/c/{conv_id}/flag", data={"csrf": csrf, "label": "spam"},  # type: ignore
                        allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"].endswith("notice=flagged")
    async with ana.post(f"/console/c/{conv_id}/flag", data={"csrf": csrf, "label": "rude"},  # type: ignore
                        allow_redirects=False) as resp:
        assert resp.status == 303 and "notice=invalid" in resp.headers["Location"]
    async with ana.get("/console/abuse", allow_redirects=False) as resp:  # type: ignore[attr-defined]
        assert resp.status == 403
    async with ana.post("/console/abuse/1/dismiss", data={"csrf": csrf}) as resp:  # type: ignore[attr-defined]
        assert resp.status == 403
    async with console.db.session() as s:
        flag = await s.scalar(select(AbuseFlag).where(AbuseFlag.conversation_id == conv_id))
        rev = await s.scalar(select(AbuseReview))
    assert flag.label == "spam" and flag.user_id is not None and flag.predicted.get("spam", 0) >= 0.9
    sam, sam_csrf = await console.signed_in("sam")
    async with sam.get("/console/abuse") as resp:
        page = await resp.text()
        assert resp.status == 200
    assert f'data-review-id="{rev.id}"' in page and "flagged by a counselor" in page
    assert "+1555" not in page
    async with sam.post(f"/console/abuse/{rev.id}/block", data={"csrf": sam_csrf, "duration": "24h", "reason": ""},
                        allow_redirects=False) as resp:
        assert resp.status == 303 and "notice=invalid" in resp.headers["Location"]
    async with sam.post(f"/console/abuse/{rev.id}/block",
                        data={"csrf": sam_csrf, "duration": "24h", "reason": "ads"}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"].endswith("notice=blocked")
    async with sam.post(f"/console/abuse/{rev.id}/dismiss", data={"csrf": sam_csrf},
                        allow_redirects=False) as resp:
        assert "notice=decided" in resp.headers["Location"]


async def test_detector_flags_reach_the_page_in_priority_order(console: ConsoleServer) -> None:
    first = await console.seed({}, ["hello"])
    second = await console.seed({}, ["hello again"])
    async with console.db.transaction() as s:
        c1, c2 = await s.get(Conversation, first), await s.get(Conversation, second)
        await review.record(s, c1.texter_id, first, None, score("*walks in* hey"))
        await review.record(s, c2.texter_id, second, None, score("i will kill you"))
    sam, _ = await console.signed_in("sam")
    async with sam.get("/console/abuse") as resp:
        page = await resp.text()
    assert page.index(f"Conversation {second}") < page.index(f"Conversation {first}")
    assert "i will kill you" in page
