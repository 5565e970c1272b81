"""core/report/models.py: comparisons from answers, pair table, Wilson interval, Bradley–Terry leaderboard,
mean scores, splits by a classification, an LLM judge's agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.report.models import (
    ELO_SCALE,
    Comparison,
    by_classification,
    comparisons,
    judge_agreement,
    leaderboard,
    mean_scores,
    pair_table,
    wilson,
)

CLASSES = [
    {"id": 1, "name": "helpfulness", "alias": "Helpfulness", "tool": "dialog_evaluation",
     "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"]},
                    {"name": "why", "type": "text"}]},
]  # fmt: skip
QUESTIONS = [
    {"id": 7, "name": "preference", "type": "pairwise"},
    {"id": 8, "name": "ranking", "type": "ranking"},
    {"id": 9, "name": "topic", "type": "radio", "options": ["code", "chat"]},
]


def work(classifications: dict | None = None, scores: dict[int, str] | None = None) -> dict:
    results = [
        {"class_id": 1, "message": None, "candidate": k, "values": {"score": s, "why": "because"}}
        for k, s in (scores or {}).items()
    ]
    return {"validity": "valid", "classifications": classifications or {}, "results": results}


def chose(chosen: int, rejected: int) -> dict:
    return {"7": {"chosen": chosen, "rejected": rejected, "strength": 2}}


def x_beats_y_8_of_10() -> list:
    # candidates listed as [Y, X] so the answers name X by index 1: the table still reads X first
    return [(i, ["Y", "X"], {"ann": work(chose(1, 0) if i < 8 else chose(0, 1))}) for i in range(10)]


def test_pairwise_wins_pair_table_and_wilson() -> None:
    comps = comparisons(x_beats_y_8_of_10(), CLASSES, QUESTIONS)
    assert len(comps) == 10 and all((c.a, c.b, c.source) == ("X", "Y", "pairwise") for c in comps)
    [row] = pair_table(comps)
    assert (row["a"], row["b"], row["wins"], row["ties"], row["losses"], row["n"]) == ("X", "Y", 8, 0, 2, 10)
    assert row["win_rate"] == 0.8
    # Wilson by hand: (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.95996, p = 0.8, n = 10
    assert row["ci"] == (pytest.approx(0.490, abs=5e-4), pytest.approx(0.943, abs=5e-4))


def test_bradley_terry_order_and_strength() -> None:
    board = leaderboard(comparisons(x_beats_y_8_of_10(), CLASSES, QUESTIONS), bootstrap=200)
    assert [r["model"] for r in board] == ["X", "Y"]
    assert [r["comparisons"] for r in board] == [10, 10]
    # the maximum-likelihood θ difference is ln(8/2); the small regularisation pulls it in a little
    gap = board[0]["strength"] - board[1]["strength"]
    assert gap == pytest.approx(ELO_SCALE * math.log(4), rel=0.02)
    assert (board[0]["strength"] + board[1]["strength"]) / 2 == pytest.approx(1000)
    lo, hi = board[0]["ci"]
    assert lo <= board[0]["strength"] <= hi


def test_wilson_half_counts_follow_the_same_formula() -> None:
    lo, hi = wilson(8, 10)
    lo2, hi2 = wilson(7.999999, 10)  # the closed form, not scipy
    assert (lo, hi) == (pytest.approx(lo2, abs=1e-5), pytest.approx(hi2, abs=1e-5))
    assert wilson(5.5, 11)[0] == pytest.approx(1 - wilson(5.5, 11)[1])


def test_ranking_gives_every_pair_with_ties() -> None:
    items = [("i1", ["A", "B", "C"], {"ann": work({"8": [2, 0, 1]})}),
             ("i2", ["A", "B", "C"], {"ann": work({"8": [[0, 1], 2]})})]  # fmt: skip
    got = {(c.item, c.a, c.b, c.outcome) for c in comparisons(items, CLASSES, QUESTIONS)}
    assert got == {
        ("i1", "A", "C", "b"), ("i1", "B", "C", "b"), ("i1", "A", "B", "a"),
        ("i2", "A", "B", "tie"), ("i2", "A", "C", "a"), ("i2", "B", "C", "a"),
    }  # fmt: skip


def test_ties_count_half() -> None:
    items = [("i1", ["A", "B"], {"ann": work({"7": {"tie": True}}), "bob": work(chose(0, 1))})]
    comps = comparisons(items, CLASSES, QUESTIONS)
    assert sorted(c.outcome for c in comps) == ["a", "tie"]
    [row] = pair_table(comps)
    assert (row["wins"], row["ties"], row["losses"], row["win_rate"]) == (1, 1, 0, 0.75)
    assert row["ci"] == wilson(1.5, 2)


def test_scores_compare_candidates_and_skip_unknown_or_same_models() -> None:
    items = [
        ("i1", ["A", "B", None], {"ann": work(scores={0: "5", 1: "3", 2: "1"})}),
        ("i2", ["A", "B"], {"ann": work(scores={0: "4", 1: "4"})}),
        ("i3", ["A", "A"], {"ann": work(chose(0, 1), scores={0: "5", 1: "1"})}),
    ]
    comps = comparisons(items, CLASSES, QUESTIONS)
    assert [(c.item, c.a, c.b, c.outcome, c.source) for c in comps] == [
        ("i1", "A", "B", "a", "score:Helpfulness · score"),
        ("i2", "A", "B", "tie", "score:Helpfulness · score"),
    ]


def test_mean_scores_with_t_interval() -> None:
    items = [("i1", ["A", "B"], {"ann": work(scores={0: "5", 1: "2"}), "bob": work(scores={0: "3"})}),
             ("i2", ["A", "B"], {"ann": work(scores={0: "4"})})]  # fmt: skip
    rows = {r["model"]: r for r in mean_scores(items, CLASSES)}
    assert rows["A"]["mean"] == 4 and rows["A"]["n"] == 3 and rows["A"]["criterion"] == "Helpfulness · score"
    # t(0.975, 2) = 4.303, sd = 1, se = 1/√3
    assert rows["A"]["ci"] == (
        pytest.approx(4 - 4.3027 / math.sqrt(3), abs=1e-3),
        pytest.approx(4 + 4.3027 / math.sqrt(3), abs=1e-3),
    )
    assert rows["B"]["n"] == 1 and rows["B"]["ci"] is None


def test_by_classification_splits_on_the_majority_answer() -> None:
    items = [
        ("i1", ["A", "B"], {"x": work({**chose(0, 1), "9": "code"}), "y": work({"9": "code"}), "z": work({"9": "chat"})}),
        ("i2", ["A", "B"], {"x": work({**chose(1, 0), "9": "chat"})}),
        ("i3", ["A", "B"], {"x": work({**chose(1, 0), "9": "chat"}), "y": work({"9": "code"})}),
    ]  # fmt: skip
    split = by_classification(items, CLASSES, QUESTIONS, 9, table="pairs")
    assert list(split) == ["chat", "code", None]  # i3's annotators tie: no majority
    assert split["code"][0]["wins"] == 1 and split["chat"][0]["losses"] == 1 and split[None][0]["losses"] == 1
    boards = by_classification(items, CLASSES, QUESTIONS, 9, bootstrap=20)
    assert boards["code"][0]["model"] == "A" and boards["chat"][0]["model"] == "B"


def test_judge_agreement_with_the_humans_majority() -> None:
    human = {
        "i1": {"x": work({"9": "code"}, {0: "5"}), "y": work({"9": "code"}, {0: "4"}), "z": work({"9": "chat"}, {0: "4"})},
        "i2": {"x": work({"9": "chat"}, {0: "2"}), "y": work({"9": "chat"}, {0: "2"})},
        "i3": {"x": work({"9": "code"}, {0: "3"}), "y": work({"9": "chat"}, {0: "1"})},
    }  # fmt: skip
    judge = {
        "i1": work({"9": "code"}, {0: "4"}),
        "i2": work({"9": "code"}, {0: "2"}),
        "i3": work({"9": "chat"}, {0: "1"}),
    }
    rows = {r["key"]: r for r in judge_agreement(human, judge, classes=CLASSES, questions=QUESTIONS)}
    topic = rows["q:9"]
    assert topic["items"] == 2 and topic["percent"] == 0.5  # i3 has no majority; the judge is right on i1
    score = rows["r:1:score"]  # medians 4, 2, 1 (the lower median on a 1–5 scale)
    assert score["items"] == 3 and score["percent"] == 1.0 and score["alpha"] == pytest.approx(1.0)


def test_bootstrap_interval_covers_true_strengths() -> None:
    rng = np.random.default_rng(5)
    theta = np.array([0.8, 0.3, 0.0, -0.6])
    names = ["m0", "m1", "m2", "m3"]
    true = {n: 1000 + ELO_SCALE * (t - theta.mean()) for n, t in zip(names, theta, strict=True)}
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    hits = total = 0
    # 50 datasets x 4 models = 200 intervals: the share covering the truth has a standard error of 1.5 points
    for d in range(50):
        picked = rng.integers(0, len(pairs), size=800)
        comps = []
        for p in picked:
            i, j = pairs[p]
            won = rng.random() < 1 / (1 + math.exp(theta[j] - theta[i]))
            comps.append(Comparison(names[i], names[j], "a" if won else "b", d, "pairwise"))
        for row in leaderboard(comps, bootstrap=100, seed=d):
            hits += row["ci"][0] <= true[row["model"]] <= row["ci"][1]
            total += 1
    print(f"coverage {hits / total:.3f} of {total}")
    assert 0.90 <= hits / total <= 0.99, hits / total
