"""Words for what annotators answered: criterion names, answers, results, and a reviewer's own answer."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import orjson

from core import evaluation as ev
from core.dialogue import candidate_label
from store import db
from store.ontology import list_classes, list_classifications

RESPONSE_TOOL = "dialog_response"
ROLE_NAMES = {"bot": "Bot", "user": "User"}


@dataclass(frozen=True)
class Ontology:
    """A dataset's classes and questions as the review page names them (deleted ones too: old results
    may still use them)."""

    classes: dict[int, ev.ClassDef]
    roles: dict[int, str]  # response class → the role it answers as
    questions: dict[int, ev.QuestionDef]
    retired: frozenset[int] = frozenset()  # deleted questions: shown where answered, never offered

    def class_label(self, class_id: int) -> str:
        cls = self.classes.get(class_id)
        return cls.label if cls else f"class {class_id}"

    def color(self, class_id: int) -> str:
        cls = self.classes.get(class_id)
        return cls.color if cls else "#888888"

    def attribute(self, class_id: int, name: str) -> dict[str, Any]:
        cls = self.classes.get(class_id)
        return next((a for a in (cls.attributes if cls else ()) if a.get("name") == name), {})

    def is_response(self, class_id: int) -> bool:
        cls = self.classes.get(class_id)
        return cls is not None and cls.tool == RESPONSE_TOOL


def html_text(text: str) -> str:
    """`text` made safe inside an HTML element (no attribute is ever built from data, so quotes stay)."""
    return html.escape(text, quote=False)


def load_ontology(dataset_id: int) -> Ontology:
    with db.read_session() as session:
        classes = list_classes(session=session, dataset_id=dataset_id, include_deleted=True)
        questions = list_classifications(session=session, dataset_id=dataset_id, include_deleted=True)
    return Ontology(
        classes={int(c.id): ev.ClassDef.from_obj(c) for c in classes if c.id is not None},
        roles={int(c.id): c.role or "bot" for c in classes if c.id is not None},
        questions={int(q.id): ev.QuestionDef.from_obj(q) for q in questions if q.id is not None},
        retired=frozenset(int(q.id) for q in questions if q.id is not None and q.deleted_at is not None),
    )


def bubble(slot: str) -> str:
    """ "m3" → "Message 4", "c1" → "Candidate B" (the review shows candidates in their stored order)."""
    return ev.bubble_name(slot)


def criterion_name(key: str, onto: Ontology) -> str:
    """What a criterion key (core/adjudication) is about, in the words annotators saw."""
    parts = key.split(":")
    if parts[0] == "validity":
        return "Validity"
    if parts[0] == "q":
        question = onto.questions.get(int(parts[1]))
        return question.label if question else f"question {parts[1]}"
    class_id, slot = int(parts[1]), parts[2]
    label = onto.class_label(class_id)
    if slot == "r":
        return f"Reply ({label})"
    if len(parts) == 3:
        return f"{label} · {bubble(slot)}"
    return f"{label} · {bubble(slot)} · {parts[3]}"


def classification_text(question: ev.QuestionDef | None, answer: Any) -> str:
    if answer in (None, "", [], {}):
        return "—"
    kind = question.type if question else ""
    if kind == "ranking" and isinstance(answer, list):
        groups = ev.ranking_groups(answer)
        return " > ".join(" = ".join(candidate_label(k) for k in group) for group in groups)
    if kind == "pairwise" and isinstance(answer, dict):
        if answer.get("tie"):
            return "Tie"
        strengths = question.strengths if question else tuple(ev.PAIRWISE_STRENGTHS.values())
        strength = answer.get("strength")
        how = (
            strengths[strength - 1]
            if isinstance(strength, int) and 0 < strength <= len(strengths)
            else "better"
        )
        return (
            f"{candidate_label(int(answer['chosen']))} {how} than {candidate_label(int(answer['rejected']))}"
        )
    return value_text(answer)


def value_text(value: Any) -> str:
    if value in (None, "", []):
        return "—"
    if value is True:
        return "✓ tagged"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def answer_text(key: str, value: Any, onto: Ontology) -> str:
    """An annotator's answer to one criterion, as a short line."""
    if key.startswith("q:"):
        return classification_text(onto.questions.get(int(key.split(":")[1])), value)
    return value_text(value)


def own_answer(key: str, text: str, onto: Ontology) -> Any:
    """The reviewer's typed answer to a criterion, in the shape the work stores it (None: no answer)."""
    text = text.strip()
    if not text:
        return None
    parts = key.split(":")
    if parts[0] == "validity" or (parts[0] == "r" and parts[2] == "r"):
        return text
    if parts[0] == "r" and len(parts) == 3:
        return text.lower() not in ("no", "false", "0", "-", "—")
    kind = (
        (onto.questions.get(int(parts[1])) or ev.QuestionDef(id=0, name="", type="text")).type
        if parts[0] == "q"
        else onto.attribute(int(parts[1]), parts[3]).get("type", "radio")
    )
    if kind == "checkbox":
        return [piece.strip() for piece in text.split(",") if piece.strip()]
    if kind in ("number", "rating"):
        number = float(text)
        return int(number) if kind == "rating" or number.is_integer() else number
    if kind in ("ranking", "pairwise"):
        return orjson.loads(text)
    return text


def own_seed(key: str, value: Any, onto: Ontology) -> str:
    """An answer written the way own_answer() reads it back (to start an own answer from)."""
    if value is None:
        return ""
    if value is True:
        return "yes"
    parts = key.split(":")
    kind = onto.questions[int(parts[1])].type if parts[0] == "q" and int(parts[1]) in onto.questions else ""
    if isinstance(value, list) and kind != "ranking" and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, str | int | float):
        return str(value)
    return orjson.dumps(value).decode()


def own_hint(key: str, onto: Ontology) -> str:
    """How to type an own answer for this criterion."""
    parts = key.split(":")
    if parts[0] == "validity":
        return "valid, or invalid: reason"
    if parts[0] == "r" and len(parts) == 3:
        return "the reply text" if parts[2] == "r" else "yes / no"
    kind = (
        (onto.questions.get(int(parts[1])) or ev.QuestionDef(id=0, name="", type="text")).type
        if parts[0] == "q"
        else onto.attribute(int(parts[1]), parts[3]).get("type", "radio")
    )
    return {
        "checkbox": "options, comma separated",
        "ranking": "JSON, best first: [1, 0, 2]",
        "pairwise": 'JSON: {"chosen": 0, "rejected": 1, "strength": 2} or {"tie": true}',
        "number": "a number",
        "rating": "a whole number",
    }.get(kind, "the answer")


def results_sorted(work: dict[str, Any]) -> list[dict[str, Any]]:
    """Results in reading order: messages, candidates, then written replies."""

    def order(result: dict[str, Any]) -> tuple[int, int, int]:
        if result.get("message") is not None:
            return (0, int(result["message"]), int(result["class_id"]))
        if result.get("candidate") is not None:
            return (1, int(result["candidate"]), int(result["class_id"]))
        return (2, 0, int(result["class_id"]))

    return sorted(work.get("results") or [], key=order)


def badges(work: dict[str, Any], onto: Ontology) -> dict[str, list[dict[str, str]]]:
    """The class chips the canvas draws on each tagged bubble (details show with Expand Attributes)."""
    out: dict[str, list[dict[str, str]]] = {}
    for result in results_sorted(work):
        ref = ev.result_ref(result)
        if ref is None:
            continue
        class_id = int(result["class_id"])
        detail = " · ".join(
            f"{name}: {value_text(value)}" for name, value in (result.get("values") or {}).items()
        )
        out.setdefault(ref, []).append(
            {
                "text": onto.class_label(class_id),
                "detail": detail or "no values",
                "color": onto.color(class_id),
            }
        )
    return out
