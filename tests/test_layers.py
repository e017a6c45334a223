"""Imports run downward: console and jobs -> gateway services -> handoff / sms / triage -> store. The lower layers
never import the gateway, and the gateway never imports the console."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"


def imported_modules(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (BOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(BOT)), node.module))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(BOT)), alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize("package", ["sms", "handoff", "triage", "store", "intake", "console"])
def test_lower_layers_and_the_console_never_import_the_gateway(package: str) -> None:
    upward = {(f, m) for f, m in imported_modules(package) if m == "bot.gateway" or m.startswith("bot.gateway.")}
    assert upward == set()


def test_the_gateway_never_imports_the_console() -> None:
    assert {(f, m) for f, m in imported_modules("gateway") if m.startswith("bot.console")} == set()
