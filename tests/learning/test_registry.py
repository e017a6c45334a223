"""The model registry and loader on a real database: training from the store refuses a candidate that does not
beat the live scorer and promotes one that does; every process's loader follows the live model; a corrupt live
model falls back to the lexicon with one clear log line."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.learning import labels
from bot.learning.imports import read_rows
from bot.learning.registry import LIVE, ModelWatcher, Registry
from bot.learning.train import train
from bot.runner import ROOT, rasa_env
from bot.settings import Settings
from bot.triage import assess, live_model_version, use_model
from tests.learning import examples
from tests.learning.conftest import PRIVACY_KEY, Store


@pytest.fixture(autouse=True)
def lexicon_after() -> Iterator[None]:
    yield
    use_model(None)  # the live model is process-wide: leave the lexicon for the next test


def _registry_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.learning.registry"]


async def test_corrupt_or_missing_live_model_falls_back_to_the_lexicon(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.learning.registry")
    watcher = ModelWatcher(store.url)
    assert watcher.check() == "lexicon"
    assert _registry_log(caplog) == ["triage: no live model in the registry; scoring with the lexicon"]
    registry = Registry(store.url)
    try:
        broken = registry.add(b"not a model at all", {"note": "corrupt on purpose"})
        registry.promote(broken.version)
    finally:
        registry.close()
    caplog.clear()
    assert watcher.check() == "lexicon" and live_model_version() == "lexicon"
    assert watcher.check() == "lexicon"  # polled again: no second line
    (line,) = _registry_log(caplog)
    assert line.startswith(f"triage: live model {broken.version} could not be loaded (ModelError")
    assert line.endswith("scoring with the lexicon")
    assert assess(["i feel ok today"]).model == "lexicon"
    watcher.close()


def test_a_fresh_database_without_the_registry_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.learning.registry")
    watcher = ModelWatcher(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    assert watcher.check() == "lexicon"
    assert watcher.check() == "lexicon"
    (line,) = _registry_log(caplog)
    assert "no model registry in the database" in line and "scoring with the lexicon" in line
    watcher.close()


async def test_train_promotes_a_better_candidate_and_refuses_one_that_is_not(store: Store, tmp_path: Path) -> None:
    data = tmp_path / "written.jsonl"
    data.write_text(examples.jsonl(70))
    assert (await labels.import_rows(store.db, read_rows(data), data.name)).imported == 140
    settings = Settings(var_dir=tmp_path / "var", database_url=store.url, privacy_key=PRIVACY_KEY)

    first = await asyncio.to_thread(train, settings, promote=True)
    assert first.promoted and not first.refused, first.lines
    text = "\n".join(first.lines)
    assert "AUC" in text and "live: lexicon" in text and f"Promoted: {first.version} is live" in text
    plots = [Path(line.removeprefix("Plot: ")) for line in first.lines if line.startswith("Plot: ")]
    assert len(plots) == 2 and all(p.is_file() and p.read_bytes()[:4] == b"\x89PNG" for p in plots)
    assert all((settings.var_dir / "triage") in p.parents for p in plots)

    registry = Registry(store.url)
    try:
        assert registry.live_version() == first.version
        (info,) = registry.models()
        assert info.metadata["data"]["examples"] == 140 and len(info.metadata["data"]["sha256"]) == 64
        assert info.metadata["figures"]["candidate"]["auc"] > info.metadata["figures"]["live"]["auc"]
    finally:
        registry.close()

    # every process's loader: the promoted model scores, and says so in each urgency
    watcher = ModelWatcher(store.url)
    assert watcher.check() == first.version
    assert assess(["i counted out enough of my pills for tonight"]).model == first.version

    # the batch scorer loads it too
    env = rasa_env() | {"DATABASE_URL": store.url, "VAR_DIR": str(settings.var_dir), "PRIVACY_KEY": PRIVACY_KEY}
    batch = subprocess.run([sys.executable, "-m", "bot.triage"], cwd=ROOT, env=env, capture_output=True, text=True,
                           input=json.dumps({"id": 1, "text": "i counted out enough of my pills"}) + "\n",
                           timeout=300)
    assert batch.returncode == 0, batch.stderr
    assert json.loads(batch.stdout)["model"] == first.version
    assert f"triage: scoring with live model {first.version}" in batch.stderr

    # the same data again cannot beat the live model: refused, with the figures, exit code 1 from the command
    done = subprocess.run([sys.executable, "-m", "bot", "triage", "train", "--promote"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    assert "Not promoted." in done.stderr and "AUC" in done.stderr and first.version in done.stderr
    assert "AUC" in done.stdout  # the figures beside the live scorer's
    registry = Registry(store.url)
    try:
        models = {m.version: m.status for m in registry.models()}
    finally:
        registry.close()
    assert models[first.version] == LIVE and sorted(models.values()) == ["candidate", "live"]
    assert watcher.check() == first.version
    watcher.close()
