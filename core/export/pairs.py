"""Preference pairs from one annotation: rankings, pairwise answers and per-candidate scores.

Rules, written once (DPO and KTO both use them):
- **Ranking** answer: candidate indexes best first, e.g. `[1, 0, 2]`; a tie is a nested list
  (`[[1, 0], 2]`: 1 and 0 tied best) or a mapping `{"candidate index": rank number}` (equal numbers tie).
  Mode `all`: every ordered pair (a, b) with a ranked above b. Mode `best`: the best candidate(s) against each
  candidate ranked below them. Tied candidates never form a pair.
- **Pairwise** answer: `{"chosen": i, "rejected": j, "strength": s}` gives (i, j); `{"tie": true}` gives none.
- **Scores**: a numeric attribute (rating, number, radio with numeric options) of an evaluation class put
  on candidates; each (class, attribute) ranks the candidates by value, higher first, then the ranking rules
  apply (equal values → no pair).
Indexes outside the item's candidates are ignored.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from core.export.common import Schema, as_number


class Pair(NamedTuple):
    source: str  # ranking | pairwise | scores
    question: str  # the classification's name, or "class.attribute" for scores
    chosen: int
    rejected: int
    strength: int | None = None


def as_index(value: Any, n: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        i = int(value)
    except (TypeError, ValueError):
        return None
    return i if 0 <= i < n else None


def rank_groups(answer: Any, n: int) -> list[list[int]]:
    """A ranking answer as tie groups, best first; candidates out of range and repeats dropped."""
    if (
        answer.__class__ is list
        and all(e.__class__ is int and 0 <= e < n for e in answer)
        and len(set(answer)) == len(answer)
    ):
        return [[e] for e in answer]  # the common case: a strict ranking, no ties
    seen: set[int] = set()
    groups: list[list[int]] = []

    def add(members: list[Any]) -> None:
        group = []
        for member in members:
            i = as_index(member, n)
            if i is not None and i not in seen:
                seen.add(i)
                group.append(i)
        if group:
            groups.append(group)

    if isinstance(answer, dict):
        by_rank: dict[float, list[Any]] = {}
        for key, rank in answer.items():
            number = as_number(rank)
            if number is not None:
                by_rank.setdefault(number, []).append(key)
        for rank in sorted(by_rank):
            add(sorted(by_rank[rank], key=lambda k: int(k) if str(k).lstrip("-").isdigit() else 0))
    elif isinstance(answer, list):
        for entry in answer:
            add(entry if isinstance(entry, list) else [entry])
    return groups


def pairs_from_groups(groups: list[list[int]], mode: str = "all") -> list[tuple[int, int]]:
    """(chosen, rejected) pairs from tie groups, best first (see the module docstring for the modes)."""
    out: list[tuple[int, int]] = []
    if mode == "best":
        if len(groups) < 2:
            return out
        best, rest = groups[0], [i for g in groups[1:] for i in g]
        return [(a, b) for a in best for b in rest]
    for gi, group in enumerate(groups):
        for a in group:
            for lower in groups[gi + 1 :]:
                out.extend((a, b) for b in lower)
    return out


def ranking_pairs(answer: Any, n: int, mode: str = "all") -> list[tuple[int, int]]:
    """The same pairs as `pairs_from_groups(rank_groups(answer, n), mode)`, straight from a strict ranking
    (a list of distinct candidate indexes, the common case) without building groups."""
    if (
        answer.__class__ is list
        and len(answer) > 1
        and all(e.__class__ is int and 0 <= e < n for e in answer)
        and len(set(answer)) == len(answer)
    ):
        if mode == "best":
            return [(answer[0], b) for b in answer[1:]]
        return [(a, b) for at, a in enumerate(answer) for b in answer[at + 1 :]]
    return pairs_from_groups(rank_groups(answer, n), mode)


def score_groups(scores: dict[int, float]) -> list[list[int]]:
    """Candidates grouped by equal score, highest first."""
    by_value: dict[float, list[int]] = {}
    for index, value in scores.items():
        by_value.setdefault(value, []).append(index)
    return [sorted(by_value[v]) for v in sorted(by_value, reverse=True)]


def pairwise_pair(answer: Any, n: int) -> tuple[int, int, int | None] | None:
    """(chosen, rejected, strength) of a pairwise answer, or None for a tie or an incomplete answer."""
    if not isinstance(answer, dict) or answer.get("tie"):
        return None
    chosen, rejected = as_index(answer.get("chosen"), n), as_index(answer.get("rejected"), n)
    if chosen is None or rejected is None or chosen == rejected:
        return None
    strength = answer.get("strength")
    return chosen, rejected, int(strength) if isinstance(strength, int | float) else None


def candidate_scores(annotation: dict[str, Any], schema: Schema, n: int) -> dict[str, dict[int, float]]:
    """{"class.attribute": {candidate index: value}} from the annotation's results on candidates."""
    out: dict[str, dict[int, float]] = {}
    for result in annotation.get("results") or ():
        candidate = result.get("candidate")
        if candidate is None:
            continue
        attributes = schema.score_attributes(result.get("class", ""))
        if not attributes:
            continue
        index = candidate if candidate.__class__ is int and 0 <= candidate < n else as_index(candidate, n)
        if index is None:
            continue
        values = result.get("values") or {}
        for attr, _scale, key in attributes:
            value = values.get(attr)
            if value.__class__ is not int and value.__class__ is not float:
                value = as_number(value)
                if value is None:
                    continue
            out.setdefault(key, {})[index] = value
    return out


def score_pairs(scores: dict[int, float], mode: str = "all") -> list[tuple[int, int]]:
    """The same pairs as `pairs_from_groups(score_groups(scores), mode)`, without building the groups:
    candidates sorted by (higher score, lower index); each one is chosen over every later one that scored
    lower (equal scores never pair)."""
    # Indexes ascending, then a stable sort by score, highest first (ties keep the lower index first).
    order = sorted(sorted(scores), key=scores.__getitem__, reverse=True)
    if mode == "best":
        top = scores[order[0]]
        best = [i for i in order if scores[i] == top]
        return [(a, b) for a in best for b in order[len(best) :]]
    out = []
    for at, a in enumerate(order):
        value = scores[a]
        out.extend((a, b) for b in order[at + 1 :] if scores[b] < value)
    return out


def preference_pairs(annotation: dict[str, Any], schema: Schema, n: int, mode: str = "all") -> list[Pair]:
    """Every preference pair one annotation gives, in a stable order: rankings, pairwise, then scores."""
    return [Pair(*pair) for pair in pair_tuples(annotation, schema, n, mode)]


PairTuple = tuple[str, str, int, int, "int | None"]


def pair_tuples(annotation: dict[str, Any], schema: Schema, n: int, mode: str = "all") -> list[PairTuple]:
    """`preference_pairs` as plain (source, question, chosen, rejected, strength) tuples: cheaper to make,
    and a writer can key its memo on them."""
    out: list[PairTuple] = []
    answers = annotation.get("classifications") or {}
    if answers:
        kinds = schema.question_types()
        for name in sorted(answers) if len(answers) > 1 else answers:
            kind = kinds.get(name)
            if kind == "ranking":
                answer = answers[name]
                # The same few rankings recur on every item: their pairs are remembered. repr() is an exact
                # key for decoded JSON (it tells 1 from 1.0 and True, and keeps a mapping's key order).
                key = (name, n, mode, repr(answer))
                made = _RANKINGS.get(key)
                if made is None:
                    if len(_RANKINGS) > _MEMO_SIZE:
                        _RANKINGS.clear()
                    made = _RANKINGS[key] = [
                        ("ranking", name, a, b, None) for a, b in ranking_pairs(answer, n, mode)
                    ]
                out += made
            elif kind == "pairwise":
                pair = pairwise_pair(answers[name], n)
                if pair is not None:
                    out.append(("pairwise", name, *pair))
    if annotation.get("results"):
        scores = candidate_scores(annotation, schema, n)
        for question in sorted(scores) if len(scores) > 1 else scores:
            values = scores[question]
            # Remembered like rankings; the values are ints and floats, which pair alike when equal.
            key = (question, mode, *values.items())
            made = _SCORES.get(key)
            if made is None:
                if len(_SCORES) > _MEMO_SIZE:
                    _SCORES.clear()
                made = _SCORES[key] = [("scores", question, a, b, None) for a, b in score_pairs(values, mode)]
            out += made
    return out


_MEMO_SIZE = 100_000  # entries of each memo below (a few MB at most), cleared when full
_RANKINGS: dict[tuple[Any, ...], list[PairTuple]] = {}
_SCORES: dict[tuple[Any, ...], list[PairTuple]] = {}
