"""Seeding the store with conversations whose every timestamp is chosen by the test, so figures can be computed
by hand: texters, conversations at each stage, counselor and bot texts, reports, surveys, experiment rows."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from bot.store.db import Database
from bot.store.models import Conversation, ExperimentAssignment, Message, Survey, Texter, User

T0 = datetime(2026, 11, 2, 9, 0, 0)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def texter(db: Database, *, opted_out: bool = False, privacy: Any = None) -> int:
    """A texter; with ``privacy`` its (made-up) number is really encrypted, so a running outbox can text it."""
    phone = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    async with db.transaction() as s:
        t = Texter(phone_hash=secrets.token_hex(16), phone_enc=privacy.encrypt(phone) if privacy else "-",
                   opted_out=opted_out)
        s.add(t)
        await s.flush()
        return t.id


async def counselor(db: Database, name: str) -> int:
    async with db.transaction() as s:
        u = User(username=name, password_hash="-", role="counselor", display_name=name.title())
        s.add(u)
        await s.flush()
        return u.id


async def conversation(
    db: Database,
    texter_id: int,
    *,
    created: datetime,
    state: str = "closed",
    level: str = "low",
    reason: str | None = "completed",
    answers: dict[str, Any] | None = None,
    queued: datetime | None = None,
    claimed: datetime | None = None,
    closed: datetime | None = None,
    closed_reason: str | None = None,
    counselor_id: int | None = None,
    first_reply: datetime | None = None,
    report: dict[str, Any] | None = None,
    referrals: list[dict[str, Any]] | None = None,
    variant: tuple[str, str] | None = None,
    conv_id: str | None = None,
    bot_text: str | None = None,
) -> str:
    """One conversation; ``first_reply`` adds the counselor's first text at that time."""
    cid = conv_id or "c_" + secrets.token_hex(8)
    async with db.transaction() as s:
        s.add(Conversation(
            id=cid, texter_id=texter_id, state=state, created_at=created, updated_at=created,
            urgency_level=level, urgency_score={"none": 0, "low": 20, "moderate": 50, "high": 70,
                                                "imminent": 95}[level],
            urgency_reasons=[], needs=[],
            context={"answers": answers or {}, "referrals": referrals or [], "reason": reason},
            intake_complete=reason == "completed", handoff_reason=reason, queued_at=queued, claimed_at=claimed,
            closed_at=closed, closed_reason=closed_reason if closed_reason is not None else (
                "counselor" if state == "closed" else None),
            counselor_id=counselor_id, report=report,
        ))
        await s.flush()
        s.add(Message(texter_id=texter_id, conversation_id=cid, direction="in", author="texter", body="hi",
                      status="processed", created_at=created))
        if first_reply is not None:
            s.add(Message(texter_id=texter_id, conversation_id=cid, direction="out", author="counselor",
                          body="I'm here.", status="delivered", counselor_id=counselor_id, created_at=first_reply))
        if bot_text is not None:
            s.add(Message(texter_id=texter_id, conversation_id=cid, direction="out", author="bot", body=bot_text,
                          status="delivered", created_at=created))
        if variant is not None:
            s.add(ExperimentAssignment(conversation_id=cid, experiment=variant[0], variant=variant[1],
                                       assigned_at=created))
    return cid


async def survey(db: Database, conv_id: str, texter_id: int, *, score: int | None, second: str | None = None,
                 sent: datetime, status: str = "answered") -> None:
    async with db.transaction() as s:
        s.add(Survey(conversation_id=conv_id, texter_id=texter_id, status=status, sent_at=sent, score=score,
                     score_text=str(score) if score is not None else None, second=second,
                     answered_at=sent if score is not None else None))


def report(level: str, given: list[str] | None = None, predicted: list[str] | None = None) -> dict[str, Any]:
    return {"confirmed": {"risk_level": level, "referrals_given": given or [], "issues": [], "outcome": "other"},
            "predicted": {"risk_level": level, "referrals_given": predicted or []}, "changed": []}
