"""The learning loop end to end on the real processes: counselors close conversations with labels in the console
of the running gateway, written examples are imported, `python -m bot triage train --promote` makes a model live,
and within seconds the running gateway and the action server score with it (an intake through Rasa and the
actions carries the promoted version in its urgency)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest
from sqlalchemy import create_engine, select

from bot.privacy import Privacy
from bot.store.db import Database, sync_url
from bot.store.models import Conversation, Label, Texter
from tests.console.conftest import PASSWORD, seed, sign_in
from tests.e2e.conftest import Stack
from tests.e2e.test_intake_e2e import converse
from tests.learning import examples
from tests.learning.conftest import AT_RISK, NOT_AT_RISK
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
FETCH = {"X-Requested-With": "fetch"}


async def _close_all(stack: Stack, username: str, levels: list[str]) -> list[str]:
    async with aiohttp.ClientSession(stack.gateway_url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        csrf = await sign_in(client, username, PASSWORD)
        closed = []
        for level in levels:
            async with client.post("/console/take-next", data={"csrf": csrf}, headers=FETCH) as resp:
                assert resp.status == 200, await resp.text()
                conv_id = (await resp.json())["conversation_id"]
            form = {"csrf": csrf, "risk_level": level, "outcome": "de_escalated"}
            async with client.post(f"/console/c/{conv_id}/close", data=form, headers=FETCH) as resp:
                assert resp.status == 200, await resp.text()
            closed.append(conv_id)
        return closed


async def _health(stack: Stack) -> dict:
    async with aiohttp.ClientSession() as client, client.get(stack.gateway_url + "/health") as resp:
        return await resp.json()


def _context_of(stack: Stack, phone: str) -> dict:
    engine = create_engine(sync_url(stack.settings.database_url), future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(
                select(Conversation.context).join(Texter, Texter.id == Conversation.texter_id)
                .where(Texter.phone_hash == Privacy(stack.settings.privacy_key).hash_phone(phone))
                .order_by(Conversation.created_at.desc())
            ).scalar() or {}
    finally:
        engine.dispose()


async def test_labels_train_promote_and_every_process_scores_with_the_new_model(stack: Stack, tmp_path) -> None:
    assert (await _health(stack))["triage_model"] == "lexicon"
    stack.cli("create-user", "cara", "--role", "counselor", "--password-stdin", stdin=PASSWORD + "\n")

    # counselors close conversations with their labels in the console of the running gateway
    db = Database(stack.settings.database_url, pool_size=2)
    privacy = Privacy(stack.settings.privacy_key)
    try:
        for text in AT_RISK[:3] + NOT_AT_RISK[:3]:
            await seed(db, privacy, {}, [text])
    finally:
        await db.close()
    levels = ["high", "high", "imminent", "none", "low", "none"]
    closed = []
    while levels:  # three at a time: a counselor's limit of active conversations
        closed += await _close_all(stack, "cara", levels[:3])
        levels = levels[3:]
    engine = create_engine(sync_url(stack.settings.database_url), future=True)
    try:
        with engine.connect() as conn:
            got = conn.execute(select(Label.conversation_id, Label.source).where(Label.source == "report")).all()
    finally:
        engine.dispose()
    assert {c for c, _ in got} == set(closed)

    # plus written examples, imported
    data = tmp_path / "written.jsonl"
    data.write_text(examples.jsonl(70))
    assert "imported 140, skipped 0" in stack.cli("labels", "import", str(data))

    out = stack.cli("triage", "train", "--promote", timeout=900)
    version = re.search(r"Promoted: (\S+) is live", out).group(1)  # type: ignore[union-attr]

    # the running gateway notices within seconds
    async def gateway_uses_it() -> bool:
        return (await _health(stack))["triage_model"] == version

    await eventually(gateway_uses_it, timeout=30, interval=0.5)

    # the action server too: an intake through Rasa and the actions is scored by the promoted model
    await asyncio.sleep(stack.settings.model_poll_seconds + 1)
    phone = "+15555550777"
    await converse(stack, phone, ["hi", "i counted out enough of my pills for tonight", "no", "yes", "yes", "yes",
                                  "yes", "yes", "yes", "18"])

    async def handed_off() -> dict:
        ctx = await asyncio.to_thread(_context_of, stack, phone)
        return ctx if ctx.get("urgency") else {}

    ctx = await eventually(handed_off, timeout=60, interval=0.5)
    assert ctx["urgency"]["model"] == version, json.dumps(ctx["urgency"])
    assert f"live      {version}" in stack.cli("triage", "models")
