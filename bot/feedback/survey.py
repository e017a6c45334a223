"""The texter survey after a conversation closes: who gets it and when, the questions, and filing the answers.

Rules (the owner of ``Survey`` rows; every change is a named transition below):
- A conversation that a counselor took (``claimed_at`` set) and that closed SURVEY_DELAY_SECONDS ago gets one
  survey, at most once (``surveys.conversation_id`` is unique, so two gateways never send it twice).
- Never to an opted-out number, never after a close for abuse (``closed_reason`` "abuse") or opt-out, never while
  another conversation of the texter is open, and only for closes within SURVEY_REPLY_HOURS (turning the survey
  on does not text everyone who ever closed). When a texter has several due, only the latest is asked.
- Question 1: did it help, 1-5. Question 2 (SURVEY_SECOND_QUESTION): less alone than at the start? Then thanks.
  Free text is stored as written. STOP is handled by the router before any of this, as everywhere.
- A reply that says the texter is in crisis again (triage level moderate or above, or a plain request for help)
  is never filed: the survey is marked ``crisis`` and the caller starts a new conversation with that text.

Entry points: ``send_due(db, settings, now)`` from the periodic jobs; ``take_reply(session, texter_id, text, now)``
from the router, for a text of a texter with no open conversation, inside the router's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.settings import Settings
from bot.sms import outbox
from bot.store.db import Database
from bot.store.models import Conversation, Message, Survey, Texter
from bot.triage import LEVELS, assess

OPEN_STATES = ("intake", "waiting", "active")
NO_SURVEY_REASONS = ("abuse", "opted_out")
AWAITING = ("sent", "asked_second")

EMERGENCY = "If you're in danger now, call 911, or call or text 988 any time."
QUESTION_1 = (
    "Thanks for texting with us earlier. Did the conversation help? Reply with a number from 1 (not at all) to "
    "5 (a lot). If you need to talk again, just tell us. Text STOP to end texts."
)
QUESTION_2 = "Thank you. Do you feel less alone than when you started? Reply yes, no or not sure."
THANKS = "Thank you for telling us. It helps us help others. Text us any time. " + EMERGENCY

_SCORE = re.compile(r"(?<![\d.])([1-5])(?![\d.])")
_HELP = re.compile(
    r"\b(help me|need (some |more )?help|(i|we) need (someone|somebody|a counselor|to talk)|"
    r"(talk|speak|text) (to|with) (someone|somebody|a counselor|a person|a human|you again)|"
    r"can (someone|somebody|you) (talk|help|text)|not (ok|okay|safe)|in crisis|emergency|"
    r"(it'?s|things are) (getting )?worse|want to die|kill myself|hurt myself)\b",
    re.IGNORECASE,
)
_YES = re.compile(r"^\s*(y|yes|yeah|yep|yup|sure|i do|a bit|a little|kind of|kinda)\b", re.IGNORECASE)
_NO = re.compile(r"^\s*(n|no|nope|nah|not really|not at all|i don'?t)\b", re.IGNORECASE)
_UNSURE = re.compile(r"\b(not sure|unsure|dunno|don'?t know|idk|maybe|same)\b", re.IGNORECASE)
MAX_TEXT = 1000
CRISIS_FROM = LEVELS.index("moderate")


@dataclass
class SurveyOutcome:
    """What the router does with a text from a texter without an open conversation.

    - ``kind == "none"``: no survey awaits an answer; route the text as usual (a new conversation).
    - ``kind == "filed"``: the text was an answer; mark it processed under ``conversation_id`` (the surveyed
      conversation). ``replies`` were added to the outbox in the caller's transaction: wake the outbox.
    - ``kind == "new_conversation"``: the text says the texter needs help again; nothing was filed; start a new
      conversation with this text exactly as for a first text.
    """

    kind: str
    conversation_id: str | None = None
    replies: list[Message] = field(default_factory=list)

    @property
    def start_conversation(self) -> bool:
        return self.kind != "filed"


def is_crisis(text: str) -> bool:
    """A reply that asks for help or that triage reads as moderate risk or above."""
    if _HELP.search(text):
        return True
    return LEVELS.index(assess([text[:MAX_TEXT]]).level) >= CRISIS_FROM


def read_score(text: str) -> int | None:
    found = _SCORE.findall(text)
    return int(found[0]) if len(set(found)) == 1 else None


def read_second(text: str) -> str | None:
    if _UNSURE.search(text):
        return "unsure"
    if _NO.search(text):
        return "no"
    if _YES.search(text):
        return "yes"
    return None


@dataclass(frozen=True)
class Due:
    conversation_id: str
    texter_id: int


async def due_surveys(db: Database, settings: Settings, now: datetime) -> list[Due]:
    """Closed conversations whose survey is due now, at most one per texter (the latest close)."""
    if not settings.survey_enabled:
        return []
    delay = timedelta(seconds=settings.survey_delay_seconds)
    oldest = now - delay - timedelta(hours=settings.survey_reply_hours)
    other = aliased(Conversation)
    async with db.session() as s:
        rows = await s.execute(
            select(Conversation.id, Conversation.texter_id, Conversation.closed_at)
            .join(Texter, Texter.id == Conversation.texter_id)
            .where(
                Conversation.state == "closed",
                Conversation.claimed_at.is_not(None),
                Conversation.closed_at <= now - delay,
                Conversation.closed_at > oldest,
                or_(Conversation.closed_reason.is_(None), ~Conversation.closed_reason.in_(NO_SURVEY_REASONS)),
                Texter.opted_out.is_(False),
                ~exists().where(Survey.conversation_id == Conversation.id),
                ~exists().where(and_(other.texter_id == Conversation.texter_id, other.state.in_(OPEN_STATES))),
                ~exists().where(and_(Survey.texter_id == Conversation.texter_id, Survey.sent_at > oldest)),
            )
            .order_by(Conversation.closed_at.desc())
        )
        latest: dict[int, Due] = {}
        for r in rows:
            latest.setdefault(r.texter_id, Due(r.id, r.texter_id))
    return list(latest.values())


async def send_due(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Send every due survey (question 1); returns the conversation ids. Each send re-checks the rules inside
    its own transaction (the texter may have opted out or texted again since the look-up)."""
    sent = []
    for due in await due_surveys(db, settings, now):
        try:
            async with db.transaction() as s:
                texter = await s.get(Texter, due.texter_id)
                still_open = await s.scalar(
                    select(Conversation.id).where(
                        Conversation.texter_id == due.texter_id, Conversation.state.in_(OPEN_STATES)
                    ).limit(1)
                )
                if texter is None or texter.opted_out or still_open is not None:
                    continue
                s.add(Survey(conversation_id=due.conversation_id, texter_id=due.texter_id, status="sent",
                             sent_at=now))
                await s.flush()  # the unique conversation_id: another gateway sent it first -> IntegrityError
                await outbox.enqueue(
                    s, texter_id=due.texter_id, conversation_id=due.conversation_id, body=QUESTION_1,
                    author="system",
                )
        except IntegrityError:
            continue
        sent.append(due.conversation_id)
    return sent


async def awaiting(session: AsyncSession, texter_id: int, now: datetime, reply_hours: int) -> Survey | None:
    """The texter's survey still waiting for an answer, if any (expired ones are marked so on the way)."""
    survey = await session.scalar(
        select(Survey)
        .where(Survey.texter_id == texter_id, Survey.status.in_(AWAITING))
        .order_by(Survey.sent_at.desc())
        .limit(1)
    )
    if survey is None:
        return None
    if now - survey.sent_at > timedelta(hours=reply_hours):
        survey.status = "expired"
        return None
    return survey


async def take_reply(
    session: AsyncSession, texter_id: int, text: str, now: datetime, *, settings: Settings | None = None
) -> SurveyOutcome:
    """File ``text`` as the answer to the texter's open survey question, or say it is not one."""
    settings = settings or Settings()
    survey = await awaiting(session, texter_id, now, settings.survey_reply_hours)
    if survey is None:
        return SurveyOutcome("none")
    text = text.strip()[:MAX_TEXT]
    if not text:
        return SurveyOutcome("none")
    if is_crisis(text):
        survey.status = "crisis"  # a call for help is never feedback
        return SurveyOutcome("new_conversation", survey.conversation_id)
    if survey.status == "sent":
        survey.score = read_score(text)
        survey.score_text = text
        survey.answered_at = now
        if settings.survey_second_question:
            survey.status = "asked_second"
            body = QUESTION_2
        else:
            survey.status = "answered"
            body = THANKS
    else:
        survey.second = read_second(text)
        survey.second_text = text
        survey.status = "answered"
        body = THANKS
    rows = await outbox.enqueue(
        session, texter_id=texter_id, conversation_id=survey.conversation_id, body=body, author="system"
    )
    return SurveyOutcome("filed", survey.conversation_id, rows)
