"""The annotation values the item filters look up (#18): `AnnotationValue` rows, one per

- class on a result: key "c<class id>", value "";
- attribute value of a result: key "c<class id>.<attribute>", value the value (a list: one row per element;
  a string as is, anything else as its JSON text: 4 → "4", true → "true"); empty values ("", [], null) none;
- classification answer: key "q<classification id>", value by the answer's shape: a string as is (radio,
  text), a list of strings one row each (checkbox); a ranking's first place "#first:<candidate index>" (each
  of a tie there); a pairwise answer "#chosen:<index>" or "#tie".

Keys and values past `CHARS` characters are cut and end in a hash of the whole (`encode`), so an index entry
stays small (PostgreSQL refuses B-tree entries over ~2.7 kB) and equality still means the whole text is
equal. Drafts have none: their work is not in their results and answers yet (core/filters.py).

The rows are written wherever results and answers are (`replace`: a save, a reviewer's fix; `insert_rows`:
imported annotations) and rebuilt by `backfill` (migration 0007, bench/filters.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlmodel import Session

from store.models import Annotation, AnnotationValue, Result

CHARS = 200
BATCH = 20_000


def encode(text: str) -> str:
    """`text` as stored in a key or value: itself up to CHARS characters, else its start and a hash of it."""
    if len(text) <= CHARS:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return f"{text[: CHARS - 26]}…#{digest}"


def class_key(class_id: int, attribute: str | None = None) -> str:
    return encode(f"c{class_id}" if attribute is None else f"c{class_id}.{attribute}")


def question_key(question_id: int | str) -> str:
    return f"q{question_id}"


def scalar(value: Any) -> str:
    """A single value as compared: a string itself, anything else its JSON text."""
    return encode(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True))


def _attribute_values(value: Any) -> Iterator[str]:
    if value is None or value == "" or value == []:
        return
    for element in value if isinstance(value, list) else [value]:
        yield scalar(element)


def _answer_values(answer: Any) -> Iterator[str]:
    if isinstance(answer, str):
        if answer:
            yield encode(answer)
    elif isinstance(answer, list):
        first = answer[0] if answer else None
        if all(isinstance(a, str) for a in answer):  # checkbox
            yield from (encode(a) for a in answer)
        elif isinstance(first, int) and not isinstance(first, bool):  # ranking, best first
            yield f"#first:{first}"
        elif isinstance(first, list):  # ranking: a tie at the first place
            yield from (f"#first:{i}" for i in first if isinstance(i, int) and not isinstance(i, bool))
    elif isinstance(answer, dict):
        if answer.get("tie") is True:
            yield "#tie"
        elif isinstance(answer.get("chosen"), int) and not isinstance(answer.get("chosen"), bool):
            yield f"#chosen:{answer['chosen']}"


def values_of(
    results: Iterable[tuple[int, dict[str, Any] | None]], answers: dict[str, Any] | None
) -> set[tuple[str, str]]:
    """The (key, value) pairs of an annotation's results ((class id, values) each) and answers."""
    out: set[tuple[str, str]] = set()
    for class_id, values in results:
        out.add((class_key(class_id), ""))
        for name, value in (values or {}).items():
            key = class_key(class_id, name)
            out.update((key, v) for v in _attribute_values(value))
    for question_id, answer in (answers or {}).items():
        key = question_key(question_id)
        out.update((key, v) for v in _answer_values(answer))
    return out


def rows_of(
    ann: tuple[int, int, int], results: Iterable[tuple[int, dict[str, Any] | None]], answers: Any
) -> list[dict[str, Any]]:
    """AnnotationValue rows (as dicts for an insert) of one annotation, `ann` its (id, dataset id, item id)."""
    annotation_id, dataset_id, item_id = ann
    return [{"annotation_id": annotation_id, "dataset_id": dataset_id, "item_id": item_id, "key": k, "value": v}
            for k, v in sorted(values_of(results, answers))]  # fmt: skip


def replace(session: Session, ann: Annotation, result_rows: list[dict[str, Any]], answers: Any) -> None:
    """The annotation's rows from its new results (Result rows as dicts) and answers (a save, a fix)."""
    session.execute(delete(AnnotationValue).where(AnnotationValue.annotation_id == ann.id))
    results = [(r["class_id"], r["values"]) for r in result_rows]
    insert_rows(session.connection(), rows_of((ann.id, ann.dataset_id, ann.item_id), results, answers))  # type: ignore[arg-type]


def insert_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    for lo in range(0, len(rows), BATCH):
        connection.execute(insert(AnnotationValue), rows[lo : lo + BATCH])


def backfill(connection: Connection, dataset_id: int | None = None) -> int:
    """Write the rows of every saved annotation (of the dataset; all when None) from its results and answers,
    after deleting theirs; returns how many were written. Reads annotations in id order, BATCH at a time."""
    scope = [] if dataset_id is None else [Annotation.dataset_id == dataset_id]
    mine = [] if dataset_id is None else [AnnotationValue.dataset_id == dataset_id]
    connection.execute(delete(AnnotationValue).where(*mine))
    written, after = 0, 0
    while True:
        anns = connection.execute(
            select(Annotation.id, Annotation.dataset_id, Annotation.item_id, Annotation.classifications)
            .where(Annotation.id > after, Annotation.status != "draft", *scope)
            .order_by(Annotation.id)
            .limit(BATCH)
        ).all()
        if not anns:
            return written
        after = anns[-1].id
        results: dict[int, list[tuple[int, Any]]] = {}
        for annotation_id, class_id, values in connection.execute(
            select(Result.annotation_id, Result.class_id, Result.values).where(
                Result.annotation_id.between(anns[0].id, after)
            )
        ):
            results.setdefault(annotation_id, []).append((class_id, values))
        rows = [
            row
            for a in anns
            for row in rows_of((a.id, a.dataset_id, a.item_id), results.get(a.id, ()), a.classifications)
        ]
        insert_rows(connection, rows)
        written += len(rows)
