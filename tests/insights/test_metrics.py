"""``GET /metrics`` scraped over HTTP (a small aiohttp app with the handler, as the gateway mounts it): counters,
histograms, the triage model and the queue read from the store; JSON logs carry no numbers."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.logs import JsonFormatter
from bot.store.db import Database, migrate
from bot.store.models import utcnow
from tests.insights import seeding
from tests.support.ports import free_port


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_are_scraped(database_url: str) -> None:
    migrate(database_url)
    db = Database(database_url, pool_size=2)
    now = utcnow()
    t = await seeding.texter(db)
    await seeding.conversation(db, t, created=now - timedelta(seconds=400), state="waiting", level="high",
                               queued=now - timedelta(seconds=300))
    await seeding.conversation(db, t, created=now - timedelta(seconds=200), state="waiting", level="high",
                               queued=now - timedelta(seconds=100))
    await seeding.conversation(db, t, created=now, state="waiting", level="imminent", queued=now)
    before = samples(metrics.exposition().decode())
    metrics.webhook("sms", "stored", 0.012)
    metrics.turn("rasa", 0.4)
    metrics.turn("fail_open", 8.1)
    metrics.fail_open("timeout")
    metrics.send_failed(21610)
    metrics.send_failed(None)
    metrics.imminent_fast_path()

    app = web.Application()
    app.router.add_get("/metrics", metrics.handler(lambda _request: db))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200 and resp.content_type == "text/plain"
            text = await resp.text()
    finally:
        await runner.cleanup()
        await db.close()
    got = samples(text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return got[key] - before.get(key, 0.0)

    assert delta("crisis_webhook_acks_total", kind="sms", outcome="stored") == 1
    assert delta("crisis_webhook_ack_seconds_count", kind="sms") == 1
    assert delta("crisis_turns_total", path="rasa") == 1 and delta("crisis_turns_total", path="fail_open") == 1
    assert delta("crisis_turn_seconds_bucket", path="fail_open", le="8.0") == 0
    assert delta("crisis_turn_seconds_bucket", path="fail_open", le="16.0") == 1
    assert delta("crisis_fail_opens_total", cause="timeout") == 1
    assert delta("crisis_send_failures_total", error_code="21610") == 1
    assert delta("crisis_send_failures_total", error_code="network") == 1
    assert delta("crisis_imminent_fast_path_total") == 1
    assert got[("crisis_queue_depth", (("level", "high"),))] == 2
    assert got[("crisis_queue_depth", (("level", "imminent"),))] == 1
    assert got[("crisis_queue_depth", (("level", "low"),))] == 0
    assert 299 <= got[("crisis_queue_oldest_wait_seconds", (("level", "high"),))] < 330
    model = [k for k in got if k[0] == "crisis_triage_model_info"]
    assert model and dict(model[0][1])["version"].startswith("lexicon-")
    assert "c_" not in text and "+1555" not in text


def test_json_logs_have_no_numbers_or_exception_messages() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.jsonlogs")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.info("conversation %s queued", "c_0123abcd", extra={"level": "high", "phone": "+15551234567"})
    try:
        raise ValueError("texter wrote: call me at 555-123-4567")
    except ValueError:
        log.exception("turn failed for %s", "c_0123abcd")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "conversation c_0123abcd queued" and first["level"] == "high"
    assert first["phone"] == "[number]" and first["logger"] == "test.jsonlogs"
    assert second["exc_type"] == "ValueError" and "555-123-4567" not in json.dumps(second)
    assert "texter wrote" not in json.dumps(second)


async def test_the_gateway_serves_metrics_and_counts_its_webhooks(gateway_without_rasa) -> None:  # type: ignore[no-untyped-def]
    from tests.support.stack import Texter

    gw = gateway_without_rasa
    phone = Texter(gw.url, gw.settings.twilio_auth_token, "+15555550142", gw.settings.public_base_url)
    before = samples(metrics.exposition().decode())
    form = phone.form("hello, is anyone there")
    assert await phone.post(form) == 200
    assert await phone.post(form) == 200  # Twilio's retry: same MessageSid
    assert await phone.post(form, signature="forged") == 403
    async with aiohttp.ClientSession() as http, http.get(gw.url + "/metrics") as resp:
        assert resp.status == 200
        got = samples(await resp.text())

    def delta(outcome: str) -> float:
        key = ("crisis_webhook_acks_total", (("kind", "sms"), ("outcome", outcome)))
        return got.get(key, 0.0) - before.get(key, 0.0)

    assert (delta("stored"), delta("duplicate"), delta("rejected")) == (1, 1, 1)
    assert "+15555550142" not in await resp.text()
