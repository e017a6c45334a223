"""The referral catalog (data/referrals.yml) and matching by needs, level, age, region and language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.triage import LEVELS, suggest_referrals
from bot.triage.referrals import CONTACT_KINDS, CatalogError, load_catalog

NEEDS = ("third_party_risk", "domestic_violence", "sexual_assault", "child_abuse", "eating_disorder",
         "substance_use", "lgbtq", "veteran", "grief", "bullying", "self_harm")


def test_catalog_is_valid_and_covers_every_need() -> None:
    catalog = load_catalog()
    ids = {entry.referral.id for entry in catalog}
    assert {"lifeline_988", "crisis_text_line", "trevor_project", "rainn", "domestic_violence_hotline",
            "samhsa_helpline", "childhelp", "trans_lifeline", "veterans_crisis_line", "united_way_211",
            "anad_helpline"} <= ids
    for entry in catalog:
        r = entry.referral
        assert r.contacts and set(r.contacts) <= set(CONTACT_KINDS)
        assert r.name and r.purpose and r.hours and r.ages and r.region == "US"
        assert len(r.sms_line()) <= 160, r.sms_line()
    for need in NEEDS:
        assert any(need in entry.needs for entry in catalog), need


def test_988_always_from_moderate_up_and_911_at_imminent() -> None:
    for level in LEVELS:
        ids = [r.id for r in suggest_referrals(["eating_disorder"], level, limit=1)]
        assert ("lifeline_988" in ids) == (level in ("moderate", "high", "imminent"))
        assert ("emergency_911" in ids) == (level == "imminent")
    assert [r.id for r in suggest_referrals([], "imminent")][:2] == ["emergency_911", "lifeline_988"]
    assert suggest_referrals([], "none") == []


@pytest.mark.parametrize(("need", "expected"), [
    ("domestic_violence", "domestic_violence_hotline"), ("sexual_assault", "rainn"), ("child_abuse", "childhelp"),
    ("eating_disorder", "anad_helpline"), ("substance_use", "samhsa_helpline"), ("veteran", "veterans_crisis_line"),
    ("lgbtq", "trevor_project"), ("grief", "united_way_211"), ("bullying", "teen_line"), ("self_harm", "lifeline_988"),
    ("third_party_risk", "lifeline_988"),
])
def test_need_picks_its_service_with_why(need: str, expected: str) -> None:
    refs = suggest_referrals([need], "low")
    assert refs[0].id == expected
    assert refs[0].why.startswith("For ")


def test_age_and_round_robin_over_needs() -> None:
    teen = suggest_referrals(["lgbtq", "domestic_violence"], "low", age_range="13_17")
    assert [r.id for r in teen] == ["trevor_project", "love_is_respect", "trans_lifeline"]
    assert "texter 13-17" in teen[0].why
    adult = [r.id for r in suggest_referrals(["lgbtq", "domestic_violence"], "low", age_range="35_64")]
    assert "trevor_project" not in adult and "love_is_respect" not in adult
    assert adult[:2] == ["trans_lifeline", "domestic_violence_hotline"]


def test_high_risk_with_needs_keeps_988_first_and_adds_why() -> None:
    refs = suggest_referrals(["veteran", "third_party_risk"], "high", limit=3)
    assert refs[0].id == "lifeline_988"
    assert "always offer 988" in refs[0].why and "someone else" in refs[0].why
    assert refs[1].id == "veterans_crisis_line"


def test_region_and_language() -> None:
    assert suggest_referrals(["grief"], "moderate", region="US-TX")
    assert suggest_referrals(["grief"], "moderate", region="CA") == []
    spanish = suggest_referrals(["eating_disorder"], "low", language="es")
    assert all("es" in r.languages for r in spanish[:1]) or spanish[0].id == "anad_helpline"
    rainn = suggest_referrals(["sexual_assault"], "low", language="es")[0]
    assert rainn.id == "rainn" and "speaks Spanish" in rainn.why


def test_referral_output_formats() -> None:
    trevor = suggest_referrals(["lgbtq"], "low", age_range="18_24")[0]
    assert trevor.sms_line() == "Trevor Project (LGBTQ+ youth): call 1-866-488-7386 or text START to 678-678"
    data = trevor.to_dict()
    assert {"id", "name", "purpose", "contacts", "hours", "ages", "region", "languages", "why", "sms"} <= set(data)
    lifeline = suggest_referrals([], "high")[0]
    assert lifeline.sms_line() == "988 Suicide & Crisis Lifeline: call or text 988"
    with pytest.raises(ValueError):
        suggest_referrals([], "severe")


def test_bad_catalog_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "referrals.yml"
    bad.write_text("- id: x\n  name: X\n  purpose: p\n  contacts: {fax: '1'}\n  hours: h\n  ages: a\n",
                   encoding="utf-8")
    with pytest.raises(CatalogError, match="contacts"):
        load_catalog(bad)
    bad.write_text("- id: x\n  name: X\n", encoding="utf-8")
    with pytest.raises(CatalogError):
        load_catalog(bad)
