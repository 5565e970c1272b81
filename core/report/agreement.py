"""Agreement between annotators per criterion: Krippendorff's α with a bootstrap interval, raw % agreement,
Kendall's τ-b for rankings, and each annotator's agreement with the others and the α without them.

α comes from `krippendorff.alpha` (over 20,000 units from the same coincidences summed by pattern, below),
τ-b from `scipy.stats.kendalltau`. Votes arrive as dicts (CriterionData) or as columns (Votes, the report's
fast path from the database).

A unit enters α only through its value counts (how many coders gave each value), so units are grouped by
their count pattern (P distinct patterns: 50 for 3 coders on a 5-point scale) and α is also computable
from the patterns' coincidence matrices weighted by their frequency, with the distance matrices from the
krippendorff package's own helpers (tested equal to `krippendorff.alpha` at every level). That serves:
- the bootstrap (95 % percentile interval, units resampled with replacement): a resample of N units is one
  multinomial draw over the patterns, so every resample of the full data is exact and the α of all
  resamples is one matrix product, at 100,000 units as at 100. Only where the patterns times the values
  squared pass ~20 million numbers (a number attribute with thousands of distinct values) does it run on
  a sample of 2,000 units instead, which gives a wider, conservative interval;
- the leave-one-out α per annotator (a fraction of the package's time on many units).
Rankings are bootstrapped the same way over the units' (τ sum, pair count) patterns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np
from krippendorff import krippendorff as _kd
from scipy.stats import kendalltau

from core.adjudication import answers
from core.evaluation import EVALUATION_TOOL, ranking_to_ranks

LEVELS = ("nominal", "ordinal", "interval", "ratio", "ranking")
# Above this many numbers in a units × values × values array, stay off the dense per-unit coincidences.
_DENSE_LIMIT = 20_000_000
_BOOTSTRAP_SAMPLE = 2_000
# Above this many units, α from the pattern sums (tested equal to the package's) rather than the package.
_PACKAGE_UNITS = 20_000
_NO_LEVEL = ("text",)


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def level_of(kind: str, options: list[str] | None) -> str:
    """The level of measurement of an answer of type `kind` (an attribute's or a classification's type)."""
    if kind == "ranking":
        return "ranking"
    if kind == "number":
        return "interval"
    if kind == "rating":
        return "ordinal"
    if kind == "radio":
        numeric = bool(options) and all(as_number(o) is not None for o in options or ())
        return "ordinal" if numeric else "nominal"
    if kind in ("checkbox", "pairwise"):
        return "nominal"
    raise ValueError(f"a {kind!r} answer has no level of measurement")


def criterion_name(cls: dict[str, Any], attribute: dict[str, Any]) -> str:
    """What a reader calls a class's attribute: "Helpfulness · score"."""
    label = str(cls.get("alias") or cls.get("name") or cls.get("id"))
    return f"{label} · {attribute.get('name', '')}"


def question_name(question: dict[str, Any]) -> str:
    return str(question.get("title") or question.get("name") or question.get("id"))


@dataclass
class CriterionData:
    key: str
    name: str
    level: str
    units: dict[Any, dict[str, Any]] = field(default_factory=dict)  # unit → {annotator: value}


def answer_value(answer: Any, level: str, kind: str) -> Any:
    """An answer as the value agreement compares (None: not comparable, left out)."""
    if kind == "pairwise":
        if not isinstance(answer, dict):
            return None
        if answer.get("tie") is True:
            return "tie"
        return f"chosen:{int(answer['chosen'])}" if answer.get("chosen") is not None else None
    if kind == "checkbox":
        items = answer if isinstance(answer, list | tuple) else [answer]
        return tuple(sorted(str(x) for x in items))
    if level == "ranking":
        return answer if isinstance(answer, list) and answer else None
    if level in ("ordinal", "interval", "ratio"):
        return as_number(answer)
    return str(answer)


def criteria_of(classes: list[dict], questions: list[dict]) -> dict[str, tuple[str, str, str]]:
    """Every comparable criterion of the ontology: key → (name, level, answer kind).

    A class attribute is pooled over the bubbles it sits on (key "r:<class id>:<attribute>", one unit per
    (item, slot)); a classification is keyed "q:<id>", one unit per item. Text answers are left out.
    """
    found: dict[str, tuple[str, str, str]] = {}
    for cls in classes:
        if (cls.get("tool") or EVALUATION_TOOL) != EVALUATION_TOOL:
            continue
        for attribute in cls.get("attributes") or ():
            kind = str(attribute.get("type", ""))
            if kind in _NO_LEVEL:
                continue
            try:
                level = level_of(kind, attribute.get("options"))
            except ValueError:
                continue
            found[f"r:{int(cls['id'])}:{attribute.get('name')}"] = (
                criterion_name(cls, attribute),
                level,
                kind,
            )
    for question in questions:
        kind = str(question.get("type", ""))
        if kind in _NO_LEVEL:
            continue
        try:
            level = level_of(kind, question.get("options"))
        except ValueError:
            continue
        found[f"q:{question['id']}"] = (question_name(question), level, kind)
    return found


def criteria_from_works(
    works: dict[Any, dict[str, dict]], classes: list[dict], questions: list[dict]
) -> list[CriterionData]:
    """Every comparable criterion of the ontology (criteria_of) with its units' values."""
    found = {
        key: (CriterionData(key, name, level), kind)
        for key, (name, level, kind) in criteria_of(classes, questions).items()
    }
    # answer key → (criterion entry, whether its unit is per bubble, slot), parsed once: keys repeat
    parsed: dict[str, tuple[tuple[CriterionData, str], str | None] | None] = {}
    for item, by_annotator in works.items():
        for annotator, work in by_annotator.items():
            for akey, answer in answers(work).items():
                target = parsed.get(akey, False)
                if target is False:
                    target = parsed[akey] = _target(akey, found)
                if target is None:
                    continue
                (data, kind), slot = target
                value = answer_value(answer, data.level, kind)
                if value is not None:
                    unit = item if slot is None else (item, slot)
                    data.units.setdefault(unit, {})[annotator] = value
    return [data for data, _ in found.values()]


def _target(
    akey: str, found: dict[str, tuple[CriterionData, str]]
) -> tuple[tuple[CriterionData, str], str | None] | None:
    """The criterion an answer key of core.adjudication.answers feeds, and its slot (None: per item)."""
    if akey.startswith("q:"):
        entry = found.get(akey)
        return None if entry is None else (entry, None)
    parts = akey.split(":", 3)
    if parts[0] != "r" or len(parts) != 4:
        return None  # validity, a class's presence on a bubble, a written reply
    entry = found.get(f"r:{parts[1]}:{parts[3]}")
    return None if entry is None else (entry, parts[2])


@dataclass
class AgreementRow:
    key: str
    criterion: str
    level: str
    alpha: float | None
    ci: tuple[float, float] | None
    percent: float | None
    tau: float | None
    items: int
    per_annotator: dict[str, dict[str, float | None]]


@dataclass
class Votes:
    """One criterion's votes as columns, what CriterionData.units says as dicts (the report reads these
    straight from the database): per vote its unit (any integer key), its coder (an index into `coders`)
    and its value, a number at the ordinal, interval and ratio levels, an index into `forms` (the distinct
    answers) at the nominal and ranking levels. A coder's later vote on a unit replaces the earlier one."""

    key: str
    name: str
    level: str
    unit: np.ndarray
    coder: np.ndarray
    value: np.ndarray
    coders: list[str]
    forms: list[Any] = field(default_factory=list)


def votes_of(data: CriterionData) -> Votes:
    """CriterionData's units as Votes."""
    units = list(data.units.values())
    sizes = np.fromiter((len(votes) for votes in units), dtype=np.int64, count=len(units))
    unit = np.repeat(np.arange(len(units), dtype=np.int64), sizes)
    names = [a for votes in units for a in votes]
    values = [v for votes in units for v in votes.values()]
    coders = list(dict.fromkeys(names))
    coder_of = {a: i for i, a in enumerate(coders)}
    coder = np.fromiter((coder_of[a] for a in names), dtype=np.int64, count=len(names))
    forms: list[Any] = []
    if data.level in ("ordinal", "interval", "ratio"):
        value = np.asarray(values, dtype=np.float64)
    elif data.level == "ranking":  # rankings are lists: one form per vote (the ranking code finds equal ones)
        forms = values
        value = np.arange(len(values), dtype=np.int64)
    else:
        code_of = {v: i for i, v in enumerate(dict.fromkeys(values))}
        forms = list(code_of)
        value = np.fromiter((code_of[v] for v in values), dtype=np.int64, count=len(values))
    return Votes(data.key, data.name, data.level, unit, coder, value, coders, forms)


def agreement(data: CriterionData | Votes, *, bootstrap: int = 1000, seed: int = 0) -> AgreementRow:
    """Agreement on one criterion over its units with at least two values (see the module docstring for
    how the 95 % percentile bootstrap interval is computed)."""
    votes = votes_of(data) if isinstance(data, CriterionData) else data
    unit, coder, value, n_units = _pairable(votes)
    if votes.level == "ranking":
        return _ranking_agreement(votes, unit, coder, value, n_units, bootstrap, seed)
    return _alpha_agreement(votes, _coded(unit, coder, value, n_units, votes), bootstrap, seed)


def _pairable(votes: Votes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The votes of units with two or more coders, one vote per coder and unit (the last), units numbered
    0..n-1 in the order of their keys."""
    unit, coder, value = votes.unit, votes.coder, votes.value
    if not len(unit):
        return unit, coder, value, 0
    keys, unit = np.unique(unit, return_inverse=True)
    unit = unit.reshape(-1)
    pair = unit * max(len(votes.coders), 1) + coder
    _, last = np.unique(pair[::-1], return_index=True)  # the last vote of each (unit, coder)
    if len(last) < len(pair):
        keep = np.sort(len(pair) - 1 - last)
        unit, coder, value = unit[keep], coder[keep], value[keep]
    sizes = np.bincount(unit, minlength=len(keys))
    keep = sizes[unit] >= 2
    paired = np.flatnonzero(sizes >= 2)
    renumber = np.full(len(keys), -1, dtype=np.int64)
    renumber[paired] = np.arange(len(paired))
    return renumber[unit[keep]], coder[keep], value[keep], len(paired)


# ---------------------------------------------------------------- α for nominal, ordinal, interval, ratio


@dataclass
class _Coded:
    """Units as arrays: value counts per unit and, per vote, its unit, coder and value code."""

    counts: np.ndarray  # (units, values) int
    domain: np.ndarray  # (values,) the value behind each code (numbers, or 0..V-1 for nominal)
    unit: np.ndarray
    coder: np.ndarray
    code: np.ndarray
    coders: list[str]


def _coded(unit: np.ndarray, coder: np.ndarray, value: np.ndarray, n_units: int, votes: Votes) -> _Coded:
    # ordinal distances follow the order of the domain, interval and ratio its numbers; nominal codes are
    # renumbered to the values present
    domain, code = np.unique(value, return_inverse=True)
    code = code.astype(np.int64).reshape(-1)
    domain = (
        np.arange(len(domain), dtype=np.float64) if votes.level == "nominal" else domain.astype(np.float64)
    )
    width = max(len(domain), 1)
    counts = np.bincount(unit * width + code, minlength=n_units * width).reshape(n_units, width)
    return _Coded(counts, domain, unit, coder, code, votes.coders)


def _encode(units: list[dict[str, Any]], level: str) -> _Coded:
    """Units given as {coder: value} dicts, coded (every unit kept)."""
    votes = votes_of(CriterionData("", "", level, dict(enumerate(units))))
    return _coded(votes.unit, votes.coder, votes.value, len(units), votes)


def _coincidences_per_unit(counts: np.ndarray) -> np.ndarray:
    """Each unit's (or pattern's) coincidence matrix, (n, V, V): the package's `_coincidences` summed
    over units, kept per unit so resamples can weight them."""
    pairable = np.maximum(counts.sum(axis=1), 2) - 1
    outer = counts[:, :, None] * counts[:, None, :]
    idx = np.arange(counts.shape[1])
    outer[:, idx, idx] -= counts
    return outer / pairable[:, None, None]


def _alphas(o: np.ndarray, domain: np.ndarray, level: str) -> np.ndarray:
    """α for each of a stack of coincidence matrices (B, V, V); nan where α is undefined."""
    n_v = o.sum(axis=1)
    n = n_v.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (n_v[:, :, None] * n_v[:, None, :]) / (n - 1)[:, None, None]
        idx = np.arange(o.shape[1])
        e[:, idx, idx] -= n_v / (n - 1)[:, None]
        metric = _kd._distance_metric(level)
        if level == "ordinal":  # its distances depend on the resample's value frequencies
            d = np.stack([_kd._distances(domain, metric, nv) for nv in n_v])
        else:
            d = _kd._distances(domain, metric, n_v[0])[None, :, :]
        observed = (o * d).sum(axis=(1, 2))
        expected = (e * d).sum(axis=(1, 2))
        result = 1 - observed / expected
    result[~np.isfinite(result) | (expected <= 0)] = np.nan
    return result


def _alpha(counts: np.ndarray, domain: np.ndarray, level: str) -> float | None:
    """α through `krippendorff.alpha`; None where it is undefined (one value only, no pairable unit)."""
    counts = counts[counts.sum(axis=1) >= 2]
    if not len(counts) or len(domain) < 2:
        return None
    if len(counts) > _PACKAGE_UNITS:  # the package holds units × V × V at once: the pattern sums instead
        return _alpha_by_patterns(counts, domain, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            value = float(
                krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
            )
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def _patterns(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `counts` and how often each occurs."""
    base = int(counts.max()) + 1
    if counts.shape[1] * math.log2(base) < 62:  # a row as one integer: a 1-D unique is ~10x faster
        key = counts @ (base ** np.arange(counts.shape[1], dtype=np.int64))
        _, first, freq = np.unique(key, return_index=True, return_counts=True)
        return counts[first], freq
    return np.unique(counts, axis=0, return_counts=True)


def _alpha_by_patterns(counts: np.ndarray, domain: np.ndarray, level: str) -> float | None:
    """The same α from the distinct unit patterns weighted by their frequency: a fraction of the package's
    time and memory on many units (tested equal to `krippendorff.alpha`)."""
    counts = counts[counts.sum(axis=1) >= 2]
    if not len(counts) or len(domain) < 2:
        return None
    patterns, weight = _patterns(counts)
    value = float(
        _alphas(_weighted_coincidences(patterns, weight[None, :].astype(np.float64)), domain, level)[0]
    )
    return value if math.isfinite(value) else None


def _weighted_coincidences(patterns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_p weights[b, p] · coincidences(pattern p) for each row b, in chunks of patterns."""
    v = patterns.shape[1]
    total = np.zeros((weights.shape[0], v * v))
    step = max(1, _DENSE_LIMIT // max(v * v, 1) // 4)
    for start in range(0, len(patterns), step):
        per = _coincidences_per_unit(patterns[start : start + step]).reshape(-1, v * v)
        total += weights[:, start : start + step] @ per
    return total.reshape(-1, v, v)


def _bootstrap_alpha(
    counts: np.ndarray, domain: np.ndarray, level: str, rounds: int, rng: np.random.Generator
) -> tuple[float, float] | None:
    if rounds <= 0 or len(counts) < 2 or len(domain) < 2:
        return None
    patterns, freq = _patterns(counts)
    if len(patterns) * len(domain) ** 2 > _DENSE_LIMIT:
        sample = rng.choice(len(counts), size=min(_BOOTSTRAP_SAMPLE, len(counts)), replace=False)
        patterns, freq = _patterns(counts[sample])
    n = int(freq.sum())
    weights = rng.multinomial(n, freq / n, size=rounds).astype(np.float64)
    values = _alphas(_weighted_coincidences(patterns, weights), domain, level)
    values = values[np.isfinite(values)]  # a resample with a single value has no α
    if not len(values):
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _pair_share(agreeing: float, pairs: float) -> float | None:
    return float(agreeing / pairs) if pairs > 0 else None


def _alpha_agreement(votes: Votes, coded: _Coded, rounds: int, seed: int) -> AgreementRow:
    counts, domain = coded.counts, coded.domain
    m = counts.sum(axis=1)
    percent = _pair_share(float((counts * (counts - 1)).sum()), float((m * (m - 1)).sum()))
    per: dict[str, dict[str, float | None]] = {}
    present = np.unique(coded.coder).tolist()
    for c in sorted(present, key=lambda c: coded.coders[c]):
        mine = coded.coder == c
        unit, code = coded.unit[mine], coded.code[mine]
        # the coder's votes agreeing with the others' on the same unit, out of all their pairs
        share = _pair_share(float((counts[unit, code] - 1).sum()), float((m[unit] - 1).sum()))
        width = counts.shape[1]
        without = counts - np.bincount(unit * width + code, minlength=counts.size).reshape(counts.shape)
        # leave-one-out through the pattern sums: one package call per coder would double the time
        per[coded.coders[c]] = {
            "agreement": share,
            "alpha_without": _alpha_by_patterns(without, domain, votes.level),
        }
    return AgreementRow(
        key=votes.key,
        criterion=votes.name,
        level=votes.level,
        alpha=_alpha(counts, domain, votes.level),
        ci=_bootstrap_alpha(counts, domain, votes.level, rounds, np.random.default_rng(seed)),
        percent=percent,
        tau=None,
        items=len(counts),
        per_annotator=per,
    )


# ---------------------------------------------------------------- rankings: Kendall's τ-b


def _ranks(ranking: Any) -> tuple[tuple[int, int], ...]:
    """A ranking as sorted (candidate, rank) pairs: two rankings are identical when these are."""
    return tuple(sorted(ranking_to_ranks(ranking).items()))


def _tau(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> float:
    """τ-b of two rankings over the candidates both rank (nan when undefined, e.g. all tied)."""
    ra, rb = dict(a), dict(b)
    common = sorted(ra.keys() & rb.keys())
    x, y = [ra[c] for c in common], [rb[c] for c in common]
    if len(set(x)) < 2 or len(set(y)) < 2:  # a constant ranking has no τ (scipy warns and gives nan)
        return math.nan
    return float(kendalltau(x, y).statistic)


def _ranking_agreement(
    data: Votes, unit: np.ndarray, coder: np.ndarray, value: np.ndarray, n_units: int, rounds: int, seed: int
) -> AgreementRow:
    # Rankings become ids of their distinct forms (a dataset holds few), votes a units × coders matrix of
    # ids; τ-b is computed by scipy once per distinct pair of rankings and looked up for every unit.
    used, value = np.unique(value, return_inverse=True)
    forms: dict[tuple, int] = {}
    form_id = np.array([forms.setdefault(_ranks(data.forms[f]), len(forms)) for f in used.tolist()])
    canon = list(forms)
    present = np.unique(coder)
    coders = sorted(present.tolist(), key=lambda c: data.coders[c])
    column = np.full(len(data.coders), -1, dtype=np.int64)
    column[coders] = np.arange(len(coders))
    votes = np.full((n_units, len(coders)), -1, dtype=np.int64)
    votes[unit, column[coder]] = form_id[value.reshape(-1)] if len(value) else value
    d = len(canon)
    table: dict[int, float] = {}
    tau_sum = np.zeros(n_units)
    tau_n = np.zeros(n_units)
    pairs = identical = 0
    mine = np.zeros((len(coders), 4))  # per coder: identical pairs, pairs, τ sum, defined τ pairs
    for i, j in combinations(range(len(coders)), 2):
        both = np.flatnonzero((votes[:, i] >= 0) & (votes[:, j] >= 0))
        if not len(both):
            continue
        a, b = votes[both, i], votes[both, j]
        pair_id = a * d + b
        distinct, inverse = np.unique(pair_id, return_inverse=True)
        for p in distinct.tolist():
            if p not in table:
                table[p] = _tau(canon[p // d], canon[p % d])
        tau = np.array([table[p] for p in distinct.tolist()])[inverse.reshape(-1)]
        defined = ~np.isnan(tau)
        same = int((a == b).sum())
        tau_sum[both[defined]] += tau[defined]
        tau_n[both[defined]] += 1
        pairs += len(both)
        identical += same
        stats = np.array([same, len(both), tau[defined].sum(), defined.sum()])
        mine[i] += stats
        mine[j] += stats
    total_sum, total_n = float(tau_sum.sum()), float(tau_n.sum())
    per: dict[str, dict[str, float | None]] = {}
    for k, c in enumerate(coders):
        same, n, s, defined_n = mine[k].tolist()
        rest_n = total_n - defined_n
        per[data.coders[c]] = {
            "agreement": _pair_share(same, n),
            "alpha_without": None,
            "tau_without": (total_sum - s) / rest_n if rest_n > 0 else None,
        }
    return AgreementRow(
        key=data.key,
        criterion=data.name,
        level="ranking",
        alpha=None,
        ci=_bootstrap_ratio(tau_sum, tau_n, rounds, np.random.default_rng(seed)),
        percent=_pair_share(identical, pairs),
        tau=total_sum / total_n if total_n else None,
        items=n_units,
        per_annotator=per,
    )


def _bootstrap_ratio(
    top: np.ndarray, bottom: np.ndarray, rounds: int, rng: np.random.Generator
) -> tuple[float, float] | None:
    """Percentile interval of Σ top / Σ bottom over units resampled with replacement."""
    if rounds <= 0 or len(top) < 2 or not bottom.sum():
        return None
    patterns, freq = np.unique(np.column_stack([top, bottom]), axis=0, return_counts=True)
    n = int(freq.sum())
    weights = rng.multinomial(n, freq / n, size=rounds)
    below = weights @ patterns[:, 1]
    keep = below > 0
    values = (weights @ patterns[:, 0])[keep] / below[keep]
    if not len(values):
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)
