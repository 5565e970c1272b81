"""Adjudication: annotators' answers to one item side by side per criterion, and the final answer built
from the picks (pure logic on store/annotations.py's working copies).

A criterion is one thing annotators answer about an item, keyed by a string:
    "validity"                        the item's validity ("valid", or "invalid: <reason>")
    "q:<classification id>"           a classification (radio, checkbox, text, ranking, pairwise)
    "r:<class id>:<slot>:<attribute>" one attribute of a class on a bubble (slot "m3" / "c1")
    "r:<class id>:<slot>"             the class put on that bubble at all (its presence)
    "r:<class id>:r"                  a written reply (Dialog Response), its text
A missing answer is None; two answers differ when their canonical JSON differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

Work = dict[str, Any]


def slot_of(result: dict[str, Any]) -> str:
    if result.get("message") is not None:
        return f"m{int(result['message'])}"
    if result.get("candidate") is not None:
        return f"c{int(result['candidate'])}"
    return "r"


def answers(work: Work) -> dict[str, Any]:
    """Every criterion key of `work` with its answer."""
    found: dict[str, Any] = {}
    validity = work.get("validity", "valid")
    found["validity"] = (
        "valid" if validity == "valid" else f"invalid: {work.get('invalid_reason', '')}".strip()
    )
    for qid, answer in (work.get("classifications") or {}).items():
        if answer not in (None, "", [], {}):
            found[f"q:{qid}"] = answer
    for result in work.get("results") or []:
        slot = slot_of(result)
        base = f"r:{int(result['class_id'])}:{slot}"
        if slot == "r":
            found[base] = result.get("text") or ""
            continue
        found[base] = True
        for name, value in (result.get("values") or {}).items():
            if value not in (None, "", []):
                found[f"{base}:{name}"] = value
    return found


def _canon(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass
class Criterion:
    key: str
    values: dict[str, Any] = field(default_factory=dict)  # annotator → answer (None: no answer)

    @property
    def differs(self) -> bool:
        return len({_canon(v) for v in self.values.values()}) > 1


def compare(works: dict[str, Work]) -> list[Criterion]:
    """The criteria of all `works` (annotator → work), each with every annotator's answer, in a stable order."""
    per = {name: answers(work) for name, work in works.items()}
    keys = sorted({k for a in per.values() for k in a}, key=_order)
    return [Criterion(key=k, values={name: per[name].get(k) for name in works}) for k in keys]


def _order(key: str) -> tuple[Any, ...]:
    parts = key.split(":")
    kind = {"validity": 0, "q": 1, "r": 2}[parts[0]]
    rest = [(0, int(p)) if p.isdigit() else (1, p) for p in parts[1:]]
    if len(parts) >= 3 and parts[2][:1] in "mc" and parts[2][1:].isdigit():
        rest[1] = (0 if parts[2][0] == "m" else 1, int(parts[2][1:]))
    return (kind, *rest)


def agree(works: dict[str, Work]) -> bool:
    """Do all annotators give the same answer on every criterion? (True for fewer than two.)"""
    return not any(c.differs for c in compare(works))


def compose(works: dict[str, Work], picks: dict[str, Any]) -> Work:
    """The final work: for each criterion the answer of the annotator named in `picks[key]`, or, where
    `picks[key]` is {"value": x}, the reviewer's own answer x (None drops it). Criteria without a pick take
    the answer all annotators share, and must be picked where they differ (ValueError names them)."""
    result_work: Work = {"validity": "valid", "invalid_reason": "", "classifications": {}, "results": []}
    missing = []
    chosen: dict[str, Any] = {}
    for criterion in compare(works):
        pick = picks.get(criterion.key)
        if isinstance(pick, dict) and "value" in pick:
            chosen[criterion.key] = pick["value"]
        elif isinstance(pick, str) and pick in works:
            chosen[criterion.key] = criterion.values.get(pick)
        elif pick is None and not criterion.differs:
            chosen[criterion.key] = next(iter(criterion.values.values()), None)
        else:
            missing.append(criterion.key)
    for key, pick in picks.items():  # the reviewer's own answer to a criterion nobody answered
        if key not in chosen and isinstance(pick, dict) and "value" in pick:
            chosen[key] = pick["value"]
    if missing:
        raise ValueError("pick an answer for: " + ", ".join(missing))
    results: dict[tuple[int, str], dict[str, Any]] = {}
    present: dict[tuple[int, str], bool] = {}
    for key, value in chosen.items():
        parts = key.split(":")
        if parts[0] == "validity":
            text = str(value or "valid")
            if text.startswith("invalid"):
                result_work["validity"] = "invalid"
                result_work["invalid_reason"] = text.partition(":")[2].strip()
        elif parts[0] == "q":
            if value not in (None, "", [], {}):
                result_work["classifications"][parts[1]] = value
        else:
            class_id, slot = int(parts[1]), parts[2]
            ref = (class_id, slot)
            if len(parts) == 3:
                if slot != "r":
                    present[ref] = bool(value)
                elif value is not None:
                    results.setdefault(ref, _new_result(class_id, slot))["text"] = str(value)
                continue
            if value is not None:
                results.setdefault(ref, _new_result(class_id, slot))["values"][parts[3]] = value
    for ref, on in present.items():
        if on:
            results.setdefault(ref, _new_result(*ref))
        else:
            results.pop(ref, None)
    result_work["results"] = [
        results[ref] for ref in sorted(results, key=lambda r: _order(f"r:{r[0]}:{r[1]}"))
    ]
    return result_work


def _new_result(class_id: int, slot: str) -> dict[str, Any]:
    result: dict[str, Any] = {"class_id": class_id, "message": None, "candidate": None, "values": {},
                              "text": None, "role": None, "source_text": None}  # fmt: skip
    if slot[0] == "m":
        result["message"] = int(slot[1:])
    elif slot[0] == "c":
        result["candidate"] = int(slot[1:])
    return result
