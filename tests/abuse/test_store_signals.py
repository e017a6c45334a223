"""Behaviour signals, blocks that expire, the review queue's order and transitions, and automatic blocks, on a
real database (SQLite, and PostgreSQL when DATABASE_URL is set). Time is passed explicitly: nothing sleeps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.abuse import behaviour, blocks, policy, review
from bot.abuse.behaviour import Behaviour, TextHasher
from bot.abuse.detector import score
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import AbuseReview, AuditEvent, Message, Texter, utcnow
from tests.abuse.conftest import PRIVACY, add_conversation, add_inbound, add_texter

HASHER = TextHasher("test-privacy-key")
SPAM = "Congratulations you have won a free cruise, call now to claim your prize"


async def test_flood_counts_texts_in_the_last_minute(db: Database) -> None:
    now = utcnow()
    t = await add_texter(db)
    for i in range(12):
        await add_inbound(db, t, f"text {i}", at=now - timedelta(seconds=i * 4))   # 12 within 48 s
    await add_inbound(db, t, "old", at=now - timedelta(minutes=5))
    async with db.transaction() as s:
        b = await behaviour.observe(s, t, "text 0", now, HASHER)
    assert b.texts_last_minute == 12
    assert b.scores(flood_per_minute=10) == {"spam": 0.7}
    assert b.scores(flood_per_minute=20) == {}
    assert "12 texts in the last minute" in b.evidence(10)[0]


async def test_same_text_from_many_numbers_within_the_window_is_coordinated(db: Database) -> None:
    now = utcnow()
    texters = [await add_texter(db) for _ in range(4)]
    seen = []
    for i, t in enumerate(texters):
        variant = SPAM.upper() if i % 2 else SPAM + "!!"   # case and punctuation do not make a text new
        async with db.transaction() as s:
            seen.append((await behaviour.observe(s, t, variant, now + timedelta(seconds=i), HASHER)).same_text_numbers)
    assert seen == [1, 2, 3, 4]
    async with db.session() as s:
        later = await behaviour.same_text_numbers(s, HASHER.hash(SPAM) or "", now + timedelta(hours=2))
        stored = list(await s.scalars(select(behaviour.AbuseTextSeen.text_hash)))
    assert later == 0   # outside the window
    assert SPAM not in " ".join(stored) and all(len(h) == 64 for h in stored)   # keyed hashes only
    assert HASHER.hash("hi there") is None   # short texts are too common to count
    assert TextHasher("another-key").hash(SPAM) != HASHER.hash(SPAM)


async def test_keywords_only_and_returning_abusive_number(db: Database) -> None:
    t = await add_texter(db)
    for body in ("HELP", "stop", "START", "help", "INFO"):
        await add_inbound(db, t, body)
    await add_conversation(db, t, state="closed", closed_reason="abuse")
    await add_conversation(db, t, state="closed", closed_reason="counselor")
    async with db.transaction() as s:
        b = await behaviour.observe(s, t, "INFO", None, HASHER)
    assert b.keywords_only and b.scores(20) == {"prank": 0.6}
    assert b.abusive_closes == 1 and b.returning
    other = await add_texter(db)
    await add_inbound(db, other, "HELP")
    await add_inbound(db, other, "i need to talk to someone")
    async with db.transaction() as s:
        calm = await behaviour.observe(s, other, "HELP", None, HASHER)
    assert not calm.keywords_only and not calm.returning and calm.scores(20) == {}


async def test_time_limited_blocks_expire_on_their_own(db: Database) -> None:
    now = utcnow()
    day, month, forever = await add_texter(db), await add_texter(db), await add_texter(db)
    async with db.transaction() as s:
        await blocks.block(s, day, duration="24h", reason="abusive texts", now=now)
        await blocks.block(s, month, duration="30d", reason="spam", now=now)
        await blocks.block(s, forever, duration="permanent", reason="threats", now=now)
    async with db.session() as s:
        st = await blocks.status(s, day, now + timedelta(hours=23, minutes=59))
        assert st.blocked and st.until == now + timedelta(hours=24) and st.reason == "abusive texts"
        assert not (await blocks.status(s, day, now + timedelta(hours=24, seconds=1))).blocked
        assert (await blocks.status(s, month, now + timedelta(days=29))).blocked
        assert not (await blocks.status(s, month, now + timedelta(days=30, seconds=1))).blocked
        perm = await blocks.status(s, forever, now + timedelta(days=3650))
        assert perm.blocked and perm.permanent
        assert (await s.get(Texter, forever)).blocked   # the flag the gateway already reads
        refs = {b.texter_id for b in await blocks.active_blocks(s, now + timedelta(days=2))}
        assert refs == {month, forever}
        assert await blocks.blocked_among(s, [day, month, forever], now + timedelta(days=2)) == {month, forever}
        assert await blocks.blocked_among(s, [], now) == set()
    async with db.transaction() as s:
        assert await blocks.unblock(s, forever, now=now)
        assert not await blocks.unblock(s, forever, now=now)
    async with db.session() as s:
        assert not (await blocks.status(s, forever, now)).blocked
        kinds = [e.kind for e in await s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        data = [e.data for e in await s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert kinds == ["blocked", "blocked", "blocked", "unblocked"]
    assert all(d["texter"].startswith("t-") and "+1555" not in str(d) for d in data)
    with pytest.raises(ValueError):
        blocks.parse_duration("2 weeks")


async def test_block_by_number_for_the_cli(db: Database) -> None:
    now = utcnow()
    assert await blocks.block_number(db, PRIVACY, "+15555550123", duration="24h", reason="x", now=now)
    assert not await blocks.block_number(db, PRIVACY, "+15555550123", duration="24h", reason="x", now=now)
    assert await blocks.block_number(db, PRIVACY, "+15555550123", duration="permanent", reason="y", now=now)
    listed = await blocks.blocked_list(db, now)
    assert len(listed) == 1 and listed[0].until is None and listed[0].ref.startswith("t-")
    assert await blocks.unblock_number(db, PRIVACY, "+15555550123", now=now)
    assert await blocks.blocked_list(db, now) == []


async def test_review_queue_ordered_by_likelihood_times_severity_and_merged_per_texter(db: Database) -> None:
    spammer, harasser, prankster, returning = [await add_texter(db) for _ in range(4)]
    async with db.transaction() as s:
        assert await review.record(s, spammer, None, None, score(SPAM)) is not None
        await review.record(s, harasser, None, None, score("send nudes"))
        await review.record(s, prankster, None, None, score("*walks in* hey"))
        assert await review.record(s, prankster, None, None, score("i feel so alone tonight")) is None
        await review.record(s, returning, None, None, score("*walks in* hey"),
                            Behaviour(abusive_closes=2))
        again = await review.record(s, spammer, None, None, score("CLICK HERE bit.ly/aa to claim your reward"))
        assert again is not None and again.hits == 2
    async with db.session() as s:
        items = await review.pending(s)
    order = [i.texter_id for i in items]
    assert order[0] == harasser                       # severe and likely first
    assert order.index(returning) < order.index(prankster)   # a returning abusive number weighs more
    spam_item = next(i for i in items if i.texter_id == spammer)
    assert "bit.ly/aa" in spam_item.evidence["spam"] and any("won" in q for q in spam_item.evidence["spam"])
    assert spam_item.texter.startswith("t-")
    ret = next(i for i in items if i.texter_id == returning)
    assert any("returning number" in line for line in ret.evidence["behaviour"])


async def test_dismiss_warn_block_unblock_and_figures(db: Database) -> None:
    now = utcnow()
    a, b, c = await add_texter(db), await add_texter(db), await add_texter(db)
    conv = await add_conversation(db, b)
    async with db.transaction() as s:
        ra = (await review.record(s, a, None, None, score(SPAM))).id
        rb = (await review.record(s, b, conv, None, score("fuck you"))).id
        rc = (await review.record(s, c, None, None, score("send nudes"))).id
    await review.dismiss(db, ra, None, reason="a real question", now=now)
    with pytest.raises(review.ReviewError):
        await review.dismiss(db, ra, None)
    await review.warn(db, rb, None, now=now)
    with pytest.raises(ValueError):
        await review.block(db, rc, None, duration="30d", reason=" ")
    await review.block(db, rc, None, duration="30d", reason="sexual texts to counselors", now=now)
    async with db.session() as s:
        warning = list(await s.scalars(select(Message).where(Message.texter_id == b, Message.direction == "out")))
        assert [m.body for m in warning] == [review.WARNING_TEXT] and warning[0].status == "pending"
        assert warning[0].conversation_id == conv
        assert (await blocks.status(s, c, now + timedelta(days=29))).blocked
        assert not (await blocks.status(s, c, now + timedelta(days=31))).blocked
        figs = await review.figures(s, now)
        audits = list(await s.scalars(select(AuditEvent)))
    assert figs.reviews == {"open": 0, "dismissed": 1, "warned": 1, "blocked": 1}
    assert figs.flags["spam"] == 1 and figs.flags["threat"] == 1 and figs.flags["sexual"] == 1
    assert figs.precision == {"spam": 0.0, "threat": 1.0, "sexual": 1.0}
    assert figs.blocks_active == {"24h": 0, "30d": 1, "permanent": 0} and figs.blocks_total == 1
    assert {"abuse_flagged", "abuse_dismissed", "abuse_warned", "abuse_blocked", "blocked"} <= {e.kind for e in audits}
    for e in audits:   # no bodies, no numbers in the audit trail
        assert "fuck" not in str(e.data) and "nudes" not in str(e.data) and "+1555" not in str(e.data)
    assert await review.unblock(db, c, None, now=now)
    async with db.session() as s:
        assert not (await blocks.status(s, c, now)).blocked
        rows = list(await s.scalars(select(AbuseReview)))
    assert {r.status for r in rows} == {"dismissed", "warned", "blocked"}


def test_auto_block_is_off_by_default_and_per_class_with_a_threshold() -> None:
    spam = score(SPAM + " bit.ly/zz")
    off = Settings()
    assert policy.auto_block_decision(spam, off) is None
    on = replace(off, abuse_auto_block="spam=0.95", abuse_auto_block_for="24h")
    decision = policy.auto_block_decision(spam, on)
    assert decision is not None and decision.cls == "spam" and decision.duration == "24h"
    assert policy.auto_block_decision(score("send nudes"), on) is None   # only the classes staff switched on
    assert policy.auto_block_decision(spam, on, risk_level="imminent") is None   # risk always wins
    assert policy.auto_block_decision(score("fuck you, i want to kill myself"),
                                      replace(on, abuse_auto_block="threat=0.9")) is None
    low = replace(off, abuse_auto_block="spam=0.1")
    assert policy.parse_rules(low.abuse_auto_block) == {"spam": policy.MIN_THRESHOLD}   # never below 0.9
    assert policy.auto_block_decision(score("tinyurl.com/abc"), low) is None
    coordinated = Behaviour(same_text_numbers=6)
    assert policy.auto_block_decision(None, on, coordinated) is not None
    with pytest.raises(ValueError):
        policy.parse_rules("everything=0.5")


async def test_check_turn_for_the_router(db: Database) -> None:
    from bot.abuse.turn import check_turn

    now = utcnow()
    settings = replace(Settings(), privacy_key="test-privacy-key")
    t = await add_texter(db)
    msg = await add_inbound(db, t, SPAM + " bit.ly/zz", at=now)
    async with db.transaction() as s:
        res = await check_turn(s, texter_id=t, conversation_id=None, message_id=msg, text=SPAM + " bit.ly/zz",
                               settings=settings, now=now)
    assert "spam" in res.signals.to_dict() and res.review_id is not None
    assert not res.block.blocked and res.auto_block is None   # off by default: people decide
    on = replace(settings, abuse_auto_block="spam=0.95")
    async with db.transaction() as s:
        risky = await check_turn(s, texter_id=t, conversation_id=None, message_id=msg, text=SPAM + " bit.ly/zz",
                                 settings=on, risk_level="high", now=now)
        assert not risky.block.blocked   # risk always wins over an automatic block
        res = await check_turn(s, texter_id=t, conversation_id=None, message_id=msg, text=SPAM + " bit.ly/zz",
                               settings=on, now=now)
    assert res.auto_block is not None and res.block.blocked and res.block.until == now + timedelta(hours=24)
    async with db.session() as s:
        assert not (await blocks.status(s, t, now + timedelta(hours=25))).blocked
    other = await add_texter(db)
    async with db.transaction() as s:
        calm = await check_turn(s, texter_id=other, conversation_id=None, message_id=None,
                                text="i can't sleep and i feel so alone", settings=on, now=now)
    assert calm.signals.to_dict() == {} and calm.review_id is None and not calm.block.blocked


def test_a_mistake_in_the_auto_block_setting_switches_it_off() -> None:
    spam = score(SPAM + " bit.ly/zz")
    assert policy.auto_block_decision(spam, replace(Settings(), abuse_auto_block="spam=lots")) is None
    assert policy.auto_block_decision(spam, replace(Settings(), abuse_auto_block="spam=0.95",
                                                    abuse_auto_block_for="a week")) is None
