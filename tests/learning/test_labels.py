"""The labelled-data store on a real database: labels beside the prediction at handoff, imports (CSV and JSON
lines) with skips and reasons, the de-identified export, retention and deletion on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.learning import labels
from bot.learning.imports import ImportFileError, read_rows
from bot.learning.retention import ForgetError, apply_retention, forget_texter
from bot.settings import Settings
from bot.store.models import AuditEvent, Conversation, ImportedItem, Label, Message, Texter
from tests.learning.conftest import PRIVACY_KEY, Store


async def _import(store: Store, path: Path) -> labels.ImportResult:
    return await labels.import_rows(store.db, read_rows(path), path.name)


async def test_report_label_sits_beside_the_prediction_and_references_texts(store: Store) -> None:
    ana = await store.user("ana")
    conv = await store.conversation(["i feel so alone", "i keep thinking about ending it"], level="moderate",
                                    score=50, model="m-test-1", reasons=["Thoughts of ending it"])
    label = await labels.record_report(store.db, conv, ana, "high", ["suicidal_thoughts"])
    async with store.db.session() as s:
        ids = list(await s.scalars(
            select(Message.id).where(Message.conversation_id == conv, Message.author == "texter")))
        row = await s.get(Label, label.id)
    assert row.source == "report" and row.conversation_id == conv and row.item_id is None
    assert row.message_ids == ids and len(ids) == 2  # the texter's texts, by reference
    assert (row.label, row.level, row.needs) == (1, "high", ["suicidal_thoughts"])
    assert (row.labeller, row.labeller_id, row.language) == (str(ana), ana, "en")
    assert (row.predicted_model, row.predicted_score, row.predicted_level) == ("m-test-1", 50, "moderate")
    assert row.predicted_reasons == ["Thoughts of ending it"]
    # a re-filed report replaces the label
    await labels.record_report(store.db, conv, ana, "low", [])
    async with store.db.session() as s:
        rows = list(await s.scalars(select(Label).where(Label.conversation_id == conv)))
    assert [(r.source, r.level, r.label) for r in rows] == [("report", "low", 0)]


async def test_import_csv_and_json_lines_with_skips_and_reasons(store: Store, tmp_path: Path) -> None:
    csv_file = tmp_path / "first.csv"
    csv_file.write_text(
        'text,label,language\n'
        '"i want to end it all tonight",1,en\n'
        '"just a normal tuesday",0,\n'
        '"call me at +1 (555) 123-4567 please, i am scared",high,en\n'
        '"   ",1,en\n'
        '"something",maybe,en\n'
        '"just a normal tuesday",0,en\n'
        '"quiero morir",imminent,es\n'
    )
    result = await _import(store, csv_file)
    assert result.imported == 4
    assert result.skipped == {"empty text": 1, "duplicate text": 1,
                              "bad label (use 0, 1 or a level: none, low, moderate, high, imminent)": 1}
    assert result.examples["empty text"] == [5]
    assert "imported 4, skipped 3" in result.summary("first.csv")

    jsonl = tmp_path / "second.jsonl"
    jsonl.write_text("\n".join([
        json.dumps({"text": "i want to end it all tonight", "label": 1}),  # already imported
        json.dumps({"text": "i took too many pills", "label": "1"}),
        json.dumps({"text": "ok thanks bye", "label": "none"}),
        json.dumps({"text": "sad", "label": 2}),
        json.dumps(["not", "an", "object"]),
        "{broken",
        json.dumps({"label": 0}),
    ]) + "\n")
    result = await _import(store, jsonl)
    assert result.imported == 2
    assert result.skipped == {"duplicate text (already imported)": 1, "not a JSON object": 1, "invalid JSON": 1,
                              "empty text": 1,
                              "bad label (use 0, 1 or a level: none, low, moderate, high, imminent)": 1}

    async with store.db.session() as s:
        rows = list(await s.execute(
            select(ImportedItem.text, ImportedItem.language, ImportedItem.source, Label.label, Label.level,
                   Label.labeller).join(Label, Label.item_id == ImportedItem.id).order_by(ImportedItem.id)))
    by_text = {r.text: r for r in rows}
    assert by_text["quiero morir"].language == "es" and by_text["quiero morir"].label == 1
    assert by_text["ok thanks bye"].level == "none" and by_text["ok thanks bye"].label == 0
    assert {r.labeller for r in rows} == {"import"} and {r.source for r in rows} == {"first.csv", "second.jsonl"}
    # no phone numbers anywhere: a number in an imported text is replaced
    scared = next(t for t in by_text if "scared" in t)
    assert "555" not in scared and "[number]" in scared


def test_csv_without_the_columns_says_which_it_needs(tmp_path: Path) -> None:
    bad = tmp_path / "tweets.csv"
    bad.write_text("tweet,is_suicidal\nhello,0\n")
    with pytest.raises(ImportFileError, match="columns text,label"):
        list(read_rows(bad))


async def test_import_of_many_rows_in_bulk(store: Store, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    lines = ["text,label"] + [f"example text number {i} about my day,{i % 2}" for i in range(12_000)]
    big.write_text("\n".join(lines) + "\n")
    result = await _import(store, big)
    assert result.imported == 12_000 and not result.skipped
    again = await _import(store, big)
    assert again.imported == 0 and again.skipped == {"duplicate text (already imported)": 12_000}
    async with store.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Label)) == 12_000


async def test_export_is_de_identified(store: Store, tmp_path: Path) -> None:
    ana = await store.user("ana")
    phone = "+15557654321"
    texts = ["my secret words are here", "and more secret words"]
    conv = await store.conversation(texts, phone=phone, level="high", score=70, reasons=["quoted: secret words"])
    await labels.record_report(store.db, conv, ana, "high", [])
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text(json.dumps({"text": "an imported private text", "label": 0}) + "\n")
    await _import(store, jsonl)

    lines = await labels.export_lines(store.db)
    assert len(lines) == 2
    out = "\n".join(lines)
    for secret in [*texts, "secret words", "an imported private text", phone, phone[2:], "5557654321",
                   store.privacy.hash_phone(phone)]:
        assert secret not in out
    first, second = (json.loads(line) for line in lines)
    assert first["conversation_id"] == conv and first["label"] == 1 and first["level"] == "high"
    assert first["prediction"] == {"model": "lexicon", "score": 70, "level": "high"}
    assert len(first["message_ids"]) == 2
    assert second["conversation_id"] is None and second["item_id"] and second["labeller"] == "import"


async def test_retention_removes_old_texts_and_labels_together(store: Store, tmp_path: Path) -> None:
    ana = await store.user("ana")
    old = await store.conversation(["an old text"], closed_days_ago=40)
    recent = await store.conversation(["a recent text"], closed_days_ago=2)
    active = await store.conversation(["still talking"], state="active")
    for conv in (old, recent, active):
        await labels.record_report(store.db, conv, ana, "low", [])
    settings = Settings(var_dir=tmp_path, database_url=store.url, privacy_key=PRIVACY_KEY, retention_days=30)

    assert (await apply_retention(store.db, Settings(var_dir=tmp_path, database_url=store.url,
                                                     privacy_key=PRIVACY_KEY, retention_days=0))).messages == 0
    removed = await apply_retention(store.db, settings)
    assert (removed.conversations, removed.messages, removed.labels) == (1, 2, 1)
    async with store.db.session() as s:
        left = {c: await s.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == c))
                for c in (old, recent, active)}
        kept_labels = set(await s.scalars(select(Label.conversation_id)))
        conv = await s.get(Conversation, old)
    assert left == {old: 0, recent: 2, active: 2}
    assert kept_labels == {recent, active}
    assert "an old text" not in json.dumps(conv.context) and conv.report["confirmed"]["notes"] == ""
    assert conv.context["urgency"]["level"] == "low"  # what was predicted stays, without words
    again = await apply_retention(store.db, settings)
    assert again.conversations == 0


async def test_forget_deletes_one_texters_data_and_keeps_only_an_audit_row(store: Store, tmp_path: Path) -> None:
    ana = await store.user("ana")
    phone, other = "+15550001111", "+15550002222"
    first = await store.conversation(["my first words"], phone=phone)
    second = await store.conversation(["my second words"], phone=phone)
    kept = await store.conversation(["someone else"], phone=other)
    for conv in (first, second, kept):
        await labels.record_report(store.db, conv, ana, "moderate", [])
    settings = Settings(var_dir=tmp_path, database_url=store.url, privacy_key=PRIVACY_KEY)

    removed = await forget_texter(store.db, settings, phone)
    assert removed is not None and (removed.conversations, removed.messages, removed.labels) == (2, 4, 2)
    async with store.db.session() as s:
        assert set(await s.scalars(select(Label.conversation_id))) == {kept}
        assert set(await s.scalars(select(Message.conversation_id))) == {kept}
        assert await s.scalar(select(Texter).where(Texter.phone_hash == store.privacy.hash_phone(phone))) is None
        audit = await s.scalar(select(AuditEvent).where(AuditEvent.kind == "texter_forgotten"))
        convs = list(await s.scalars(select(Conversation).where(Conversation.id.in_([first, second]))))
    assert audit.data == {"conversations": 2, "messages": 4, "labels": 2, "tracker_events": 0}
    assert phone not in json.dumps(audit.data) and audit.conversation_id is None
    assert all("words" not in json.dumps(c.context) for c in convs)
    assert await forget_texter(store.db, settings, phone) is None  # the number is not known any more


async def test_forget_refuses_while_a_conversation_is_open(store: Store, tmp_path: Path) -> None:
    phone = "+15550003333"
    await store.conversation(["still here"], phone=phone, state="waiting")
    with pytest.raises(ForgetError, match="still open"):
        await forget_texter(store.db, Settings(var_dir=tmp_path, database_url=store.url, privacy_key=PRIVACY_KEY),
                            phone)


def test_import_and_export_commands(database_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from bot.runner import ROOT, rasa_env

    env = rasa_env() | {"DATABASE_URL": database_url, "VAR_DIR": str(tmp_path / "var"), "PRIVACY_KEY": PRIVACY_KEY}
    bad = tmp_path / "tweets.csv"
    bad.write_text("tweet,is_suicidal\nhello,0\n")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"text": "i feel fine today", "label": "low"}) + "\n" + '{"text": ""}\n')

    def bot(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    done = bot("labels", "import", str(bad), str(good))
    assert done.returncode == 1
    assert "needs a header row with the columns text,label" in done.stderr and "found: tweet,is_suicidal" in done.stderr
    assert "good.jsonl: imported 1, skipped 1" in done.stdout and "1 empty text (lines 2)" in done.stdout
    out = tmp_path / "labels.jsonl"
    assert bot("labels", "export", "--out", str(out)).returncode == 0
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["level"] == "low" and "i feel fine" not in line
