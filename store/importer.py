"""Import dialogues into a dataset: preview first, then all-or-nothing, streaming, in bulk.

One transaction holds every row an import writes (items, assets, suggestions, the job); on any error it
is rolled back and the blobs this import created are deleted again, so the database and the blob store
are as before. A `kill -9` never commits, and its temp folder is removed by the next import.

A large file on this server (a path, or a URL / S3 object once downloaded) is read and parsed by a parser
child process (store.import_worker) while this process writes; anything else is parsed here, by the same
row-building code. Either way a writer thread runs SQLite while the rows of the next batch are made.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session

from core.dialogue import ParsedItem
from core.errors import FormatError
from store import db, import_worker, search
from store.access import require_admin
from store.blobs import BlobStore, get_blob_store
from store.datasets import create_dataset
from store.errors import InputError
from store.import_images import ImageStore, check_image, delete_blobs, read_image_ref, sweep_now
from store.import_writer import checkpoint_later, insert_items, write_session
from store.models import Dataset, ImportJob, Item, Suggestion, User, utcnow
from store.sources import (
    MB,
    Bundle,
    Limits,
    OpenedFile,
    cleanup_stale_temp,
    forget_fetched,
    kept_download,
    open_source,
    source_label,
)

# A source of at least this many data bytes that a second process can open again (a path on this server)
# is read and parsed by a parser child process while this one writes (store.import_worker).
PARSER_PROCESS_MIN_BYTES = int(float(os.environ.get("PARLEY_IMPORT_PROCESS_MIN_MB", "32")) * MB)


def _formats() -> Any:
    """core.formats (written by another helper); imported late so this module loads without it."""
    return importlib.import_module("core.formats")


def default_options(**kw: Any) -> Any:
    return _formats().ImportOptions(**kw)


@dataclass
class ImportProgress:
    items: int
    bytes_done: int
    bytes_total: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0

    @property
    def fraction(self) -> float:
        return min(0.99, self.bytes_done / self.bytes_total) if self.bytes_total else 0.0


@dataclass
class ImportReport:
    dataset: str
    source: str
    format: str = ""
    data_files: list[str] = field(default_factory=list)
    items: int = 0
    messages: int = 0
    candidates: int = 0
    images: int = 0  # distinct images the imported items show
    images_new: int = 0  # of which were not stored before
    suggestions: int = 0
    annotations: int = 0
    skipped: int = 0  # duplicated ids: within the source or already in the dataset
    skipped_ids: list[str] = field(default_factory=list)
    near_skipped: int = 0  # near duplicates left out (skip_duplicates)
    near_skipped_ids: list[list[Any]] = field(default_factory=list)  # [id, earlier id, similarity], first 50
    bytes: int = 0
    seconds: float = 0.0
    job_id: int | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = (
            f"{self.items} items, {self.messages} messages, {self.candidates} candidates, {self.images} images, "
            f"{self.suggestions} suggestions, {self.skipped} skipped (duplicate ids)"
        )
        if self.near_skipped:
            line += f", {self.near_skipped} skipped as near duplicates"
        return line + (f", {self.annotations} annotations" if self.annotations else "")

    def near_lines(self) -> list[str]:
        """The near duplicates left out, one line each (the first 50): "id ≈ earlier id (similarity)"."""
        return [f"{ext} ≈ {other} ({sim:.2f})" for ext, other, sim in self.near_skipped_ids]


@dataclass
class Preview:
    """What an import would bring, read before anything is written."""

    format: str
    data_files: list[str]
    items: list[ParsedItem]
    count: int
    complete: bool  # False when counting stopped at the time budget ("at least count")
    images: dict[str, bytes] = field(default_factory=dict)  # refs shown in `items` → checked bytes
    ontology: dict[str, Any] | None = None


# ---------------------------------------------------------------- reading


def _read(bundle: Bundle, options: Any) -> Any:
    return import_worker.read(bundle, options)


def _items(reading: Any, label: str) -> Iterator[ParsedItem]:
    try:
        yield from reading.items
    except RecursionError:
        raise InputError(f"{label}: JSON nested too deeply (refused)") from None


def preview_source(
    source: Any,
    options: Any = None,
    *,
    limit: int = 5,
    count_seconds: float = 15.0,
    limits: Limits | None = None,
) -> Preview:
    """The detected format, the first `limit` items (their images checked) and a count; writes nothing."""
    cleanup_stale_temp()
    options = options if options is not None else default_options()
    limits = limits or Limits()
    with open_source(source, limits=limits) as bundle:
        reading = _read(bundle, options)
        first: list[ParsedItem] = []
        count = 0
        complete = True
        deadline = time.monotonic() + count_seconds
        for item in _items(reading, bundle.label):
            if len(first) < limit:
                first.append(item)
            count += 1
            if count % 512 == 0 and time.monotonic() > deadline:
                complete = False
                break
        images: dict[str, bytes] = {}
        for item in first:
            for part in [*item.messages, *item.candidates]:
                for ref in part.get("images") or []:
                    if ref not in images:
                        data = read_image_ref(ref, bundle, label=item.external_id, limits=limits)
                        check_image(data, label=f"{item.external_id}: image {ref!r}")
                        images[ref] = data
        return Preview(
            format=reading.format,
            data_files=list(reading.data_files),
            items=first,
            count=count,
            complete=complete,
            images=images,
            ontology=reading.ontology,
        )


@dataclass
class TableInfo:
    """A spreadsheet source, for the mapping step: its columns, first rows and the guessed mapping."""

    data_file: str
    format: str  # csv | xlsx | xls
    columns: list[str]
    sample: list[dict[str, str]]
    sheets: list[str]
    guess: Any  # core.formats TableMapping


def table_info(source: Any, *, sheet: str | None = None, limits: Limits | None = None) -> TableInfo | None:
    """The mapping step's facts when `source` holds exactly one spreadsheet (CSV/XLSX/XLS), else None."""
    formats = _formats()
    detect = importlib.import_module("core.formats.detect")
    tables = importlib.import_module("core.formats.tables")
    with open_source(source, limits=limits or Limits()) as bundle:
        data = [n for n in bundle.names() if detect.is_data_name(n)]
        if len(data) != 1:
            return None
        fmt = detect.detect_file(bundle, data[0])
        if fmt not in ("csv", "xlsx", "xls"):
            return None
        columns, sample, sheets = tables.table_columns(bundle, data[0], fmt, sheet)
        return TableInfo(data[0], fmt, columns, sample, sheets, formats.guess_mapping(columns, sample))


# ---------------------------------------------------------------- importing


def import_source(
    *,
    user: User | None,
    dataset_name: str,
    source: Any,
    options: Any = None,
    progress: Callable[[ImportProgress], None] | None = None,
    engine: Engine | None = None,
    create: bool = False,
    limits: Limits | None = None,
    blobs: BlobStore | None = None,
    skip_duplicates: float | None = None,
) -> ImportReport:
    """Import every item of `source` into the dataset, or nothing (InputError/FormatError say why).

    `user` must be an admin (None: the operator, from the CLI). `create` makes the dataset when missing
    (in the same transaction, so a failed import leaves no empty dataset behind). `skip_duplicates`: leave
    out every item whose prompt is a near duplicate (core.neardup, exact Jaccard similarity at least this)
    of an item already in the dataset or earlier in the source; the report says how many and which.
    """
    if skip_duplicates is not None and not 0.0 < skip_duplicates <= 1.0:
        raise InputError(f"skip duplicates {skip_duplicates:g}: the similarity must be above 0 and at most 1")
    if user is not None:
        require_admin(user)
    cleanup_stale_temp()
    engine = engine or db.get_engine()
    options = options if options is not None else default_options()
    limits = limits or Limits()
    blobs = blobs or get_blob_store()
    sweep_now(engine, blobs)
    label = source_label(source)
    report = ImportReport(dataset=dataset_name, source=label)
    started = time.monotonic()
    images: ImageStore | None = None
    try:
        with open_source(source, limits=limits) as raw_bundle:
            bundle = import_worker.CountingBundle(raw_bundle)
            reading = import_worker.read(bundle, options, rows=True)
            report.format, report.data_files = reading.format, list(reading.data_files)
            skipped_files = list(getattr(reading, "skipped_files", []) or [])
            if skipped_files:
                report.notes.append("left out (not a data file or image): " + ", ".join(skipped_files[:10]))
            total = sum(_size(raw_bundle, n) for n in report.data_files)
            with write_session(engine) as session:
                dataset = _dataset(session, dataset_name, user, create)
                job = ImportJob(
                    dataset_id=dataset.id, source=label, format=reading.format, status="running",
                    created_by=user.id if user else None,
                )  # fmt: skip
                session.add(job)
                session.flush()
                images = ImageStore(session, bundle, blobs, limits)
                native = _Native(user)
                if reading.ontology:
                    native.apply(session, dataset, reading.ontology, [])
                # Near duplicates are checked in this process, against the dataset's items read here.
                child_source = None if skip_duplicates else _child_source(source, total)
                try:
                    report.bytes = _write_items(
                        session, dataset, job, reading, images, report, progress, bundle, total, started,
                        native, options, child_source, skip_duplicates,
                    )  # fmt: skip
                finally:
                    if isinstance(child_source, OpenedFile):
                        os.close(child_source.fd)
                native.finish(report)
                report.seconds = time.monotonic() - started
                job.status, job.finished_at = "done", utcnow()
                job.counts = _counts(report)
                job.errors = []
                session.add(job)
                session.flush()
                report.job_id = job.id
    except BaseException as exc:
        if images is not None:
            delete_blobs(engine, blobs, images.created_blobs)
        if isinstance(exc, InputError | FormatError):
            _record_failure(engine, dataset_name, label, report, user, str(exc))
        raise
    report.seconds = time.monotonic() - started
    if _remote(source):
        forget_fetched(source)  # kept from the preview for this import; the next one downloads afresh
    checkpoint_later(engine)
    return report


def _child_source(source: Any, total: int) -> Any:
    """What a parser child process should open when it is to read `source`, else None: a path on this
    server, or the kept download of a URL or S3 object (store.sources.kept_download: an inherited file
    descriptor, closed by the caller), holding at least PARSER_PROCESS_MIN_BYTES of data. Uploads held in
    memory and S3 prefixes are read in this process."""
    if total < PARSER_PROCESS_MIN_BYTES or not isinstance(source, str | os.PathLike):
        return None
    if isinstance(source, str) and source.startswith(("http://", "https://", "s3://")):
        return kept_download(source)
    if isinstance(source, str) and "://" in source:
        return None
    return source


def _remote(source: Any) -> bool:
    items = source if isinstance(source, list | tuple) else [source]
    return any(isinstance(s, str) and s.startswith(("http://", "https://", "s3://")) for s in items)


def _size(bundle: Bundle, name: str) -> int:
    try:
        return bundle.size(name)
    except (KeyError, InputError):
        return 0


def _dataset(session: Session, name: str, user: User | None, create: bool) -> Dataset:
    dataset = session.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
    if dataset is not None:
        return dataset
    if not create:
        raise InputError(f"dataset {name!r}: not found")
    return create_dataset(session=session, name=name, created_by=user.id if user else None)


def _write_items(
    session: Session,
    dataset: Dataset,
    job: ImportJob,
    reading: Any,
    images: ImageStore,
    report: ImportReport,
    progress: Callable[[ImportProgress], None] | None,
    bundle: import_worker.CountingBundle,
    total: int,
    started: float,
    native: _Native,
    options: Any,
    child_source: Any,
    skip_duplicates: float | None = None,
) -> int:
    """Write every item of `reading` (or, when `child_source` is set, of that source as a parser child
    process reads it); returns the data bytes read."""
    search.ensure_index(session.connection(), dataset.id)  # type: ignore[arg-type]
    existing = set(session.execute(select(Item.external_id).where(Item.dataset_id == dataset.id)).scalars())
    position = session.execute(select(func.max(Item.position)).where(Item.dataset_id == dataset.id)).scalar()
    created = Item.__table__.c.created_at.type  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    to_db = created.dialect_impl(dialect).bind_processor(dialect)  # as the ORM would store it
    now = to_db(utcnow()) if to_db else utcnow()
    ids = (dataset.id, job.id, now)
    work = import_worker.Job(
        source=child_source, options=options, limits=images.limits, existing=existing, position=-1 if position is None else position, ids=ids,
        separate=dialect.name != "sqlite",
        skipper=_skipper(session, dataset.id, skip_duplicates) if skip_duplicates else None,  # type: ignore[arg-type]
    )  # fmt: skip
    child: import_worker.ParserProcess | None = None
    if child_source is not None:
        child = import_worker.ParserProcess(work)
        source_batches = child.batches()
    else:
        source_batches = import_worker.batches(reading.items, bundle.label, work, images.asset_id)
    # One writer thread inserts batch N while this thread parses (or receives) batch N+1 (the driver
    # releases the GIL while SQLite works); the session passes between the threads, never used by both.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-import-writer")
    in_flight: Future[None] | None = None
    last_tick = 0.0

    def done_bytes() -> int:
        return child.bytes_read if child is not None else bundle.counter[0]

    try:
        for batch in source_batches:
            if batch.deferred:
                import_worker.fill_deferred(batch, work, images.asset_id)
            c = batch.counts
            report.items, report.messages, report.candidates = c.items, c.messages, c.candidates
            report.annotations, report.skipped, report.skipped_ids = c.annotations, c.skipped, c.skipped_ids
            report.near_skipped, report.near_skipped_ids = c.near_skipped, c.near_skipped_ids
            if in_flight is not None:
                in_flight.result()  # re-raises the writer's error here
            assets, images.pending = images.pending, {}
            in_flight = writer.submit(
                _flush, session, dataset, batch.rows, batch.extras, images, report, native, assets
            )
            now_t = time.monotonic()
            if progress is not None and now_t - last_tick > 0.2:
                last_tick = now_t
                progress(ImportProgress(c.items, done_bytes(), total, now_t - started))
        if in_flight is not None:
            in_flight.result()
    finally:
        writer.shutdown(wait=True)  # on an error the batch in flight ends before the transaction rolls back
        if child is not None:
            child.close()
    report.images = len(images.used)
    report.images_new = len(images.created_blobs)
    if progress is not None:
        progress(ImportProgress(report.items, done_bytes(), total, time.monotonic() - started))
    return done_bytes()


def _skipper(session: Session, dataset_id: int, threshold: float) -> Any:
    """A core.neardup.Skipper that knows the prompts of the dataset's items."""
    from core.dialogue import prompt_text
    from core.neardup import Skipper

    skipper = Skipper(threshold)
    query = (
        select(Item.external_id, Item.messages).where(Item.dataset_id == dataset_id).order_by(Item.position)
    )
    for ext, messages in session.execute(query.execution_options(yield_per=2000)):
        skipper.known(ext, prompt_text(messages))
    return skipper


def _flush(
    session: Session,
    dataset: Dataset,
    rows: list[tuple[Any, ...]],
    extras: dict[str, ParsedItem],
    images: ImageStore,
    report: ImportReport,
    native: _Native,
    assets: dict[str, dict[str, Any]],
) -> None:
    images.flush(assets)
    if not rows:
        return
    conn = session.connection()
    insert_items(conn, rows, dataset.id)  # type: ignore[arg-type]
    if not extras:
        return
    ids: dict[str, int] = {}
    keys = list(extras)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        query = select(Item.external_id, Item.id).where(
            Item.dataset_id == dataset.id, Item.external_id.in_(chunk)
        )
        ids.update({ext: item_id for ext, item_id in session.execute(query)})
    suggestions = []
    annotated: list[tuple[int, ParsedItem]] = []
    for ext, item in extras.items():
        for s in item.suggestions:
            score = s.get("score")
            suggestions.append(
                {"item_id": ids[ext], "kind": str(s.get("kind") or "suggestion")[:64],
                 "target": (str(s["target"])[:16] if s.get("target") is not None else None),
                 "value": s.get("value"), "score": float(score) if isinstance(score, int | float) else None,
                 "agent": str(s.get("agent") or "")[:200], "created_at": utcnow()}
            )  # fmt: skip
        if item.annotations:
            annotated.append((ids[ext], item))
    if suggestions:
        session.execute(insert(Suggestion), suggestions)
        report.suggestions += len(suggestions)
    if annotated:
        native.apply(session, dataset, None, annotated)


class _Native:
    """Ontology and annotations carried by a native file, applied by store.roundtrip in this transaction:
    the ontology first, then each batch's annotated items as the batch is written (none held till the end)."""

    def __init__(self, user: User | None) -> None:
        self.user = user
        self.counts: dict[str, int] = {}
        self.applied = False

    def apply(
        self,
        session: Session,
        dataset: Dataset,
        ontology: dict[str, Any] | None,
        items: list[tuple[int, ParsedItem]],
    ) -> None:
        from store.roundtrip import apply_native

        counts = apply_native(
            session=session, user=self.user, dataset=dataset, ontology=ontology, items=items
        )
        for key, value in (counts or {}).items():
            self.counts[key] = self.counts.get(key, 0) + int(value)
        self.applied = True

    def finish(self, report: ImportReport) -> None:
        if not self.applied:
            return
        report.annotations = int(self.counts.get("annotations", report.annotations))
        if self.counts.get("users_created"):
            report.notes.append(
                f"{self.counts['users_created']} annotator accounts created for the imported work"
            )
        skipped = {
            k.removeprefix("skipped_"): v for k, v in self.counts.items() if k.startswith("skipped") and v
        }
        if skipped:
            report.notes.append("not applied: " + ", ".join(f"{v} {k}" for k, v in skipped.items()))


def _counts(report: ImportReport) -> dict[str, Any]:
    return {
        "items": report.items, "messages": report.messages, "candidates": report.candidates,
        "images": report.images, "images_new": report.images_new, "suggestions": report.suggestions,
        "annotations": report.annotations, "skipped": report.skipped, "skipped_ids": report.skipped_ids,
        "near_skipped": report.near_skipped, "near_skipped_ids": report.near_skipped_ids,
        "bytes": report.bytes, "seconds": round(report.seconds, 3),
    }  # fmt: skip


def _record_failure(
    engine: Engine, dataset_name: str, label: str, report: ImportReport, user: User | None, error: str
) -> None:
    """A failed job row on an existing dataset, so the page can show what went wrong; never raises."""
    with contextlib.suppress(Exception), db.write_session(engine) as session:
        dataset = session.execute(select(Dataset).where(Dataset.name == dataset_name)).scalar_one_or_none()
        if dataset is None:
            return
        session.add(
            ImportJob(
                dataset_id=dataset.id, source=label, format=report.format, status="failed", counts={},
                errors=[error], created_by=user.id if user else None, finished_at=utcnow(),
            )
        )  # fmt: skip
