"""The greeting experiment through the real Rasa server and action server: each conversation's variant, sent in
the REST turn's metadata as the gateway sends it, picks the conditional greeting; the report reads the result."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.experiments import assign, config
from bot.experiments.report import analysis_for, format_report
from bot.settings import ROOT
from bot.store.db import Database, migrate
from bot.store.models import Conversation, utcnow
from tests.insights import seeding

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::FutureWarning")]


def greetings() -> dict[str, str]:
    variations = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]["utter_greet"]
    plain = next(v["text"] for v in variations if not v.get("condition"))
    b = next(v["text"] for v in variations if v.get("condition") and v["condition"][0]["value"] == "b")
    return {"a": plain, "b": b}


async def turn(http: aiohttp.ClientSession, url: str, sender: str, text: str, metadata: dict) -> list[str]:
    body = {"sender": sender, "message": text, "metadata": metadata}
    async with http.post(url + "/webhooks/rest/webhook", json=body) as resp:
        assert resp.status == 200
        return [m["text"] for m in await resp.json() if m.get("text")]


async def test_greeting_variants_through_rasa(rasa_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    migrate(url)
    db = Database(url, pool_size=2)
    # The shipped experiment, switched on (it ships off: staff start it).
    exp = [dataclasses.replace(e, active=True) for e in config.load(ROOT / "data" / "experiments.yml")]
    texts = greetings()
    seen: dict[str, int] = {"a": 0, "b": 0}
    try:
        t = await seeding.texter(db)
        ids: dict[str, list[str]] = {"a": [], "b": []}
        while min(len(v) for v in ids.values()) < 3:  # three conversations of each variant
            cid = "c_" + secrets.token_hex(8)
            ids[assign.choose("greeting", cid, exp[0].variants)].append(cid)
        async with aiohttp.ClientSession() as http:
            for conv_id in ids["a"][:3] + ids["b"][:3]:
                async with db.transaction() as s:
                    s.add(Conversation(id=conv_id, texter_id=t, state="intake", urgency_reasons=[], needs=[],
                                       context={}))
                    await s.flush()
                    variants = await assign.assignments_for(s, conv_id, exp, new=True)
                metadata = {"message_ids": [1], **assign.rasa_metadata(variants)}
                replies = await turn(http, rasa_stack.rasa_url, conv_id, "hi", metadata)
                variant = variants["greeting"]
                assert replies[0] == texts[variant], (variant, replies)
                assert "911" in replies[0]
                # the next turn keeps the slot; the intake goes on as usual (the first question)
                replies = await turn(http, rasa_stack.rasa_url, conv_id, "my parents keep fighting", metadata)
                assert replies and all(r not in texts.values() for r in replies)
                seen[variant] += 1
                async with db.transaction() as s:  # what the router records when the intake ends
                    conv = await s.get(Conversation, conv_id)
                    conv.state, conv.queued_at, conv.handoff_reason = "waiting", utcnow(), "requested"
            plain = await turn(http, rasa_stack.rasa_url, "c_" + secrets.token_hex(8), "hi", {})
            assert plain[0] == texts["a"]
        assert seen["a"] and seen["b"]
        report = format_report(exp[0], await analysis_for(db, exp[0], utcnow()))
        assert f"a n={seen['a']}" in report and f"b n={seen['b']}" in report and "INTERIM" in report
    finally:
        await db.close()
