"""Routing of stored texts: what one turn of a texter's texts does, as a few named steps.

One texter at a time (the inbox leases texters), texts in the order they arrived. Texts that piled up while the
previous turn ran are merged into one turn, so the bot does not answer each fragment. A turn is, in order:
keywords (STOP / START / HELP) -> held back (opted out, blocked, flooding; risk always wins) -> the conversation
(opened when there is none) -> after the handoff, the counselor's transcript -> imminent risk ends the intake ->
nothing to read (media only, empty) gets a kind reply -> Rasa's turn -> its reply, or fail open to the queue.

Every state change goes through its owner: texts' statuses through the inbox, texts out through the outbox, the
conversation through the queue; each emits its live event, published when the transaction commits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession

from bot import language, metrics
from bot.abuse.turn import check_turn
from bot.experiments import assign
from bot.experiments import config as experiment_config
from bot.feedback import survey
from bot.gateway.rasa import RasaClient, RasaReply, RasaUnavailable
from bot.handoff import queue
from bot.handoff.context import HandoffContext, build_context, summarize
from bot.handoff.live import Alert, emit
from bot.settings import Settings
from bot.sms import outbox, replies
from bot.sms.inbox import Inbox
from bot.sms.keywords import Keyword, KeywordMatch, classify, match
from bot.store.db import Database
from bot.store.models import (
    AuditEvent,
    CloseReason,
    Conversation,
    ConversationState,
    InboundStatus,
    Message,
    RateCounter,
    Texter,
    utcnow,
)
from bot.triage import LEVELS

log = logging.getLogger(__name__)

MAX_RASA_CHARS = 2000
NOTICE_INTERVAL_SECONDS = 3600
INTAKE = ConversationState.INTAKE.value
AT_RISK = LEVELS.index("high")  # a text at this level or above reaches a human whatever holds it back


@dataclass
class Turn:
    """The texts one turn handles: a keyword alone, or consecutive plain texts merged."""

    msgs: list[Message]
    restricted: str | None = None  # "blocked" / "rate_limited": held back, but at risk, so let through

    @cached_property
    def ids(self) -> list[int]:
        return [m.id for m in self.msgs]

    @cached_property
    def text(self) -> str:
        return " ".join(m.body.strip() for m in self.msgs if m.body and m.body.strip())

    @property
    def media(self) -> int:
        return sum(m.num_media or 0 for m in self.msgs)

    @property
    def risk_level(self) -> str:
        """The highest level of its texts, each scored on its own once, when it was stored."""
        return LEVELS[max(LEVELS.index(m.risk_level or "none") for m in self.msgs)]

    @property
    def at_risk(self) -> bool:
        return LEVELS.index(self.risk_level) >= AT_RISK

    @property
    def resumed(self) -> bool:
        """A worker had begun these texts and stopped: Rasa may already have had them."""
        return any(m.status == InboundStatus.PROCESSING.value for m in self.msgs)

    def keyword(self, *, opted_out: bool) -> KeywordMatch | None:
        return match(self.text, opted_out=opted_out) if len(self.msgs) == 1 else None


class Router:
    """Handles every stored text of one leased texter."""

    def __init__(self, db: Database, inbox: Inbox, rasa: RasaClient, settings: Settings, aging: queue.AgingRule):
        self.db = db
        self.inbox = inbox
        self.rasa = rasa
        self.settings = settings
        self.aging = aging

    async def handle_texter(self, texter_id: int) -> None:
        """Handle the leased texter's texts until none is left, then give the lease back (in the last turn's own
        transaction when no text came meanwhile)."""
        while True:
            batches = _batches(await self.inbox.pending(texter_id))
            for i, msgs in enumerate(batches):
                if await self._turn(texter_id, Turn(msgs), last=i == len(batches) - 1):
                    return
            if not batches and await self.inbox.release_if_done(texter_id):
                return

    async def _turn(self, texter_id: int, turn: Turn, *, last: bool) -> bool:
        """One turn; True when it also gave the texter's lease back (``last``, and nothing new came)."""
        started = time.monotonic()
        path, released = await self._steps(texter_id, turn, last=last)
        metrics.turn(path, time.monotonic() - started)
        return released

    async def _steps(self, texter_id: int, turn: Turn, *, last: bool) -> tuple[str, bool]:
        """The turn's steps; returns which way it went (for the metrics) and whether the lease was given back."""
        async with self.db.transaction() as s:

            async def end(path: str) -> tuple[str, bool]:
                return path, last and await self.inbox.release_if_done(texter_id, s)

            texter = await s.get(Texter, texter_id)
            conv = await queue.current(s, texter_id)
            if await self._keyword(s, texter, conv, turn):
                return await end("keyword")
            if await self._held_back(s, texter, conv, turn):
                return await end("ignored")
            if conv is None and await self._survey_answer(s, texter_id, turn):
                return await end("survey")
            new = conv is None
            if conv is None:
                conv = await queue.open_intake(s, texter_id, language=language.detect(turn.text))
            elif turn.text:
                conv.language = language.detect(turn.text, conv.language)  # or as the texter asks
            await Inbox.start(s, turn.ids, conv.id)
            conv.last_inbound_at = utcnow()
            if conv.state != INTAKE:
                await self._to_counselor(s, texter, conv, turn)
                return await end("counselor")
            if await self._ends_intake(s, texter, conv, turn):
                return await end("imminent")
            if await self._nothing_to_read(s, texter, conv, turn):
                return await end("nothing_to_read")
            metadata = {"message_ids": turn.ids, "language": conv.language,
                        **await self._variants(s, conv.id, new=new)}
            conv_id = conv.id
        reply = await self._ask_rasa(conv_id, turn, metadata)
        async with self.db.transaction() as s:
            texter = await s.get(Texter, texter_id)
            conv = await s.get(Conversation, conv_id)
            if reply is None:
                await self._fail_open(s, texter, conv)
            else:
                await self._answer(s, texter, conv, reply)
            await Inbox.done(s, turn.ids, conv_id)
            released = last and await self.inbox.release_if_done(texter_id, s)
        return ("rasa" if reply is not None else "fail_open"), released

    # ---- the steps -------------------------------------------------------------------------------------------
    async def _keyword(self, s: AsyncSession, texter: Texter, conv: Conversation | None, turn: Turn) -> bool:
        """STOP holds everything for the number and closes a conversation not yet with a counselor (Twilio
        confirms its own keywords; ours, as PARAR, are confirmed here); START opts back in; HELP says what this
        line is. Answers go in the keyword's language."""
        found = turn.keyword(opted_out=texter.opted_out)
        conv_id = conv.id if conv else None
        keyword = found.keyword if found else None
        lang = found.language if found else "en"
        if keyword is Keyword.OPT_OUT:
            confirmation = None if found.twilio else replies.text("opted_out", lang)
            await outbox.hold_for_texter(s, texter.id, source="keyword", conversation_id=conv_id,
                                         confirmation=confirmation)
            if conv is not None and conv.state in (INTAKE, ConversationState.WAITING.value):
                await queue.close(s, conv, CloseReason.OPTED_OUT)
        elif keyword is Keyword.OPT_IN:
            await outbox.resume_for_texter(s, texter.id)
            await self._reply(s, texter, conv, replies.text("opted_in", lang))
        elif keyword is Keyword.HELP and not texter.opted_out:
            await self._reply(s, texter, conv, replies.text("help", lang))
        else:
            return False
        await Inbox.done(s, turn.ids, conv_id)
        return True

    async def _held_back(self, s: AsyncSession, texter: Texter, conv: Conversation | None, turn: Turn) -> bool:
        """An opted-out number's texts are only stored. Every other text is read for abuse (the review queue
        hears of what is found). A blocked or flooding number gets one notice and its texts are only stored,
        unless a text is at risk: risk always wins, and that turn goes on (``turn.restricted``)."""
        conv_id = conv.id if conv else None
        if texter.opted_out:
            await Inbox.ignore(s, turn.ids, conv_id)
            return True
        abuse = await check_turn(s, texter_id=texter.id, conversation_id=conv_id, message_id=turn.ids[-1],
                                 text=turn.text, settings=self.settings, risk_level=turn.risk_level)
        flooding = await self._flooding(s, texter, len(turn.msgs))
        restriction = "blocked" if abuse.block.blocked else "rate_limited" if flooding else None
        if restriction is None:
            return False
        if turn.at_risk:
            turn.restricted = restriction
            return False
        lang = conv.language if conv else language.detect(turn.text)
        await self._notice_once(s, texter, conv, replies.text("blocked" if texter.blocked else "rate_limited", lang))
        await Inbox.ignore(s, turn.ids, conv_id)
        return True

    async def _to_counselor(self, s: AsyncSession, texter: Texter, conv: Conversation, turn: Turn) -> None:
        """After the handoff, texts go to the counselor's transcript and may raise the urgency (a held-back
        number at risk also gets the safety text, and supervisors an alert)."""
        await queue.rescore(s, conv)
        if turn.restricted:
            await self._reply(s, texter, conv, replies.text("imminent", conv.language))
            self._alert_restricted(s, conv, turn.restricted)
        await Inbox.done(s, turn.ids, conv.id)

    async def _ends_intake(self, s: AsyncSession, texter: Texter, conv: Conversation, turn: Turn) -> bool:
        """Imminent risk in the texter's own words ends the intake here, without waiting for Rasa's turn (the
        actions score with the same library, so Rasa would decide the same, only later); so does any risk from a
        number that is held back. The texter gets the safety text; the card is built from the texts."""
        if not turn.text:
            return False
        texts = await queue.texter_texts(s, conv.id)
        ctx = build_context("imminent", {}, texts)
        if ctx.urgency.level != "imminent" and not turn.restricted:
            return False
        if turn.restricted:
            ctx.answers["restricted"] = turn.restricted  # the card's "blocked number" badge
            if ctx.urgency.level != "imminent":
                ctx.reason = "restricted"
            ctx.summary = summarize(ctx)
        await self._reply(s, texter, conv, replies.text("imminent", conv.language))
        await self._handoff(s, texter, conv, ctx, tell_position=False)
        if ctx.urgency.level == "imminent":
            metrics.imminent_fast_path()
        if turn.restricted:
            self._alert_restricted(s, conv, turn.restricted)
        await Inbox.done(s, turn.ids, conv.id)
        return True

    async def _nothing_to_read(self, s: AsyncSession, texter: Texter, conv: Conversation, turn: Turn) -> bool:
        """A picture, or an empty text: never silence; ask for words."""
        if turn.text:
            return False
        await self._reply(s, texter, conv, replies.text("media_only" if turn.media else "empty", conv.language))
        await Inbox.done(s, turn.ids, conv.id)
        return True

    async def _survey_answer(self, s: AsyncSession, texter_id: int, turn: Turn) -> bool:
        """A text from a texter with no open conversation may answer the survey sent after their last one; a
        text that says they are in crisis again is never filed as feedback (it starts a conversation)."""
        if not turn.text or not self.settings.survey_enabled:
            return False
        outcome = await survey.take_reply(s, texter_id, turn.text, utcnow(), settings=self.settings)
        if outcome.kind != "filed":
            return False
        await Inbox.done(s, turn.ids, outcome.conversation_id)
        return True

    async def _variants(self, s: AsyncSession, conv_id: str, *, new: bool) -> dict:
        """The conversation's intake-experiment variants, for Rasa's conditional responses (assigned on its first
        turn, from its id)."""
        experiments = experiment_config.current(self.settings.experiments_file)
        if not experiments:
            return {}
        return assign.rasa_metadata(await assign.assignments_for(s, conv_id, experiments, new=new))

    async def _ask_rasa(self, conv_id: str, turn: Turn, metadata: dict) -> RasaReply | None:
        """Rasa's reply, None when it failed (fail open). Delivery into Rasa is exactly once: texts a stopped
        worker had begun are first looked up in Rasa's tracker, and Rasa's reply then is taken from there."""
        try:
            if turn.resumed:
                earlier = await self.rasa.replay(conv_id, turn.ids)
                if earlier is not None:
                    log.info("conversation %s: Rasa had this turn already; its reply is taken from the tracker",
                             conv_id)
                    return earlier if earlier.texts or earlier.handoff else None
            return await self.rasa.turn(conv_id, for_rasa(turn.text), metadata)
        except RasaUnavailable as exc:
            log.warning("conversation %s: Rasa unavailable (%s), failing open to the queue", conv_id, exc)
            metrics.fail_open(type(exc.__cause__).__name__ if exc.__cause__ else "rasa_error")
            return None

    async def _answer(self, s: AsyncSession, texter: Texter, conv: Conversation, reply: RasaReply) -> None:
        for bot_text in reply.texts:
            await self._reply(s, texter, conv, bot_text, author="bot")
        if reply.handoff is not None and conv.state == INTAKE:
            await self._handoff(s, texter, conv, HandoffContext.from_dict(reply.handoff))

    async def _fail_open(self, s: AsyncSession, texter: Texter, conv: Conversation) -> None:
        """Rasa failed: the texter is told a counselor is coming, and the in-process triage scores the card."""
        if conv.state != INTAKE:
            return
        ctx = build_context("fallback", {}, await queue.texter_texts(s, conv.id))
        await self._reply(s, texter, conv, replies.text("fail_open", conv.language))
        await self._handoff(s, texter, conv, ctx, tell_position=False)

    # ---- helpers ---------------------------------------------------------------------------------------------
    async def _handoff(
        self, s: AsyncSession, texter: Texter, conv: Conversation, ctx: HandoffContext, *, tell_position: bool = True
    ) -> None:
        await queue.enqueue(s, conv, ctx)
        if tell_position and conv.urgency_level != "imminent":
            position = await queue.position_in_queue(s, conv, self.aging)
            await self._reply(s, texter, conv, replies.queue_position(position, conv.language))

    @staticmethod
    def _alert_restricted(s: AsyncSession, conv: Conversation, restriction: str) -> None:
        """Supervisors see at once that a held-back number wrote something at risk."""
        s.add(AuditEvent(kind="alert", conversation_id=conv.id, data={"why": restriction}))
        emit(s, Alert(conv.id, conv.urgency_level or "high", restriction))

    async def _flooding(self, s: AsyncSession, texter: Texter, count: int) -> bool:
        window = utcnow().replace(second=0, microsecond=0)
        row = await s.get(RateCounter, (texter.id, window))
        if row is None:
            row = RateCounter(texter_id=texter.id, window_start=window, count=0)
            s.add(row)
        row.count += count
        return row.count > self.settings.rate_limit_per_minute

    async def _notice_once(self, s: AsyncSession, texter: Texter, conv: Conversation | None, body: str) -> None:
        now = utcnow()
        if texter.notice_sent_at is None or (now - texter.notice_sent_at).total_seconds() > NOTICE_INTERVAL_SECONDS:
            texter.notice_sent_at = now
            await self._reply(s, texter, conv, body)

    @staticmethod
    async def _reply(
        s: AsyncSession, texter: Texter, conv: Conversation | None, body: str, author: str = "system"
    ) -> None:
        """Queue a text to the texter; the outbox sends it when this transaction commits."""
        await outbox.enqueue(s, texter_id=texter.id, conversation_id=conv.id if conv else None, body=body,
                             author=author)


def for_rasa(text: str) -> str:
    """What Rasa may read: never a leading "/" (Rasa would take "/restart" or "/request_human" as a command),
    and not more than a turn needs."""
    return text.lstrip().lstrip("/").lstrip()[:MAX_RASA_CHARS] or "(empty)"


def _batches(pending: list[Message]) -> list[list[Message]]:
    """Consecutive plain texts merge into one turn; a keyword-looking text stays a turn of its own."""
    batches: list[list[Message]] = []
    previous_solo = True
    for msg in pending:
        solo = classify(msg.body, opted_out=True) is not None
        if solo or previous_solo:
            batches.append([msg])
        else:
            batches[-1].append(msg)
        previous_solo = solo
    return batches
