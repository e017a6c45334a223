"""Periodic queue jobs run by the gateway: "still here" texts to waiting texters (spaced out, never a flood),
supervisor alerts when a high or imminent texter waits too long (console + optional webhook), and closing active
conversations that went silent.

Rules, explicit:
- A waiting texter gets a notice (their place in line + STILL_WAITING) WAITING_NOTICE_SECONDS after joining the
  queue; each later gap is twice the one before (after 10 minutes, then 20 more, then 40 more, by default).
- A waiting conversation is never closed for silence: the texter is waiting for us. Only an active conversation
  whose texter (and counselor) have been silent for IDLE_CLOSE_SECONDS is closed; the counselor still files the
  report afterwards.
- A conversation alerts supervisors at most once (``Conversation.alerted_at``); the webhook gets the conversation
  id, level and wait only: never a message body or a number.
Every change is a compare-and-set, so several gateways running these jobs never double a text or an alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import and_, func, or_, select

from bot.abuse.behaviour import forget_old as forget_old_texts
from bot.experiments import config as experiment_config
from bot.experiments.report import check_guardrails
from bot.feedback import survey
from bot.handoff import queue
from bot.handoff.queue import AgingRule, rank
from bot.services import Services
from bot.settings import Settings
from bot.sms import outbox, replies
from bot.store.db import Database
from bot.store.models import AuditEvent, Conversation, Message, Texter, utcnow

log = logging.getLogger(__name__)

JOB_INTERVAL = 15.0  # seconds between runs
WEBHOOK_TIMEOUT = 5.0
def still_waiting_text(position: int, language: str = "en") -> str:
    """The periodic notice: where they are in line, that we are still here, and 911 / 988."""
    return f"{replies.queue_position(position, language)} {replies.text('still_waiting', language)}"


@dataclass
class JobReport:
    """What one run did (conversation ids), for the live hub and the tests."""

    noticed: list[str] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    closed: list[tuple[str, int | None]] = field(default_factory=list)  # (conversation id, counselor id)



def notice_due(notices_sent: int, since: datetime, interval: int, now: datetime) -> bool:
    """The n-th notice (n = notices_sent + 1) is due interval x 2^(n-1) after the previous one."""
    return now - since >= timedelta(seconds=interval * (2 ** min(notices_sent, 10)))


async def send_waiting_notices(db: Database, settings: Settings, rule: AgingRule, now: datetime) -> list[str]:
    """Text every waiting texter whose next notice is due; returns the conversation ids."""
    if settings.waiting_notice_seconds <= 0:
        return []
    notices = (
        select(func.count())
        .where(AuditEvent.conversation_id == Conversation.id, AuditEvent.kind == "waiting_notice")
        .scalar_subquery()
    )
    async with db.session() as s:
        rows = list(
            await s.execute(
                select(
                    Conversation.id,
                    Conversation.texter_id,
                    Conversation.urgency_level,
                    Conversation.urgency_score,
                    Conversation.queued_at,
                    Conversation.last_notice_at,
                    Conversation.language,
                    Texter.opted_out,
                    notices.label("notices"),
                )
                .join(Texter, Texter.id == Conversation.texter_id)
                .where(Conversation.state == "waiting")
            )
        )
    positions = {r.id: i for i, r in enumerate(rank(rows, rule, now), start=1)}
    noticed = []
    for r in rows:
        since = r.last_notice_at or r.queued_at
        if r.opted_out or since is None or not notice_due(r.notices, since, settings.waiting_notice_seconds, now):
            continue
        async with db.transaction() as s:
            if not await queue.note_waiting_notice(s, r.id, r.last_notice_at, now):
                continue  # another gateway sent it, or the texter was just claimed
            await outbox.enqueue(
                s, texter_id=r.texter_id, conversation_id=r.id, body=still_waiting_text(positions[r.id], r.language),
                author="system",
            )
            s.add(AuditEvent(kind="waiting_notice", conversation_id=r.id, data={"position": positions[r.id]}))
        noticed.append(r.id)
    return noticed


async def raise_alerts(db: Database, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Mark (once) every high/imminent texter waiting past their threshold; returns the alerts to send."""
    thresholds = {"imminent": settings.alert_imminent_wait_seconds, "high": settings.alert_high_wait_seconds}
    overdue = or_(
        *(
            and_(Conversation.urgency_level == level, Conversation.queued_at <= now - timedelta(seconds=secs))
            for level, secs in thresholds.items()
        )
    )
    async with db.session() as s:
        rows = list(
            await s.execute(
                select(Conversation.id, Conversation.urgency_level, Conversation.queued_at).where(
                    Conversation.state == "waiting", Conversation.alerted_at.is_(None), overdue
                )
            )
        )
    alerts = []
    for r in rows:
        wait = int((now - r.queued_at).total_seconds())
        async with db.transaction() as s:
            if not await queue.note_alert(s, r.id, r.urgency_level, wait, now):
                continue
        alerts.append({"conversation_id": r.id, "level": r.urgency_level, "wait_seconds": wait})
    return alerts


async def close_silent(db: Database, settings: Settings, now: datetime) -> list[tuple[str, int | None]]:
    """Close active conversations where neither the texter nor the counselor has written for IDLE_CLOSE_SECONDS."""
    if settings.idle_close_seconds <= 0:
        return []
    cutoff = now - timedelta(seconds=settings.idle_close_seconds)
    last_counselor = (
        select(func.max(Message.created_at))
        .where(Message.conversation_id == Conversation.id, Message.author == "counselor")
        .scalar_subquery()
    )
    async with db.session() as s:
        rows = list(
            await s.execute(
                select(
                    Conversation.id,
                    Conversation.texter_id,
                    Conversation.counselor_id,
                    Conversation.claimed_at,
                    Conversation.last_inbound_at,
                    Conversation.language,
                    last_counselor.label("last_counselor"),
                    Texter.opted_out,
                )
                .join(Texter, Texter.id == Conversation.texter_id)
                .where(Conversation.state == "active", Conversation.claimed_at <= cutoff)
            )
        )
    closed = []
    for r in rows:
        last = max(t for t in (r.claimed_at, r.last_inbound_at, r.last_counselor) if t is not None)
        if last > cutoff:
            continue
        async with db.transaction() as s:
            if await queue.close_if_idle(s, r.id, cutoff, now) is None:
                continue
            if not r.opted_out:
                await outbox.enqueue(
                    s, texter_id=r.texter_id, conversation_id=r.id, body=replies.text("idle_closed", r.language),
                    author="system",
                )
        closed.append((r.id, r.counselor_id))
    return closed


async def post_webhook(http: aiohttp.ClientSession, url: str, alert: dict[str, Any]) -> bool:
    """POST one alert (conversation id, level, wait: nothing else) to the configured webhook."""
    body = {k: alert[k] for k in ("conversation_id", "level", "wait_seconds")}
    try:
        async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as resp:
            if resp.status >= 300:
                log.warning("alert webhook answered HTTP %s for %s", resp.status, alert["conversation_id"])
                return False
            return True
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        log.warning("alert webhook failed for %s: %s", alert["conversation_id"], type(exc).__name__)
        return False


async def run_once(services: Services, now: datetime | None = None) -> JobReport:
    """One pass of every job (each change publishes its own live event, and queued texts go out, on commit);
    alerts also go to the optional webhook."""
    now = now or utcnow()
    settings = services.settings
    report = JobReport(
        noticed=await send_waiting_notices(services.db, settings, services.aging, now),
        alerts=await raise_alerts(services.db, settings, now),
        closed=await close_silent(services.db, settings, now),
    )
    async with services.db.transaction() as s:
        await forget_old_texts(s, now)  # the abuse checks' text hashes outlive their window by one run at most
    if settings.survey_enabled:
        await survey.send_due(services.db, settings, now)
    await check_guardrails(services.db, experiment_config.current(settings.experiments_file), now)
    if report.alerts and settings.alert_webhook_url:
        http = services.http or aiohttp.ClientSession()
        try:
            for alert in report.alerts:
                await post_webhook(http, settings.alert_webhook_url, alert)
        finally:
            if http is not services.http:
                await http.close()
    return report


async def run_jobs(services: Services, stop: asyncio.Event, interval: float = JOB_INTERVAL) -> None:
    """Run the jobs every ``interval`` seconds until ``stop`` is set; a failed run is logged and retried."""
    while not stop.is_set():
        try:
            await run_once(services)
        except Exception:
            log.exception("queue jobs: run failed; retrying next interval")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
