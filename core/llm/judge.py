"""An LLM judge: its prompt, its answer checked against the ontology, and the suggestions that answer makes.

The judge answers one JSON object in the native format's result shape (DESIGN.md), by names:
    {"results": [{"class": "helpfulness", "candidate": 0, "values": {"score": "4"}}, ...],
     "classifications": {"preference": {"chosen": 0, "rejected": 1, "strength": 2}, "topic": "code"}}
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.dialogue import candidate_label
from core.evaluation import (
    EVALUATION_TOOL,
    ClassDef,
    QuestionDef,
    bubble_role,
    pairwise_errors,
    ranking_errors,
    rating_max,
    validate,
)

DEFAULT_PROMPT = """You are an expert judge of assistant replies. Read the dialogue and the candidate replies
to its last message, then answer the questions of the ontology below.

## Dialogue
{dialogue}

## Candidate replies (indexes from 0)
{candidates}

## Ontology (classes you may apply to a candidate or a message, and questions about the item)
{ontology}

Answer with one JSON object and nothing else, in this shape:
{"results": [{"class": "<class name>", "candidate": <index>, "values": {"<attribute>": <value>}}],
 "classifications": {"<question name>": <answer>}}
A pairwise answer is {"chosen": <index>, "rejected": <index>, "strength": <1-3>} or {"tie": true}; a ranking
lists candidate indexes best first. Answer every required question."""

PLACEHOLDERS = ("{dialogue}", "{candidates}", "{ontology}")


class JudgeInvalid(ValueError):
    """The judge's answer does not fit the ontology; the message says where."""


def judge_prompt(
    template: str,
    *,
    messages: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    ontology: dict[str, Any],
) -> str:
    """The template with {dialogue}, {candidates} and {ontology} filled in (other braces are left alone).
    Model names are never shown to the judge: it judges the replies blind."""
    dialogue = "\n\n".join(
        f"[{i}] {str(m.get('role', 'user')).upper()}: {m.get('text') or ''}" for i, m in enumerate(messages)
    )
    shown = "\n\n".join(
        f"[{k}] (candidate {candidate_label(k)}): {c.get('text') or ''}" for k, c in enumerate(candidates)
    )
    values = {
        "{dialogue}": dialogue,
        "{candidates}": shown or "(none)",
        "{ontology}": json.dumps(ontology, ensure_ascii=False, indent=1),
    }
    return re.sub("|".join(re.escape(p) for p in PLACEHOLDERS), lambda m: values[m.group(0)], template)


def check_template(template: str) -> None:
    if not template.strip():
        raise ValueError("the judge prompt is empty")
    if "{dialogue}" not in template or "{candidates}" not in template:
        raise ValueError("the judge prompt must contain {dialogue} and {candidates}")


def _object(text: str) -> dict[str, Any]:
    """The JSON object in a reply (a ```json fence or prose around it is tolerated)."""
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1).strip()
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end < start:
            raise JudgeInvalid("the answer holds no JSON object")
        body = body[start : end + 1]
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise JudgeInvalid(f"the answer is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise JudgeInvalid("the answer is not a JSON object")
    return value


def _index(value: Any, size: int, what: str) -> int:
    if type(value) is not int or not 0 <= value < size:
        raise JudgeInvalid(f"{what}: {value!r} is not an index from 0 to {size - 1}")
    return value


def _value(attribute: dict[str, Any], value: Any, where: str) -> Any:
    kind, name = attribute.get("type"), attribute["name"]
    options = [str(o) for o in attribute.get("options") or ()]
    if kind == "radio":
        if isinstance(value, bool) or str(value) not in options:
            raise JudgeInvalid(f"{where}.{name}: {value!r} is not one of {options}")
        return str(value)
    if kind == "checkbox":
        if not isinstance(value, list) or any(str(v) not in options for v in value):
            raise JudgeInvalid(f"{where}.{name}: must be a list of {options}")
        return [str(v) for v in value]
    if kind == "rating":
        top = rating_max(attribute)
        if type(value) is not int or not 1 <= value <= top:
            raise JudgeInvalid(f"{where}.{name}: must be a whole number from 1 to {top}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JudgeInvalid(f"{where}.{name}: must be a number")
        lo, hi = attribute.get("min"), attribute.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise JudgeInvalid(f"{where}.{name}: {value} is outside {lo}..{hi}")
        return value
    if not isinstance(value, str):
        raise JudgeInvalid(f"{where}.{name}: must be a text")
    return value[: int(attribute.get("max_length") or 5000)]


def parse_answer(
    text: str,
    *,
    classes: list[ClassDef],
    questions: list[QuestionDef],
    messages: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
) -> dict[str, Any]:
    """The judge's reply as a work (store/annotations.py shape), every part checked against the ontology
    and the item; JudgeInvalid naming the first problem otherwise."""
    answer = _object(text)
    unknown = set(answer) - {"results", "classifications"}
    if unknown:
        raise JudgeInvalid(f"unknown keys {sorted(unknown)} (known: results, classifications)")
    by_name = {c.name: c for c in classes if c.tool == EVALUATION_TOOL}
    results, seen = [], set()
    raw_results = answer.get("results") or []
    if not isinstance(raw_results, list):
        raise JudgeInvalid("results: must be a list")
    for i, raw in enumerate(raw_results):
        where = f"results[{i}]"
        if not isinstance(raw, dict) or raw.get("class") not in by_name:
            raise JudgeInvalid(f"{where}: must name an evaluation class ({', '.join(by_name) or 'none'})")
        cls = by_name[raw["class"]]
        if raw.get("candidate") is not None:
            ref = f"c{_index(raw['candidate'], len(candidates), where + '.candidate')}"
        elif raw.get("message") is not None:
            ref = f"m{_index(raw['message'], len(messages), where + '.message')}"
        else:
            raise JudgeInvalid(f"{where}: names neither a candidate nor a message")
        if bubble_role(ref, messages) not in cls.targets:
            raise JudgeInvalid(f"{where}: {cls.name} does not apply to a {bubble_role(ref, messages)} turn")
        if (cls.id, ref) in seen:
            raise JudgeInvalid(f"{where}: {cls.name} is given twice for the same turn")
        seen.add((cls.id, ref))
        values = raw.get("values") or {}
        if not isinstance(values, dict):
            raise JudgeInvalid(f"{where}.values: must be an object")
        attributes = {a["name"]: a for a in cls.attributes}
        extra = set(values) - set(attributes)
        if extra:
            raise JudgeInvalid(f"{where}.values: {cls.name} has no attribute {sorted(extra)[0]!r}")
        checked = {k: _value(attributes[k], v, f"{where}.values") for k, v in values.items() if v is not None}
        kind, index = ref[0], int(ref[1:])
        results.append({
            "class_id": cls.id, "message": index if kind == "m" else None,
            "candidate": index if kind == "c" else None, "values": checked, "text": None, "role": None,
            "source_text": None,
        })  # fmt: skip
    raw_answers = answer.get("classifications") or {}
    if not isinstance(raw_answers, dict):
        raise JudgeInvalid("classifications: must be an object keyed by question name")
    by_question = {q.name: q for q in questions}
    answers: dict[str, Any] = {}
    for name, value in raw_answers.items():
        question = by_question.get(name)
        if question is None:
            raise JudgeInvalid(
                f"classifications: no question named {name!r} ({', '.join(by_question) or 'none'})"
            )
        answers[str(question.id)] = _answer(question, value, len(candidates))
    work = {"validity": "valid", "invalid_reason": "", "classifications": answers, "results": results}
    missing = validate(work, classes=classes, questions=questions, messages=messages, candidates=candidates)
    if missing:
        raise JudgeInvalid(missing[0].message)
    return work


def _answer(question: QuestionDef, value: Any, n_candidates: int) -> Any:
    where = f"classifications.{question.name}"
    if question.type == "radio":
        if str(value) not in question.options or isinstance(value, dict | list | bool):
            raise JudgeInvalid(f"{where}: {value!r} is not one of {list(question.options)}")
        return str(value)
    if question.type == "checkbox":
        if not isinstance(value, list) or any(str(v) not in question.options for v in value):
            raise JudgeInvalid(f"{where}: must be a list of {list(question.options)}")
        return [str(v) for v in value]
    if question.type == "ranking":
        errors = ranking_errors(value, n_candidates, allow_ties=question.allow_ties)
        if errors:
            raise JudgeInvalid(f"{where}: {errors[0]}")
        return value
    if question.type == "pairwise":
        errors = pairwise_errors(
            value, n_candidates, strengths=len(question.strengths), allow_tie=question.allow_tie
        )
        if errors:
            raise JudgeInvalid(f"{where}: {errors[0]}")
        if value.get("tie") is True:
            return {"tie": True}
        return {k: value[k] for k in ("chosen", "rejected", "strength") if k in value}
    if not isinstance(value, str):
        raise JudgeInvalid(f"{where}: must be a text")
    return value


def suggestions(
    work: dict[str, Any], *, classes: list[ClassDef], questions: list[QuestionDef]
) -> list[dict[str, Any]]:
    """The judge's work as Suggestion rows ({kind, target, value}). A question's answer is kind = its name
    ("preference" / "ranking" for the dataset's only pairwise / ranking question, the kinds the
    suggestions panel accepts), target None; a class result is kind = the class name, target "c0" / "m3",
    value = its attribute values. The report compares the item-level ones with the humans'."""
    by_id = {str(q.id): q for q in questions}
    single = {t: sum(1 for q in questions if q.type == t) == 1 for t in ("pairwise", "ranking")}
    out = []
    for qid, value in (work.get("classifications") or {}).items():
        question = by_id[qid]
        kind = question.name
        if question.type == "pairwise" and single["pairwise"]:
            kind = "preference"
        elif question.type == "ranking" and single["ranking"]:
            kind = "ranking"
        out.append({"kind": kind, "target": None, "value": value})
    names = {c.id: c.name for c in classes}
    for result in work.get("results") or []:
        ref = f"c{result['candidate']}" if result.get("candidate") is not None else f"m{result['message']}"
        out.append({"kind": names[result["class_id"]], "target": ref, "value": result.get("values") or {}})
    return out
