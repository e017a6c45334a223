"""Operational metrics for Prometheus (the official prometheus-client), and the ``GET /metrics`` handler.

Low in the layers: anything may import it (it imports only the store). Counters and histograms are incremented by
the code that sees the event, through the small functions below; the queue's depth and oldest wait by urgency
level are read from the store when Prometheus scrapes. No label ever holds a phone number, a message or a
conversation id.

Where each is incremented (see README "Operational metrics"):
- ``webhook(kind, outcome, seconds)``: the Twilio webhook handlers through ``@timed_webhook(kind)`` (bot/sms/
  webhook.py), once per request (kind sms | status; outcome stored | duplicate | rejected | error).
- ``send_failed(error_code)`` also from the status callback, for a text Twilio reports failed / undelivered.
- ``turn(path, seconds)``: the router, once per texter turn (path rasa | fail_open | imminent | counselor |
  survey | ignored), from the turn's first text leased to its transaction committed.
- ``fail_open(cause)``: the router's fail-open path (cause: the RasaUnavailable kind, e.g. timeout, http, empty).
- ``send_failed(error_code)``: the outbox, when a send fails for good or is retried (code "network" when there is
  no Twilio error code).
- ``imminent_fast_path()``: the router, when the gateway's own triage ends an intake as imminent.
- ``set_triage_model(version)``: whoever loads the scorer (the lexicon's fingerprint until a learned model is
  promoted).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import func, select

from bot.settings import ROOT
from bot.store.db import Database
from bot.store.models import Conversation, utcnow

LEVELS = ("none", "low", "moderate", "high", "imminent")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

WEBHOOKS = Counter("crisis_webhook_acks", "Twilio webhooks answered, by kind and outcome",
                   ["kind", "outcome"], registry=REGISTRY)
WEBHOOK_SECONDS = Histogram("crisis_webhook_ack_seconds", "Time to answer a Twilio webhook", ["kind"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY)
TURNS = Counter("crisis_turns", "Texter turns handled, by path", ["path"], registry=REGISTRY)
TURN_SECONDS = Histogram("crisis_turn_seconds", "Time to handle one texter turn", ["path"],
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32), registry=REGISTRY)
FAIL_OPENS = Counter("crisis_fail_opens", "Conversations failed open to the queue (Rasa unavailable)", ["cause"],
                     registry=REGISTRY)
SEND_FAILURES = Counter("crisis_send_failures", "Outbound texts that failed, by Twilio error code", ["error_code"],
                        registry=REGISTRY)
IMMINENT = Counter("crisis_imminent_fast_path", "Intakes ended at once by imminent risk in the texter's words",
                   registry=REGISTRY)
TRIAGE_MODEL = Info("crisis_triage_model", "The triage scorer in use", registry=REGISTRY)
QUEUE_DEPTH = Gauge("crisis_queue_depth", "Texters waiting for a counselor, by urgency level", ["level"],
                    registry=REGISTRY)
QUEUE_OLDEST = Gauge("crisis_queue_oldest_wait_seconds", "Longest current wait, by urgency level", ["level"],
                     registry=REGISTRY)
ACTIVE = Gauge("crisis_active_conversations", "Conversations with a counselor now", registry=REGISTRY)


def webhook(kind: str, outcome: str, seconds: float) -> None:
    WEBHOOKS.labels(kind, outcome).inc()
    WEBHOOK_SECONDS.labels(kind).observe(seconds)


def timed_webhook(kind: str) -> Callable[[Handler], Handler]:
    """Wrap a webhook handler: count its answer by outcome and time it. A handler may set
    ``request["webhook_outcome"]`` (e.g. "duplicate"); otherwise 2xx = stored, 4xx = rejected, else error."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def timed(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            outcome = "error"
            try:
                response = await handler(request)
                outcome = request.get("webhook_outcome", "stored")
                return response
            except web.HTTPException as exc:
                outcome = "rejected" if 400 <= exc.status < 500 else "error"
                raise
            finally:
                webhook(kind, outcome, time.perf_counter() - started)

        return timed

    return wrap


def turn(path: str, seconds: float) -> None:
    TURNS.labels(path).inc()
    TURN_SECONDS.labels(path).observe(seconds)


def fail_open(cause: str) -> None:
    FAIL_OPENS.labels(cause[:40] or "unknown").inc()


def send_failed(error_code: int | str | None) -> None:
    SEND_FAILURES.labels(str(error_code) if error_code is not None else "network").inc()


def imminent_fast_path() -> None:
    IMMINENT.inc()


def set_triage_model(version: str, kind: str = "lexicon") -> None:
    TRIAGE_MODEL.info({"version": version, "kind": kind})


def lexicon_version() -> str:
    """A fingerprint of the lexicon files: what the rule-based scorer is."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "data" / "lexicons").glob("*.yml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return "lexicon-" + digest.hexdigest()[:10]


set_triage_model(lexicon_version())


async def refresh_queue(db: Database, now: datetime | None = None) -> None:
    """Set the queue gauges from the store (called at scrape time)."""
    now = now or utcnow()
    async with db.session() as s:
        rows = list(await s.execute(
            select(Conversation.urgency_level, func.count(), func.min(Conversation.queued_at))
            .where(Conversation.state == "waiting")
            .group_by(Conversation.urgency_level)
        ))
        active = await s.scalar(select(func.count()).select_from(Conversation).where(Conversation.state == "active"))
    seen = {r[0]: r for r in rows}
    for level in LEVELS:
        r = seen.get(level)
        QUEUE_DEPTH.labels(level).set(r[1] if r else 0)
        QUEUE_OLDEST.labels(level).set(max(0.0, (now - r[2]).total_seconds()) if r and r[2] else 0)
    ACTIVE.set(active or 0)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


def handler(db_of: Callable[[web.Request], Database]) -> Callable[[web.Request], object]:
    """The ``GET /metrics`` handler; ``db_of`` finds the store from the request (the gateway's app key)."""

    async def metrics(request: web.Request) -> web.Response:
        try:
            await refresh_queue(db_of(request))
        except Exception:  # the process metrics are still worth serving when the store is down
            QUEUE_DEPTH.clear()
            QUEUE_OLDEST.clear()
        response = web.Response(body=exposition())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    return metrics
