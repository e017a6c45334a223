"""The learned scorer: training on our own hand-written examples, calibrated probabilities and levels, safe
serialization, the live model in `assess` (floors it can never lower), and the verdict against the live scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.triage import LearnedModel, ModelError, assess, assess_many, live_model_version, use_model
from bot.triage.learned import FORMAT_VERSION, MAGIC, Params
from bot.triage.levels import BANDS, Urgency, merge
from bot.triage.training import Example, TrainOutcome, fit_model, split_groups, train_candidate

AT_RISK = [
    "i want to die", "i cant do this anymore i want to end it", "nobody would miss me if i was gone",
    "i have pills saved up and i want to take them all", "im going to kill myself", "i wish i was never born",
    "i feel like a burden and want to disappear", "i want to end my life tonight", "i have the rope ready",
    "i dont want to wake up tomorrow", "everyone would be better off without me", "i keep thinking about dying",
    "i want to overdose", "there is no reason to live anymore", "i wrote my goodbye letter",
]
NOT_AT_RISK = [
    "what time does the store open", "i love my new puppy", "this homework is killing me lol", "pizza tonight?",
    "the game was great", "can you send me the link", "my phone is about to die", "i aced my test today",
    "going to the beach this weekend", "that movie was so good", "my mom made dinner", "see you at practice",
    "i need new shoes", "happy birthday to my sister", "the weather is nice today",
]


def _examples(copies: int = 3) -> list[Example]:
    out = []
    for c in range(copies):
        suffix = ["", " honestly", " right now"][c % 3]
        out += [Example(t + suffix, 1, level="moderate", group=f"r{i}-{c}") for i, t in enumerate(AT_RISK)]
        out += [Example(t + suffix, 0, level="none", group=f"n{i}-{c}") for i, t in enumerate(NOT_AT_RISK)]
    return out


@pytest.fixture(scope="module")
def model() -> LearnedModel:
    ex = _examples()
    fitted, _ = fit_model([e.text for e in ex], [e.label for e in ex], groups=[e.group for e in ex],
                          params=Params(word_bits=14, char_bits=14))
    return fitted


@pytest.fixture(autouse=True)
def _no_live_model():
    use_model(None)
    yield
    use_model(None)


def _constant(intercept: float) -> LearnedModel:
    """A model that gives the same probability to every text (all weights zero)."""
    params = Params(word_bits=8, char_bits=8)
    n = 2 ** 8 + 2 ** 8
    return LearnedModel(params=params, coef=np.zeros(n), intercept=intercept, calibration=(1.0, 0.0),
                        thresholds={"low": 0.2, "moderate": 0.5, "high": 0.9}, word_idf=np.ones(256, np.float32),
                        char_idf=np.ones(256, np.float32), lex_vocab=[], version="const")


def test_probabilities_are_calibrated_numbers_and_rank_risk_higher(model: LearnedModel) -> None:
    risky = model.probabilities(["i want to end it all tonight", "nobody would miss me"])
    calm = model.probabilities(["see you at the game", "i love pizza"])
    assert all(0.0 <= p <= 1.0 for p in risky + calm)
    assert min(risky) > max(calm)
    assert model.probability(["hi", "i want to die"]) == pytest.approx(model.probabilities(["hi\ni want to die"])[0])


def test_levels_follow_operating_points(model: LearnedModel) -> None:
    t = model.thresholds
    assert 0.0 <= t["low"] <= t["moderate"] <= t["high"] <= 1.0
    assert model.level(0.0) in ("none", "low")
    assert model.level(1.0) == "high"
    for p in np.linspace(0, 1, 21):
        level = model.level(float(p))
        low, high = BANDS[level]
        assert low <= model.score(float(p)) <= high


def test_explain_names_words_of_the_text(model: LearnedModel) -> None:
    text = "i want to die and i have pills"
    words = model.explain([text], k=3)
    assert 1 <= len(words) <= 3
    assert all(w in text for w in words)


def test_explanation_adds_up_to_the_score(model: LearnedModel) -> None:
    """Word and lexicon contributions account for the linear score (up to hash collisions, absent here)."""
    text = "i want to die"
    matrix, _ = model._matrix([text])
    z = float(model.decision(matrix)[0]) - model.intercept
    assert sum(model.contributions(text).values()) == pytest.approx(z, rel=0.05, abs=0.05)


def test_round_trip_bytes_keep_scores_and_metadata(model: LearnedModel) -> None:
    model.metadata = {"languages": ["en"], "n_examples": 90}
    data = model.to_bytes()
    assert data.startswith(MAGIC)
    again = LearnedModel.from_bytes(data)
    texts = ["i want to die", "lol this exam", "quiero morir"]
    assert again.probabilities(texts) == pytest.approx(model.probabilities(texts), abs=1e-5)
    assert again.thresholds == model.thresholds and again.metadata == model.metadata
    assert again.version == ""


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic", "format", "empty", "garbage", "not bytes"])
def test_damaged_bytes_raise_model_error(model: LearnedModel, damage: str) -> None:
    data = model.to_bytes()
    if damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "flip":
        data = data[:-50] + bytes([data[-50] ^ 0xFF]) + data[-49:]
    elif damage == "magic":
        data = b"X" + data[1:]
    elif damage == "format":
        data = data.replace(f'"format": {FORMAT_VERSION}'.encode(), b'"format": 999', 1)
    elif damage == "empty":
        data = b""
    elif damage == "garbage":
        data = MAGIC + b"\x00\x00\x00\x00\x00\x00\x00\x05{{{{{"
    else:
        data = "text"  # type: ignore[assignment]
    with pytest.raises(ModelError):
        LearnedModel.from_bytes(data)


def test_live_model_scores_assess_and_batch(model: LearnedModel) -> None:
    assert live_model_version() == "lexicon"
    assert assess(["i want to die"]).model == "lexicon"
    model.version = "v7"
    use_model(model)
    assert live_model_version() == "v7"
    result = assess(["i want to die", "nobody would miss me"])
    assert result.model == "v7" and result.level in ("moderate", "high")
    assert result.reasons[0].startswith("Model: ")
    [batch] = list(assess_many([("i want to die", None)]))
    assert batch.model == "v7"
    use_model(None)
    assert assess(["i want to die"]).model == "lexicon"


def test_model_can_raise_but_never_lower_hard_floors() -> None:
    use_model(_constant(-20.0))   # says "none" to everything
    assert assess(["i took 30 of my pills"]).level == "imminent"           # attempt in progress stays
    assert assess(["hello"], {"intent": True, "plan": True}).level == "high"   # screener stays
    assert assess(["hello"], safe_now="no").level == "high"                # safety answer stays
    assert assess(["i want to die"]).level == "none"                       # free text: the model decides
    use_model(_constant(20.0))    # says "high" to everything
    raised = assess(["hello there"])
    assert raised.level == "high" and raised.model == "const"
    assert assess(["i took 30 of my pills"]).level == "imminent"


def test_lexicon_needs_survive_the_model() -> None:
    use_model(_constant(-20.0))
    assert "domestic_violence" in assess(["my boyfriend hits me"]).needs


def test_use_model_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        use_model("model")  # type: ignore[arg-type]


def test_urgency_keeps_its_scorer() -> None:
    u = Urgency("moderate", 50, ("x",), (), model="v3")
    assert Urgency.from_dict(u.to_dict()) == u
    assert Urgency.from_dict({"level": "low", "score": 20}).model == "lexicon"
    assert merge(Urgency("high", 70), u).model == "v3"
    assert merge(Urgency("high", 70), Urgency("low", 20)).model == "lexicon"


def test_split_keeps_groups_whole() -> None:
    ex = [Example(f"text {i}", i % 2, group=f"g{i // 4}") for i in range(200)]
    train, held = split_groups(ex, seed=1)
    assert sorted(train + held) == list(range(200))
    assert not {ex[i].group for i in train} & {ex[i].group for i in held}
    assert {ex[i].label for i in held} == {0, 1}


def test_train_candidate_against_the_lexicon(tmp_path: Path) -> None:
    ex = _examples(copies=6)
    ex += [Example("quiero morir", 1, group="es1", language="es"), Example("hola amigo", 0, group="es2",
                                                                          language="es")]
    outcome = train_candidate(ex, None, out_dir=tmp_path, params=Params(word_bits=14, char_bits=14))
    assert isinstance(outcome, TrainOutcome)
    f = outcome.figures
    assert f["n_train"] + f["n_heldout"] == len(ex) and f["live_name"] == "lexicon"
    for side in ("candidate", "live"):
        assert {"auc", "recall_at_moderate", "far_at_moderate", "recall_at_far_0.10", "confusion"} <= set(f[side])
    assert isinstance(outcome.beats_live, bool) and outcome.why
    assert "AUC" in outcome.report and "candidate" in outcome.report
    assert [p.name for p in outcome.plots] == ["roc.png", "precision_recall.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in outcome.plots)
    meta = outcome.candidate.metadata
    assert meta["languages"] == ["en", "es"] and len(meta["data_sha256"]) == 64
    assert set(meta["operating_points"]) == {"low", "moderate", "high"}
    # the same data in another order has the same hash
    again = train_candidate(list(reversed(ex)), outcome.candidate, out_dir=tmp_path / "2",
                            params=Params(word_bits=14, char_bits=14))
    assert again.candidate.metadata["data_sha256"] == meta["data_sha256"]
    assert again.figures["live_name"] == "candidate"


def test_too_little_held_out_data_is_refused(tmp_path: Path) -> None:
    ex = _examples(copies=1)
    outcome = train_candidate(ex, None, out_dir=tmp_path, params=Params(word_bits=12, char_bits=12))
    assert not outcome.beats_live and outcome.why.startswith("Refused: too little held-out data")


def test_one_class_cannot_train(tmp_path: Path) -> None:
    from bot.triage.training import TrainingError

    with pytest.raises(TrainingError):
        train_candidate([Example("hi", 0, group=str(i)) for i in range(30)], None, out_dir=tmp_path)
