"""A second process for large JSONL exports: a worker process renders chunks of the export beside the caller.

A JSONL export of PARALLEL_MIN_ITEMS items or more, read from a database another process can open (a SQLite
file or PostgreSQL, not in-memory SQLite), is rendered by two processes (write_parallel): the dataset is cut
into keyset chunks of CHUNK items, a worker process (a fresh interpreter, started per export) renders some
chunks on its own connection into spool files while this process renders the others, and the chunks are
copied into the file strictly in order: the same bytes as one process. The worker reads committed data on
its own connection: an item changed while the export runs is exported as it was either before or after the
change (each item once). CSV/XLSX, in-memory databases, sessions bound to one connection or holding unflushed
changes, and image URLs of a custom blob store export in one process (parallel_job says which).

A chunk's lines are made and written as store/export.py's write_export makes and writes the whole export's
(tally and write_jsonl: shared with it).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, select, tuple_
from sqlmodel import Session

from core.export import FORMATS, Options, Schema, jsonl_lines
from store.blobs import BlobStore
from store.export_filters import ExportFilters
from store.export_read import BlobAddress, Images, iter_export_items
from store.models import Item

CHUNK_LINES = 2048  # lines joined into one write (a write per line costs more than making the line)
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
    address: BlobAddress | None


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


def tally(item: dict[str, Any], stats: dict[str, int], add: Callable[[str], None]) -> None:
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
    images: Images,
    fh: IO[bytes],
) -> _Chunk:
    """Write the JSONL lines of the items with key in (after, until] to `fh`: the same lines, in the same
    order, as the one-process export writes for them."""
    stats = {"items": 0, "annotations": 0}
    annotators: set[str] = set()
    add = annotators.add
    lines, schema, options = jsonl_lines(job.fmt), job.schema, job.options
    found = iter_export_items(
        session=session, dataset_id=job.dataset_id, filters=job.filters, schema=schema, images=images,
        all_items=job.fmt == "native", with_suggestions=job.fmt == "native", stats=stats, after=after,
        until=until, native=job.fmt == "native",
    )  # fmt: skip

    def made() -> Iterator[list[bytes]]:
        for item in found:
            tally(item, stats, add)
            yield lines(item, schema, options)

    written = write_jsonl(made(), fh)
    return _Chunk(written, stats, annotators, dict(images.used))


def write_jsonl(lines: Iterator[Iterable[bytes]], fh: IO[bytes]) -> int:
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
                session, job, after, until, Images(session, job.image_mode, None, job.address), fh
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
            f"import sys; sys.path.insert(0, {root!r}); "
            "from store.export_worker import _worker_main; _worker_main()"
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


def parallel_job(
    *,
    session: Session,
    dataset_id: int,
    fmt: str,
    filters: ExportFilters,
    options: Options,
    schema: Schema,
    image_mode: str,
    blobs: BlobStore,
    items: int,
) -> _Job | None:
    """The job for worker processes when this export of `items` items is rendered by two processes (see the
    module's docstring), or None when this process renders it alone."""
    url = _worker_url(session) if WORKERS and FORMATS[fmt].extension == "jsonl" else None
    address = BlobAddress.of(blobs)
    if url and items >= PARALLEL_MIN_ITEMS and (image_mode == "zip" or address is not None):
        return _Job(url, dataset_id, fmt, filters, options, schema, image_mode, address)
    return None


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


def write_parallel(
    session: Session,
    job: _Job,
    images: Images,
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
