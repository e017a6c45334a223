"""The labelled-data store, sole owner of `labels` and `imported_items`: every label is its own row beside the
prediction the assistant made at the time (model version, score, level, reasons at handoff).

Named transitions: `record_report` (a counselor's confirmed report), `record_review` (a supervisor's blind
review), `settle` (a supervisor's adjudication of a disagreement), `import_rows` (files), `delete_for` (retention
and deletion on request). Texts are referenced by message id, never copied; imported texts, which have no
conversation, live in `imported_items`. No phone numbers are stored here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.learning.imports import Row, Skip, binary, text_hash
from bot.store.db import Database
from bot.store.models import Conversation, ImportedItem, Label, Message, utcnow
from bot.triage.levels import LEVELS

REPORT, REVIEW, ADJUDICATION, IMPORT = "report", "review", "adjudication", "import"
SOURCES = (REPORT, REVIEW, ADJUDICATION, IMPORT)
CHUNK = 500  # rows per bulk statement (well under SQLite's bound-parameter limit)


class LabelError(ValueError):
    """A label that cannot be recorded (unknown level, conversation not labelled yet, already reviewed...)."""


def prediction_at_handoff(conv: Conversation) -> dict[str, Any]:
    """What the assistant predicted: the urgency in the handoff context (model version, score, level, reasons),
    or the conversation's urgency when the context has none."""
    urgency = (conv.context or {}).get("urgency") or {}
    if urgency.get("level") in LEVELS:
        return {
            "model": str(urgency.get("model") or "lexicon"),
            "score": int(urgency.get("score") or 0),
            "level": urgency["level"],
            "reasons": [str(r) for r in urgency.get("reasons") or []],
        }
    return {
        "model": "lexicon",
        "score": int(conv.urgency_score or 0),
        "level": conv.urgency_level or "none",
        "reasons": [str(r) for r in conv.urgency_reasons or []],
    }


async def texter_message_ids(s: AsyncSession, conv_id: str) -> list[int]:
    """The texter's own texts in a conversation: what a conversation's label covers."""
    rows = await s.scalars(
        select(Message.id)
        .where(Message.conversation_id == conv_id, Message.direction == "in", Message.author == "texter")
        .order_by(Message.id)
    )
    return list(rows)


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise LabelError(f"Unknown risk level {level!r}.")
    return level


async def _conversation_label(
    s: AsyncSession, conv: Conversation, *, source: str, level: str, needs: Sequence[str], user_id: int
) -> Label:
    predicted = prediction_at_handoff(conv)
    label = Label(
        source=source,
        conversation_id=conv.id,
        message_ids=await texter_message_ids(s, conv.id),
        label=binary(level),
        level=level,
        needs=list(needs),
        labeller=str(user_id),
        labeller_id=user_id,
        language=str((conv.context or {}).get("language") or "en")[:16],
        predicted_model=predicted["model"][:80],
        predicted_score=predicted["score"],
        predicted_level=predicted["level"],
        predicted_reasons=predicted["reasons"],
    )
    s.add(label)
    return label


async def record_report(db: Database, conv_id: str, user_id: int, level: str, needs: Sequence[str]) -> Label:
    """The counselor's confirmed report becomes the conversation's report label (a re-filed report replaces it)."""
    _check_level(level)
    async with db.transaction() as s:
        conv = await s.get(Conversation, conv_id)
        if conv is None:
            raise LabelError("No such conversation.")
        await s.execute(delete(Label).where(Label.conversation_id == conv_id, Label.source == REPORT))
        return await _conversation_label(s, conv, source=REPORT, level=level, needs=needs, user_id=user_id)


async def report_label(s: AsyncSession, conv_id: str) -> Label | None:
    return await s.scalar(select(Label).where(Label.conversation_id == conv_id, Label.source == REPORT))


async def review_by(s: AsyncSession, conv_id: str, user_id: int) -> Label | None:
    return await s.scalar(
        select(Label).where(Label.conversation_id == conv_id, Label.source == REVIEW, Label.labeller_id == user_id)
    )


async def record_review(db: Database, conv_id: str, reviewer_id: int, level: str) -> Label:
    """A supervisor's blind review of a conversation the counselor labelled (one per reviewer, never their own)."""
    _check_level(level)
    async with db.transaction() as s:
        conv = await s.get(Conversation, conv_id)
        report = await report_label(s, conv_id)
        if conv is None or report is None:
            raise LabelError("This conversation has no counselor label to review.")
        if report.labeller_id == reviewer_id:
            raise LabelError("You filed this conversation's report: someone else reviews it.")
        if await review_by(s, conv_id, reviewer_id) is not None:
            raise LabelError("You already reviewed this conversation.")
        return await _conversation_label(s, conv, source=REVIEW, level=level, needs=(), user_id=reviewer_id)


async def settle(db: Database, conv_id: str, supervisor_id: int, level: str) -> Label:
    """A supervisor settles a disagreement: the adjudicated level becomes the label used for training."""
    _check_level(level)
    async with db.transaction() as s:
        conv = await s.get(Conversation, conv_id)
        if conv is None or await report_label(s, conv_id) is None:
            raise LabelError("This conversation has no counselor label.")
        await s.execute(delete(Label).where(Label.conversation_id == conv_id, Label.source == ADJUDICATION))
        return await _conversation_label(s, conv, source=ADJUDICATION, level=level, needs=(), user_id=supervisor_id)


# --- imports ----------------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)  # reason -> first few line numbers

    def skip(self, reason: str, line: int) -> None:
        self.skipped[reason] += 1
        lines = self.examples.setdefault(reason, [])
        if len(lines) < 5:
            lines.append(line)

    def summary(self, name: str) -> str:
        parts = [f"{name}: imported {self.imported}, skipped {sum(self.skipped.values())}"]
        for reason, count in self.skipped.most_common():
            lines = ", ".join(map(str, self.examples.get(reason, [])))
            parts.append(f"  {count} {reason} (lines {lines}{', ...' if count > 5 else ''})")
        return "\n".join(parts)


async def import_rows(db: Database, rows: Iterable[Row | Skip], source: str) -> ImportResult:
    """Store labelled texts from a file in bulk; duplicates (in the file or already stored) are skipped."""
    result = ImportResult()
    fresh: dict[str, Row] = {}
    for row in rows:
        if isinstance(row, Skip):
            result.skip(row.reason, row.line)
            continue
        digest = text_hash(row.text)
        if digest in fresh:
            result.skip("duplicate text", row.line)
            continue
        fresh[digest] = row
    hashes = list(fresh)
    async with db.transaction() as s:
        for i in range(0, len(hashes), CHUNK):
            for digest in await s.scalars(
                select(ImportedItem.text_hash).where(ImportedItem.text_hash.in_(hashes[i:i + CHUNK]))
            ):
                result.skip("duplicate text (already imported)", fresh.pop(digest).line)
        hashes = list(fresh)
        now = utcnow()
        for i in range(0, len(hashes), CHUNK):
            part = hashes[i:i + CHUNK]
            await s.execute(
                insert(ImportedItem),
                [{"text": fresh[h].text, "text_hash": h, "source": source[:200], "language": fresh[h].language,
                  "created_at": now} for h in part],
            )
            ids = dict((await s.execute(
                select(ImportedItem.text_hash, ImportedItem.id).where(ImportedItem.text_hash.in_(part))
            )).all())
            await s.execute(
                insert(Label),
                [{"source": IMPORT, "item_id": ids[h], "message_ids": [], "label": fresh[h].label,
                  "level": fresh[h].level, "needs": [], "labeller": IMPORT, "language": fresh[h].language,
                  "predicted_reasons": [], "created_at": now} for h in part],
            )
        result.imported = len(hashes)
    return result


# --- reading ----------------------------------------------------------------------------------------------------


async def export_lines(db: Database) -> list[str]:
    """Every label as a de-identified JSON line: conversation or item id, message ids, label, labeller and the
    prediction (model, score, level). No texts, no numbers, and no reasons (they can quote the texter)."""
    out = []
    async with db.session() as s:
        for r in await s.scalars(select(Label).order_by(Label.id)):
            out.append(json.dumps({
                "id": r.id,
                "source": r.source,
                "conversation_id": r.conversation_id,
                "item_id": r.item_id,
                "message_ids": list(r.message_ids or []),
                "label": r.label,
                "level": r.level,
                "needs": list(r.needs or []),
                "labeller": r.labeller,
                "labelled_at": r.created_at.isoformat(timespec="seconds") + "Z",
                "language": r.language,
                "prediction": None if r.predicted_level is None else {
                    "model": r.predicted_model, "score": r.predicted_score, "level": r.predicted_level},
            }, ensure_ascii=False))
    return out


@dataclass(frozen=True)
class ConversationLabels:
    """A conversation's labels, with the texts they cover (read for training only)."""

    conversation_id: str
    texter_id: int
    texts: list[str]
    language: str
    report: Mapping[str, Any] | None  # {"level", "labeller_id"}
    reviews: list[Mapping[str, Any]]
    adjudicated: str | None


async def conversation_labels(db: Database) -> list[ConversationLabels]:
    """Every labelled conversation with its texter texts (two queries)."""
    async with db.session() as s:
        labels = list(await s.execute(
            select(Label.conversation_id, Label.source, Label.level, Label.labeller_id, Label.message_ids,
                   Label.language, Conversation.texter_id)
            .join(Conversation, Conversation.id == Label.conversation_id)
            .order_by(Label.id)
        ))
        wanted = sorted({m for r in labels for m in r.message_ids or []})
        bodies: dict[int, str] = {}
        for i in range(0, len(wanted), CHUNK):
            bodies.update((await s.execute(
                select(Message.id, Message.body).where(Message.id.in_(wanted[i:i + CHUNK]))
            )).all())
    by_conv: dict[str, dict[str, Any]] = {}
    for r in labels:
        entry = by_conv.setdefault(r.conversation_id, {
            "texter_id": r.texter_id, "ids": [], "language": r.language, "report": None, "reviews": [],
            "adjudicated": None})
        if r.source == REPORT:
            entry["report"] = {"level": r.level, "labeller_id": r.labeller_id}
            entry["ids"] = list(r.message_ids or [])
        elif r.source == REVIEW:
            entry["reviews"].append({"level": r.level, "labeller_id": r.labeller_id})
        elif r.source == ADJUDICATION:
            entry["adjudicated"] = r.level
        if not entry["ids"]:
            entry["ids"] = list(r.message_ids or [])
    return [
        ConversationLabels(
            conversation_id=cid, texter_id=e["texter_id"],
            texts=[bodies[m] for m in e["ids"] if bodies.get(m, "").strip()], language=e["language"],
            report=e["report"], reviews=e["reviews"], adjudicated=e["adjudicated"],
        )
        for cid, e in by_conv.items()
    ]


async def imported_labels(db: Database) -> list[tuple[int, str, int, str | None, str, str]]:
    """(item id, text, label, level, language, source) of every imported label."""
    async with db.session() as s:
        return [tuple(r) for r in await s.execute(  # type: ignore[misc]
            select(ImportedItem.id, ImportedItem.text, Label.label, Label.level, Label.language, ImportedItem.source)
            .join(Label, Label.item_id == ImportedItem.id)
            .where(Label.source == IMPORT)
            .order_by(ImportedItem.id)
        )]


async def counts(db: Database) -> dict[str, int]:
    async with db.session() as s:
        return dict((await s.execute(select(Label.source, func.count()).group_by(Label.source))).all())


async def delete_for(s: AsyncSession, conv_ids: Sequence[str]) -> int:
    """Remove every label of these conversations (retention, deletion on request), inside the caller's
    transaction so texts and labels go together."""
    removed = 0
    for i in range(0, len(conv_ids), CHUNK):
        result = await s.execute(delete(Label).where(Label.conversation_id.in_(conv_ids[i:i + CHUNK])))
        removed += result.rowcount or 0
    return removed

