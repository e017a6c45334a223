"""Build, save and load the spaCy pipeline: `spacy.blank("en")` plus a lookup lemmatizer, no statistical model.

The lemma tables come from the installed spacy-lookups-data package, so nothing is downloaded. `build()` saves
the pipeline to a directory (default `build/spacy_en` under the repository root) that `spacy.load(path)` reads;
Rasa's SpacyNLP component uses that directory as its model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = ROOT / "build" / "spacy_en"


def _import_spacy():
    """Import spaCy without letting thinc import TensorFlow (3 s of start-up, never used by this pipeline).

    thinc probes `import tensorflow` at import time for its optional TF shims. Blocking that probe only while
    spaCy is first imported keeps the gateway and the batch command fast; TensorFlow stays importable later
    (Rasa imports it itself).
    """
    if "spacy" in sys.modules or "tensorflow" in sys.modules:
        import spacy

        return spacy
    sys.modules["tensorflow"] = None  # type: ignore[assignment]  # makes `import tensorflow` raise ImportError
    try:
        import spacy
    finally:
        del sys.modules["tensorflow"]
    return spacy


def create() -> Language:
    """A new, initialized pipeline in memory: English tokenizer + lookup lemmatizer."""
    spacy = _import_spacy()
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def build(path: str | Path = DEFAULT_PATH) -> Path:
    """Create the pipeline and save it to `path` (created if needed); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    create().to_disk(target)
    return target


def load(path: str | Path = DEFAULT_PATH) -> Language:
    """Load the saved pipeline, or build it in memory when `path` does not exist yet."""
    spacy = _import_spacy()
    target = Path(path)
    if (target / "config.cfg").is_file():
        return spacy.load(target)
    return create()
