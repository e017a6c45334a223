"""The staff-edited lexicons: pattern syntax, validation errors that name the file, and edits taking effect."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.nlp import load as load_nlp
from bot.triage.analyzer import Analyzer, get_analyzer, parse_number, prepare
from bot.triage.lexicon import LEXICON_DIR, LexiconError, _parse, load_lexicon
from bot.triage.rules import combine


def test_pattern_expansion() -> None:
    macros = {"self": ["myself", "my self"]}
    assert _parse("kill {self}", macros, "t") == [["kill", "myself"], ["kill", "my", "self"]]
    assert _parse("(really|) want to (die|be dead)", {}, "t") == [
        ["really", "want", "to", "die"], ["really", "want", "to", "be", "dead"],
        ["want", "to", "die"], ["want", "to", "be", "dead"]]
    assert _parse("=took <num> pills", {}, "t") == [["=took", "<num>", "pills"]]


@pytest.mark.parametrize(("pattern", "message"), [
    ("kill {nobody}", "unknown macro"),
    ("(kill|hurt myself", "missing ')'"),
    ("kill) myself", "unbalanced"),
])
def test_pattern_errors(pattern: str, message: str) -> None:
    with pytest.raises(LexiconError, match=re.escape(message)):
        _parse(pattern, {}, "file.yml: group g")


def _lexicon_copy(tmp_path: Path) -> Path:
    target = tmp_path / "lexicons"
    shutil.copytree(LEXICON_DIR, target)
    return target


@pytest.mark.parametrize(("content", "message"), [
    ("groups:\n  g:\n    kind: feelings\n    patterns: [sad]\n", "unknown kind"),
    ("groups:\n  g:\n    kind: distress\n    level: severe\n    patterns: [sad]\n", "unknown level"),
    ("groups:\n  g:\n    kind: distress\n    level: low\n    score: 80\n    patterns: [sad]\n", "outside the low band"),
    ("groups:\n  g:\n    kind: need\n    need: money\n    patterns: [broke]\n", "unknown need"),
    ("groups:\n  g:\n    kind: means\n    patterns:\n      - {pills}\n", "is not text"),
    ("groups:\n  g:\n    kind: distress\n    patterns: []\n", "no patterns"),
    ("groups: [unclosed\n", "not valid YAML"),
    ("groups:\n  g:\n    kind: distress\n    weight: 9\n    patterns: [sad]\n", "weight must be"),
    ("groups:\n  g:\n    kind: distress\n    weight: true\n    patterns: [sad]\n", "weight must be"),
])
def test_bad_lexicon_file_is_reported_with_its_name(tmp_path: Path, content: str, message: str) -> None:
    directory = tmp_path / "lexicons"
    directory.mkdir()
    (directory / "zz_staff.yml").write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message) as info:
        load_lexicon(directory)
    assert "zz_staff.yml" in str(info.value)


def test_staff_edit_takes_effect(tmp_path: Path) -> None:
    directory = _lexicon_copy(tmp_path)
    (directory / "zz_staff.yml").write_text(
        "groups:\n  new_slang:\n    kind: ideation\n    label: new slang\n"
        "    patterns: ['(go|going) to the big sleep']\n",
        encoding="utf-8")
    analyzer = Analyzer(load_lexicon(directory), load_nlp())
    result = combine(analyzer.analyze(["im going to the big sleep"]))
    assert result.level == "high"  # ideation + intent ("going to")
    assert "new slang" in result.reasons[0]


def test_every_shipped_group_matches_its_own_first_pattern() -> None:
    analyzer = get_analyzer()
    lexicon = analyzer.lexicon
    for name, specs in lexicon.patterns.items():
        group = lexicon.groups[name]
        words = []
        for tok in specs[0]:
            words.append({"number": "12", "exact": tok[-1]}.get(tok[0], tok[-1]))
        if group.min_number or group.max_number:
            value = int(group.min_number) + 1 if group.min_number else int(group.max_number or 1)
            words = [str(value) if w == "12" else w for w in words]
        doc = analyzer.nlp.tokenizer(prepare(" ".join(words)))
        assert any(m.group.name == name for m in analyzer._matches(doc)), (name, words)


def test_sms_normalization() -> None:
    analyzer = get_analyzer()
    same = ["kill myself", "KILL MYSELF", "killing myself", "kiiiiilling myself", "kms", "Kms"]
    for text in same:
        assert any(h.group.kind == "ideation" for h in analyzer.analyze([text])[0].hits), text
    assert parse_number("1,000") == 1000
    assert parse_number("twenty") == 20
    assert parse_number("lots") is None
    assert prepare("self-harm 20pills ❤️") == "self harm 20 pills ❤"


def test_hyperbole_framing_is_marked_on_the_whole_statement() -> None:
    analyzer = get_analyzer()
    framed = analyzer.analyze(["when my team loses, i want to die", "this exam makes me want to kill myself",
                               "i'd rather die than go", "i want to die because i tripped on stage"])
    for signals in framed[:2] + framed[3:]:
        risks = [h for h in signals.hits if h.group.kind in ("ideation", "death_wish", "mention")]
        assert risks and all(h.hyperbole for h in risks)
    plain = analyzer.analyze(["i want to die. when will this stop", "i want to kill myself"])
    assert not any(h.hyperbole for s in plain for h in s.hits)


def test_hyperbole_counts_only_when_nothing_backs_it_up() -> None:
    analyzer = get_analyzer()
    alone = combine(analyzer.analyze(["my little brother makes me want to die"]))
    assert alone.level == "low" and "hyperbole?" in alone.reasons[0]
    # a later message with a strong sign of distress backs the earlier words up
    later = combine(analyzer.analyze(["my little brother makes me want to die", "honestly i feel worthless"]))
    assert later.level == "moderate"
    assert any("wish to be dead" in r and "hyperbole" not in r for r in later.reasons)


def test_distress_adds_up_by_weight_and_names_the_signs() -> None:
    analyzer = get_analyzer()
    one_strong = combine(analyzer.analyze(["i feel worthless"]))
    assert one_strong.level == "low"
    strong_and_other = combine(analyzer.analyze(["i feel worthless", "i cry every night"]))
    assert strong_and_other.level == "moderate"
    assert any(r.startswith("Distress adds up: worthlessness") for r in strong_and_other.reasons)
    # overlapping matches of one group are one phrase, not two signs
    assert combine(analyzer.analyze(["im so lonely"])).level == "low"
