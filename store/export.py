"""Export a dataset's results: streaming reads with filters, images by name or URL, files with a manifest.

Reads go item batch by item batch (keyset on position, id): the batch's items, then their annotations with
each one's results aggregated into one JSON array by the database, decoded by orjson; the next batch is
read in a background thread meanwhile. An export of any size holds two batches in memory, and its lines
are written in large joined chunks (core/export turns items into records or ready JSONL lines).

A JSONL export of PARALLEL_MIN_ITEMS items or more, read from a database another process can open (a SQLite
file or PostgreSQL, not in-memory SQLite), is rendered by two processes (_write_parallel): the dataset is cut
into keyset chunks of CHUNK items, a worker process (a fresh interpreter, started per export) renders some
chunks on its own connection into spool files while this process renders the others, and the chunks are
copied into the file strictly in order: the same bytes as one process. The worker reads committed data on
its own connection: an item changed while the export runs is exported as it was either before or after the
change (each item once). CSV/XLSX, in-memory databases, sessions bound to one connection or holding unflushed
changes, and image URLs of a custom blob store export in one process.

Choices, stated once:
- Status filter: "submitted" (default: submitted work, reviewer-accepted work included: it was submitted),
  "accepted" (accepted by a reviewer only), "saved" (saved, submitted and accepted), "all" (drafts and
  rejected work too; an annotation that was never saved is exported from its server-side draft).
- Final answers (an item's adjudicated annotation, store/team/adjudicate.py) are never mixed into the
  annotators' work: `final` exports them alone (one per item that has one); otherwise only the native
  format carries them (marked "final": true), beside the annotators' work.
- Native also carries review state, a fix's original work, active seconds and each item's history
  (store/export_team.py; the history whatever the status filter, so a dataset moves whole).
- Date range: on the annotation's last change (`updated_at`), both ends inclusive, UTC days.
- Training formats (sft, dpo, kto) learn only from valid annotations; the validity filter applies on top.
- "Only items where annotators agree": at least two annotations, with the same judgements
  (core/export/agreement.py).
- Native exports every item of the dataset (so it re-imports whole), with the annotations the filters keep;
  the other formats read only items that have such annotations.
- Results of deleted classes are kept under the class's old name (store/ontology.py), and the native header
  lists deleted classes with "deleted": true so they re-import whole.
- Images: "zip" puts each referenced image into the export as `images/<sha256>.<ext>` (names made here from
  the asset id, never paths from the data: CVE-2025-25295); "urls" writes the blob store's address instead
  (`s3://bucket/key` on S3, a `file://` URI for a local folder).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import tomllib
import traceback
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Engine, Text, cast, false, func, literal_column, select, true, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import Session

from core.export import FORMATS, PAIR_MODES, Options, Schema, jsonl_lines, native_header, requirement_problem
from core.export.agreement import annotators_agree
from core.export.manifest import manifest
from core.export.table import CsvWriter, XlsxWriter, columns
from store.blobs import BlobStore, LocalBlobStore, S3BlobStore, get_blob_store
from store.errors import InputError
from store.export_team import history_entries, history_query, review_columns, review_fields
from store.filters import conditions as filter_conditions
from store.filters import parse as parse_filter
from store.models import (
    Annotation,
    Asset,
    Classification,
    Dataset,
    Item,
    OntologyClass,
    Result,
    Suggestion,
    User,
)
from store.ontology import export_ontology

STATUS_FILTERS = {
    "submitted": ("submitted", "accepted"),
    "accepted": ("accepted",),
    "saved": ("saved", "submitted", "accepted"),
    "all": ("draft", "saved", "submitted", "accepted", "rejected"),
}
VALIDITY_FILTERS = ("all", "valid", "invalid")
IMAGE_MODES = ("zip", "urls")
BATCH = 2000  # items a batch: a few MB of rows in memory, two batches at most
PREFETCH = True  # read the next batch in a background thread (False: all in the caller's thread)
MIME_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_JSONL = orjson.OPT_APPEND_NEWLINE


@dataclass
class ExportFilters:
    status: str = "submitted"
    annotators: list[str] = field(default_factory=list)  # usernames; empty = everyone
    date_from: date | None = None
    date_to: date | None = None
    validity: str = "all"
    agree_only: bool = False
    final: bool = False  # the items' final (adjudicated) answers instead of the annotators' work
    # an item filter (core/filters.py ItemFilter.to_dict()): only the items it selects
    items: dict[str, Any] | None = None

    def check(self) -> None:
        if self.items:
            parse_filter(self.items)
        if self.status not in STATUS_FILTERS:
            raise InputError(f"status {self.status!r}: choose {', '.join(STATUS_FILTERS)}")
        if self.validity not in VALIDITY_FILTERS:
            raise InputError(f"validity {self.validity!r}: choose all, valid or invalid")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InputError(f"date range: {self.date_from} is after {self.date_to}")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["date_from"] = self.date_from.isoformat() if self.date_from else None
        out["date_to"] = self.date_to.isoformat() if self.date_to else None
        return out


@dataclass
class ExportSummary:
    dataset: str
    format: str
    files: list[str]
    counts: dict[str, int]
    annotators: list[str]
    manifest: dict[str, Any]
    worker_chunks: int = 0  # chunks a worker process rendered (_write_parallel); 0 when one process did all
    worker_peak_rss_kb: int = 0


@cache
def app_version() -> str:
    try:
        data = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
        return str(data.get("project", {}).get("version", "unknown"))
    except (OSError, tomllib.TOMLDecodeError):
        return "unknown"


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


def _naive_utc(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


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


# ---------------------------------------------------------------- reading


def export_schema(*, session: Session, dataset_id: int) -> tuple[dict[str, Any], Schema]:
    """The ontology JSON for the export header (deleted classes included, marked) and its lookups."""
    ontology = export_ontology(session=session, dataset_id=dataset_id, include_deleted=True)
    return ontology, Schema.from_ontology(ontology)


def item_restriction(session: Session, dataset_id: int, filters: ExportFilters) -> list[Any]:
    """Conditions on Item for the filters' item filter (none without one)."""
    if not filters.items:
        return []
    return filter_conditions(session=session, dataset_id=dataset_id, flt=parse_filter(filters.items))


def annotation_filter(
    dataset_id: int, filters: ExportFilters, user_ids: list[int] | None, session: Session | None = None
) -> list[Any]:
    """Conditions on Annotation for the filters (an item filter needs the `session` it reads names with)."""
    where = [
        Annotation.dataset_id == dataset_id,
        Annotation.status.in_(STATUS_FILTERS[filters.status]),
        Annotation.final == (true() if filters.final else false()),
    ]
    if filters.items:
        if session is None:
            raise ValueError("annotation_filter: an item filter needs the session")
        items = select(Item.id).where(
            Item.dataset_id == dataset_id, *item_restriction(session, dataset_id, filters)
        )
        where.append(Annotation.item_id.in_(items))
    if user_ids is not None:
        where.append(Annotation.annotator_id.in_(user_ids))
    if filters.validity != "all":
        where.append(Annotation.validity == filters.validity)
    if filters.date_from:
        where.append(Annotation.updated_at >= datetime.combine(filters.date_from, time.min, UTC))
    if filters.date_to:
        where.append(
            Annotation.updated_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, UTC)
        )
    return where


def _annotation_check(filters: ExportFilters, user_ids: list[int] | None) -> Callable[..., bool]:
    """The same filters as annotation_filter, as a test on one row (status, validity, annotator, updated)."""
    statuses = set(STATUS_FILTERS[filters.status])
    users = set(user_ids) if user_ids is not None else None
    validity = None if filters.validity == "all" else filters.validity
    low = datetime.combine(filters.date_from, time.min) if filters.date_from else None
    high = datetime.combine(filters.date_to + timedelta(days=1), time.min) if filters.date_to else None

    def keep(status: str, valid: str, user_id: int, updated: datetime | str | None) -> bool:
        if (
            status not in statuses
            or (validity and valid != validity)
            or (users is not None and user_id not in users)
        ):
            return False
        if low or high:
            naive = _naive_utc(updated)
            if naive is None or (low and naive < low) or (high and naive >= high):
                return False
        return True

    return keep


def user_ids(session: Session, filters: ExportFilters) -> list[int] | None:
    if not filters.annotators:
        return None
    rows = session.execute(select(User.id, User.username).where(User.username.in_(filters.annotators))).all()
    unknown = sorted(set(filters.annotators) - {name for _, name in rows})
    if unknown:
        raise InputError(f"annotators: no user named {', '.join(map(repr, unknown))}")
    return [uid for uid, _ in rows]


def count_selection(*, session: Session, dataset_id: int, filters: ExportFilters) -> dict[str, int]:
    """How many annotations and items the filters select (before format rules and agreement)."""
    where = annotation_filter(dataset_id, filters, user_ids(session, filters), session)
    annotations, items = session.execute(
        select(func.count(Annotation.id), func.count(func.distinct(Annotation.item_id))).where(*where)
    ).one()
    restricted = item_restriction(session, dataset_id, filters)
    total = session.execute(
        select(func.count(Item.id)).where(Item.dataset_id == dataset_id, *restricted)
    ).scalar_one()
    return {"annotations": annotations, "annotated_items": items, "items": total}


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
class _BlobAddress:
    """blob_url without the blob store object (a worker process cannot be handed an S3 client)."""

    kind: str  # "s3" | "local"
    base: str  # "s3://bucket/prefix" or the local folder

    @classmethod
    def of(cls, blobs: BlobStore) -> _BlobAddress | None:
        if isinstance(blobs, S3BlobStore):
            return cls("s3", f"s3://{blobs.bucket}/{blobs.prefix}")
        if isinstance(blobs, LocalBlobStore):
            return cls("local", str(blobs.root))
        return None

    def url(self, key: str) -> str:
        if self.kind == "s3":
            return self.base + key
        return (Path(self.base) / key[:2] / key).resolve().as_uri()


class _Images:
    """Asset ids → the refs written into records; remembers which assets the export references."""

    def __init__(
        self, session: Session, mode: str, blobs: BlobStore | None, address: _BlobAddress | None = None
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


def _parts(raw: Any, images: _Images) -> list[dict[str, Any]]:
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
        if until is not None:  # a chunk of the export (_write_parallel): items up to this key, inclusive
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
    images: _Images,
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
    keep = None if plain else _annotation_check(filters, selected)  # None: the status is the only filter
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


# ---------------------------------------------------------------- writing


def _problem(
    session: Session, dataset: Dataset, fmt: str, filters: ExportFilters, schema: Schema
) -> dict[str, int]:
    problem = requirement_problem(fmt, schema)
    if problem:
        raise InputError(problem)
    filters.check()
    counts = count_selection(session=session, dataset_id=dataset.id, filters=filters)
    if fmt == "native" and counts["items"] == 0:
        raise InputError(f"dataset {dataset.name!r} has no items to export")
    if fmt != "native" and counts["annotations"] == 0 and filters.final:
        raise InputError(
            f"nothing to export: no item of {dataset.name!r} has a final answer that matches the filters "
            "(adjudicate items on the Review page)"
        )
    if fmt != "native" and counts["annotations"] == 0:
        raise InputError(
            f"nothing to export: no {filters.status if filters.status != 'all' else ''} annotations in "
            f"{dataset.name!r} match the filters".replace("  ", " ")
        )
    return counts


def preview(
    *,
    session: Session,
    dataset: Dataset,
    fmt: str,
    filters: ExportFilters,
    options: Options | None = None,
    limit: int = 5,
    image_mode: str = "urls",
    max_items: int = 5000,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The first `limit` records of the export (looking at up to `max_items` items) and the selection's counts;
    InputError when it cannot be made."""
    ontology, schema = export_schema(session=session, dataset_id=dataset.id)
    _problem(session, dataset, fmt, filters, schema)
    options = options or Options()
    spec = FORMATS[fmt]
    out: list[dict[str, Any]] = [native_header(ontology)] if fmt == "native" else []
    items = iter_export_items(
        session=session, dataset_id=dataset.id, filters=filters, schema=schema,
        images=_Images(session, image_mode, None), all_items=fmt == "native", with_suggestions=fmt == "native",
        native=fmt == "native",
    )  # fmt: skip
    with contextlib.closing(items):  # the reader thread is done before the session counts
        for seen, item in enumerate(items, 1):
            out.extend(spec.records(item, schema, options))
            if len(out) >= limit or seen >= max_items:
                break
    return out[:limit], count_selection(session=session, dataset_id=dataset.id, filters=filters)


def _data_name(dataset: Dataset, fmt: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in dataset.name)[:80] or "dataset"
    return f"{safe}.{fmt}.{FORMATS[fmt].extension}"


def _write_table(fmt: str, rows: Iterator[dict[str, Any]], fh: IO[bytes], schema: Schema, path: str) -> int:
    """Write spreadsheet rows to `fh` (CSV) or `path` (XLSX); returns how many."""
    count = 0
    header = columns(schema)
    if fmt == "csv":
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
        writer: Any = CsvWriter(text, header)
    else:
        writer = XlsxWriter(path, header)
    for row in rows:
        writer.write(row)
        count += 1
    writer.close()
    if fmt == "csv":
        text.flush()
        text.detach()
    return count


CHUNK_LINES = 2048  # lines joined into one write (a write per line costs more than making the line)


def _write_jsonl(lines: Iterator[Iterable[bytes]], fh: IO[bytes]) -> int:
    """Write each item's JSONL lines, joined into large chunks; returns how many lines."""
    count = 0
    chunk: list[bytes] = []
    for made in lines:
        if made:
            chunk += made
            if len(chunk) >= CHUNK_LINES:
                count += len(chunk)
                fh.write(b"".join(chunk))
                chunk = []
    count += len(chunk)
    fh.write(b"".join(chunk))
    return count


# ---------------------------------------------------------------- a second process

WORKERS = 1  # worker processes rendering chunks beside the caller (0: everything in the caller's process)
PARALLEL_MIN_ITEMS = 5000  # below this a worker's start-up (a fresh interpreter's imports) outweighs it
CHUNK = 4000  # items a chunk: two reader batches, so the second is prefetched while the first renders
AHEAD = 16  # chunks rendered ahead of the one being waited for (spooled to files) before the caller waits
QUEUED = 3  # chunks given to a worker at a time: it never waits for this process to hand it the next


@dataclass(frozen=True)
class _Job:
    """What a worker process needs to render chunks of one JSONL export (picklable: no session, no S3
    client)."""

    url: str
    dataset_id: int
    fmt: str
    filters: ExportFilters
    options: Options
    schema: Schema
    image_mode: str
    address: _BlobAddress | None


@dataclass
class _Chunk:
    """What the summary and manifest need from one written chunk, and the spool file holding its lines
    when they wait to be copied into the export in order."""

    lines: int
    stats: dict[str, int]
    annotators: set[str]
    images: dict[str, str]
    peak_rss_kb: int = 0
    path: str | None = None


def _tally(item: dict[str, Any], stats: dict[str, int], add: Callable[[str], None]) -> None:
    """Count an exported item and its annotations for the manifest, and note its annotators."""
    stats["items"] += 1
    anns = item["annotations"]
    if anns:
        stats["annotations"] += len(anns)
        for ann in anns:
            add(ann["annotator"])


def _render_chunk(
    session: Session,
    job: _Job,
    after: tuple[int, int] | None,
    until: tuple[int, int] | None,
    images: _Images,
    fh: IO[bytes],
) -> _Chunk:
    """Write the JSONL lines of the items with key in (after, until] to `fh`: the same lines, in the same
    order, as the one-process export writes for them."""
    stats = {"items": 0, "annotations": 0}
    annotators: set[str] = set()
    add = annotators.add
    out: list[bytes] = []
    written = 0
    lines, schema, options = jsonl_lines(job.fmt), job.schema, job.options
    found = iter_export_items(
        session=session, dataset_id=job.dataset_id, filters=job.filters, schema=schema, images=images,
        all_items=job.fmt == "native", with_suggestions=job.fmt == "native", stats=stats, after=after,
        until=until, native=job.fmt == "native",
    )  # fmt: skip
    for item in found:
        _tally(item, stats, add)
        made = lines(item, schema, options)
        if made:
            out += made
            if len(out) >= CHUNK_LINES:
                written += len(out)
                fh.write(b"".join(out))
                out = []
    fh.write(b"".join(out))
    return _Chunk(written + len(out), stats, annotators, dict(images.used))


_WORKER_ENGINES: dict[str, Any] = {}  # in a worker process: its engine, made on its first chunk


def _worker_chunk(
    job: _Job, after: tuple[int, int] | None, until: tuple[int, int] | None, path: str
) -> _Chunk:
    """Runs in the worker process: one chunk, read on the worker's own connection, written to the spool
    file `path` (the caller copies it into the export: no lines go through the pipe or its memory)."""
    import resource

    from store.db import make_engine, read_session

    engine = _WORKER_ENGINES.get(job.url)
    if engine is None:
        engine = _WORKER_ENGINES[job.url] = make_engine(job.url)
    gc_was_on = gc.isenabled()
    gc.disable()  # as in write_export: the records hold no cycles
    try:
        with read_session(engine) as session, open(path, "wb", buffering=1 << 20) as fh:
            chunk = _render_chunk(
                session, job, after, until, _Images(session, job.image_mode, None, job.address), fh
            )
        chunk.path = path
    finally:
        if gc_was_on:
            gc.enable()
    chunk.peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return chunk


def _worker_main() -> None:
    """A worker process's loop: (job, after, until) pickles in on stdin, ("ok", _Chunk) or ("error",
    traceback) pickles out on stdout, until stdin closes."""
    jobs, results = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the result stream
    while True:
        try:
            job, after, until, path = pickle.load(jobs)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", _worker_chunk(job, after, until, path))
        except BaseException:  # reported to the caller, which raises it
            answer = ("error", traceback.format_exc())
        pickle.dump(answer, results, protocol=pickle.HIGHEST_PROTOCOL)
        results.flush()


class _Worker:
    """A worker process (`python -c ... _worker_main()`: a fresh interpreter that imports only the store,
    never a fork of the caller, which may be the threaded Streamlit server, and never a re-import of the
    caller's __main__ as multiprocessing's spawn does). Chunks are answered in the order submitted."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        code = (
            f"import sys; sys.path.insert(0, {root!r}); from store.export import _worker_main; _worker_main()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.waiting: deque[Future[_Chunk]] = deque()
        self.reader = threading.Thread(target=self._read, name="parley-export-worker", daemon=True)
        self.reader.start()

    def submit(self, job: _Job, after: Any, until: Any, path: str) -> Future[_Chunk]:
        future: Future[_Chunk] = Future()
        self.waiting.append(future)  # before the job is sent: the reader thread pairs answers in this order
        assert self.proc.stdin is not None
        pickle.dump((job, after, until, path), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.flush()
        return future

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                kind, value = pickle.load(self.proc.stdout)
            except Exception:  # EOF: the worker ended (closed, or died)
                while self.waiting:
                    self.waiting.popleft().set_exception(
                        RuntimeError("the export worker process ended early")
                    )
                return
            future = self.waiting.popleft()
            if kind == "ok":
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(f"export worker failed:\n{value}"))

    def close(self, abort: bool = False) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        if abort:
            self.proc.kill()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join()


def _worker_url(session: Session) -> str | None:
    """The database URL a worker process can open to read what `session` reads, or None (an in-memory
    SQLite database, or a session with changes of its own that another connection would not see)."""
    bind = session.get_bind()
    # A session on a connection of its own (write_session) may have written what others cannot see yet.
    if not isinstance(bind, Engine) or session.new or session.dirty or session.deleted:
        return None
    url = bind.url
    if url.get_backend_name() == "sqlite":
        name = url.database
        if not name or name == ":memory:" or name.startswith("file:") or "mode=memory" in str(url):
            return None
        url = url.set(database=str(Path(name).resolve()))
    return url.render_as_string(hide_password=False)


def _chunk_keys(session: Session, dataset_id: int, size: int) -> Iterator[tuple[Any, Any]]:
    """(after, until) item keys splitting the dataset into chunks of `size` items in export order; the last
    chunk runs to the end (until None). One index walk per chunk, made when the chunk is taken."""
    conn = session.connection()
    after: tuple[int, int] | None = None
    while True:
        query = select(Item.position, Item.id).where(Item.dataset_id == dataset_id)
        if after is not None:
            query = query.where(tuple_(Item.position, Item.id) > tuple_(*after))
        row = conn.execute(query.order_by(Item.position, Item.id).offset(size - 1).limit(1)).first()
        until = (row[0], row[1]) if row is not None else None
        yield after, until
        if until is None:
            return
        after = until


def _copy_into(fh: IO[bytes], path: str) -> None:
    """Append the file at `path` to `fh` (by the kernel where it can) and remove it."""
    fh.flush()
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        sent = 0
        try:
            while sent < size:
                done = os.sendfile(fh.fileno(), src.fileno(), sent, size - sent)
                if done == 0:
                    break
                sent += done
        except OSError:
            if sent:
                raise
            import shutil

            shutil.copyfileobj(src, fh, 1 << 20)
        else:
            # sendfile wrote at the file's position without the Python file object knowing; keep them agreed.
            fh.seek(0, os.SEEK_END)
    os.unlink(path)


def _write_parallel(
    session: Session,
    job: _Job,
    images: _Images,
    fh: IO[bytes],
    progress: Callable[[int], None] | None,
    spool: Path,
) -> tuple[int, dict[str, int], set[str], int, int]:
    """Write the export's JSONL lines with a worker process: the dataset goes in chunks of CHUNK items
    (keyset ranges); the worker renders some chunks on its own connection while this process renders
    others, and every chunk is written strictly in order, so the file has the same bytes as a one-process
    export. The worker always has QUEUED chunks to do; this process renders the chunks after them
    meanwhile, into spool files (up to AHEAD chunks) when they must wait for the worker's earlier chunk:
    whichever process is faster renders more, and memory holds one chunk a process whatever the lag.

    Returns (lines, stats, annotators, chunks the workers rendered, their peak RSS in KB). The worker is a
    fresh interpreter (see _Worker); its start-up overlaps this process's first chunks.
    """
    stats: dict[str, int] = {"items": 0, "annotations": 0}
    annotators: set[str] = set()
    count = 0
    worker_rss = worker_chunks = 0
    slots: deque[Future[_Chunk] | _Chunk] = deque()  # chunks in export order, rendered or in the worker
    keys = _chunk_keys(session, job.dataset_id, CHUNK)
    more = True

    def take() -> tuple[Any, Any] | None:
        nonlocal more
        found = next(keys, None)
        if found is None:
            more = False
        return found

    def write(chunk: _Chunk) -> None:
        nonlocal count, worker_rss, worker_chunks
        worker_chunks += chunk.peak_rss_kb > 0  # only a worker's chunk reports its process's RSS
        if chunk.path is not None:
            _copy_into(fh, chunk.path)
        count += chunk.lines
        for key, value in chunk.stats.items():
            stats[key] = stats.get(key, 0) + value
        annotators.update(chunk.annotators)
        images.used.update(chunk.images)
        worker_rss = max(worker_rss, chunk.peak_rss_kb)
        if progress is not None:
            progress(stats["items"])

    workers = [_Worker() for _ in range(WORKERS)]
    turn = 0
    failed = True
    try:
        while True:
            while slots and (not isinstance(slots[0], Future) or slots[0].done()):
                head = slots.popleft()
                write(head.result() if isinstance(head, Future) else head)
            in_worker = sum(1 for slot in slots if isinstance(slot, Future) and not slot.done())
            if more and in_worker < QUEUED * WORKERS:
                found = take()
                if found is not None:
                    path = str(spool / f"chunk-{turn}")
                    slots.append(min(workers, key=lambda w: len(w.waiting)).submit(job, *found, path))
                    turn += 1
                continue
            if more and len(slots) < AHEAD + QUEUED * WORKERS:
                found = take()
                if found is not None:
                    if not slots:  # next in the file: written straight to it
                        write(_render_chunk(session, job, *found, images, fh))
                    else:  # after a worker's chunk: spooled like the worker's, copied in order
                        path = str(spool / f"chunk-{turn}")
                        turn += 1
                        with open(path, "wb", buffering=1 << 20) as out:
                            chunk = _render_chunk(session, job, *found, images, out)
                        chunk.path = path
                        slots.append(chunk)
                continue
            if not slots:
                break
            head = slots.popleft()  # a chunk still in the worker: wait for it
            write(head.result() if isinstance(head, Future) else head)
        failed = False
    finally:
        for worker in workers:
            worker.close(abort=failed)
        for leftover in spool.glob("chunk-*"):  # chunks of a failed export
            with contextlib.suppress(OSError):
                leftover.unlink()
    return count, stats, annotators, worker_chunks, worker_rss


def write_export(
    *,
    session: Session,
    dataset: Dataset,
    fmt: str,
    out: str | Path,
    filters: ExportFilters | None = None,
    options: Options | None = None,
    image_mode: str = "zip",
    blobs: BlobStore | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write the export to `out`: a .zip (data file, manifest.json, images/) or a data file with
    `<out>.manifest.json` (and an `images/` folder) beside it. Nothing is left behind on error.
    """
    filters = filters or ExportFilters()
    options = options or Options()
    if fmt not in FORMATS:
        raise InputError(f"format {fmt!r}: unknown; choose one of {', '.join(FORMATS)}")
    if options.pair_mode not in PAIR_MODES:
        raise InputError(f"pair mode {options.pair_mode!r}: choose all or best")
    if image_mode not in IMAGE_MODES:
        raise InputError(f"images {image_mode!r}: choose zip or urls")
    ontology, schema = export_schema(session=session, dataset_id=dataset.id)
    selection = _problem(session, dataset, fmt, filters, schema)
    out = Path(out)
    as_zip = out.suffix.lower() == ".zip"
    spec = FORMATS[fmt]
    blobs = blobs or get_blob_store()
    images = _Images(session, image_mode, blobs)
    stats: dict[str, int] = {"items": 0, "annotations": 0}
    job = None
    worker_chunks = worker_rss = 0
    url = _worker_url(session) if WORKERS and spec.extension == "jsonl" else None
    address = _BlobAddress.of(blobs)
    if url and selection["items"] >= PARALLEL_MIN_ITEMS and (image_mode == "zip" or address is not None):
        job = _Job(url, dataset.id, fmt, filters, options, schema, image_mode, address)
    annotators: set[str] = set()

    def items() -> Iterator[dict[str, Any]]:
        found = iter_export_items(
            session=session, dataset_id=dataset.id, filters=filters, schema=schema, images=images,
            all_items=fmt == "native", with_suggestions=fmt == "native", stats=stats, native=fmt == "native",
        )  # fmt: skip
        add = annotators.add
        for item in found:
            _tally(item, stats, add)
            if progress is not None and stats["items"] % BATCH == 0:
                progress(stats["items"])
            yield item

    def jsonl() -> Iterator[Iterable[bytes]]:
        if fmt == "native":
            yield [orjson.dumps(native_header(ontology), option=_JSONL)]
        lines = jsonl_lines(fmt)
        for item in items():
            yield lines(item, schema, options)

    def rows() -> Iterator[dict[str, Any]]:
        for item in items():
            yield from spec.records(item, schema, options)

    data_name = _data_name(dataset, fmt) if as_zip else out.name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".parley-export-", dir=out.parent))
    gc_was_on = gc.isenabled()
    try:
        data_path = tmp_dir / data_name
        # The records are trees of fresh dicts without cycles, freed by reference counting; the cyclic
        # collector would only rescan them (about a fifth of the export's time).
        gc.disable()
        try:
            with open(data_path, "wb", buffering=1 << 20) as fh:
                if job is not None:
                    count = 0
                    if fmt == "native":
                        fh.write(orjson.dumps(native_header(ontology), option=_JSONL))
                        count = 1
                    lines, found, names, worker_chunks, worker_rss = _write_parallel(
                        session, job, images, fh, progress, tmp_dir
                    )
                    count += lines
                    for key, value in found.items():
                        stats[key] = stats.get(key, 0) + value
                    annotators.update(names)
                elif spec.extension == "jsonl":
                    count = _write_jsonl(jsonl(), fh)
                else:
                    count = _write_table(fmt, rows(), fh, schema, str(data_path))
        finally:
            if gc_was_on:
                gc.enable()
        if fmt == "native":
            count -= 1  # the header line
        if count == 0 and fmt != "native":
            raise InputError(_why_empty(fmt, stats))
        counts = {**stats, "records": count, "images": len(images.used) if image_mode == "zip" else 0}
        files = [data_name, "manifest.json" if as_zip else f"{out.name}.manifest.json"]
        if image_mode == "zip":
            files += sorted(images.used.values())
        info = manifest(
            dataset=dataset.name, fmt=fmt, filters={**filters.as_dict(), "pair_mode": options.pair_mode,
            "images": image_mode}, ontology=ontology, counts=counts, annotators=sorted(annotators),
            app_version=app_version(), created_at=iso(datetime.now(UTC)) or "", files=files,
        )  # fmt: skip
        manifest_bytes = orjson.dumps(info, option=orjson.OPT_INDENT_2 | _JSONL)
        image_names = images.used if image_mode == "zip" else {}
        if as_zip:
            tmp_zip = tmp_dir / "export.zip"
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                zf.write(data_path, data_name)
                zf.writestr("manifest.json", manifest_bytes)
                for asset_id, name in sorted(image_names.items(), key=lambda kv: kv[1]):
                    zf.writestr(name, blobs.get(asset_id), compress_type=zipfile.ZIP_STORED)
            os.replace(tmp_zip, out)
        else:
            if image_names:
                folder = out.parent / "images"
                folder.mkdir(exist_ok=True)
                for asset_id, name in image_names.items():
                    (out.parent / name).write_bytes(blobs.get(asset_id))
            (tmp_dir / "manifest").write_bytes(manifest_bytes)
            os.replace(data_path, out)
            os.replace(tmp_dir / "manifest", out.parent / files[1])
    finally:
        for leftover in tmp_dir.glob("*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        with contextlib.suppress(OSError):
            tmp_dir.rmdir()
    return ExportSummary(
        dataset=dataset.name,
        format=fmt,
        files=files,
        counts=counts,
        annotators=sorted(annotators),
        manifest=info,
        worker_chunks=worker_chunks,
        worker_peak_rss_kb=worker_rss,
    )


def _why_empty(fmt: str, stats: dict[str, int]) -> str:
    why = {
        "sft": "no valid annotation has a written reply",
        "dpo": "no valid annotation gives a preference pair (ties and invalid items give none)",
        "kto": "no valid annotation gives a per-candidate judgement",
    }.get(fmt, "no records")
    extra = (
        f"; {stats['disagreeing_items']} items left out where annotators disagree"
        if stats.get("disagreeing_items")
        else ""
    )
    return f"nothing to export as {fmt}: {why}{extra}"


def dataset_annotators(*, session: Session, dataset_id: int) -> list[str]:
    """Usernames of everyone with an annotation in the dataset (for the annotator filter)."""
    query = (
        select(User.username)
        .join(Annotation, Annotation.annotator_id == User.id)
        .where(Annotation.dataset_id == dataset_id)
        .distinct()
        .order_by(User.username)
    )
    return list(session.execute(query).scalars())


def export_bytes(
    *,
    dataset_name: str,
    fmt: str,
    filters: ExportFilters,
    options: Options | None = None,
    image_mode: str = "zip",
    as_zip: bool = True,
    user: User | None = None,
    session: Session | None = None,
    blobs: BlobStore | None = None,
) -> bytes:
    """The export as bytes (for a download): the .zip with manifest and images, or the data file alone.

    The data file alone has nowhere to carry image files, so its records always point at images by their
    blob URLs (image_mode "zip" applies to the zip download only). Written to a temporary folder first
    (streaming, bounded memory), then read back once for the browser. `session`/`blobs` default to the
    app's.
    """
    from store import db
    from store.datasets import get_dataset
    from store.team.history import require_reviewer

    if user is not None:  # None: the operator (CLI); annotators never export the team's work
        require_reviewer(user)
    if image_mode not in IMAGE_MODES:
        raise InputError(f"images {image_mode!r}: choose zip or urls")
    if not as_zip:
        image_mode = "urls"
    opened = contextlib.nullcontext(session) if session is not None else db.read_session()
    with tempfile.TemporaryDirectory(prefix="parley-export-") as tmp, opened as reading:
        dataset = get_dataset(session=reading, name=dataset_name, user=user)
        out = Path(tmp) / ("export.zip" if as_zip else _data_name(dataset, fmt))
        write_export(
            session=reading, dataset=dataset, fmt=fmt, out=out, filters=filters, options=options,
            image_mode=image_mode, blobs=blobs,
        )  # fmt: skip
        return out.read_bytes()


def data_file_name(dataset_name: str, fmt: str) -> str:
    """The download name of the data file: `<dataset>.<format>.<ext>`, made safe for a file system."""
    return _data_name(Dataset(name=dataset_name), fmt)
