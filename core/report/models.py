"""Models compared: head-to-head results from pairwise answers, rankings and per-candidate scores, a
Bradley–Terry leaderboard (Arena style, via `choix`), mean scores, splits by a classification, and an LLM
judge's agreement with the humans.

An input item is `(item id, candidate model names, {annotator: work})`; a model name is None where the
candidate's model is unknown, and such candidates take part in no comparison.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import choix
import numpy as np
from scipy import stats

from core.evaluation import EVALUATION_TOOL, ranking_to_ranks
from core.report.agreement import (
    CriterionData,
    agreement,
    as_number,
    criteria_from_works,
    criterion_name,
    level_of,
)

Item = tuple[Any, list[str | None], dict[str, dict]]
ELO_SCALE = 400 / math.log(10)  # a θ difference of 1 is e:1 odds; on the Elo scale 400 points are 10:1
ELO_BASE = 1000.0
_BT_ALPHA = 0.01  # choix's regularisation: keeps a model that never lost (or won) at a finite strength
_FLIP = {"a": "b", "b": "a", "tie": "tie"}


@dataclass(slots=True)
class Comparison:
    a: str
    b: str
    outcome: str  # "a" | "b" | "tie"; a < b alphabetically
    item: Any
    source: str  # "pairwise" | "ranking" | "score:<criterion name>"


def score_attributes(classes: list[dict]) -> list[tuple[dict, dict]]:
    """(class, attribute) pairs of evaluation classes whose attribute is a score."""
    found = []
    for cls in classes:
        if (cls.get("tool") or EVALUATION_TOOL) != EVALUATION_TOOL:
            continue
        for attribute in cls.get("attributes") or ():
            kind = str(attribute.get("type", ""))
            if (
                kind in ("radio", "rating", "number")
                and level_of(kind, attribute.get("options")) != "nominal"
            ):
                found.append((cls, attribute))
    return found


def _add(out: list[Comparison], models: list[str | None], i: int, j: int, outcome: str, item: Any,
         source: str) -> None:  # fmt: skip
    """Record candidate i vs j (`outcome` from i's side: "a" = i won)."""
    if not (0 <= i < len(models) and 0 <= j < len(models)):
        return
    first, second = models[i], models[j]
    if first is None or second is None or first == second:
        return  # an unknown model, or a model against itself, says nothing about models
    if first > second:
        first, second, outcome = second, first, _FLIP[outcome]
    out.append(Comparison(first, second, outcome, item, source))


def _ranking_pairs(ranking: list[Any]) -> list[tuple[int, int, str]]:
    """Every pair of candidates a ranking orders, with the outcome from the first one's side."""
    ranks = ranking_to_ranks(ranking)
    return [
        (i, j, "a" if ranks[i] < ranks[j] else "b" if ranks[i] > ranks[j] else "tie")
        for i, j in combinations(sorted(ranks), 2)
    ]


def comparisons(items: Iterable[Item], classes: list[dict], questions: list[dict]) -> list[Comparison]:
    """Every head-to-head result the annotators gave: one per pairwise answer, one per pair of candidates
    in a ranking, one per pair of scored candidates per score criterion; each annotator's vote counts."""
    kinds = {str(q["id"]): str(q.get("type", "")) for q in questions}
    score_source = {
        (int(c["id"]), str(a.get("name"))): f"score:{criterion_name(c, a)}"
        for c, a in score_attributes(classes)
    }
    out: list[Comparison] = []
    ranked_pairs: dict[str, list[tuple[int, int, str]]] = {}
    for item, models, works in items:
        for work in works.values():
            for qid, answer in (work.get("classifications") or {}).items():
                kind = kinds.get(str(qid))
                if kind == "pairwise" and isinstance(answer, dict):
                    if answer.get("tie") is True:
                        # a tie names no candidates: only a two-candidate item says which two tied
                        if len(models) == 2:
                            _add(out, models, 0, 1, "tie", item, "pairwise")
                    elif answer.get("chosen") is not None and answer.get("rejected") is not None:
                        _add(
                            out, models, int(answer["chosen"]), int(answer["rejected"]), "a", item, "pairwise"
                        )
                elif kind == "ranking" and isinstance(answer, list):
                    text = str(answer)
                    pairs = ranked_pairs.get(text)
                    if pairs is None:  # few distinct rankings: work out each one's pairs once
                        pairs = ranked_pairs[text] = _ranking_pairs(answer)
                    for i, j, outcome in pairs:
                        _add(out, models, i, j, outcome, item, "ranking")
            scored: dict[tuple[int, str], dict[int, float]] = defaultdict(dict)
            for result in work.get("results") or ():
                if result.get("candidate") is None:
                    continue
                for name, value in (result.get("values") or {}).items():
                    ref = (int(result["class_id"]), str(name))
                    number = as_number(value)
                    if ref in score_source and number is not None:
                        scored[ref][int(result["candidate"])] = number
            for ref, by_candidate in scored.items():
                for i, j in combinations(sorted(by_candidate), 2):
                    x, y = by_candidate[i], by_candidate[j]
                    _add(
                        out, models, i, j, "a" if x > y else "b" if x < y else "tie", item, score_source[ref]
                    )
    return out


def wilson(successes: float, n: int) -> tuple[float, float]:
    """The Wilson score 95 % interval of a proportion (scipy's where the count is whole; a half count from
    ties goes through the same formula)."""
    if n <= 0:
        return (0.0, 1.0)
    if float(successes).is_integer():
        ci = stats.binomtest(int(successes), n).proportion_ci(confidence_level=0.95, method="wilson")
        return float(ci.low), float(ci.high)
    z = float(stats.norm.ppf(0.975))
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def pair_table(comps: Iterable[Comparison]) -> list[dict]:
    """Per pair of models: a's wins, ties, losses, the win rate (ties count half) and its Wilson interval."""
    return pair_table_of_cells(Counter((c.a, c.b, c.outcome) for c in comps))


def pair_table_of_cells(cells: Counter) -> list[dict]:
    """pair_table from counted cells: (a, b, outcome) → how many comparisons ended so."""
    tally: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for (a, b, outcome), n in cells.items():
        tally[(a, b)][outcome] += n
    rows = []
    for (a, b), count in sorted(tally.items()):
        wins, ties, losses = count["a"], count["tie"], count["b"]
        n = wins + ties + losses
        if not n:
            continue
        rate = (wins + ties / 2) / n
        rows.append({"a": a, "b": b, "wins": wins, "ties": ties, "losses": losses, "n": n, "win_rate": rate,
                     "ci": wilson(wins + ties / 2, n)})  # fmt: skip
    return rows


def _strengths(matrix: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Bradley–Terry θ from a wins matrix (matrix[i, j]: i's wins over j), centred on the mean model.
    `start` (the full data's θ, for a resample) saves iterations; a tolerance of 1e-6 in θ is 0.0002 Elo."""
    theta = choix.ilsr_pairwise_dense(matrix, alpha=_BT_ALPHA, initial_params=start, max_iter=1000, tol=1e-6)
    return theta - theta.mean()


def leaderboard(comps: Iterable[Comparison], *, bootstrap: int = 200, seed: int = 0) -> list[dict]:
    """Models by Bradley–Terry strength on an Elo-like scale (the mean model at 1000; 400 points = 10:1
    odds), best first, with a 95 % percentile bootstrap interval over comparisons.

    A tie counts half a win each way. The comparisons fall into a few cells (pair × outcome), so a
    resample of all comparisons with replacement is one multinomial draw over the cells: exact, and as
    fast for a million comparisons as for a hundred.
    """
    return leaderboard_of_cells(Counter((c.a, c.b, c.outcome) for c in comps), bootstrap=bootstrap, seed=seed)


_OUTCOMES = ("a", "b", "tie")


def leaderboard_of_cells(cells: Counter, *, bootstrap: int = 200, seed: int = 0) -> list[dict]:
    """leaderboard from counted cells: (a, b, outcome) → how many comparisons ended so."""
    cells = Counter({k: v for k, v in cells.items() if v})
    models = sorted({m for a, b, _ in cells for m in (a, b)})
    if not models:
        return []
    index = {m: i for i, m in enumerate(models)}
    keys = sorted(cells, key=lambda c: (c[0], c[1], _OUTCOMES.index(c[2])))
    counts = np.array([cells[k] for k in keys], dtype=np.float64)
    # each cell's contribution to the wins matrix, flattened: a win is 1 to the winner, a tie ½ each way
    k = len(models)
    unit = np.zeros((len(keys), k * k))
    for row, (a, b, outcome) in enumerate(keys):
        i, j = index[a], index[b]
        if outcome == "a":
            unit[row, i * k + j] = 1
        elif outcome == "b":
            unit[row, j * k + i] = 1
        else:
            unit[row, i * k + j] = unit[row, j * k + i] = 0.5
    theta = _strengths((counts @ unit).reshape(k, k))
    played: Counter = Counter()
    for (a, b, _), n in cells.items():
        played[a] += n
        played[b] += n
    ci: list[list[float] | None] = [None] * k
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        total = int(counts.sum())
        draws = rng.multinomial(total, counts / total, size=bootstrap) @ unit
        samples = np.stack([_strengths(d.reshape(k, k), theta) for d in draws])
        lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
        ci = [[float(ELO_BASE + ELO_SCALE * lo[i]), float(ELO_BASE + ELO_SCALE * hi[i])] for i in range(k)]
    rows = [
        {"model": m, "strength": float(ELO_BASE + ELO_SCALE * t), "ci": ci[i], "comparisons": played[m]}
        for i, (m, t) in enumerate(zip(models, theta, strict=True))
    ]
    return sorted(rows, key=lambda r: (-r["strength"], r["model"]))


def mean_scores(items: Iterable[Item], classes: list[dict]) -> list[dict]:
    """Per score criterion on candidates and per model: the mean over every annotator's score, n, and a
    95 % t-interval (None for a single score)."""
    attrs = {(int(c["id"]), str(a.get("name"))): criterion_name(c, a) for c, a in score_attributes(classes)}
    found: dict[tuple[tuple[int, str], str], list[float]] = defaultdict(list)
    for _, models, works in items:
        for work in works.values():
            for result in work.get("results") or ():
                k = result.get("candidate")
                if k is None or not 0 <= int(k) < len(models) or models[int(k)] is None:
                    continue
                for name, value in (result.get("values") or {}).items():
                    ref = (int(result["class_id"]), str(name))
                    number = as_number(value)
                    if ref in attrs and number is not None:
                        found[(ref, str(models[int(k)]))].append(number)
    rows = []
    for (ref, model), values in found.items():
        n = len(values)
        mean = statistics.fmean(values)
        ci = None
        if n > 1:
            sem = statistics.stdev(values) / math.sqrt(n)
            lo, hi = stats.t.interval(0.95, n - 1, loc=mean, scale=sem) if sem > 0 else (mean, mean)
            ci = (float(lo), float(hi))
        rows.append({"criterion": attrs[ref], "key": f"r:{ref[0]}:{ref[1]}", "model": model, "mean": mean,
                     "n": n, "ci": ci})  # fmt: skip
    return sorted(rows, key=lambda r: (r["criterion"], -r["mean"], r["model"]))


def majority(values: list[Any]) -> Any:
    """The answer most annotators gave, None when the top answers tie."""
    if not values:
        return None
    counted = Counter(values).most_common(2)
    if len(counted) > 1 and counted[0][1] == counted[1][1]:
        return None
    return counted[0][0]


def by_classification(
    items: list[Item],
    classes: list[dict],
    questions: list[dict],
    question_id: Any,
    *,
    table: str = "leaderboard",
    bootstrap: int = 200,
    seed: int = 0,
) -> dict[Any, list[dict]]:
    """The leaderboard (or with table="pairs" the pair table) per answer to a radio classification (e.g.
    topic), each item under its annotators' majority answer; items without one (no answer, or a tie
    between answers) are under None."""
    groups: dict[Any, list[Item]] = defaultdict(list)
    for item in items:
        picked = [
            str(a) for w in item[2].values()
            if (a := (w.get("classifications") or {}).get(str(question_id))) not in (None, "")
        ]  # fmt: skip
        groups[majority(picked)].append(item)
    out: dict[Any, list[dict]] = {}
    for answer in sorted(groups, key=lambda a: (a is None, str(a))):
        comps = comparisons(groups[answer], classes, questions)
        out[answer] = (
            pair_table(comps) if table == "pairs" else leaderboard(comps, bootstrap=bootstrap, seed=seed)
        )
    return out


def _consensus(votes: dict[str, Any], level: str) -> Any:
    """The humans' answer on one unit: the majority (nominal, rankings) or the median (scores)."""
    values = list(votes.values())
    if level in ("ordinal", "interval", "ratio"):
        # the lower median keeps an ordinal answer on the scale (3 and 4 → 3, not 3.5)
        return statistics.median_low(values) if level == "ordinal" else statistics.median(values)
    if level == "ranking":
        keyed = {repr(v): v for v in values}
        top = majority([repr(v) for v in values])
        return None if top is None else keyed[top]
    return majority(values)


def judge_agreement(
    human: dict[Any, dict[str, dict]],
    judge: dict[Any, dict],
    *,
    classes: list[dict],
    questions: list[dict],
    bootstrap: int = 0,
    seed: int = 0,
) -> list[dict]:
    """Per criterion: how often an LLM judge's answer equals the humans' consensus (majority, or median for
    scores; units where the humans tie are left out), and α with the judge and the consensus as two coders.
    `classes` and `questions` name the criteria and give their levels."""
    humans = {c.key: c for c in criteria_from_works(human, classes, questions)}
    judged = {
        c.key: c for c in criteria_from_works({i: {"judge": w} for i, w in judge.items()}, classes, questions)
    }
    rows = []
    for key, data in humans.items():
        mine = judged.get(key)
        if mine is None:
            continue
        units = {}
        for unit, votes in data.units.items():
            verdict = mine.units.get(unit, {}).get("judge")
            consensus = _consensus(votes, data.level) if votes else None
            if verdict is not None and consensus is not None:
                units[unit] = {"humans": consensus, "judge": verdict}
        row = agreement(CriterionData(key, data.name, data.level, units), bootstrap=bootstrap, seed=seed)
        rows.append({"key": key, "criterion": data.name, "level": data.level, "items": row.items,
                     "percent": row.percent, "alpha": row.alpha, "ci": row.ci, "tau": row.tau})  # fmt: skip
    return rows
