"""Two gateways and two Rasa servers share the work without losing, doubling or confusing a text: consecutive texts
of one texter land on different gateways (and so on different Rasa and action servers), yet every MessageSid is
handled once, the bot says exactly what it says on a single instance, each intake reaches the queue once, and a
webhook delivered to both gateways at once is stored once."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select, text
from sqlalchemy.engine import Row

from bot.privacy import Privacy
from bot.sms import replies
from bot.sms.inbox import UNHANDLED
from bot.sms.outbox import UNFINISHED
from bot.store.models import AuditEvent, Conversation, Message, Texter
from tests.scaleout.conftest import NEEDS_SERVICES, Cluster
from tests.support.waiting import eventually

pytestmark = NEEDS_SERVICES

# Our own example intake: greeting, what is going on, safe now, the screener answered "no", age.
INTAKE = ["hi", "work has been crushing me and i cant sleep", "yeah im safe", "no", "nah", "no never", "29"]
QUEUE_TEXTS = {replies.queue_position(n) for n in (1, 2, 9)}
SENT = ("sent", "delivered", "local")


def _texter_id(cluster: Cluster, phone: str) -> int | None:
    phone_hash = Privacy(cluster.settings.privacy_key).hash_phone(phone)
    with cluster.db.connect() as conn:
        return conn.scalar(select(Texter.id).where(Texter.phone_hash == phone_hash))


def _settled(cluster: Cluster, phone: str) -> bool:
    """Every text from this texter handled, every reply to them accepted by the Twilio API."""
    texter_id = _texter_id(cluster, phone)
    if texter_id is None:
        return False
    with cluster.db.connect() as conn:
        busy = conn.scalar(
            select(func.count()).select_from(Message).where(
                Message.texter_id == texter_id,
                ((Message.direction == "in") & Message.status.in_(UNHANDLED))
                | ((Message.direction == "out") & Message.status.in_(UNFINISHED)),
            )
        )
        sent = conn.scalar(
            select(func.count()).select_from(Message).where(
                Message.texter_id == texter_id, Message.direction == "out", Message.status.in_(SENT)
            )
        )
    return busy == 0 and len(cluster.twilio.to(phone)) == sent


async def _wait_settled(cluster: Cluster, phone: str) -> None:
    def check() -> bool:
        assert _settled(cluster, phone), f"texts of {phone[-4:]} still in flight"
        return True

    await eventually(lambda: asyncio.to_thread(check), timeout=60, interval=0.05)


async def _intake(cluster: Cluster, phone: str, gateways: list[int]) -> list[list[str]]:
    """Text the intake, each text to the gateway given for it, each after the bot's answer; the answers per text."""
    answers: list[list[str]] = []
    for body, gateway in zip(INTAKE, gateways, strict=True):
        seen = len(cluster.twilio.to(phone))
        assert await cluster.texter(phone, gateway).text(body) == 200
        await _wait_settled(cluster, phone)
        answers.append([m.body for m in cluster.twilio.to(phone)[seen:]])
    return answers


def _inbound_by_sid(cluster: Cluster, texter_id: int) -> dict[str, list[str]]:
    with cluster.db.connect() as conn:
        rows = conn.execute(
            select(Message.twilio_sid, Message.status).where(Message.texter_id == texter_id, Message.direction == "in")
        ).all()
    by_sid: dict[str, list[str]] = {}
    for sid, status in rows:
        by_sid.setdefault(sid, []).append(status)
    return by_sid


def _rasa_user_texts(cluster: Cluster, conversation_id: str) -> list[str]:
    """What Rasa's shared tracker store holds as this conversation's user messages, in order."""
    with cluster.db.connect() as conn:
        rows = conn.execute(
            text("SELECT data FROM events WHERE sender_id = :sid AND type_name = 'user' ORDER BY id"),
            {"sid": conversation_id},
        ).scalars()
        return [json.loads(row).get("text", "") for row in rows]


def _conversations(cluster: Cluster, texter_id: int) -> list[Row]:
    with cluster.db.connect() as conn:
        return list(conn.execute(select(Conversation).where(Conversation.texter_id == texter_id)).all())


def _queued_events(cluster: Cluster, conversation_id: str) -> int:
    with cluster.db.connect() as conn:
        return int(conn.scalar(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.conversation_id == conversation_id, AuditEvent.kind == "queued"
            )
        ))


def _without_queue_position(answers: list[list[str]]) -> list[list[str]]:
    return [[t for t in turn if t not in QUEUE_TEXTS] for turn in answers]


async def test_alternating_gateways_give_the_same_conversation_as_one_instance(cluster: Cluster):
    # A texter on one gateway only is the reference; four others alternate gateways on every text, at once.
    alternating = [[(i + k) % 2 for i in range(len(INTAKE))] for k in range(4)]
    phones = [f"+1555017{k:04d}" for k in range(5)]
    reference, *others = await asyncio.gather(
        _intake(cluster, phones[0], [0] * len(INTAKE)),
        *(_intake(cluster, phone, route) for phone, route in zip(phones[1:], alternating, strict=True)),
    )
    assert "STOP" in reference[0][0]  # the greeting
    assert all(reference), "the bot answered every text"
    assert QUEUE_TEXTS & set(reference[-1]), "the intake ended in the queue"

    for phone, answers in zip(phones, [reference, *others], strict=True):
        # Exactly what one instance says: nothing lost, nothing said twice, no intake restarted on another server.
        assert _without_queue_position(answers) == _without_queue_position(reference)
        texter_id = _texter_id(cluster, phone)
        by_sid = _inbound_by_sid(cluster, texter_id)
        assert len(by_sid) == len(INTAKE)
        assert all(statuses == ["processed"] for statuses in by_sid.values())
        (conv,) = _conversations(cluster, texter_id)  # one conversation, in the queue once
        assert conv.state == "waiting" and conv.intake_complete and conv.handoff_reason == "completed"
        assert _queued_events(cluster, conv.id) == 1
        # Rasa's shared tracker saw each text once, in order, whichever Rasa server handled it.
        assert _rasa_user_texts(cluster, conv.id) == INTAKE
        sids = [m.sid for m in cluster.twilio.to(phone)]
        assert len(sids) == len(set(sids))


async def test_rapid_texts_split_across_gateways_are_handled_once_and_in_order(cluster: Cluster):
    phone = "+15550179001"
    await _intake_first_turn(cluster, phone)
    first, second = "work has been crushing me", "and i cant sleep at all"
    statuses = await asyncio.gather(
        cluster.texter(phone, 0).text(first), _after(0.05, cluster.texter(phone, 1).text(second))
    )
    assert statuses == [200, 200]
    await _wait_settled(cluster, phone)
    texter_id = _texter_id(cluster, phone)
    by_sid = _inbound_by_sid(cluster, texter_id)
    assert len(by_sid) == 3 and all(s == ["processed"] for s in by_sid.values())
    (conv,) = _conversations(cluster, texter_id)
    seen_by_rasa = _rasa_user_texts(cluster, conv.id)
    # Either one merged turn or two turns, but each fragment once and in the order sent.
    assert " ".join(seen_by_rasa[1:]) == f"{first} {second}"
    sids = [m.sid for m in cluster.twilio.to(phone)]
    assert len(sids) == len(set(sids))


async def test_one_webhook_delivered_to_both_gateways_at_once_is_stored_and_answered_once(cluster: Cluster):
    reference = "+15550179101"
    expected = await _intake_first_turn(cluster, reference)
    phone = "+15550179102"
    form = cluster.texter(phone, 0).form(INTAKE[0])  # one MessageSid, as Twilio's retry or fallback URL would send
    statuses = await asyncio.gather(cluster.texter(phone, 0).post(form), cluster.texter(phone, 1).post(form))
    assert statuses == [200, 200]
    await _wait_settled(cluster, phone)
    await asyncio.sleep(1.0)  # a second handling would have answered by now
    by_sid = _inbound_by_sid(cluster, _texter_id(cluster, phone))
    assert by_sid == {form["MessageSid"]: ["processed"]}
    assert [m.body for m in cluster.twilio.to(phone)] == expected


async def _intake_first_turn(cluster: Cluster, phone: str) -> list[str]:
    assert await cluster.texter(phone, 0).text(INTAKE[0]) == 200
    await _wait_settled(cluster, phone)
    return [m.body for m in cluster.twilio.to(phone)]


async def _after(delay: float, work):
    await asyncio.sleep(delay)
    return await work
