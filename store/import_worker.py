"""Item rows from parsed dialogues, built in this process or in a parser child process that feeds the importer.

The importer's writer is SQLite (or PostgreSQL); reading, parsing and serialising a large file is Python
work of about the same size. `ParserProcess` runs that work in a second interpreter (`python -m
store.import_worker`, a fresh process: never a fork of a threaded server) which opens the same source
with the same guards and sends finished rows back through a pipe, so the two halves use two cores.

This module imports no SQLAlchemy and no Streamlit: the child starts in about 0.15 s.

Protocol (child → parent, on the pipe whose fd is argv[1]): one pickle after another.
    ("batch", rows, extras, deferred, counts, bytes_read)   rows in file order; see Batch
    ("done", counts, bytes_read)
    ("error", kind, args)                                   rebuilt as the same InputError/FormatError
The job (a Job, pickled) comes in on stdin. The child exits when the parent goes away (a write fails, or
its parent process changes) and leaves no files: its temp folder is removed on exit, or by
store.sources.cleanup_stale_temp after a kill.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from core.dialogue import ParsedItem, prompt_text
from core.errors import FormatError
from core.search import document
from store.errors import InputError
from store.sources import MB, Bundle, Limits, OpenedFile, open_source
from store.zjson import compress, item_assets, item_models

BATCH = 2000
AssetId = Callable[..., str]  # (ref, *, label) -> asset id (store.import_images.ImageStore.asset_id)


# ---------------------------------------------------------------- reading


class _Counting(io.RawIOBase):
    def __init__(self, raw: BinaryIO, counter: list[int]) -> None:
        self.raw, self.counter = raw, counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.counter[0] += n or 0
        return n or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


class CountingBundle(Bundle):
    """Counts the bytes the reader pulls, for the progress bar."""

    def __init__(self, inner: Bundle) -> None:
        self.inner, self.label, self.counter = inner, inner.label, [0]
        self.is_archive = getattr(inner, "is_archive", False)

    def names(self) -> list[str]:
        return self.inner.names()

    def open(self, name: str) -> BinaryIO:
        return io.BufferedReader(_Counting(self.inner.open(name), self.counter), buffer_size=MB)  # type: ignore[return-value]

    def size(self, name: str) -> int:
        return self.inner.size(name)


# Plain native records come out of the reader as finished rows (core.formats.native.plain_row) when
# importing; tests turn it off to compare with the general path.
PLAIN_ROWS = True


def read(bundle: Bundle, options: Any, *, rows: bool = False) -> Any:
    """core.formats.read_bundle, with ids qualified by path in archives unless the options say otherwise.

    rows: for `batches`, plain native records may come out as row tuples (see read_bundle's plain_rows)."""
    from core.formats import read_bundle

    if getattr(options, "qualify_ids", False) is None and getattr(bundle, "is_archive", False):
        options = dataclasses.replace(options, qualify_ids=True)
    try:
        return read_bundle(bundle, options, plain_rows=rows and PLAIN_ROWS)
    except RecursionError:
        raise InputError(f"{bundle.label}: JSON nested too deeply (refused)") from None


# ---------------------------------------------------------------- rows

# The item columns, in the order of a row tuple.
# A row tuple has one more value after these: the item's search text, as core.search.document makes it for the
# database (store.search.index_texts indexes it by item id, prepared=True). Made here, in the parser child:
# on real text, whose every item holds some non-ASCII character, it was a sixth of the writer's time.
ITEM_COLUMNS = ("dataset_id", "external_id", "name", "position", "messages", "candidates", "models", "message_count",
                "assets", "meta", "import_job_id", "created_at")  # fmt: skip


class NeedsImages(Exception):
    """An item shows images and no asset store is at hand (the child): the parent builds its row."""


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # integers over 64 bits, exotic values
        import json

        return json.dumps(value, default=str).encode()


def stored_parts(
    parts: list[Any], asset_id: AssetId | None, label: str, texts: list[str]
) -> list[dict[str, Any]]:
    """Messages or candidates as stored: image refs replaced by asset ids, no empty "images" key; each
    part's text is appended to `texts` (for the search text, in core.dialogue.dialogue_text's order).

    Copies (never changes the reader's dicts: a reader may share a message between items, e.g. the common
    path of an OpenAssistant tree). NeedsImages when a part has images and `asset_id` is None."""
    out = []
    for part in parts:
        stored = part.copy() if type(part) is dict else dict(part)
        refs = stored.get("images")
        if refs:
            if asset_id is None:
                raise NeedsImages
            stored["images"] = [asset_id(str(ref), label=label) for ref in refs]
        elif refs is not None or "images" in stored:
            del stored["images"]
        texts.append(stored.get("text", ""))
        out.append(stored)
    return out


def item_row(
    item: ParsedItem,
    ext: str,
    position: int,
    ids: tuple[Any, Any, Any],
    asset_id: AssetId | None,
    separate: bool = False,
) -> tuple[Any, ...]:
    """One item's row (ITEM_COLUMNS order, then the search text); `ids` = (dataset_id, import_job_id,
    created_at as bound); `separate`: the search text for PostgreSQL (core.search.document)."""
    texts: list[str] = []
    messages = stored_parts(item.messages, asset_id, ext, texts)
    candidates = stored_parts(item.candidates, asset_id, ext, texts)
    name = item.name
    return (
        ids[0],
        ext,
        name[:512] if name else "",
        position,
        compress(dumps(messages)),
        compress(dumps(candidates)),
        item_models(candidates),
        len(messages),
        item_assets(messages, candidates),
        dumps(item.meta).decode() if item.meta else "{}",
        ids[1],
        ids[2],
        document("\n".join(texts), separate=separate),  # "\n".join: core.dialogue.dialogue_text
    )


@dataclass
class Counts:
    items: int = 0
    messages: int = 0
    candidates: int = 0
    annotations: int = 0
    skipped: int = 0  # duplicated ids: within the source or already in the dataset
    skipped_ids: list[str] = field(default_factory=list)
    # near duplicates left out (--skip-duplicates): how many, and the first NEAR_LISTED as
    # [id, the id of the earlier item it nearly repeats, their similarity]
    near_skipped: int = 0
    near_skipped_ids: list[list[Any]] = field(default_factory=list)


NEAR_LISTED = 50


def _near(skipper: Any, counts: Counts, ext: str, messages: list[Any]) -> bool:
    """Whether the item nearly repeats an earlier one (skipper: core.neardup.Skipper); counted if so."""
    found = skipper.check(ext, prompt_text(messages))
    if found is None:
        return False
    counts.near_skipped += 1
    if len(counts.near_skipped_ids) < NEAR_LISTED:
        counts.near_skipped_ids.append([ext, found[0], round(found[1], 3)])
    return True


def _skip(counts: Counts, ext: str) -> None:
    """A duplicated id: counted, and the first 20 named in the report."""
    counts.skipped += 1
    if len(counts.skipped_ids) < 20:
        counts.skipped_ids.append(ext)


@dataclass
class Batch:
    """Up to BATCH rows in file order. `deferred` (index in rows, position, id, item): items with images,
    whose row (None in `rows` until then) the parent builds with its asset store; `extras`: items with
    suggestions or annotations, by id."""

    rows: list[tuple[Any, ...] | None]
    extras: dict[str, ParsedItem]
    deferred: list[tuple[int, int, str, ParsedItem]]
    counts: Counts


@dataclass
class Job:
    """What the parser child needs: the source (re-opened with the same guards) and the row facts."""

    source: Any
    options: Any
    limits: Limits
    existing: set[str]
    position: int  # the dataset's highest position so far (-1: none)
    ids: tuple[Any, Any, Any]
    batch: int = BATCH
    separate: bool = False  # the search text for PostgreSQL (core.search.document)
    skipper: Any = None  # core.neardup.Skipper when near duplicates are skipped (in this process only)


def batches(items: Iterator[ParsedItem], label: str, job: Job, asset_id: AssetId | None) -> Iterator[Batch]:
    """The items as batches of rows; ids seen before (in this source or `job.existing`) are skipped and
    counted. The last batch may be empty; its counts are the totals."""
    counts = Counts()
    seen: set[str] = set()
    existing = job.existing
    check_existing = bool(existing)
    skipper = job.skipper
    position, ids, size, separate = job.position, job.ids, job.batch, job.separate
    rows: list[tuple[Any, ...] | None] = []
    extras: dict[str, ParsedItem] = {}
    deferred: list[tuple[int, int, str, ParsedItem]] = []
    # Runs once per item of a file of up to 1 GB: counts in locals, written to `counts` per batch.
    n_items = n_messages = n_candidates = n_annotations = 0
    row_of = item_row
    z = compress
    try:
        for item in items:
            if type(item) is tuple:  # a plain native record, already serialized by the reader
                ext, messages, candidates, search, models, n_m, n_c = item
                if len(ext) > 512:
                    ext = ext[:512]
                if ext in seen or (check_existing and ext in existing):
                    _skip(counts, ext)
                    continue
                seen.add(ext)
                if skipper is not None and _near(skipper, counts, ext, orjson.loads(messages)):
                    continue
                position += 1
                text = document(search, separate=separate)
                rows.append((ids[0], ext, "", position, z(messages), z(candidates), models, n_m, "", "{}", ids[1], ids[2], text))  # fmt: skip
                n_items += 1
                n_messages += n_m
                n_candidates += n_c
                if len(rows) >= size:
                    counts.items, counts.messages, counts.candidates = n_items, n_messages, n_candidates
                    counts.annotations = n_annotations
                    yield Batch(rows, extras, deferred, counts)
                    rows, extras, deferred = [], {}, []
                continue
            ext = item.external_id
            if type(ext) is not str or len(ext) > 512:
                ext = str(ext)[:512]
            if ext in seen or (check_existing and ext in existing):
                _skip(counts, ext)
                continue
            seen.add(ext)
            if skipper is not None and _near(skipper, counts, ext, item.messages):
                continue
            position += 1
            try:
                rows.append(row_of(item, ext, position, ids, asset_id, separate))
            except NeedsImages:
                deferred.append((len(rows), position, ext, item))
                rows.append(None)
            n_items += 1
            n_messages += len(item.messages)
            n_candidates += len(item.candidates)
            if item.suggestions or item.annotations:
                extras[ext] = item
                n_annotations += len(item.annotations)
            if len(rows) >= size:
                counts.items, counts.messages, counts.candidates = n_items, n_messages, n_candidates
                counts.annotations = n_annotations
                yield Batch(rows, extras, deferred, counts)
                rows, extras, deferred = [], {}, []
    except RecursionError:
        raise InputError(f"{label}: JSON nested too deeply (refused)") from None
    counts.items, counts.messages, counts.candidates = n_items, n_messages, n_candidates
    counts.annotations = n_annotations
    yield Batch(rows, extras, deferred, counts)


def fill_deferred(batch: Batch, job: Job, asset_id: AssetId) -> None:
    """Build the rows the child left to the parent (items with images), in place."""
    for index, position, ext, item in batch.deferred:
        batch.rows[index] = item_row(item, ext, position, job.ids, asset_id, job.separate)
    batch.deferred = []


# ---------------------------------------------------------------- the parser child


def _error_args(exc: BaseException) -> tuple[str, tuple[Any, ...]]:
    if isinstance(exc, FormatError):
        cls = type(exc)
        return "format", (cls.__module__, cls.__qualname__, exc.detail, exc.file, exc.record, exc.field)
    if isinstance(exc, InputError):
        return "input", (str(exc),)
    return "crash", (f"{type(exc).__name__}: {exc}",)


def rebuild_error(kind: str, args: tuple[Any, ...]) -> BaseException:
    """The child's error as the parent raises it: the same class and message."""
    if kind == "format":
        module, qualname, detail, file, record, field_ = args
        try:
            import importlib

            cls = getattr(importlib.import_module(module), qualname)
        except (ImportError, AttributeError):
            cls = FormatError
        exc = cls.__new__(cls)
        FormatError.__init__(exc, detail, file=file, record=record, field=field_)
        return exc
    if kind == "input":
        return InputError(args[0])
    return RuntimeError(f"the import's parser process failed: {args[0]}")


def child_main(out_fd: int) -> int:
    """The child: read the Job from stdin, send batches (see the module docstring) to `out_fd`."""
    import gc

    parent = os.getppid()
    # Pickled straight into a buffered pipe (frames of 64 KB), not into one bytes object per batch: a
    # batch is megabytes, and a fresh buffer that size costs page faults every time.
    out = os.fdopen(out_fd, "wb", buffering=MB)
    dump = pickle.dump

    def send(message: tuple[Any, ...]) -> None:
        if os.getppid() != parent:  # the importer is gone (killed): stop
            raise BrokenPipeError
        dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        job: Job = pickle.load(sys.stdin.buffer)
        # Nothing this process builds outlives a batch and the items hold no cycles: the collector would
        # only walk the young objects again and again.
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        with open_source(job.source, limits=job.limits) as raw:
            bundle = CountingBundle(raw)
            reading = read(bundle, job.options, rows=True)
            counter = bundle.counter
            counts = Counts()
            for batch in batches(reading.items, bundle.label, job, None):
                counts = batch.counts
                c = counts
                send(("batch", batch.rows, batch.extras, batch.deferred,
                      (c.items, c.messages, c.candidates, c.annotations, c.skipped, c.skipped_ids), counter[0]))  # fmt: skip
            send(("done", counter[0]))
    except BrokenPipeError:
        return 0
    except BaseException as exc:  # noqa: BLE001 (every error goes back to the parent, which raises it)
        if isinstance(exc, RecursionError):
            exc = InputError(f"{source_label_of(job)}: JSON nested too deeply (refused)")
        with contextlib.suppress(Exception):
            send(("error", *_error_args(exc)))
        return 1
    return 0


def source_label_of(job: Any) -> str:
    from store.sources import source_label

    return source_label(getattr(job, "source", "")) if job is not None else ""


class ParserProcess:
    """The parent's end: starts the child, yields its batches, and always ends it (kill on early exit)."""

    def __init__(self, job: Job) -> None:
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe keeps the child a batch ahead
            import fcntl

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4 * MB)  # type: ignore[attr-defined]
        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "store.import_worker", str(write_fd)],
                stdin=subprocess.PIPE, env=env, cwd=root,
                pass_fds=(write_fd, job.source.fd) if isinstance(job.source, OpenedFile) else (write_fd,),
            )  # fmt: skip
        finally:
            os.close(write_fd)
        self.pipe = os.fdopen(read_fd, "rb", buffering=MB)
        self.bytes_read = 0
        self.counts = Counts()
        # The job goes in from a thread: a large `existing` set may be more than the stdin pipe holds.
        self._feeder = threading.Thread(
            target=self._feed, args=(job,), name="parley-import-feed", daemon=True
        )
        self._feeder.start()

    def _feed(self, job: Job) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def _receive(self) -> tuple[Any, ...]:
        try:
            return pickle.load(self.pipe)  # type: ignore[no-any-return]
        except (EOFError, pickle.UnpicklingError):
            # A child killed while writing leaves a truncated message ("pickle data was truncated"): that is
            # its death too, not a protocol error.
            code = self.proc.wait()
            raise RuntimeError(f"the import's parser process ended unexpectedly (exit code {code})") from None

    def batches(self) -> Iterator[Batch]:
        while True:
            message = self._receive()
            if message[0] == "batch":
                _, rows, extras, deferred, c, self.bytes_read = message
                self.counts = Counts(*c)
                yield Batch(rows, extras, deferred, self.counts)
            elif message[0] == "done":
                self.bytes_read = message[1]
                return
            else:
                raise rebuild_error(message[1], message[2])

    def close(self) -> None:
        """End the child: at once when it is done; else its next write fails (the pipe is closed) and it
        exits, removing its temp folder; killed if it has not within a few seconds."""
        with contextlib.suppress(Exception):
            self.pipe.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._feeder.join(5)


if __name__ == "__main__":
    sys.exit(child_main(int(sys.argv[1])))
