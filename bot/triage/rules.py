"""Clinical combination rules: the signals of a conversation's messages -> one `Urgency` with reasons and needs.

Per signal (see data/lexicons/README.md for the kinds): intent ("going to") raises thoughts and methods to high,
intent plus a timeframe within 24 hours ("tonight") to imminent (Crisis Text Line's imminent risk: desire, plan,
means, timeframe); an attempt in progress is imminent; a past attempt is high when recent or when it is not said
when, moderate when over 3 months ago (the C-SSRS screener's rule); thoughts only in the past are low; denials
("I'm not suicidal"), advice or news ("if you're feeling suicidal ...") and words reported from someone else
("they told me to kill myself": bullying) do not count as risk; a joking tone (lol, 💀) lowers bare thoughts to
low unless something else backs them up (humor can mask real distress) and never lowers methods, plans or
attempts. Thoughts framed as a reaction to a situation or a cause ("when the wifi dies i want to die", "this exam
makes me want to kill myself", "i'd rather die than ...") are hyperbole unless something else in the conversation
backs them up (signs of distress, means, a method, a need): alone they are low, with the words quoted so the
counselor can still ask. Third parties keep the same level with
the need `third_party_risk` and an "About someone else" reason.

Across messages: thoughts plus means at hand or a method is high; plus a plan or means and a timeframe is
imminent; thoughts plus a farewell is high, imminent with a timeframe; distress plus named means (pills, a dose, a
firearm) is moderate. Vague wording (groups with `backed_score`: "it's already done", "already took them", "did my
research", a bare "goodbye") counts in full only when another suicide signal backs it up (a clear statement, named
means, or vague wording of another group); alone it keeps its group's lower score, quoted so the counselor asks.
Distress accumulates (risk factors add up): each distress group has a weight (data/lexicons: 2 for the signs that
predict suicide risk better than sadness, such as worthlessness, self-hatred, thwarted belongingness, emptiness;
1 for sadness, anxiety, crying, life events), a group counts at most PER_GROUP times, and DISTRESS_POINTS
points are moderate (two strong signs, one strong and another, or three others, as the earlier rule of
three distinct signs). Hopelessness, entrapment, unbearable pain and
feeling a burden are moderate on their own (Beck, Shneidman, Joiner: stronger predictors than sadness).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.triage.analyzer import Hit, MessageSignals
from bot.triage.levels import Urgency, clamp_to_band, level_for_score

#: Kinds that are about suicide risk (a third party's gets the need third_party_risk).
SUICIDE_KINDS = frozenset({"ideation", "death_wish", "mention", "method", "access", "plan", "attempt_now",
                           "attempt_past", "farewell", "self_harm"})
DESIRE_KINDS = frozenset({"ideation", "death_wish"})
MAX_REASONS = 5
#: Distress points that together count as moderate (risk factors accumulate; see the module docstring).
DISTRESS_POINTS = 3
#: Distinct phrases of one distress group that count towards DISTRESS_POINTS.
PER_GROUP = 3
#: Kinds of bare thoughts that hyperbole ("this exam makes me want to die") lowers when nothing backs them up.
HYPERBOLE_KINDS = frozenset({"ideation", "death_wish", "mention"})
QUOTE_CHARS = 40


@dataclass(frozen=True)
class Finding:
    """One scored observation: a score (its level follows from the band), a reason and needs."""

    score: int
    reason: str
    needs: tuple[str, ...] = ()
    kind: str = ""
    active: bool = True          # counts for combinations (self, present, not denied or joking)
    quote: str = ""              # the words quoted, to drop reasons that repeat a longer quote
    group: str = ""              # lexicon group (distress accumulation counts per group)
    weight: int = 0              # distress accumulation weight of the group
    tentative: str = ""          # "hyperbole?" or "joking tone?": counts only when something else backs it up


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


def _reason(hit: Hit, label: str, extra: str = "", soon: str = "") -> str:
    prefix = "About someone else: " if hit.about == "other" and hit.group.kind in SUICIDE_KINDS else "Text: "
    quote = f'"{_quote(hit.quote)}"'
    if soon:
        quote += f' + "{_quote(soon)}"'
    return f"{prefix}{quote} ({label}{', ' + extra if extra else ''})"


def _score_hit(hit: Hit, msg: MessageSignals) -> Finding | None:
    group, kind = hit.group, hit.group.kind
    if hit.general and kind != "need":
        return None
    if hit.about == "you" and kind in SUICIDE_KINDS:
        return None  # said to someone else ("don't kill yourself"); bullying phrases are in the needs lexicon
    if hit.reported and kind in SUICIDE_KINDS:
        return Finding(28, f'Text: "{_quote(hit.quote)}" (told to harm self: bullying?)', ("bullying",), "need",
                       active=False)
    if hit.negated:
        if kind in SUICIDE_KINDS:
            return Finding(5, f'Denies: "{_quote(hit.quote)}"', (), kind, active=False)
        return None
    needs: list[str] = [group.need] if group.need else []
    if kind == "need" or kind == "distress":
        return Finding(group.score, _reason(hit, group.label), tuple(needs), kind, hit.about == "self",
                       hit.quote.lower(), group.name, group.weight if kind == "distress" else 0)
    if hit.about == "other" and kind in SUICIDE_KINDS:
        needs.append("third_party_risk")
    score, extra, soon, active, tentative = group.score, "", "", hit.about == "self", ""
    if kind == "attempt_now" and (hit.past or hit.when in ("recent", "remote")) and hit.when != "today":
        kind = "attempt_past"  # "took a bunch of pills last year"; within the last day stays in progress
    if kind == "attempt_now":
        if hit.conditional:
            score, extra = 78, "asking"
    elif kind == "attempt_past":
        if hit.when in ("today", "recent"):
            score, extra = 82, f"recent: {_quote(hit.when_quote)}"
        elif hit.when == "remote":
            score, extra = 55, f"over 3 months ago: {_quote(hit.when_quote)}"
        else:
            score, extra = 68, "when unknown"
        if hit.about == "other":
            score = min(score, 50)
        active = False
    elif hit.past and kind in ("ideation", "death_wish", "method", "self_harm", "plan", "farewell", "mention"):
        score, extra, active = (20 if kind == "mention" else 25), "in the past", False
    elif kind in ("ideation", "death_wish", "method", "plan", "farewell", "mention", "self_harm", "access"):
        if msg.soon and (hit.intent or kind == "plan"):
            score, extra, soon = 92, "intent + timeframe", msg.soon
        elif hit.intent and kind in ("ideation", "death_wish", "method", "mention"):
            score, extra = max(score, 76), "intent"
        elif msg.soon and kind != "mention":
            score, extra, soon = max(score + 16, 66), "timeframe", msg.soon
        elif kind == "method" and hit.desire:
            score = max(score, 60)
        elif msg.humor and kind in HYPERBOLE_KINDS:
            tentative = "joking tone?"
        elif msg.humor and kind == "farewell":
            score, extra, active = 22, "joking tone?", False
        elif hit.hyperbole and kind in HYPERBOLE_KINDS:
            tentative = "said about a situation: hyperbole?"
    if kind == "self_harm" and "self_harm" not in needs:
        needs.append("self_harm")
    return Finding(score, _reason(hit, group.label, extra, soon), tuple(needs), kind, active, hit.quote.lower(),
                   group.name, tentative=tentative)


def _as_backed(hit: Hit) -> Hit:
    score = hit.group.backed_score or hit.group.score
    return replace(hit, group=replace(hit.group, score=score, level=level_for_score(score)))


def _backs(f: Finding) -> bool:
    return f.active and f.kind in SUICIDE_KINDS and f.score >= 10 and not f.tentative


def _resolve_vague(vague: list[tuple[Hit, Finding]], findings: list[Finding], hits: list[Hit]) -> list[Finding]:
    """Vague wording ("it's already done", "did my research", "goodbye") counts in full (the group's
    backed_score) when another suicide signal of the conversation backs it up: a clear statement of another
    group, any named means, or vague wording of another group. Alone it keeps the group's own score (dropped
    below low), marked so the counselor asks what it means."""
    out: list[Finding] = []
    means = [h for h in hits if h.group.kind == "means" and not h.negated and not h.general]
    for hit, backed in vague:
        own = hit.quote.lower()   # words inside the vague wording itself never back it up
        other_means = [h for h in means if h.quote.lower() not in own]
        others = [f for f in findings if _backs(f) and f.quote not in own] + [
            f for h, f in vague if h.group.name != hit.group.name and _backs(f) and f.quote not in own]
        if backed.score < 10 or (not backed.active and backed.kind != "attempt_past"):
            out.append(replace(backed, score=min(backed.score, hit.group.score)))
        elif other_means or others:
            out.append(backed)
            hits.append(hit)
        elif hit.group.score >= 10:
            out.append(replace(backed, score=min(backed.score, hit.group.score), active=False,
                               reason=f'Text: "{_quote(hit.quote)}" ({hit.group.label}?: ask what it means)'))
    return out


def _distress_points(findings: list[Finding]) -> tuple[int, list[str]]:
    """Accumulated distress: per group, its weight times its distinct phrases (at most PER_GROUP); and the labels."""
    phrases: dict[str, list[str]] = {}
    weights: dict[str, int] = {}
    labels: dict[str, str] = {}
    for f in findings:
        if f.kind != "distress" or not f.active or not f.weight:
            continue
        found = phrases.setdefault(f.group, [])
        if any(f.quote in q or q in f.quote for q in found):
            continue  # overlapping matches of one group are one phrase ("so lonely" / "lonely")
        found.append(f.quote)
        weights[f.group] = f.weight
        labels[f.group] = f.reason.rsplit("(", 1)[-1].rstrip(")")
    points = sum(weights[g] * min(len(q), PER_GROUP) for g, q in phrases.items())
    ordered = sorted(phrases, key=lambda g: -weights[g])
    return points, [labels[g] for g in ordered]


def _resolve_hyperbole(findings: list[Finding]) -> list[Finding]:
    """Hyperbole stands when nothing else backs it up: low, quoted; otherwise the thoughts count in full."""
    tentative = [f for f in findings if f.tentative]
    if not tentative:
        return findings
    points, _ = _distress_points(findings)
    backed = points >= 2 or any(not f.tentative and f.score >= 10 and f.kind not in ("distress", "combo")
                                for f in findings)
    if backed:
        return findings
    return [replace(f, score=22, active=False, tentative="", reason=f"{f.reason[:-1]}, {f.tentative})")
            if f.tentative else f for f in findings]


def _combinations(findings: list[Finding], hits: list[Hit], any_soon: str) -> list[Finding]:
    active = {f.kind for f in findings if f.active}
    distress_quotes = [f.quote for f in findings if f.kind == "distress"]
    means_hits = [h for h in hits if h.group.kind in ("means", "access") and not h.negated and not h.general
                  and not any(h.quote.lower() in q for q in distress_quotes)]
    combos: list[Finding] = []
    desire = bool(active & DESIRE_KINDS)
    if desire and ("access" in active or "plan" in active) and any_soon:
        combos.append(Finding(93, f'Thoughts + means/plan + "{_quote(any_soon)}" (imminent risk)', kind="combo"))
    if desire and means_hits:
        combos.append(Finding(72, f'Thoughts + means: "{_quote(means_hits[0].quote)}"', kind="combo"))
    if desire and "farewell" in active:
        if any_soon:
            combos.append(Finding(93, f'Thoughts + farewell + "{_quote(any_soon)}" (imminent risk)', kind="combo"))
        combos.append(Finding(74, "Thoughts + farewell", kind="combo"))
    strong_means = [h for h in means_hits if h.group.alone]
    if not desire and "distress" in active and strong_means:
        combos.append(Finding(44, f'Distress + means: "{_quote(strong_means[0].quote)}"', kind="combo"))
    points, labels = _distress_points(findings)
    if points >= DISTRESS_POINTS:
        combos.append(Finding(41, _quote_list("Distress adds up: ", labels), kind="combo"))
    return combos


def _quote_list(prefix: str, labels: list[str]) -> str:
    text = prefix + ", ".join(dict.fromkeys(labels))
    return text if len(text) <= 100 else text[:99].rstrip(", ") + "…"


def combine(messages: Sequence[MessageSignals]) -> Urgency:
    """One urgency from the signals of all messages of a conversation (oldest first)."""
    findings: list[Finding] = []
    hits: list[Hit] = []
    vague: list[tuple[Hit, Finding]] = []
    any_soon = ""
    for msg in messages:
        any_soon = any_soon or msg.soon
        for hit in msg.hits:
            if hit.group.kind == "means":
                hits.append(hit)
                if not hit.group.alone or hit.negated or hit.general:
                    continue
            if hit.group.backed_score is not None:
                backed = _score_hit(_as_backed(hit), msg)
                if backed is not None:
                    vague.append((hit, backed))
                continue
            finding = _score_hit(hit, msg)
            if finding is not None:
                findings.append(finding)
                hits.append(hit)
    findings.extend(_resolve_vague(vague, findings, hits))
    findings = _resolve_hyperbole(findings)
    findings.extend(_combinations(findings, hits, any_soon))
    if not findings:
        return Urgency("none", 0)
    findings.sort(key=lambda f: (f.score, len(f.quote)), reverse=True)
    top = findings[0]
    level = level_for_score(top.score)
    risk_kinds = {f.kind for f in findings if f.active and f.score >= 10}
    score = clamp_to_band(level, top.score + 2 * max(len(risk_kinds) - 1, 0)) if level != "none" else min(top.score, 9)
    reasons: list[str] = []
    quoted: list[str] = []
    for f in findings:
        if f.reason in reasons or (f.score < 10 and level != "none"):
            continue
        if f.quote and any(f.quote in q for q in quoted):
            continue  # the same words are already quoted by a stronger reason
        reasons.append(f.reason)
        if f.quote:
            quoted.append(f.quote)
    needs: list[str] = []
    for f in findings:
        needs.extend(n for n in f.needs if n not in needs)
    return Urgency(level, score, tuple(reasons[:MAX_REASONS]), tuple(needs))
