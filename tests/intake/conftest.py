"""Fixtures for the intake tests: the real domain.yml as the action server receives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The real domain.yml, as a dict (what the action server receives)."""
    return yaml.safe_load((ROOT / "domain.yml").read_text())
