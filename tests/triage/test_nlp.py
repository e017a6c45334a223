"""bot.nlp: the blank English + lookup lemmatizer pipeline is built, saved, and loads with spacy.load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.nlp import build, load

ROOT = Path(__file__).resolve().parents[2]


def test_build_and_spacy_load(tmp_path: Path) -> None:
    import spacy

    target = build(tmp_path / "spacy_en")
    assert (target / "config.cfg").is_file()
    nlp = spacy.load(target)
    assert nlp.pipe_names == ["lemmatizer"]
    assert [t.lemma_ for t in nlp("she took the pills")] == ["she", "take", "the", "pill"]


def test_load_builds_in_memory_when_missing(tmp_path: Path) -> None:
    nlp = load(tmp_path / "does-not-exist")
    assert [t.lemma_ for t in nlp("running")] == ["run"]
    assert not (tmp_path / "does-not-exist").exists()


def test_command_line_build(tmp_path: Path) -> None:
    target = tmp_path / "model"
    proc = subprocess.run([sys.executable, "-m", "bot.nlp", "build", str(target)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (target / "meta.json").is_file()
