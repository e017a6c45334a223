"""`python -m bot triage train [--promote]`: training examples from the labelled-data store (weighted by rater
quality), a candidate trained and compared with the live scorer on held-back data, stored in the registry, and
promoted only when it beats the live one.

Which label a conversation contributes: a supervisor's adjudication when there is one (weight 1); else the
counselor's report label, weight 1 when a reviewer agreed with it, otherwise the counselor's quality weight
(bot.learning.quality; weight 0 leaves it out). Imported texts weigh 1. The text of a conversation is the
texter's own messages joined in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.learning import labels, quality
from bot.learning.imports import binary
from bot.learning.registry import LEXICON, Registry, decode
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import utcnow

log = logging.getLogger(__name__)

MIN_EXAMPLES = 20


async def training_examples(db: Database) -> list[Any]:
    """Every usable label as a bot.triage.training.Example."""
    from bot.triage.training import Example

    weights = await quality.counselor_weights(db)
    examples: list[Any] = []
    for conv in await labels.conversation_labels(db):
        if not conv.texts:
            continue  # texts removed (retention, deletion on request)
        if conv.adjudicated:
            level, weight = conv.adjudicated, 1.0
        elif conv.report:
            level = conv.report["level"]
            agreed = any(r["level"] == level for r in conv.reviews)
            weight = 1.0 if agreed else weights[conv.report["labeller_id"]]
        else:
            continue
        if weight <= 0:
            continue
        examples.append(Example(text="\n".join(conv.texts), label=binary(level), level=level, weight=weight,
                                group=f"texter-{conv.texter_id}", language=conv.language))
    for item_id, text, label, level, language, _source in await labels.imported_labels(db):
        examples.append(Example(text=text, label=int(label), level=level, weight=1.0, group=f"item-{item_id}",
                                language=language))
    return examples


def data_fingerprint(examples: list[Any]) -> dict[str, Any]:
    """Data size and a hash of exactly what was trained on (texts, labels, levels, weights)."""
    digest = hashlib.sha256()
    for e in sorted(examples, key=lambda e: (e.group, e.text)):
        digest.update(json.dumps([e.text, e.label, e.level, round(e.weight, 4), e.language]).encode())
    return {
        "examples": len(examples),
        "positives": sum(1 for e in examples if e.label == 1),
        "sha256": digest.hexdigest(),
    }


@dataclass
class TrainResult:
    version: str | None
    promoted: bool
    refused: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else 0


def train(settings: Settings, *, promote: bool, seed: int = 0) -> TrainResult:
    """Train a candidate from the store, store it, and promote it when asked and it beats the live scorer."""
    from bot.triage.learned import ModelError
    from bot.triage.training import TrainingError, train_candidate

    examples = asyncio.run(_examples(settings))
    if len(examples) < MIN_EXAMPLES or len({e.label for e in examples}) < 2:
        return TrainResult(None, False, refused=(
            f"Not enough labelled data: {len(examples)} usable examples (need {MIN_EXAMPLES}, with both labels). "
            "Import some with `python -m bot labels import FILE` or let counselors file reports."))
    registry = Registry(settings.database_url)
    try:
        live_version = registry.live_version()
        live = None
        if live_version:
            data = registry.load(live_version)
            try:
                live = decode(data, live_version) if data is not None else None
            except ModelError as exc:
                log.error("triage: live model %s could not be loaded (%s); comparing with the lexicon",
                          live_version, exc)
        out_dir = settings.var_dir / "triage" / utcnow().strftime("%Y%m%d-%H%M%S")
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            outcome = train_candidate(examples, live, out_dir=out_dir, seed=seed)
        except TrainingError as exc:
            return TrainResult(None, False, refused=f"Cannot train: {exc}")
        candidate = outcome.candidate
        metadata = {
            **(getattr(candidate, "metadata", None) or {}),
            "data": data_fingerprint(examples),
            "figures": outcome.figures,
            "compared_with": live.version if live is not None else LEXICON,
            "beats_live": outcome.beats_live,
            "why": outcome.why,
            "trained_at": utcnow().isoformat(timespec="seconds") + "Z",
            "plots": [str(p) for p in outcome.plots],
        }
        stored = registry.add(candidate.to_bytes(), _jsonable(metadata))
        candidate.version = stored.version
        (out_dir / "figures.json").write_text(json.dumps(_jsonable(metadata), indent=2))
        lines = [outcome.report.rstrip(), "", f"Candidate {candidate.version} stored "
                 f"({len(examples)} examples; compared with {metadata['compared_with']})."]
        lines += [f"Plot: {p}" for p in outcome.plots]
        if not promote:
            lines.append("Not promoted (run with --promote to make it live when it beats the live scorer).")
            return TrainResult(candidate.version, False, lines=lines)
        if not outcome.beats_live:
            return TrainResult(candidate.version, False, refused=f"Not promoted. {outcome.why}", lines=lines)
        registry.promote(candidate.version)
        lines.append(f"Promoted: {candidate.version} is live ({outcome.why}). Every process picks it up within "
                     f"{settings.model_poll_seconds:g} s.")
        return TrainResult(candidate.version, True, lines=lines)
    finally:
        registry.close()


async def _examples(settings: Settings) -> list[Any]:
    db = Database(settings.database_url, pool_size=2)
    try:
        return await training_examples(db)
    finally:
        await db.close()


def _jsonable(value: Any) -> Any:
    """Figures may hold NumPy numbers or paths: make them plain JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
