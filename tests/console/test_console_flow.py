"""A counselor's and a supervisor's work over HTTP against the running gateway: take next within the limit,
reply through the outbox, close with a report, STOP and new texts arriving through the real webhook,
reassignment, and pages whose query count does not grow with the queue (no N+1)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from bot.console.report import Report
from bot.store.models import AuditEvent, Conversation, Message, User
from tests.console.conftest import ConsoleServer, new_phone, seed_many
from tests.support.waiting import eventually

FETCH = {"X-Requested-With": "fetch"}


async def user_id(server: ConsoleServer, name: str) -> int:
    async with server.db.session() as s:
        return int(await s.scalar(select(User.id).where(User.username == name)))


async def conversation(server: ConsoleServer, conv_id: str) -> Conversation:
    async with server.db.session() as s:
        return await s.get(Conversation, conv_id)


async def take(client, csrf: str) -> dict:  # type: ignore[no-untyped-def]
    async with client.post("/console/take-next", data={"csrf": csrf}, headers=FETCH) as resp:
        return {"status": resp.status, **(await resp.json())}


async def test_take_next_gets_the_most_urgent_and_respects_the_limit(console: ConsoleServer) -> None:
    await seed_many(console.db, console.gateway.privacy, 6)
    client, csrf = await console.signed_in("ana")
    first = await take(client, csrf)
    assert first["ok"] and first["redirect"] == f"/console/c/{first['conversation_id']}?notice=taken"
    assert (await conversation(console, first["conversation_id"])).urgency_level == "imminent"
    for _ in range(2):
        assert (await take(client, csrf))["ok"]
    refused = await take(client, csrf)
    assert refused["status"] == 409 and "3 active" in refused["error"]
    async with client.post("/console/take-next", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.headers["Location"] == "/console/?notice=limit"
    async with client.get("/console/") as resp:
        page = await resp.text()
    assert "You have 3 of 3 active" in page and 'aria-disabled="true"' in page


async def test_empty_queue_says_so(console: ConsoleServer) -> None:
    client, csrf = await console.signed_in("ana")
    got = await take(client, csrf)
    assert got["status"] == 409 and got["error"] == "Nobody is waiting right now."


async def test_reply_goes_out_through_the_outbox(console: ConsoleServer) -> None:
    conv_id = await console.seed({"topic": "panic attacks"}, ["my heart is racing"])
    client, csrf = await console.signed_in("ana")
    await take(client, csrf)
    long_text = "I'm here with you. " * 12
    for body in ("Hi, I'm Ana. Let's breathe together for a moment.", long_text):
        async with client.post(f"/console/c/{conv_id}/reply", data={"csrf": csrf, "body": body}, headers=FETCH) as r:
            assert r.status == 200 and (await r.json())["ok"]
    ana = await user_id(console, "ana")

    async def all_sent() -> list[Message]:
        async with console.db.session() as s:
            rows = list(await s.scalars(select(Message).where(Message.conversation_id == conv_id,
                                                              Message.direction == "out").order_by(Message.id)))
        assert rows and all(m.status == "local" for m in rows)
        return rows

    rows = await eventually(all_sent, timeout=10)
    assert rows[0].body.startswith("Hi, I'm Ana")
    assert " ".join(" ".join(m.body for m in rows[1:]).split()) == long_text.strip()
    assert {(m.author, m.counselor_id) for m in rows} == {("counselor", ana)}
    async with client.get(f"/console/c/{conv_id}/transcript") as resp:
        html = await resp.text()
    assert "Let&#39;s breathe together" in html and "sent (local outbox)" in html
    async with client.post(f"/console/c/{conv_id}/reply", data={"csrf": csrf, "body": "   "}, headers=FETCH) as r:
        assert r.status == 409


async def test_close_with_report_keeps_prediction_and_correction(console: ConsoleServer) -> None:
    conv_id = await console.seed(
        {"topic": "my girlfriend left", "safe_now": "yes", "screen_wish_dead": "yes"}, ["she left me"]
    )
    client, csrf = await console.signed_in("ana")
    await take(client, csrf)
    async with client.get(f"/console/c/{conv_id}") as resp:
        page = await resp.text()
    assert 'name="issues" value="relationships" checked' in page  # pre-filled from the texter's words
    form = [("csrf", csrf), ("risk_level", "none"), ("outcome", "de_escalated"), ("issues", "relationships"),
            ("notes", "felt better by the end")]
    async with client.post(f"/console/c/{conv_id}/close", data=form, allow_redirects=False) as resp:
        assert resp.headers["Location"] == "/console/?notice=closed"
    conv = await conversation(console, conv_id)
    assert conv.state == "closed" and conv.closed_reason == "counselor"
    predicted, confirmed = Report.from_dict(conv.report["predicted"]), Report.from_dict(conv.report["confirmed"])
    assert predicted is not None and confirmed is not None
    assert predicted.risk_level == conv.urgency_level != "none" and confirmed.risk_level == "none"
    assert "risk_level" in conv.report["changed"] and confirmed.notes == "felt better by the end"
    async with client.post(f"/console/c/{conv_id}/close", data=form, headers=FETCH) as resp:
        assert resp.status == 409  # filed already
    async with client.get("/console/") as resp:
        assert "My conversations (0)" in await resp.text()


async def test_stop_and_new_texts_arrive_through_the_webhook(console: ConsoleServer) -> None:
    phone = new_phone()
    texter = console.texter(phone)
    assert await texter.text("hello? is anyone there") == 200  # Rasa is down: fails open into the queue

    async def queued() -> Conversation | None:
        async with console.db.session() as s:
            return await s.scalar(select(Conversation).where(Conversation.state == "waiting"))

    conv = await eventually(queued, timeout=15)
    assert conv.handoff_reason == "fallback"
    client, csrf = await console.signed_in("ana")
    await take(client, csrf)
    assert await texter.text("i took a whole bottle of pills") == 200

    async def rescored() -> bool:
        c = await conversation(console, conv.id)
        assert c.urgency_level == "imminent"
        return True

    await eventually(rescored, timeout=15)
    async with client.get(f"/console/c/{conv.id}/transcript") as resp:
        assert "i took a whole bottle of pills" in await resp.text()
    assert await texter.text("STOP") == 200

    async def opted_out() -> str:
        async with client.get(f"/console/c/{conv.id}/transcript") as resp:
            html = await resp.text()
        assert "Texter opted out (STOP)" in html
        return html

    await eventually(opted_out, timeout=15)
    assert (await conversation(console, conv.id)).state == "active"  # the counselor closes it with a report
    async with client.post(f"/console/c/{conv.id}/reply", data={"csrf": csrf, "body": "are you ok?"},
                           headers=FETCH) as resp:
        assert resp.status == 409 and "opted out" in (await resp.json())["error"]
    async with client.get(f"/console/c/{conv.id}") as resp:
        page = await resp.text()
    assert 'name="outcome" value="opted_out" required checked' in page
    assert "reply-body" not in page


async def test_supervisor_reassigns_and_takes_over_keeping_the_transcript(console: ConsoleServer) -> None:
    conv_id = await console.seed({"topic": "grief"}, ["my dad died last month", "I can't stop crying"])
    ana, ana_csrf = await console.signed_in("ana")
    ben, _ = await console.signed_in("ben")
    sam, sam_csrf = await console.signed_in("sam")
    ana_id, ben_id, sam_id = [await user_id(console, n) for n in ("ana", "ben", "sam")]
    await take(ana, ana_csrf)
    async with sam.post(f"/console/c/{conv_id}/assign", data={"csrf": sam_csrf, "counselor_id": str(ben_id)},
                        headers=FETCH) as resp:
        assert resp.status == 200
    assert (await conversation(console, conv_id)).counselor_id == ben_id
    async with ana.get(f"/console/c/{conv_id}") as resp:
        assert resp.status == 404
    async with ben.get(f"/console/c/{conv_id}") as resp:
        page = await resp.text()
    assert "my dad died last month" in page and "I can&#39;t stop crying" in page
    async with sam.post(f"/console/c/{conv_id}/take-over", data={"csrf": sam_csrf}, allow_redirects=False) as r:
        assert r.headers["Location"] == f"/console/c/{conv_id}?notice=taken_over"
    async with console.db.session() as s:
        moves = list(await s.scalars(select(AuditEvent).where(AuditEvent.kind == "transferred")
                                     .order_by(AuditEvent.id)))
    assert [(m.data["from"], m.data["to"], m.user_id) for m in moves] == [
        (ana_id, ben_id, sam_id), (ben_id, sam_id, sam_id)]
    async with sam.get("/console/supervisor") as resp:
        page = await resp.text()
    assert "Waits by urgency" in page and "Counselors" in page and conv_id in page


class QueryCounter:
    """Counts the SQL statements the app sends while ``counting`` (one listener for the engine's lifetime:
    removing listeners from an engine with derived option engines is not reliable)."""

    def __init__(self, server: ConsoleServer) -> None:
        self.statements: list[str] = []
        self.active = False
        event.listen(server.db.engine.sync_engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if self.active and not re.match(r"\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK)", statement, re.I):
            self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements, self.active = [], True
        try:
            yield self.statements
        finally:
            self.active = False


async def test_page_queries_do_not_grow_with_the_queue(console: ConsoleServer) -> None:
    gw = console.gateway
    gw.stop.set()  # quiet the background workers so only the page's own queries are counted
    gw.inbox_work.wake.set()
    gw.outbox.work.wake.set()
    await asyncio.sleep(1.2)
    await seed_many(console.db, console.gateway.privacy, 8)
    client, csrf = await console.signed_in("sam")
    conv_id = (await take(client, csrf))["conversation_id"]
    counter = QueryCounter(console)
    counts = {}
    for size in ("small", "large"):
        for path in ("/console/", "/console/supervisor", f"/console/c/{conv_id}"):
            with counter.counting() as queries:
                async with client.get(path) as resp:
                    assert resp.status == 200
                    await resp.read()  # a large page left unread would poison the pooled connection
            counts[(size, path)] = len(queries)
        if size == "small":
            await seed_many(console.db, console.gateway.privacy, 150)
            for i in range(40):
                async with client.post(f"/console/c/{conv_id}/reply", data={"csrf": csrf, "body": f"text {i}"},
                                       headers=FETCH) as resp:
                    assert resp.status == 200
    for path in ("/console/", "/console/supervisor", f"/console/c/{conv_id}"):
        assert counts[("small", path)] == counts[("large", path)] <= 7, counts
    assert counts[("large", "/console/")] == 2  # the session, then one query for the whole queue page


async def test_transcript_marks_media_and_delivery_failures(console: ConsoleServer) -> None:
    conv_id = await console.seed({"topic": "a photo of my arm"}, ["look"])
    client, csrf = await console.signed_in("ana")
    await take(client, csrf)
    async with console.db.transaction() as s:
        conv = await s.get(Conversation, conv_id)
        s.add(Message(texter_id=conv.texter_id, conversation_id=conv_id, direction="in", author="texter", body="",
                      num_media=2, status="processed"))
        s.add(Message(texter_id=conv.texter_id, conversation_id=conv_id, direction="out", author="counselor",
                      body="Are you safe?", status="failed", error_code=30003))
    async with client.get(f"/console/c/{conv_id}/transcript") as resp:
        html = await resp.text()
    assert "[2 pictures]" in html
    assert "NOT DELIVERED (error 30003)" in html and "1 text did not reach the texter." in html
    assert 'class="msg from-counselor failed"' in html
