"""What a dataset's classes and classifications are used by: how many results use each class, how many
annotations answer each classification, and what changing one or importing an ontology would take away
(store/ontology.py's confirmations and audit events).

The counts are read by the database, in the stored JSON: at 1M items, reading every annotation's answers into
Python took ~8 s, on every run of the Ontology page.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, select

from core.ontology import answer_uses_option, errors, normalize_class, validate_ontology, values_using_option
from store import ontology  # (a module reference: store.ontology imports this module too)
from store.models import Classification, OntologyClass, Result


def result_counts(*, session: Session, dataset_id: int) -> dict[int, int]:
    """How many saved results use each of the dataset's classes, deleted ones too: {class_id: n} (classes
    without results are left out). Counted on the results' class index, as removed_usage reads them: joining
    each result to its annotation for the dataset took 420-730 ms at 1M items, this ~50 ms."""
    classes = select(OntologyClass.id).where(OntologyClass.dataset_id == dataset_id)
    query = (
        select(Result.class_id, func.count()).where(Result.class_id.in_(classes)).group_by(Result.class_id)
    )
    return {class_id: n for class_id, n in session.exec(query).all()}


# How many of the dataset's annotations give each classification an answer, in the stored JSON (an object keyed
# by classification id). An answer counts unless it is null, "" or [].
_ANSWER_COUNTS = {
    "sqlite": """
        SELECT j.key, count(*) FROM annotation AS a,
            json_each(CASE WHEN json_type(a.classifications) = 'object' THEN a.classifications ELSE '{}' END) AS j
        WHERE a.dataset_id = :dataset_id AND j.type != 'null' AND NOT (j.type = 'text' AND j.atom = '')
            AND NOT (j.type = 'array' AND json_array_length(j.value) = 0)
        GROUP BY j.key""",
    "postgresql": """
        SELECT j.key, count(*) FROM annotation AS a,
            json_each(CASE WHEN json_typeof(a.classifications) = 'object' THEN a.classifications
                      ELSE '{}'::json END) AS j
        WHERE a.dataset_id = :dataset_id AND json_typeof(j.value) != 'null'
            AND NOT (json_typeof(j.value) = 'string' AND j.value #>> '{}' = '')
            AND NOT (json_typeof(j.value) = 'array' AND json_array_length(j.value) = 0)
        GROUP BY j.key""",
}
# The answers to one classification (JSON text each), for what removing an option would take away.
_ANSWERS_TO = {
    "sqlite": """
        SELECT a.classifications -> :path FROM annotation AS a
        WHERE a.dataset_id = :dataset_id AND json_type(a.classifications) = 'object'
            AND json_type(a.classifications, :path) IS NOT NULL""",
    "postgresql": """
        SELECT (a.classifications -> :key)::text FROM annotation AS a
        WHERE a.dataset_id = :dataset_id AND json_typeof(a.classifications) = 'object'
            AND a.classifications -> :key IS NOT NULL""",
}


def answer_counts(*, session: Session, dataset_id: int) -> dict[int, int]:
    """How many saved annotations answer each classification: {classification_id: n}."""
    sql = _ANSWER_COUNTS[session.get_bind().dialect.name]
    rows = session.execute(text(sql), {"dataset_id": dataset_id})
    return {int(key): int(n) for key, n in rows if str(key).isdigit()}


def _answers_to(session: Session, row: Classification) -> list[Any]:
    """Every answer the dataset's annotations give the classification `row` (null ones included)."""
    key = str(row.id)
    sql = _ANSWERS_TO[session.get_bind().dialect.name]
    params = {"dataset_id": row.dataset_id, "key": key, "path": f'$."{key}"'}
    return [json.loads(v) for (v,) in session.execute(text(sql), params) if v is not None]


def _class_values(session: Session, class_id: int) -> list[dict[str, Any]]:
    rows = session.exec(select(Result.values).where(Result.class_id == class_id)).all()
    return [v for v in rows if isinstance(v, dict)]


def removed_usage(*, session: Session, class_id: int, data: dict[str, Any]) -> list[dict[str, Any]]:
    """What saving `data` over the class would remove that results use: attributes and options, with counts.

    Each entry: {"attribute": name, "option": name | None, "results": n}; option None = the whole attribute.
    Attributes renamed through `renamed_attributes` are not removals; pass `data` after renaming.
    """
    row = ontology.get_class(session=session, class_id=class_id)
    values = _class_values(session, class_id)
    new_attrs = {a.get("name"): a for a in (data.get("attributes") or []) if isinstance(a, dict)}
    if data.get("tool") == "dialog_response":
        new_attrs = {}
    out: list[dict[str, Any]] = []
    for attr in row.attributes or []:
        name = attr.get("name")
        if name not in new_attrs:
            n = sum(1 for v in values if v.get(name) not in (None, "", []))
            if n:
                out.append({"attribute": name, "option": None, "results": n})
            continue
        kept = set(new_attrs[name].get("options") or [])
        for option in attr.get("options") or []:
            if option not in kept:
                n = sum(1 for v in values if values_using_option(v, name, option))
                if n:
                    out.append({"attribute": name, "option": option, "results": n})
    return out


def removed_answer_usage(
    *, session: Session, classification_id: int, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """Options of a classification that saving `data` removes and that answers use: [{"option", "answers"}]."""
    row = ontology.get_classification(session=session, classification_id=classification_id)
    kept = set(data.get("options") or [])
    answers = _answers_to(session, row)
    out = []
    for option in row.options or []:
        if option not in kept:
            n = sum(1 for a in answers if answer_uses_option(a, option))
            if n:
                out.append({"option": option, "answers": n})
    return out


def import_losses(*, session: Session, dataset_id: int, data: Any, mode: str = "replace") -> list[str]:
    """What importing `data` would take away that results use, one line each (for a confirmation).

    Deleted classes and classifications (replace mode) and removed options or attributes, with their counts;
    nothing is written. An invalid `data` gives [] (import_ontology reports its errors).
    """
    if errors(validate_ontology(data)):
        return []
    counts = result_counts(session=session, dataset_id=dataset_id)
    answers = answer_counts(session=session, dataset_id=dataset_id)
    incoming = {c["name"]: c for c in data.get("classes") or []}
    questions = {q["name"]: q for q in data.get("classifications") or []}
    lines: list[str] = []
    for row in ontology.list_classes(session=session, dataset_id=dataset_id):
        if row.name in incoming:
            for r in removed_usage(
                session=session, class_id=row.id, data=normalize_class(incoming[row.name])
            ):
                what = (
                    f"option {r['option']!r} of attribute {r['attribute']!r}"
                    if r["option"]
                    else (f"attribute {r['attribute']!r}")
                )
                lines.append(f"class {row.name!r}: {what} is removed; {r['results']} results use it (kept)")
        elif mode == "replace" and counts.get(row.id):
            lines.append(f"class {row.name!r} is deleted; {counts[row.id]} results use it (kept)")
    for q in ontology.list_classifications(session=session, dataset_id=dataset_id):
        if q.name in questions:
            for r in removed_answer_usage(session=session, classification_id=q.id, data=questions[q.name]):
                lines.append(
                    f"classification {q.name!r}: option {r['option']!r} is removed; {r['answers']} answers"
                )
        elif mode == "replace" and answers.get(q.id):
            lines.append(
                f"classification {q.name!r} is deleted; {answers[q.id]} annotations answer it (kept)"
            )
    return lines
