"""The gateway's own texts (data/texts.yml): both languages, the rules checked at load, and the lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sms import replies
from bot.sms.replies import REQUIRED_KEYS, TextsError, load_texts, queue_position, text


def test_every_text_in_both_languages_short_and_risk_texts_name_911_and_988():
    texts = load_texts()
    assert set(REQUIRED_KEYS) <= set(texts)
    for key, by_language in texts.items():
        assert set(by_language) == {"en", "es"}, key
        for value in by_language.values():
            assert len(value) < 320 and "{emergency}" not in value, key
    for key in ("emergency", "fail_open", "help", "opted_out", "opted_in", "imminent", "rate_limited", "blocked",
                "still_waiting", "idle_closed"):
        for language in ("en", "es"):
            assert "911" in text(key, language) and "988" in text(key, language), (key, language)


def test_spanish_texts_are_spanish_and_name_988s_spanish_option():
    assert text("fail_open", "es").startswith("Gracias por escribir")
    assert "marca 2 para español" in text("emergency", "es")
    assert text("imminent", "es").endswith(text("emergency", "es"))
    assert "PARAR" in text("help", "es") and "STOP" in text("help", "en")


def test_english_names_keep_working_for_callers_without_a_language():
    assert replies.FAIL_OPEN == text("fail_open") == text("fail_open", "en")
    assert replies.FAIL_OPEN.endswith(replies.EMERGENCY)
    assert text("help") == replies.HELP and text("idle_closed") == replies.IDLE_CLOSED
    assert text("fail_open", "fr") == replies.FAIL_OPEN  # an unknown language gets English


def test_queue_position_in_both_languages():
    assert queue_position(1) == "You're next in line for a counselor."
    assert queue_position(1, "es") == text("queue_next", "es")
    assert queue_position(3, "es") == text("queue_soon", "es")
    assert queue_position(9, "es") == text("queue_busy", "es")
    for language in ("en", "es"):  # the waiting notice is the queue text and still_waiting together
        for position in (1, 2, 9):
            assert len(f"{queue_position(position, language)} {text('still_waiting', language)}") < 320


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "texts.yml"
    path.write_text(body, encoding="utf-8")
    return path


def _valid_entries() -> str:
    lines = ["texts:"]
    for key in REQUIRED_KEYS:
        lines += [f"  {key}:", "    risk: true", "    en: 'Call 911 or 988.'", "    es: 'Llama al 911 o al 988.'"]
    return "\n".join(lines) + "\n"


def test_a_valid_file_loads(tmp_path: Path):
    assert load_texts(_write(tmp_path, _valid_entries()))["help"]["es"] == "Llama al 911 o al 988."


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ("  odd:\n    en: 'hello'\n", "odd.es: missing"),
        ("  long:\n    en: '" + "a" * 330 + "'\n    es: 'hola'\n", "long.en: 330 characters"),
        ("  scary:\n    risk: true\n    en: 'Call 911.'\n    es: 'Llama al 911 o al 988.'\n", "scary.en: a risk text"),
        ("  worse:\n    risk: true\n    en: 'Call 911 or 988.'\n    es: '{emergency} y mas y mas " + "x" * 300 + "'\n",
         "worse.es"),
    ],
)
def test_a_broken_edit_is_refused_with_the_reason(tmp_path: Path, extra: str, complaint: str):
    with pytest.raises(TextsError, match=complaint):
        load_texts(_write(tmp_path, _valid_entries() + extra))


def test_a_missing_text_or_file_is_refused(tmp_path: Path):
    with pytest.raises(TextsError, match="fail_open: missing"):
        load_texts(_write(tmp_path, _valid_entries().replace("  fail_open:", "  fail_open_old:")))
    with pytest.raises(TextsError, match="cannot read"):
        load_texts(tmp_path / "nope.yml")
    with pytest.raises(TextsError, match="top-level"):
        load_texts(_write(tmp_path, "- just a list\n"))


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert replies.main(["--check"]) == 0
    assert "all good" in capsys.readouterr().out
    assert replies.main(["--check", str(_write(tmp_path, "texts: {}\n"))]) == 1
    assert "help: missing" in capsys.readouterr().out
