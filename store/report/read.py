"""The report's reads: the selected annotations and results as columns (tally.Columns), fetched in chunks
straight from the driver's cursor (no SQLAlchemy Row per result: that took as long as the query), each
distinct JSON text decoded once; and each item's candidate model names, extracted in the database so the
candidates' texts never leave it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Text, cast, func, select, text
from sqlmodel import Session

from store.export import ExportFilters, annotation_filter, user_ids
from store.models import Annotation, Result
from store.report.tally import Columns

CHUNK = 100_000  # rows per fetch: the Python tuples of one chunk are the reader's peak memory


def _loads(raw: Any) -> Any:
    if raw is None:
        return None
    return orjson.loads(raw) if isinstance(raw, str | bytes) else raw


class _Factor:
    """Codes for texts across chunks: pandas' hash-based factorize per chunk, mapped to codes kept here."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}

    def codes(self, column: tuple) -> np.ndarray:
        local, uniques = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=False)
        known = np.array([self.index.setdefault(u, len(self.index)) for u in uniques], dtype=np.int64)
        return known[local]

    def decoded(self) -> list[dict]:
        return [_loads(raw) or {} for raw in self.index]


def _chunks(session: Session, statement: Any) -> Iterator[list[tuple]]:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # a server-side cursor, so the client holds one chunk at a time; through SQLAlchemy's rows, since
        # it reads ahead of the driver's cursor
        with conn.execution_options(stream_results=True).execute(statement) as result:
            yield from result.partitions(CHUNK)
        return
    result = conn.execute(statement)
    try:
        while rows := result.cursor.fetchmany(CHUNK):  # the driver's tuples: no Row per result
            yield rows
    finally:
        result.close()


def read_columns(session: Session, dataset_id: int, filters: ExportFilters, names: dict[int, str]) -> Columns:
    """The annotations the filters select and their results (a written reply, slot "r", has no figure)."""
    where = annotation_filter(dataset_id, filters, user_ids(session, filters))
    ids, items, users = [], [], []
    answers = _Factor()
    answer_codes = []
    annotations = select(
        Annotation.id, Annotation.item_id, Annotation.annotator_id, cast(Annotation.classifications, Text)
    ).where(*where)
    for rows in _chunks(session, annotations):
        a, i, u, c = zip(*rows, strict=True)
        ids.append(np.array(a, dtype=np.int64))
        items.append(np.array(i, dtype=np.int64))
        users.append(np.array(u, dtype=np.int64))
        answer_codes.append(answers.codes(c))
    ann_id = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    order = np.argsort(ann_id, kind="stable")
    ann_id = ann_id[order]
    user_ids_, coder = np.unique(
        np.concatenate(users) if users else np.zeros(0, np.int64), return_inverse=True
    )

    res: dict[str, list[np.ndarray]] = {k: [] for k in ("ann", "class", "slot", "cand", "values")}
    slots, values = _Factor(), _Factor()
    results = (
        select(
            Result.annotation_id,
            Result.class_id,
            Result.slot,
            func.coalesce(Result.candidate_index, -1),
            cast(Result.values, Text),
        )
        .join(Annotation, Annotation.id == Result.annotation_id)
        .where(*where, Result.slot != "r")
    )
    for rows in _chunks(session, results):
        a, c, s, k, v = zip(*rows, strict=True)
        res["ann"].append(np.searchsorted(ann_id, np.array(a, dtype=np.int64)))
        res["class"].append(np.array(c, dtype=np.int64))
        res["slot"].append(slots.codes(s))
        res["cand"].append(np.array(k, dtype=np.int64))
        res["values"].append(values.codes(v))
    column = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in res.items()}
    return Columns(
        ann_id=ann_id,
        ann_item=(np.concatenate(items) if items else np.zeros(0, np.int64))[order],
        ann_coder=coder.reshape(-1).astype(np.int64)[order],
        ann_answers=(np.concatenate(answer_codes) if answer_codes else np.zeros(0, np.int64))[order],
        coders=[names.get(u) or f"user {u}" for u in user_ids_.tolist()],
        answers=answers.decoded(),
        res_ann=column["ann"],
        res_class=column["class"],
        res_slot=column["slot"],
        res_cand=column["cand"],
        res_values=column["values"],
        slots=list(slots.index),
        values=values.decoded(),
    )


# each item's candidates' model names as one JSON list (null where a candidate names none); a dataset holds
# few distinct lists, so Python decodes a handful of texts rather than every candidate's reply
_MODELS_SQL = {
    "sqlite": """
        SELECT item.id, (
            SELECT json_group_array(CASE WHEN c.type = 'object' THEN json_extract(c.value, '$.model') END)
            FROM json_each(item.candidates) AS c
        )
        FROM item
        WHERE item.dataset_id = :dataset AND json_type(item.candidates) = 'array'
    """,
    "postgresql": """
        SELECT item.id, (
            SELECT json_agg(CASE WHEN json_typeof(c.value) = 'object' THEN c.value -> 'model' END
                            ORDER BY c.n)
            FROM json_array_elements(item.candidates) WITH ORDINALITY AS c(value, n)
        )::text
        FROM item
        WHERE item.dataset_id = :dataset AND json_typeof(item.candidates) = 'array'
    """,
}


def item_models(session: Session, dataset_id: int, wanted: set[int]) -> dict[int, list[str | None]]:
    """item id → its candidates' model names (None where a candidate names none), for the `wanted` items
    with at least one named model."""
    conn = session.connection()
    decoded: dict[str, list[str | None] | None] = {}
    out: dict[int, list[str | None]] = {}
    for item_id, raw in conn.execute(text(_MODELS_SQL[conn.dialect.name]), {"dataset": dataset_id}):
        if item_id not in wanted or raw is None:
            continue
        models = decoded.get(raw, False)
        if models is False:
            names = [str(m) if m else None for m in (_loads(raw) or [])]
            models = decoded[raw] = names if any(m is not None for m in names) else None
        if models is not None:
            out[item_id] = models  # shared between items: read it, never change it
    return out
