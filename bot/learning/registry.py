"""The model registry, sole owner of `triage_models`, and the loader every process uses.

Models live in the database (bytes, version, metadata: data size and hash, figures; status candidate -> live ->
retired), never in git, so every instance on every machine scores with the same live one. `ModelWatcher` reads the
live version from DATABASE_URL, hands the model to `bot.triage.use_model`, and polls the version cheaply (one
indexed row, every MODEL_POLL_SECONDS) so a long-running process picks up a newly promoted model within seconds. A
fresh install, a missing or a corrupt model leaves the lexicon in charge, said in one log line.

Synchronous on purpose (plain SQLAlchemy Core on the sync driver): the CLI, the batch scorer and the action
server's thread call it directly, the gateway through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.settings import Settings
from bot.store.db import is_postgres, sync_url
from bot.store.models import TriageModel, utcnow

log = logging.getLogger(__name__)

CANDIDATE, LIVE, RETIRED = "candidate", "live", "retired"
LEXICON = "lexicon"


class RegistryError(Exception):
    """No such model, or it cannot be promoted."""


@dataclass(frozen=True)
class ModelInfo:
    version: str
    status: str
    created_at: datetime
    promoted_at: datetime | None
    metadata: dict[str, Any]


def engine_for(database_url: str) -> Engine:
    if is_postgres(database_url):
        return create_engine(sync_url(database_url), future=True, pool_size=1, max_overflow=1, pool_pre_ping=True)
    return create_engine(sync_url(database_url), future=True, connect_args={"timeout": 30})


class Registry:
    """Stores candidates, promotes one to live (retiring the previous), reads the live one."""

    def __init__(self, database_url: str) -> None:
        self.engine = engine_for(database_url)

    def close(self) -> None:
        self.engine.dispose()

    def add(self, data: bytes, metadata: dict[str, Any]) -> ModelInfo:
        """Store a trained model as a candidate; the registry names it (date, time and a hash of its bytes)."""
        now = utcnow()
        version = f"m{now:%Y%m%d-%H%M%S}-{hashlib.sha256(data).hexdigest()[:8]}"
        with self.engine.begin() as conn:
            conn.execute(TriageModel.__table__.insert().values(
                version=version, status=CANDIDATE, metadata=metadata, data=data, created_at=now))
        return ModelInfo(version, CANDIDATE, now, None, metadata)

    def promote(self, version: str) -> None:
        """Make ``version`` the live model; the one live before it is retired (one transaction)."""
        table = TriageModel.__table__
        with self.engine.begin() as conn:
            found = conn.execute(select(table.c.status).where(table.c.version == version)).scalar()
            if found is None:
                raise RegistryError(f"No model {version!r} in the registry.")
            conn.execute(update(table).where(table.c.status == LIVE).values(status=RETIRED))
            conn.execute(update(table).where(table.c.version == version).values(status=LIVE, promoted_at=utcnow()))

    def live_version(self) -> str | None:
        table = TriageModel.__table__
        with self.engine.connect() as conn:
            return conn.execute(select(table.c.version).where(table.c.status == LIVE).limit(1)).scalar()

    def load(self, version: str) -> bytes | None:
        table = TriageModel.__table__
        with self.engine.connect() as conn:
            data = conn.execute(select(table.c.data).where(table.c.version == version)).scalar()
        return None if data is None else bytes(data)  # psycopg2 gives a memoryview

    def models(self) -> list[ModelInfo]:
        table = TriageModel.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.version, table.c.status, table.c.created_at, table.c.promoted_at,
                                       table.c.metadata).order_by(table.c.id.desc())).all()
        return [ModelInfo(r.version, r.status, r.created_at, r.promoted_at, dict(r.metadata or {})) for r in rows]


def decode(data: bytes, version: str):  # type: ignore[no-untyped-def]
    """The LearnedModel in ``data``, named ``version`` (raises bot.triage.ModelError when it is corrupt)."""
    from bot.triage.learned import LearnedModel

    model = LearnedModel.from_bytes(data)
    model.version = version
    return model


class ModelWatcher:
    """Keeps this process's triage on the registry's live model (or the lexicon when there is none)."""

    def __init__(self, database_url: str, poll_seconds: float = 5.0) -> None:
        self.database_url = database_url
        self.poll_seconds = poll_seconds
        self.registry: Registry | None = None
        self.seen: str | None = "<unset>"  # the live version last acted on ("" = none)
        self._db_failing = False

    @classmethod
    def of(cls, settings: Settings) -> ModelWatcher:
        return cls(settings.database_url, settings.model_poll_seconds)

    def check(self) -> str:
        """Look at the live version; load it when it changed. Returns the version now scoring ("lexicon"), which
        the metrics report too."""
        version = self._check()
        if version == LEXICON:
            metrics.set_triage_model(metrics.lexicon_version())
        else:
            metrics.set_triage_model(version, "learned")
        return version

    def _check(self) -> str:
        from bot.triage import live_model_version, use_model

        try:
            if self.registry is None:
                self.registry = Registry(self.database_url)
            version = self.registry.live_version() or ""
        except SQLAlchemyError as exc:
            if self.seen == "<unset>":
                self.seen = ""
                use_model(None)
                log.warning("triage: no model registry in the database (%s); scoring with the lexicon",
                            type(exc).__name__)
            elif not self._db_failing:
                log.warning("triage: cannot read the live model's version (%s); keeping %s",
                            type(exc).__name__, live_model_version())
            self._db_failing = True
            return live_model_version()
        self._db_failing = False
        if version == self.seen:
            return live_model_version()
        self.seen = version
        if not version:
            use_model(None)
            log.info("triage: no live model in the registry; scoring with the lexicon")
            return LEXICON
        try:
            data = self.registry.load(version)
            if data is None:
                raise ValueError("its bytes are missing")
            model = decode(data, version)
        except Exception as exc:
            use_model(None)
            log.error("triage: live model %s could not be loaded (%s: %s); scoring with the lexicon",
                      version, type(exc).__name__, exc)
            return LEXICON
        use_model(model)
        log.info("triage: scoring with live model %s", version)
        return version

    def close(self) -> None:
        if self.registry is not None:
            self.registry.close()
            self.registry = None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (the gateway starts this as one of its tasks)."""
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.check)
                except Exception:
                    log.exception("triage: model watcher failed; trying again")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
        finally:
            self.close()  # quick: returns the pooled connection

    def start_thread(self) -> threading.Thread:
        """Poll in a daemon thread (the action server, which has no loop of ours at import time)."""

        def loop() -> None:
            pause = threading.Event()
            while not pause.wait(self.poll_seconds):
                try:
                    self.check()
                except Exception:
                    log.exception("triage: model watcher failed; trying again")

        self.check()
        thread = threading.Thread(target=loop, name="model-watcher", daemon=True)
        thread.start()
        return thread


def load_live_model(database_url: str) -> str:
    """One look at the registry for a short-lived process (the batch scorer); returns the version in use."""
    watcher = ModelWatcher(database_url)
    try:
        return watcher.check()
    finally:
        watcher.close()
