"""Vicuna-bench tables: question.jsonl + answer/*.jsonl + review/**/*.jsonl in one bundle."""

from __future__ import annotations

from collections.abc import Iterator

from core.dialogue import Candidate, ParsedItem
from core.formats.base import Bundle, Record, iter_records, message, require_dict


def _file(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def vicuna_files(names: list[str]) -> dict[str, list[str]]:
    """The bundle's members by role: question, answer, review, reviewer (model.jsonl / prompt.jsonl are
    metadata, listed under other)."""
    out: dict[str, list[str]] = {"question": [], "answer": [], "review": [], "reviewer": [], "other": []}
    for n in sorted(names):
        if not n.lower().endswith(".jsonl"):
            continue
        f = _file(n)
        slashed = f"/{n}"
        if f == "question.jsonl":
            out["question"].append(n)
        elif "/answer/" in slashed or f.startswith("answer"):
            out["answer"].append(n)
        elif "/review/" in slashed or f.startswith("review_"):
            out["review"].append(n)
        elif f == "reviewer.jsonl":
            out["reviewer"].append(n)
        elif f in ("model.jsonl", "prompt.jsonl"):
            out["other"].append(n)
    return out


def read_vicuna(bundle: Bundle, names: list[str], max_chars: int) -> Iterator[ParsedItem]:
    """One item per question (id = question_id, meta: category): the question → a user message; every
    answer to it → a candidate (model = model_id, meta: answer_id, metadata), ordered by answer file name
    then line; each review → two score suggestions {"kind": "score", "target": "cK", "value": s,
    "agent": reviewer_id} for its answer1/answer2. A reviewer_id missing from reviewer.jsonl is kept as the
    agent (FastChat's own files refer to "gpt-4-0328-generic", which reviewer.jsonl does not define).
    An answer naming an unknown question, or a review naming an unknown answer, is a FormatError."""
    files = vicuna_files(names)
    if not files["question"]:
        raise_missing = Record(names[0] if names else "", "record 1", 1, False, max_chars)
        raise raise_missing.error("Vicuna-bench bundle without question.jsonl")
    items: dict[str, ParsedItem] = {}
    for qfile in files["question"]:
        for obj, rec in iter_records(bundle, qfile, max_chars=max_chars, jsonl=True):
            obj = require_dict(obj, rec)
            if "question_id" not in obj:
                raise rec.error("missing question_id", "question_id")
            qid = str(obj["question_id"])
            meta = {k: v for k, v in obj.items() if k not in ("question_id", "text")}
            items[qid] = ParsedItem(
                external_id=qid, messages=[message("user", rec.text(obj.get("text"), "text"))], meta=meta
            )
    answer_at: dict[str, tuple[ParsedItem, int]] = {}
    for afile in files["answer"]:
        for obj, rec in iter_records(bundle, afile, max_chars=max_chars, jsonl=True):
            obj = require_dict(obj, rec)
            item = items.get(str(obj.get("question_id")))
            if item is None:
                raise rec.error(f"answer to unknown question {obj.get('question_id')!r}", "question_id")
            cand: Candidate = {
                "text": rec.text(obj.get("text"), "text"),
                "images": [],
                "model": str(obj.get("model_id") or ""),
            }
            cand["meta"] = {k: v for k, v in obj.items() if k not in ("question_id", "text", "model_id")}
            answer_at[str(obj.get("answer_id"))] = (item, len(item.candidates))
            item.candidates.append(cand)
    for rfile in files["review"]:
        for obj, rec in iter_records(bundle, rfile, max_chars=max_chars, jsonl=True):
            obj = require_dict(obj, rec)
            scores = obj.get("score")
            if not (isinstance(scores, list) and len(scores) == 2):
                raise rec.error("score must be a pair [answer1, answer2]", "score")
            agent = str(obj.get("reviewer_id") or "reviewer")
            for key, score in zip(("answer1_id", "answer2_id"), scores, strict=True):
                hit = answer_at.get(str(obj.get(key)))
                if hit is None:
                    raise rec.error(f"review names unknown answer {obj.get(key)!r}", key)
                item, k = hit
                if not isinstance(score, int | float) or isinstance(score, bool):
                    raise rec.error(f"score must be a number, not {score!r}", "score")
                item.suggestions.append(
                    {"kind": "score", "target": f"c{k}", "value": float(score), "score": None, "agent": agent}
                )
    yield from items.values()
