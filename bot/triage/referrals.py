"""Referral matching: pick services from the staff-edited catalog (data/referrals.yml) that fit one texter.

Order of the suggestions: services forced by the urgency level (911 at imminent, 988 from moderate up: always
included, even past `limit`), then services for the needs found (in the order the needs were given; a service
made for the texter's known age first, a specialised service before a general crisis line), then general crisis
lines to fill up. Each suggestion says `why` it was
picked for this texter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.triage.levels import LEVELS, rank

CATALOG_PATH = Path(__file__).resolve().parents[2] / "data" / "referrals.yml"

CONTACT_KINDS: tuple[str, ...] = ("phone", "text", "chat", "web")

AGE_RANGES: Mapping[str, tuple[int, int]] = {
    "under_13": (0, 12), "13_17": (13, 17), "18_24": (18, 24), "25_34": (25, 34), "35_64": (35, 64),
    "65_plus": (65, 120),
}

NEED_LABELS: Mapping[str, str] = {
    "third_party_risk": "worried about someone else's safety",
    "domestic_violence": "abuse or violence at home",
    "sexual_assault": "sexual assault",
    "child_abuse": "a child or teen being hurt",
    "eating_disorder": "eating disorder",
    "substance_use": "alcohol or drug use",
    "lgbtq": "LGBTQ+",
    "veteran": "veteran or service member",
    "grief": "grief and loss",
    "bullying": "bullying",
    "self_harm": "self-harm",
}

LANGUAGE_NAMES: Mapping[str, str] = {"es": "Spanish", "en": "English"}


@dataclass(frozen=True)
class Referral:
    """One suggested service, with `why` it was picked for this texter."""

    id: str
    name: str
    purpose: str
    contacts: Mapping[str, str]
    hours: str
    ages: str
    region: str
    languages: tuple[str, ...]
    why: str = ""
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "label": self.label or self.name, "purpose": self.purpose,
            "contacts": dict(self.contacts), "hours": self.hours, "ages": self.ages, "region": self.region,
            "languages": list(self.languages), "why": self.why, "sms": self.sms_line(),
        }

    def sms_line(self) -> str:
        """One short line for a text message, e.g. "Trevor Project (LGBTQ+ youth): call 1-866-... or text ..."."""
        phone, text = self.contacts.get("phone"), self.contacts.get("text")
        ways: list[str] = []
        if phone and phone == text:
            ways.append(f"call or text {phone}")
        else:
            if phone:
                ways.append(f"call {phone}")
            if text:
                ways.append(f"text {text}")
        if not ways and self.contacts.get("chat"):
            ways.append(f"chat at {self.contacts['chat']}")
        if not ways and self.contacts.get("web"):
            ways.append(f"see {self.contacts['web']}")
        return f"{self.label or self.name}: {' or '.join(ways)}"


@dataclass(frozen=True)
class CatalogEntry:
    """A catalog row: the texter-independent `Referral` plus what matching needs."""

    referral: Referral
    needs: tuple[str, ...]
    age_min: int
    age_max: int
    min_level: str | None
    general: bool
    order: int = field(default=0)

    def fits_age(self, age_range: str | None) -> bool:
        span = AGE_RANGES.get(age_range or "")
        return span is None or (span[0] <= self.age_max and self.age_min <= span[1])

    def fits_region(self, region: str | None) -> bool:
        if not region or region.lower() == "unknown":
            return True
        mine, theirs = self.referral.region.upper(), region.upper()
        return theirs == mine or theirs.startswith(mine + "-")


class CatalogError(ValueError):
    """The referral catalog file is malformed."""


def _entry(raw: Mapping[str, Any], order: int) -> CatalogEntry:
    try:
        contacts = {str(k): str(v) for k, v in dict(raw["contacts"]).items()}
        unknown = set(contacts) - set(CONTACT_KINDS)
        if unknown or not contacts:
            raise CatalogError(f"{raw.get('id')}: contacts must be among {CONTACT_KINDS}, got {sorted(contacts)}")
        min_level = raw.get("min_level")
        if min_level is not None and min_level not in LEVELS:
            raise CatalogError(f"{raw['id']}: min_level {min_level!r} is not a level")
        referral = Referral(
            id=str(raw["id"]), name=str(raw["name"]), purpose=str(raw["purpose"]), contacts=contacts,
            hours=str(raw["hours"]), ages=str(raw["ages"]), region=str(raw.get("region", "US")),
            languages=tuple(str(x) for x in raw.get("languages") or ("en",)), label=str(raw.get("label") or ""),
        )
        return CatalogEntry(
            referral=referral, needs=tuple(raw.get("needs") or ()), age_min=int(raw.get("age_min", 0)),
            age_max=int(raw.get("age_max", 120)), min_level=min_level, general=bool(raw.get("general")),
            order=order,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CatalogError):
            raise
        raise CatalogError(f"referral entry {order} ({raw.get('id') if isinstance(raw, Mapping) else raw!r}): "
                           f"{exc!r}") from exc


@lru_cache(maxsize=8)
def load_catalog(path: str | Path = CATALOG_PATH) -> tuple[CatalogEntry, ...]:
    """Parse and validate the catalog (cached per path)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    if not isinstance(raw, list):
        raise CatalogError("the referral catalog must be a YAML list of services")
    entries = tuple(_entry(item, i) for i, item in enumerate(raw))
    ids = [e.referral.id for e in entries]
    if len(set(ids)) != len(ids):
        raise CatalogError("duplicate referral ids")
    return entries


def _why_level(entry: CatalogEntry, level: str) -> str:
    if entry.min_level == "imminent":
        return "Imminent risk: emergency help now"
    return f"Suicide risk is {level}: always offer 988"


def _why_need(entry: CatalogEntry, need: str, age_range: str | None) -> str:
    why = f"For {NEED_LABELS.get(need, need)}"
    if age_range in AGE_RANGES and (entry.age_min > 0 or entry.age_max < 120):
        why += f" (ages {entry.referral.ages}; texter {age_range.replace('_', '-')})"
    return why


def suggest_referrals(needs: Sequence[str], level: str, *, age_range: str | None = None,
                      region: str | None = None, language: str | None = None, limit: int = 3,
                      catalog: str | Path = CATALOG_PATH) -> list[Referral]:
    """Services that fit this texter, best first, each with `why`; see the module docstring for the order."""
    if level not in LEVELS:
        raise ValueError(f"unknown urgency level {level!r}")
    entries = [e for e in load_catalog(catalog) if e.fits_age(age_range) and e.fits_region(region)]
    lang = (language or "").lower()[:2]

    def preference(entry: CatalogEntry) -> tuple[int, int, int, int]:
        speaks = 0 if not lang or lang == "en" or lang in entry.referral.languages else 1
        narrow = entry.age_max - entry.age_min if age_range in AGE_RANGES else 0
        return speaks, int(entry.general), narrow, entry.order

    forced = sorted((e for e in entries if e.min_level and rank(level) >= rank(e.min_level)),
                    key=lambda e: (-rank(e.min_level or "none"), e.order))
    picked: dict[str, tuple[CatalogEntry, list[str]]] = {e.referral.id: (e, [_why_level(e, level)]) for e in forced}
    room = max(limit - len(forced), 0)
    added = 0

    def add(entry: CatalogEntry, why: str) -> None:
        nonlocal added
        if entry.referral.id in picked:
            picked[entry.referral.id][1].append(why)
        elif added < room:
            picked[entry.referral.id] = (entry, [why])
            added += 1

    # Round-robin over the needs: each need gets its best service before any need gets a second one.
    per_need = {need: sorted((e for e in entries if need in e.needs), key=preference) for need in dict.fromkeys(needs)}
    for depth in range(max((len(v) for v in per_need.values()), default=0)):
        for need, candidates in per_need.items():
            if depth < len(candidates):
                add(candidates[depth], _why_need(candidates[depth], need, age_range))
    if rank(level) >= rank("low") or needs:
        for entry in sorted((e for e in entries if e.general), key=preference):
            if entry.referral.id not in picked:
                add(entry, "General crisis support, 24/7")
    result: list[Referral] = []
    for entry, whys in picked.values():
        why = "; ".join(dict.fromkeys(whys))
        if lang and lang != "en" and lang in entry.referral.languages:
            why += f"; speaks {LANGUAGE_NAMES.get(lang, lang)}"
        r = entry.referral
        result.append(Referral(r.id, r.name, r.purpose, r.contacts, r.hours, r.ages, r.region, r.languages,
                               why, r.label))
    return result
