"""The report's reads: the selected annotations and results as columns (tally.Columns) and each item's
candidate model names, extracted in the database so the candidates' texts never leave it.

Columns come back as one string per column and chunk (SQLite's group_concat, PostgreSQL's string_agg:
the aggregates of one query see the rows in the same order), parsed by numpy (numbers) or split in C
(JSON texts), each distinct text decoded once. On 900,000 results that is 2.5x faster than fetching rows:
the driver's tuple per row, and taking those apart again, cost more than the query itself."""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Text, cast, func, join, select
from sqlmodel import Session

from store.export_filters import ExportFilters, annotation_filter, user_ids
from store.filters import model_lists
from store.models import Annotation, Item, Result
from store.report.tally import Columns

CHUNK = 20_000  # annotations per read (with their results): a chunk's strings are the reader's peak memory
SEP = "\x1f"  # between texts: a JSON text holds no raw control character


def _give_back() -> None:
    """Hand the chunks' freed memory back to the system: glibc keeps freed small blocks for reuse, which
    held ~80 MB of a report's peak after its reads (a no-op where libc has no malloc_trim)."""
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).malloc_trim(0)


def _loads(raw: Any) -> Any:
    if raw is None:
        return None
    return orjson.loads(raw) if isinstance(raw, str | bytes) else raw


def joined_numbers(column: Any) -> Any:
    """A column's numbers as one comma-separated text (numbers() reads it)."""
    return func.aggregate_strings(cast(column, Text), ",")


def joined_texts(column: Any) -> Any:
    """A column's texts as one text (TextCodes reads it); NULL as \"null\"."""
    return func.aggregate_strings(func.coalesce(cast(column, Text), "null"), SEP)


def numbers(joined: str | None, dtype: Any = np.int64) -> np.ndarray:
    """joined_numbers' text as an array."""
    return np.fromstring(joined, dtype=dtype, sep=",") if joined else np.zeros(0, dtype=dtype)


class TextCodes:
    """Codes for texts across chunks, each distinct text once."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def codes(self, joined: str | None) -> np.ndarray:
        if not joined:
            return np.zeros(0, dtype=np.int64)
        texts, index = joined.split(SEP), self.index
        return np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))

    def decoded(self) -> list[dict]:
        return [_loads(raw) or {} for raw in self.index]


def _chunk_where(where: list[Any], chunk: list[int], sqlite: bool) -> tuple[list[Any], list[Any]]:
    """The conditions reading one chunk of the selected annotations (`chunk`: their ids, ascending, which
    `where` chose) and their results (these joined to Annotation on PostgreSQL).

    SQLite: the ids themselves, as one JSON parameter. Given the filters again with an id range it walked every
    selected annotation on the (dataset, status, final) index for each chunk (1M items, 26 chunks: 1.9 s for
    the annotations and 1.6 s for their results; by id 0.5 and 0.5 s). As one parameter each, SQLAlchemy
    spent ~10 ms a statement writing out 20,000 ids. PostgreSQL: the filters and the id range, also on the
    results' index, which it otherwise scanned whole for each chunk (results 2.1 -> 0.7 s); given the ids
    (= ANY) it looked each annotation up and still scanned the results."""
    if sqlite:
        each = func.json_each(orjson.dumps(chunk).decode()).table_valued("value")
        return [Annotation.id.in_(select(each.c.value))], [Result.annotation_id.in_(select(each.c.value))]
    span = [*where, Annotation.id >= chunk[0], Annotation.id <= chunk[-1]]
    return span, [*span, Result.annotation_id >= chunk[0], Result.annotation_id <= chunk[-1]]


def read_columns(session: Session, dataset_id: int, filters: ExportFilters, names: dict[int, str]) -> Columns:
    """The annotations the filters select and their results (a written reply, slot "r", has no figure)."""
    where = annotation_filter(dataset_id, filters, user_ids(session, filters), session)
    conn = session.connection()
    ids = np.sort(numbers(conn.execute(select(joined_numbers(Annotation.id)).where(*where)).scalar()))
    ann: dict[str, list[np.ndarray]] = {k: [] for k in ("id", "item", "user", "answers")}
    res: dict[str, list[np.ndarray]] = {k: [] for k in ("ann", "class", "slot", "cand", "values")}
    answers, slots, values = TextCodes(), TextCodes(), TextCodes()
    sqlite = conn.dialect.name == "sqlite"
    for start in range(0, len(ids), CHUNK):
        of_annotations, of_results = _chunk_where(where, ids[start : start + CHUNK].tolist(), sqlite)
        a, i, u, c = conn.execute(
            select(
                joined_numbers(Annotation.id),
                joined_numbers(Annotation.item_id),
                joined_numbers(Annotation.annotator_id),
                joined_texts(Annotation.classifications),
            ).where(*of_annotations)
        ).one()
        ann["id"].append(numbers(a)), ann["item"].append(numbers(i)), ann["user"].append(numbers(u))
        ann["answers"].append(answers.codes(c))
        a, c, s, k, v = conn.execute(
            select(
                joined_numbers(Result.annotation_id),
                joined_numbers(Result.class_id),
                joined_texts(Result.slot),
                joined_numbers(func.coalesce(Result.candidate_index, -1)),
                joined_texts(Result.values),
            )
            .select_from(
                Result if sqlite else join(Result, Annotation, Annotation.id == Result.annotation_id)
            )
            .where(*of_results, Result.slot != "r")
        ).one()
        # int32: indexes and small codes; 900,000 results take 18 MB here, not 36
        for key, column in (
            ("ann", np.searchsorted(ids, numbers(a))),
            ("class", numbers(c)),
            ("slot", slots.codes(s)),
            ("cand", numbers(k)),
            ("values", values.codes(v)),
        ):
            res[key].append(column.astype(np.int32))
        del a, c, s, k, v
    a_col = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in ann.items()}
    r_col = {k: np.concatenate(v) if v else np.zeros(0, np.int32) for k, v in res.items()}
    del ann, res
    _give_back()
    order = np.argsort(a_col["id"], kind="stable")
    users, coder = np.unique(a_col["user"], return_inverse=True)
    return Columns(
        ann_id=a_col["id"][order],
        ann_item=a_col["item"][order],
        ann_coder=coder.reshape(-1).astype(np.int64)[order],
        ann_answers=a_col["answers"][order],
        coders=[names.get(u) or f"user {u}" for u in users.tolist()],
        answers=answers.decoded(),
        res_ann=r_col["ann"],
        res_class=r_col["class"],
        res_slot=r_col["slot"],
        res_cand=r_col["cand"],
        res_values=r_col["values"],
        slots=list(slots.index),
        values=values.decoded(),
    )


def item_models(
    session: Session, dataset_id: int, wanted: set[int] | None = None
) -> dict[int, list[str | None]]:
    """item id → its candidates' model names (None where a candidate names none), for the items (the
    `wanted` ones, or all) with at least one named model."""
    # Item.models is that list as JSON and a dataset holds few distinct lists: each is decoded once and its
    # items' ids read from the model index as one text (at 1M items 1.2 s as rows through the ORM, 0.3 s so)
    conn = session.connection()
    lists = model_lists(session, dataset_id)
    read: dict[str, list[int]] | None = None
    if lists is None:  # (many distinct lists: every item's read)
        read = {}
        for item_id, raw in conn.execute(select(Item.id, Item.models).where(Item.dataset_id == dataset_id)):
            read.setdefault(raw, []).append(item_id)
        lists = list(read)
    keep = np.array(sorted(wanted), dtype=np.int64) if wanted is not None else None
    out: dict[int, list[str | None]] = {}
    for raw in lists:
        names = [str(m) if m else None for m in _loads(raw) or []]
        if all(m is None for m in names):
            continue
        if read is not None:
            ids = np.array(read[raw], dtype=np.int64)
        else:
            of_list = [Item.dataset_id == dataset_id, Item.models == raw]
            ids = numbers(conn.execute(select(joined_numbers(Item.id)).where(*of_list)).scalar())
        if keep is not None:
            ids = ids[np.isin(ids, keep)]
        out.update(dict.fromkeys(ids.tolist(), names))  # one list shared by its items: read, never changed
    return out
