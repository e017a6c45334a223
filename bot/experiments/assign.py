"""Which variant a conversation gets: a hash of the experiment and conversation id over the configured weights,
stored at the conversation's first turn (owner of ``ExperimentAssignment`` rows).

Deterministic: the same conversation id always maps to the same variant while the set of live variants is the
same. A variant stopped by its guard rail gets no new assignments (the hash is taken over the live ones); the
conversations already in it keep it. Rasa learns the assignments from every turn's metadata,
``{"experiments": {"greeting": "b"}}``, and the action ``action_set_experiment_slots`` copies them into the slots
``variant_<name>`` that the conditional response variations read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.experiments.config import Experiment, Variant
from bot.store.models import ExperimentAssignment, ExperimentLook, utcnow


def bucket(experiment: str, conversation_id: str) -> float:
    """A uniform number in [0, 1) fixed by the experiment and the conversation id."""
    digest = hashlib.sha256(f"{experiment}\x00{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(experiment: str, conversation_id: str, variants: Sequence[Variant]) -> str:
    """The variant whose share of the total weight contains the conversation's bucket."""
    total = sum(v.weight for v in variants)
    point = bucket(experiment, conversation_id) * total
    for v in variants:
        point -= v.weight
        if point < 0:
            return v.name
    return variants[-1].name


async def stopped_variants(session: AsyncSession, experiment: str) -> set[str]:
    rows = await session.scalars(select(ExperimentLook.stopped).where(ExperimentLook.experiment == experiment))
    return {name for stopped in rows for name in (stopped or [])}


async def assignments_for(
    session: AsyncSession, conversation_id: str, experiments: Sequence[Experiment], *, new: bool
) -> dict[str, str]:
    """The conversation's variants, ``{experiment name: variant}``, for the turn's Rasa metadata.

    ``new``: this is the conversation's first turn; only then are variants assigned (a conversation that began
    before an experiment started never joins it half-way). Runs inside the caller's transaction.
    """
    rows = await session.scalars(
        select(ExperimentAssignment).where(ExperimentAssignment.conversation_id == conversation_id)
    )
    out = {r.experiment: r.variant for r in rows}
    if not new:
        return out
    for exp in experiments:
        if not exp.active or exp.name in out:
            continue
        stopped = await stopped_variants(session, exp.name)
        live = [v for v in exp.variants if v.name not in stopped]
        if not live:
            continue
        variant = choose(exp.name, conversation_id, live)
        session.add(ExperimentAssignment(conversation_id=conversation_id, experiment=exp.name, variant=variant,
                                         assigned_at=utcnow()))
        out[exp.name] = variant
    return out


def rasa_metadata(assignments: dict[str, str]) -> dict[str, dict[str, str]]:
    """What the router merges into every turn's metadata for Rasa."""
    return {"experiments": dict(assignments)} if assignments else {}
