"""core/report/agreement.py: Krippendorff's α, % agreement, τ-b for rankings, leave-one-out, bootstrap."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest

from core.report.agreement import (
    CriterionData,
    _alphas,
    _encode,
    _weighted_coincidences,
    agreement,
    criteria_from_works,
    level_of,
)

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders × 12 units example with
# gaps (also in the krippendorff package's README and tests).
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def _units(matrix: list[list[float]]) -> dict[int, dict[str, float]]:
    return {
        u: {f"coder{c}": row[u] for c, row in enumerate(matrix) if not math.isnan(row[u])}
        for u in range(len(matrix[0]))
    }


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_published_example(level: str, expected: float) -> None:
    row = agreement(CriterionData("k", "Example", level, _units(KRIPPENDORFF_2011)), bootstrap=200)
    assert round(row.alpha, 3) == expected
    assert row.items == 11  # the unit with one value is not pairable
    assert row.ci is not None and row.ci[0] <= row.alpha <= row.ci[1]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_weighted_coincidences_give_the_package_alpha(level: str) -> None:
    # the bootstrap's α of a resample is the package's α of the same units
    rng = np.random.default_rng(3)
    units = [{f"c{c}": int(rng.integers(1, 6)) for c in range(3) if rng.random() < 0.8} for _ in range(300)]
    units = [u for u in units if len(u) >= 2]
    coded = _encode(units, level)
    ours = _alphas(_weighted_coincidences(coded.counts, np.ones((1, len(units)))), coded.domain, level)[0]
    theirs = krippendorff.alpha(
        value_counts=coded.counts, value_domain=coded.domain, level_of_measurement=level
    )
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_perfect_agreement() -> None:
    units = {i: {"a": v, "b": v, "c": v} for i, v in enumerate(["x", "y", "z", "x", "y"])}
    row = agreement(CriterionData("q:1", "Topic", "nominal", units))
    assert row.alpha == pytest.approx(1.0)
    assert row.percent == 1.0
    assert row.ci == (pytest.approx(1.0), pytest.approx(1.0))
    assert row.per_annotator["a"]["agreement"] == 1.0


def test_single_value_has_no_alpha() -> None:
    units = {i: {"a": "x", "b": "x"} for i in range(5)}
    row = agreement(CriterionData("q:1", "Topic", "nominal", units))
    assert row.alpha is None and row.ci is None and row.percent == 1.0


def test_percent_counts_pairs_within_units() -> None:
    # unit 1: a=b≠c → 1 of 3 pairs agree; unit 2: all three agree → 3 of 3; unit 3 has one value only
    units = {1: {"a": "x", "b": "x", "c": "y"}, 2: {"a": "y", "b": "y", "c": "y"}, 3: {"a": "x"}}
    row = agreement(CriterionData("q:1", "Topic", "nominal", units), bootstrap=0)
    assert row.percent == pytest.approx(4 / 6)
    assert row.items == 2
    assert row.ci is None
    assert row.per_annotator["c"]["agreement"] == pytest.approx(2 / 4)
    assert row.per_annotator["a"]["agreement"] == pytest.approx(3 / 4)


def test_rankings_mean_tau_b_over_pairs() -> None:
    units = {
        1: {"a": [0, 1, 2], "b": [0, 1, 2]},  # τ = 1
        2: {"a": [0, 1, 2], "b": [2, 1, 0]},  # τ = -1
        3: {"a": [0, 1, 2], "b": [1, 0, 2]},  # one discordant pair of three: τ = 1/3
        4: {"a": [[0, 1], 2], "b": [0, 1, 2]},  # a tie in a: τ-b = 2 / √(2 · 3)
    }
    row = agreement(CriterionData("q:5", "Ranking", "ranking", units), bootstrap=200)
    assert row.alpha is None
    assert row.tau == pytest.approx((1 - 1 + 1 / 3 + 2 / math.sqrt(6)) / 4)
    assert row.percent == pytest.approx(1 / 4)
    assert row.items == 4
    assert row.ci is not None and row.ci[0] <= row.tau <= row.ci[1]
    assert row.per_annotator["a"]["agreement"] == pytest.approx(1 / 4)


def test_leave_one_out_flags_a_random_annotator() -> None:
    rng = np.random.default_rng(7)
    units = {}
    for i in range(400):
        truth = int(rng.integers(0, 4))
        votes = {
            name: truth if rng.random() < 0.9 else int(rng.integers(0, 4)) for name in ("ann", "bo", "cy")
        }
        votes["rand"] = int(rng.integers(0, 4))
        units[i] = {k: f"label{v}" for k, v in votes.items()}
    row = agreement(CriterionData("q:1", "Label", "nominal", units), bootstrap=0)
    per = row.per_annotator
    assert max(per, key=lambda a: per[a]["alpha_without"]) == "rand"
    assert min(per, key=lambda a: per[a]["agreement"]) == "rand"
    assert per["rand"]["alpha_without"] > row.alpha + 0.15


def test_level_of() -> None:
    assert level_of("radio", ["1", "2", "3"]) == "ordinal"
    assert level_of("radio", ["good", "bad"]) == "nominal"
    assert level_of("rating", None) == "ordinal"
    assert level_of("number", None) == "interval"
    assert level_of("checkbox", ["a", "b"]) == "nominal"
    assert level_of("pairwise", None) == "nominal"
    assert level_of("ranking", None) == "ranking"
    with pytest.raises(ValueError):
        level_of("text", None)


def test_criteria_from_works_pools_slots_and_keys_answers() -> None:
    classes = [
        {"id": 1, "name": "helpfulness", "alias": "Helpfulness", "tool": "dialog_evaluation",
         "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3"]},
                        {"name": "why", "type": "text"},
                        {"name": "flags", "type": "checkbox", "options": ["rude", "wrong"]}]},
        {"id": 2, "name": "ideal_reply", "tool": "dialog_response"},
    ]  # fmt: skip
    questions = [
        {"id": 7, "name": "preference", "type": "pairwise"},
        {"id": 8, "name": "topic", "title": "Topic", "type": "radio", "options": ["code", "chat"]},
        {"id": 9, "name": "ranking", "type": "ranking"},
        {"id": 10, "name": "note", "type": "text"},
    ]

    def work(score_m1: str, score_c0: str, pref: dict, topic: str) -> dict:
        return {
            "validity": "valid",
            "classifications": {"7": pref, "8": topic, "9": [1, 0], "10": "free text"},
            "results": [
                {"class_id": 1, "message": 1, "candidate": None, "values": {"score": score_m1, "why": "x"}},
                {"class_id": 1, "message": None, "candidate": 0, "values": {"score": score_c0, "flags": ["wrong", "rude"]}},
                {"class_id": 2, "message": None, "candidate": None, "text": "a reply", "values": {}},
            ],
        }  # fmt: skip

    works = {
        "i1": {
            "alice": work("3", "2", {"chosen": 1, "rejected": 0, "strength": 2}, "code"),
            "bob": work("2", "2", {"tie": True}, "code"),
        }
    }
    found = {c.key: c for c in criteria_from_works(works, classes, questions)}
    assert set(found) == {"r:1:score", "r:1:flags", "q:7", "q:8", "q:9"}
    score = found["r:1:score"]
    assert (score.name, score.level) == ("Helpfulness · score", "ordinal")
    assert score.units == {("i1", "m1"): {"alice": 3.0, "bob": 2.0}, ("i1", "c0"): {"alice": 2.0, "bob": 2.0}}
    assert found["r:1:flags"].units[("i1", "c0")]["alice"] == ("rude", "wrong")
    assert found["q:7"].units["i1"] == {"alice": "chosen:1", "bob": "tie"}
    assert (found["q:8"].name, found["q:8"].level) == ("Topic", "nominal")
    assert found["q:9"].level == "ranking" and found["q:9"].units["i1"]["bob"] == [1, 0]
    row = agreement(score, bootstrap=0)
    assert row.items == 2 and row.percent == 0.5


def _simulate(rng: np.random.Generator, n: int, level: str) -> np.ndarray:
    """Value counts (n units × 4 values) of 3 coders: the true label with probability 0.7, else a uniform
    guess; each vote missing with probability 0.1."""
    truth = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    votes = np.where(rng.random((n, 3)) < 0.7, truth[:, None], rng.integers(0, 4, size=(n, 3)))
    votes = np.where(rng.random((n, 3)) < 0.1, -1, votes)
    counts = np.zeros((n, 4), dtype=np.int64)
    for c in range(3):
        seen = votes[:, c] >= 0
        np.add.at(counts, (np.flatnonzero(seen), votes[seen, c]), 1)
    return counts


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_bootstrap_interval_covers_the_population_alpha(level: str) -> None:
    rng = np.random.default_rng(11)
    population = _simulate(rng, 400_000, level)
    population = population[population.sum(axis=1) >= 2]
    # the population's α straight from the package, as the reference
    truth = krippendorff.alpha(value_counts=population, value_domain=[1, 2, 3, 4], level_of_measurement=level)
    hits = 0
    datasets = 200
    for d in range(datasets):
        counts = _simulate(rng, 120, level)
        units = {}
        for u, row in enumerate(
            counts
        ):  # back to per-coder votes; which coder gave which value is irrelevant
            values = [v + 1 for v in range(4) for _ in range(row[v])]
            units[u] = {f"coder{c}": v for c, v in enumerate(values)}
        row = agreement(CriterionData("k", "Sim", level, units), bootstrap=400, seed=d)
        hits += row.ci[0] <= truth <= row.ci[1]
    assert 0.88 <= hits / datasets <= 0.99, hits
