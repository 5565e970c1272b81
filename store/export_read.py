"""Reading an export: a dataset's items in batches with their annotations, suggestions and history.

They come out as export items (the core/export/common.py shape), which the writers turn into records.

Reads go item batch by item batch (keyset on position, id): the batch's items, then their annotations with
each one's results aggregated into one JSON array by the database, decoded by orjson; the next batch is
read in a background thread meanwhile. An export of any size holds two batches in memory. The filters are
store/export_filters.py's; review state, final answers and history are read by store/export_team.py's
queries beside the annotations.

Images: each referenced image gets its name inside the export, `images/<sha256>.<ext>` (made here from the
asset id, never paths from the data: CVE-2025-25295), or in "urls" mode the blob store's address
(`s3://bucket/key` on S3, a `file://` URI for a local folder).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Text, cast, func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import Session

from core.export import Schema
from core.export.agreement import annotators_agree
from store.blobs import BlobStore, LocalBlobStore, S3BlobStore, get_blob_store
from store.export_filters import STATUS_FILTERS, ExportFilters, annotation_check, item_restriction, user_ids
from store.export_team import history_entries, history_query, review_columns, review_fields
from store.models import (
    Annotation,
    Asset,
    Classification,
    Item,
    OntologyClass,
    Result,
    Suggestion,
    User,
)
from store.ontology import export_ontology

BATCH = 2000  # items a batch: a few MB of rows in memory, two batches at most
PREFETCH = True  # read the next batch in a background thread (False: all in the caller's thread)
MIME_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def iso(value: datetime | str | None) -> str | None:
    """UTC ISO 8601 with microseconds and a Z; naive values (SQLite) are UTC.

    On SQLite the stored text ("2026-01-02 03:04:05.123456", always UTC) is turned into ISO form by string
    slicing: several times cheaper per row than SQLAlchemy building a datetime and us formatting it.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        if value.utcoffset():
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _loads(raw: Any, _loads: Any = orjson.loads) -> Any:
    if raw is None:
        return None
    return _loads(raw) if raw.__class__ is str or raw.__class__ is bytes else raw


def _json_text(column: Any) -> Any:
    # The raw JSON text, decoded by orjson here: several times faster than the JSON type's json.loads.
    return cast(column, Text)


def blob_url(blobs: BlobStore, key: str) -> str:
    """Where an image lives in the blob store, as a URL another tool can fetch."""
    if isinstance(blobs, S3BlobStore):
        return f"s3://{blobs.bucket}/{blobs.prefix}{key}"
    if isinstance(blobs, LocalBlobStore):
        return (blobs.root / key[:2] / key).resolve().as_uri()
    return key


def export_schema(*, session: Session, dataset_id: int) -> tuple[dict[str, Any], Schema]:
    """The ontology JSON for the export header (deleted classes included, marked) and its lookups."""
    ontology = export_ontology(session=session, dataset_id=dataset_id, include_deleted=True)
    return ontology, Schema.from_ontology(ontology)


class _Names:
    """Id → name maps for users, classes and classifications (deleted ones included)."""

    def __init__(self, session: Session, dataset_id: int) -> None:
        self.users = dict(session.execute(select(User.id, User.username)).all())
        self.classes = dict(
            session.execute(
                select(OntologyClass.id, OntologyClass.name).where(OntologyClass.dataset_id == dataset_id)
            ).all()
        )
        self.questions = {
            str(qid): name
            for qid, name in session.execute(
                select(Classification.id, Classification.name).where(Classification.dataset_id == dataset_id)
            )
        }


@dataclass(frozen=True)
class BlobAddress:
    """blob_url without the blob store object (a worker process cannot be handed an S3 client)."""

    kind: str  # "s3" | "local"
    base: str  # "s3://bucket/prefix" or the local folder

    @classmethod
    def of(cls, blobs: BlobStore) -> BlobAddress | None:
        if isinstance(blobs, S3BlobStore):
            return cls("s3", f"s3://{blobs.bucket}/{blobs.prefix}")
        if isinstance(blobs, LocalBlobStore):
            return cls("local", str(blobs.root))
        return None

    def url(self, key: str) -> str:
        if self.kind == "s3":
            return self.base + key
        return (Path(self.base) / key[:2] / key).resolve().as_uri()


class Images:
    """Asset ids → the refs written into records; remembers which assets the export references."""

    def __init__(
        self, session: Session, mode: str, blobs: BlobStore | None, address: BlobAddress | None = None
    ) -> None:
        self.session, self.mode, self.blobs, self.address = session, mode, blobs, address
        self.used: dict[str, str] = {}  # asset id → name inside the export
        self.lock = threading.Lock()  # the session's connection is shared with the export's reader thread

    def ref(self, asset_id: str) -> str:
        name = self.used.get(asset_id)
        if name is None:
            with self.lock:
                mime = self.session.execute(select(Asset.mime).where(Asset.id == asset_id)).scalar()
            name = f"images/{asset_id}.{MIME_EXT.get(mime or '', 'bin')}"
            self.used[asset_id] = name
        if self.mode == "urls":
            if self.address is not None:
                return self.address.url(asset_id)
            return blob_url(self.blobs or get_blob_store(), asset_id)
        return name

    def resolve(self, parts: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        parts = parts or []
        for part in parts:
            if part.get("images"):
                part["images"] = [self.ref(str(a)) for a in part["images"]]
        return parts


def _parts(raw: Any, images: Images) -> list[dict[str, Any]]:
    """Messages or candidates from their stored JSON, image asset ids replaced by export refs."""
    parts = _loads(raw) or []
    # Most dialogues have no images: skip the walk when the text cannot hold any.
    if raw.__class__ is not str or '"images"' in raw:
        images.resolve(parts)
    return parts


def _work_results(work: dict[str, Any], names: _Names) -> list[dict[str, Any]]:
    out = []
    for r in work.get("results") or []:
        name = names.classes.get(int(r.get("class_id", 0)))
        if name is not None:
            out.append({**r, "class": name})
    return out


def _results_json(dialect: str) -> Any:
    """A correlated subquery: one annotation's results as a JSON array text, each result already in the
    export item's shape ({"class", "message", "candidate", "values", "text", "role", "source_text"}, class
    by name, a deleted class under its old name), in result id order. The database builds it in C, so an
    annotation comes back as one row and one orjson.loads instead of a row and a dict per result."""
    name = func.coalesce(OntologyClass.name, literal_column("'class'").concat(cast(Result.class_id, Text)))
    sqlite = dialect == "sqlite"
    # SQLite stores JSON as text: json() hands it over as JSON (not as a string); PostgreSQL's is typed.
    fields = {
        "class": name, "message": Result.message_index, "candidate": Result.candidate_index,
        "values": func.json(Result.values) if sqlite else Result.values, "text": Result.text,
        "role": Result.role, "source_text": Result.source_text,
    }  # fmt: skip
    args = [part for key, value in fields.items() for part in (literal_column(f"'{key}'"), value)]
    if sqlite:
        # SQLite 3.40 has no ORDER BY inside an aggregate; the lookup walks ix_result_annotation_id, whose
        # entries for one annotation are in id order. (Writers do not depend on it: they sort results.)
        return (
            select(func.json_group_array(func.json_object(*args)))
            .select_from(Result)
            .outerjoin(OntologyClass, OntologyClass.id == Result.class_id)
            .where(Result.annotation_id == Annotation.id)
            .scalar_subquery()
        )
    return (
        select(cast(func.json_agg(aggregate_order_by(func.json_build_object(*args), Result.id)), Text))
        .select_from(Result)
        .outerjoin(OntologyClass, OntologyClass.id == Result.class_id)
        .where(Result.annotation_id == Annotation.id)
        .scalar_subquery()
    )


@dataclass
class _Batch:
    """One batch's raw rows, as the database returned them (converted to export items by the caller)."""

    items: list[Any]
    annotations: list[Any]
    drafts: dict[int, Any]  # annotation id → draft JSON text, for annotations never saved
    suggestions: list[Any]
    last: tuple[int, int]
    history: list[Any] = field(default_factory=list)


class _Reader:
    """The SQL of one export: the batches of items, annotations (results aggregated) and suggestions.

    Every statement runs under `lock`: batches are read in a background thread while the caller turns the
    previous batch into records, and the caller's own statements on the same connection (image lookups)
    take the same lock.
    """

    def __init__(
        self,
        session: Session,
        dataset_id: int,
        with_suggestions: bool,
        lock: threading.Lock,
        until: tuple[int, int] | None = None,
        with_history: bool = False,
        restricted: list[Any] | None = None,
    ) -> None:
        self.conn = session.connection()
        self.dataset_id, self.with_suggestions, self.lock = dataset_id, with_suggestions, lock
        self.with_history = with_history
        dialect = self.conn.dialect.name
        self.content = select(
            Item.id, Item.external_id, Item.name, Item.position,
            Item.messages, Item.candidates, _json_text(Item.meta),  # dialogues: decompressed by ZJson
        ).where(Item.dataset_id == dataset_id)  # fmt: skip
        if restricted:  # an item filter: its items only (their annotations are found by the batch's range)
            self.content = self.content.where(*restricted)
        if until is not None:  # a chunk (store/export_worker.py): items up to this key, inclusive
            self.content = self.content.where(tuple_(Item.position, Item.id) <= tuple_(*until))
        stamp = (lambda col: cast(col, Text)) if dialect == "sqlite" else (lambda col: col)  # see iso()
        self.annotations = select(
            Annotation.id, Annotation.item_id, Annotation.annotator_id, Annotation.status, Annotation.validity,
            Annotation.invalid_reason, _json_text(Annotation.classifications), stamp(Annotation.updated_at),
            stamp(Annotation.submitted_at), _results_json(dialect), *review_columns(stamp),
        )  # fmt: skip
        self.stamp = stamp

    def batch(self, after: tuple[int, int] | None) -> _Batch | None:
        """The BATCH items after key `after` (position, id) with their annotations, or None at the end."""
        with self.lock:
            query = self.content
            if after is not None:
                query = query.where(tuple_(Item.position, Item.id) > tuple_(*after))
            rows = self.conn.execute(query.order_by(Item.position, Item.id).limit(BATCH)).all()
            if not rows:
                return None
            first, last = (rows[0][3], rows[0][0]), (rows[-1][3], rows[-1][0])
            # The batch as a key range (a few bound values, unlike an IN list of a thousand ids to render).
            # Annotations are reached through it by item_id, so both databases walk the batch's own rows;
            # the filters are applied by the caller in Python (a status index would otherwise lead SQLite
            # to scan every annotation of the dataset for each batch).
            batch_items = (
                select(Item.id)
                .where(
                    Item.dataset_id == self.dataset_id,
                    tuple_(Item.position, Item.id) >= tuple_(*first),
                    tuple_(Item.position, Item.id) <= tuple_(*last),
                )
                .scalar_subquery()
            )
            annotations = self.conn.execute(
                self.annotations.where(Annotation.item_id.in_(batch_items)).order_by(Annotation.id)
            ).all()
            draft_ids = [row[0] for row in annotations if row[3] == "draft"]
            drafts = (
                dict(
                    self.conn.execute(
                        select(Annotation.id, _json_text(Annotation.draft)).where(
                            Annotation.id.in_(draft_ids)
                        )
                    ).all()
                )
                if draft_ids
                else {}
            )
            suggestions = (
                self.conn.execute(
                    select(
                        Suggestion.item_id, Suggestion.kind, Suggestion.target, _json_text(Suggestion.value),
                        Suggestion.score, Suggestion.agent,
                    )
                    .where(Suggestion.item_id.in_(batch_items))
                    .order_by(Suggestion.item_id, Suggestion.id)
                ).all()
                if self.with_suggestions
                else []
            )  # fmt: skip
            history = (
                self.conn.execute(history_query(self.dataset_id, batch_items, self.stamp)).all()
                if self.with_history
                else []
            )
        return _Batch(rows, annotations, drafts, suggestions, last, history)


def _prefetched(reader: _Reader, after: tuple[int, int] | None = None) -> Iterator[_Batch]:
    """The reader's batches after key `after`, the next one read in a background thread while the caller
    works on this one (the database's work and the driver's waits release the GIL, so the two overlap)."""
    if not PREFETCH:
        batch = reader.batch(after)
        while batch is not None:
            yield batch
            batch = reader.batch(batch.last)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="parley-export") as pool:
        pending = pool.submit(reader.batch, after)
        try:
            while True:
                batch = pending.result()
                if batch is None:
                    return
                pending = pool.submit(reader.batch, batch.last)
                yield batch
        finally:
            # Closed early (a preview has its records): let the read in flight end before the session is
            # used again.
            with contextlib.suppress(Exception):
                pending.result()


def iter_export_items(
    *,
    session: Session,
    dataset_id: int,
    filters: ExportFilters,
    schema: Schema,
    images: Images,
    all_items: bool,
    with_suggestions: bool,
    stats: dict[str, int] | None = None,
    after: tuple[int, int] | None = None,
    until: tuple[int, int] | None = None,
    native: bool = False,
) -> Iterator[dict[str, Any]]:
    """Export items (core/export/common.py shape) in position order, one batch in memory at a time; only
    those with key (position, id) after `after` and up to `until` when given (a chunk of the export).
    `native`: final answers ride beside the annotators' work, and each item carries its history.

    Each batch is two Core statements on the session's connection (no ORM row objects): the next BATCH
    items (keyset on position, id), then their annotations, each with its results aggregated into one
    JSON array by the database (_results_json); the next batch is read while this one is exported. Every
    item is exported for native, the annotated ones otherwise. Do not use the session until the iterator
    is exhausted or closed.
    """
    stats = stats if stats is not None else {}
    names = _Names(session, dataset_id)
    selected = user_ids(session, filters)
    statuses = set(STATUS_FILTERS[filters.status])
    plain = filters.validity == "all" and selected is None and not (filters.date_from or filters.date_to)
    keep = None if plain else annotation_check(filters, selected)  # None: the status is the only filter
    users, questions = names.users, names.questions
    loads = orjson.loads
    agree_only = filters.agree_only
    want_final, finals_too = filters.final, native and not filters.final
    only = set(filters.annotators) if filters.annotators else None
    restricted = item_restriction(session, dataset_id, filters)
    reader = _Reader(
        session, dataset_id, with_suggestions, images.lock, until, with_history=native, restricted=restricted
    )
    for batch in _prefetched(reader, after):
        anns: dict[int, list[dict[str, Any]]] = {}
        for row in batch.annotations:
            aid, item_id, user_id, status, validity, reason, answers, updated, submitted, results = row[:10]
            if bool(row[10]) != want_final and not (finals_too and row[10]):
                continue
            if status not in statuses if keep is None else not keep(status, validity, user_id, updated):
                continue
            answers = loads(answers) if answers and answers != "{}" else {}
            ann = {
                "annotator": users.get(user_id) or f"user{user_id}",
                "status": status,
                "validity": validity,
                "invalid_reason": reason or "",
                "classifications": {questions[k]: v for k, v in answers.items() if k in questions},
                "results": loads(results) if results else [],
                "updated_at": iso(updated),
                "submitted_at": iso(submitted),
            }
            if status == "draft":
                # Never saved: its work lives only in the server-side draft.
                draft = _loads(batch.drafts.get(aid))
                if draft:
                    ann["validity"] = draft.get("validity", ann["validity"])
                    ann["invalid_reason"] = draft.get("invalid_reason", ann["invalid_reason"])
                    answers = draft.get("classifications") or {}
                    ann["classifications"] = {questions[k]: v for k, v in answers.items() if k in questions}
                    ann["results"] = _work_results(draft, names)
            if any(row[10:15]) or row[16] not in (None, "null") or row[17]:  # review_columns()
                ann.update(review_fields(row[10:], names, iso))
            if item_id in anns:
                anns[item_id].append(ann)
            else:
                anns[item_id] = [ann]
        suggestions: dict[int, list[dict[str, Any]]] = {}
        for item_id, kind, target, value, score, agent in batch.suggestions:
            s: dict[str, Any] = {"kind": kind}
            if target is not None:
                s["target"] = target
            s["value"] = _loads(value)
            if score is not None:
                s["score"] = score
            if agent:
                s["agent"] = agent
            suggestions.setdefault(item_id, []).append(s)
        history = history_entries(batch.history, names, iso, only) if batch.history else {}
        for item_id, ext, name, position, messages, candidates, meta in batch.items:
            item_anns = anns.get(item_id)
            if item_anns is None:
                if not all_items:
                    continue
                item_anns = []
            if agree_only and not annotators_agree([a for a in item_anns if not a.get("final")], schema):
                stats["disagreeing_items"] = stats.get("disagreeing_items", 0) + 1
                continue
            yield {
                "id": ext,
                "name": name or "",
                "position": position,
                "messages": _parts(messages, images),
                "candidates": _parts(candidates, images),
                "meta": loads(meta) if meta and meta != "{}" else {},
                "suggestions": suggestions.get(item_id, []),
                "annotations": item_anns,
                "history": history.get(item_id, []),
            }
