"""`python -m bot block --for 24h|30d|permanent`, `unblock`, `blocked` and `abuse`: real processes, no numbers
in what they print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.store.db import migrate

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+15555550177"


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", PRIVACY_KEY="k",
               LOG_LEVEL="WARNING")
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, text=True, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert PHONE not in done.stdout + done.stderr
    return done


def test_block_for_a_time_list_report_and_unblock(tmp_path: Path) -> None:
    migrate(f"sqlite:///{tmp_path / 'cli.db'}")
    assert "Done. (block)" in run(["block", PHONE, "--for", "24h", "--reason", "spam ads"], tmp_path).stdout
    listed = run(["blocked"], tmp_path).stdout
    assert listed.startswith("t-") and "until" in listed and "spam ads" in listed
    assert "Done. (block)" in run(["block", PHONE, "--for", "permanent", "--reason", "threats"], tmp_path).stdout
    assert "permanent" in run(["blocked"], tmp_path).stdout
    report = json.loads(run(["abuse", "--json"], tmp_path).stdout)
    # one texter, blocked permanently now (the 24-hour block it had is history)
    assert report["blocks_active"] == {"24h": 0, "30d": 0, "permanent": 1} and report["blocks_total"] == 2
    assert "Done. (unblock)" in run(["unblock", PHONE], tmp_path).stdout
    assert run(["blocked"], tmp_path).stdout.strip() == ""
    assert "Nothing to change" in run(["unblock", PHONE], tmp_path).stdout
