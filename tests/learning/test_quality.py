"""Rater agreement on a tiny seeded set, against figures computed by hand; the sample to review; the weights."""

from __future__ import annotations

import pytest

from bot.learning import labels, quality
from tests.learning.conftest import Store

# (counselor's level, reviewer's level) per conversation
ANA = [("none", "none"), ("low", "low"), ("moderate", "high"), ("high", "high"), ("imminent", "imminent"),
       ("low", "moderate")]
BEN = [("high", "low"), ("low", "high"), ("none", "moderate"), ("moderate", "none"), ("high", "high")]


async def _seed(store: Store) -> dict[str, int]:
    ids = {name: await store.user(name, role) for name, role in
           (("ana", "counselor"), ("ben", "counselor"), ("sam", "supervisor"))}
    for name, pairs in (("ana", ANA), ("ben", BEN)):
        for mine, theirs in pairs:
            conv = await store.conversation([f"text for {name} {mine} {theirs}"])
            await labels.record_report(store.db, conv, ids[name], mine, [])
            await labels.record_review(store.db, conv, ids["sam"], theirs)
    return ids


async def test_kappa_percent_and_confusion_match_hand_computed_figures(store: Store) -> None:
    ids = await _seed(store)
    report = await quality.quality_report(store.db)
    ana, ben = report.counselors
    # Ana: 4 of 6 agree; chance = (1*1 + 2*1 + 1*1 + 1*2 + 1*1) / 36 = 7/36; kappa = (24/36 - 7/36) / (29/36)
    assert (ana.name, ana.user_id, ana.reviewed) == ("Ana", ids["ana"], 6)
    assert ana.kappa == pytest.approx(17 / 29)
    assert ana.percent == pytest.approx(100 * 4 / 6)
    # Ben: 1 of 5 agree; chance = (2*2 + 1*1 + 1*1 + 1*1) / 25 = 7/25; kappa = (5/25 - 7/25) / (18/25) = -1/9
    assert ben.kappa == pytest.approx(-1 / 9) and ben.percent == pytest.approx(20.0)
    # everyone: 5 of 11 agree; chance = (2*2 + 3*2 + 2*2 + 3*4 + 1*1) / 121 = 27/121; kappa = 28/94
    assert report.overall.reviewed == 11
    assert report.overall.kappa == pytest.approx(28 / 94)
    assert report.overall.percent == pytest.approx(100 * 5 / 11)
    # confusion: rows = counselor's level, columns = reviewer's, in LEVELS order (none .. imminent)
    assert report.overall.confusion == [
        [1, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 0, 0, 1, 0],
        [0, 1, 0, 2, 0],
        [0, 0, 0, 0, 1],
    ]
    # weights: Ana (kappa 0.586 over 6 reviews) scaled between the floor 0.2 and 0.6; Ben below the floor: left out
    assert ana.weight == pytest.approx((17 / 29 - 0.2) / 0.4, abs=1e-3)
    assert ben.weight == 0.0
    weights = await quality.counselor_weights(store.db)
    assert weights[ids["ben"]] == 0.0 and weights[12345] == 1.0  # nobody reviewed yet: full weight
    # the disagreements wait for adjudication; settling one removes it from the list
    assert len(report.disagreements) == 6
    first = report.disagreements[0]
    await labels.settle(store.db, first.conversation_id, ids["sam"], "high")
    after = await quality.quality_report(store.db)
    assert len(after.disagreements) == 5
    assert first.conversation_id not in {d.conversation_id for d in after.disagreements}


def test_weight_rule() -> None:
    assert quality.label_weight(None, 0) == 1.0
    assert quality.label_weight(0.1, quality.MIN_REVIEWS - 1) == 1.0  # too few reviews to judge
    assert quality.label_weight(0.1, quality.MIN_REVIEWS) == 0.0
    assert quality.label_weight(0.4, 10) == pytest.approx(0.5)
    assert quality.label_weight(0.9, 10) == 1.0
    assert quality.kappa(["low", "low"], ["low", "low"]) is None


async def test_review_sample_is_closed_labelled_unreviewed_and_never_the_reviewers_own(store: Store) -> None:
    ana = await store.user("ana")
    sam = await store.user("sam", "supervisor")
    own = await store.conversation(["sam filed this one"])
    await labels.record_report(store.db, own, sam, "low", [])
    open_ = await store.conversation(["still open"], state="active")
    await labels.record_report(store.db, open_, ana, "low", [])
    unlabelled = await store.conversation(["no report yet"])
    assert unlabelled
    assert await quality.next_for_review(store.db, sam) is None
    target = await store.conversation(["ana filed this one"])
    await labels.record_report(store.db, target, ana, "moderate", [])
    assert await quality.next_for_review(store.db, sam) == target
    with pytest.raises(labels.LabelError):
        await labels.record_review(store.db, own, sam, "low")  # one's own report
    await labels.record_review(store.db, target, sam, "moderate")
    with pytest.raises(labels.LabelError):
        await labels.record_review(store.db, target, sam, "high")  # once
    assert await quality.next_for_review(store.db, sam) is None


async def test_the_insights_page_figures_carry_the_overall_rater_agreement(store: Store) -> None:
    from datetime import timedelta

    from bot.insights.figures import csv_rows, insights
    from bot.store.models import utcnow

    await _seed(store)
    now = utcnow()
    ins = await insights(store.db, now - timedelta(days=1), now + timedelta(days=1))
    assert ins.rater_agreement.reviewed == 11
    assert ins.rater_agreement.kappa == pytest.approx(28 / 94)
    rows = {(section, measure): value for section, _, measure, value in csv_rows(ins)}
    assert rows[("raters", "kappa")] == pytest.approx(28 / 94, abs=1e-4)
    assert rows[("raters", "reviewed")] == 11
