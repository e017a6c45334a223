"""A gateway killed between storing a text and handling it loses nothing: after a restart the text is handled,
once (a real process, killed with SIGKILL); a database that drops every connection loses no webhook either."""

from __future__ import annotations

import signal

from sqlalchemy import create_engine, select, text

from bot.store.db import Database, sync_url
from bot.store.models import Message
from tests.gateway.test_webhook import PHONE
from tests.support.ports import free_port
from tests.support.stack import Texter, gateway_env, start_gateway_process, stop_process
from tests.support.waiting import eventually


async def test_killed_after_storing_then_restarted_processes_each_text_once(database_url, fake_twilio, tmp_path):
    port = free_port()
    base = gateway_env(tmp_path, database_url, gateway_port=port, rasa_url=f"http://127.0.0.1:{free_port()}",
                       twilio=fake_twilio, RASA_TIMEOUT="1")
    # First life: stores and acknowledges, but dies before handling anything (store-only, then SIGKILL).
    first = start_gateway_process({**base, "INBOX_WORKERS": "0"}, tmp_path / "gw1.log")
    t = Texter(f"http://127.0.0.1:{port}", fake_twilio.auth_token, PHONE)
    forms = [t.form(f"text number {i}") for i in range(3)]
    for form in forms:
        assert await t.post(form) == 200
    await stop_process(first, signal.SIGKILL)
    assert fake_twilio.messages == []

    second = start_gateway_process(base, tmp_path / "gw2.log")
    try:
        assert await t.post(forms[0]) == 200  # Twilio retries one it never saw answered: still once
        await fake_twilio.wait_for(PHONE, 1)
        db = Database(database_url, pool_size=1)
        try:
            async def all_done() -> list[Message]:
                async with db.session() as s:
                    rows = list(await s.scalars(select(Message).where(Message.direction == "in")))
                assert len(rows) == 3 and all(r.status == "processed" for r in rows), [r.status for r in rows]
                return rows

            rows = await eventually(all_done)
        finally:
            await db.close()
        assert sorted(r.body for r in rows) == [f"text number {i}" for i in range(3)]
        # The three stored texts were one backlog: merged into one turn, answered once.
        assert len(fake_twilio.to(PHONE)) == 1
    finally:
        assert await stop_process(second) == 0  # a clean shutdown on SIGTERM


async def test_texts_are_stored_after_the_database_cut_every_connection(gateway_without_rasa, fake_twilio):
    """PostgreSQL restarted or failed over (here: every connection of ours terminated): the next webhooks are
    still stored and answered 200, since Twilio would not send those texts again."""
    gw = gateway_without_rasa
    if not gw.gateway.db.postgres:
        return  # SQLite has no connections to lose
    t = Texter(gw.url, gw.settings.twilio_auth_token, PHONE, gw.settings.public_base_url)
    assert await t.text("first, before the cut") == 200
    admin = create_engine(sync_url(gw.settings.database_url), isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as conn:
            cut = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalar()
    finally:
        admin.dispose()
    assert cut >= 1
    for i in range(3):
        assert await t.text(f"after the cut {i}") == 200
    async with gw.gateway.db.session() as s:
        bodies = list(await s.scalars(select(Message.body).where(Message.direction == "in").order_by(Message.id)))
    assert bodies == ["first, before the cut", "after the cut 0", "after the cut 1", "after the cut 2"]
