"""`python -m bot create-user`: the first admin from a script, then signing in with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.console.auth import verify_password
from tests.console.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "CONSOLE_PASSWORD"}
    full.update(VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", PRIVACY_KEY="k", **env)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=full, input=stdin, text=True,
                          capture_output=True, timeout=120)


def users(tmp_path: Path) -> dict[str, tuple[str, str, int]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT username, role, password_hash, max_active FROM users")).all()
    engine.dispose()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_create_user_from_env_and_stdin(tmp_path: Path) -> None:
    done = run(["create-user", "root", "--role", "admin"], tmp_path, CONSOLE_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert "Created admin 'root'" in done.stdout and PASSWORD not in done.stdout + done.stderr
    done = run(["create-user", "casey", "--role", "counselor", "--password-stdin", "--max-active", "2"], tmp_path,
               stdin="another long password\n")
    assert done.returncode == 0, done.stderr
    got = users(tmp_path)
    assert got["root"][0] == "admin" and verify_password(got["root"][1], PASSWORD)
    assert got["casey"][0] == "counselor" and got["casey"][2] == 2
    assert verify_password(got["casey"][1], "another long password")


def test_refuses_duplicates_weak_passwords_and_no_terminal(tmp_path: Path) -> None:
    assert run(["create-user", "root", "--role", "admin"], tmp_path, CONSOLE_PASSWORD=PASSWORD).returncode == 0
    dup = run(["create-user", "root", "--role", "admin"], tmp_path, CONSOLE_PASSWORD=PASSWORD)
    assert dup.returncode == 2 and "exists already" in dup.stderr
    weak = run(["create-user", "x", "--role", "counselor"], tmp_path, CONSOLE_PASSWORD="short")
    assert weak.returncode == 2 and "at least 10" in weak.stderr
    prompt = run(["create-user", "y", "--role", "counselor"], tmp_path)
    assert prompt.returncode == 2 and "CONSOLE_PASSWORD" in prompt.stderr
    reset = run(["create-user", "root", "--role", "supervisor", "--reset"], tmp_path,
                CONSOLE_PASSWORD="a brand new password")
    assert reset.returncode == 0 and users(tmp_path)["root"][0] == "supervisor"
