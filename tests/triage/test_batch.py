"""`python -m bot.triage`: JSON lines in, one JSON line out per input, errors per line, never a crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.triage.batch import score_lines

ROOT = Path(__file__).resolve().parents[2]


def test_score_lines_outputs_one_line_per_input() -> None:
    lines = [
        json.dumps({"id": 1, "text": "im gonna kms tonight"}),
        "not json",
        json.dumps({"id": "b", "text": 5}),
        json.dumps({"id": 3, "text": "hello", "answers": {"plan": True, "intent": False}}),
        json.dumps({"id": 4, "text": "hi", "answers": {"favourite_color": True}}),
        "[1, 2]",
        "",
        json.dumps({"id": 5}),
        json.dumps({"id": 6, "text": "i feel fine", "answers": {"wish_dead": "yes"}}),
    ]
    out = [json.loads(line) for line in score_lines(lines)]
    assert len(out) == 8  # the blank line is skipped
    assert out[0] == {"id": 1, "level": "imminent", "score": out[0]["score"], "reasons": out[0]["reasons"],
                      "needs": [], "model": "lexicon", "abuse": {}}
    assert out[1]["id"] is None and "invalid JSON" in out[1]["error"]
    assert out[2] == {"id": "b", "error": '"text" must be a string'}
    assert out[3]["level"] == "high" and out[3]["reasons"] == ["Screener: plan (item 5)"]
    assert "unknown answer keys" in out[4]["error"]
    assert "error" in out[5]
    assert out[6]["level"] == "none"
    assert out[7]["level"] == "low"
    assert set(out[0]) == {"id", "level", "score", "reasons", "needs", "model", "abuse"}


def test_same_scoring_as_live_first_message() -> None:
    from bot.triage import assess

    text = "my friend took a whole bottle of pills"
    [line] = list(score_lines([json.dumps({"id": "x", "text": text})]))
    assert json.loads(line) == {"id": "x", **assess([text]).to_dict(), "abuse": {}}


def test_command_line(tmp_path: Path) -> None:
    items = [{"id": i, "text": text} for i, text in enumerate(["hi", "i want to die", "{bad"] * 50)]
    stdin = "\n".join(json.dumps(item) for item in items) + "\nnot json\n"
    proc = subprocess.run([sys.executable, "-m", "bot.triage"], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(items) + 1
    assert [o["id"] for o in out[:3]] == [0, 1, 2]
    assert out[1]["level"] == "moderate"
    assert "error" in out[-1]


def test_check_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot.triage", "--check"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok:")


def test_abuse_object_per_text() -> None:
    lines = [json.dumps({"id": 1, "text": "You have won a free iPhone! claim your prize at bit.ly/abc"}),
             json.dumps({"id": 2, "text": "fuck my life"}), json.dumps({"id": 3, "text": 7})]
    out = [json.loads(line) for line in score_lines(lines)]
    assert set(out[0]["abuse"]) == {"spam"} and 0.9 <= out[0]["abuse"]["spam"] <= 1.0
    assert out[1]["abuse"] == {}
    assert "abuse" not in out[2]
