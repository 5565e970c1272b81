"""Export a dataset's results: files with a manifest (write_export), downloads (export_bytes) and previews.

The export is read by store/export_read.py (items in batches, images by name or URL) with the filters of
store/export_filters.py; this module turns the items into records (core/export: JSONL lines, or spreadsheet
rows) and writes them in large joined chunks, then the manifest and images. A large JSONL export is rendered
partly by a worker process (store/export_worker.py), into the same bytes.

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
- Images: "zip" puts each referenced image into the export as `images/<sha256>.<ext>` (names made from the
  asset id, never paths from the data: CVE-2025-25295); "urls" writes the blob store's address instead
  (`s3://bucket/key` on S3, a `file://` URI for a local folder).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import IO, Any

import orjson
from sqlmodel import Session

from core.export import FORMATS, PAIR_MODES, Options, Schema, jsonl_lines, native_header, requirement_problem
from core.export.manifest import manifest
from core.export.table import CsvWriter, XlsxWriter, columns
from store.blobs import BlobStore, get_blob_store
from store.errors import InputError
from store.export_filters import ExportFilters, count_selection
from store.export_read import BATCH, Images, export_schema, iso, iter_export_items
from store.export_worker import parallel_job, tally, write_jsonl, write_parallel
from store.models import Dataset, User

IMAGE_MODES = ("zip", "urls")
_JSONL = orjson.OPT_APPEND_NEWLINE


@dataclass
class ExportSummary:
    dataset: str
    format: str
    files: list[str]
    counts: dict[str, int]
    annotators: list[str]
    manifest: dict[str, Any]
    worker_chunks: int = 0  # chunks a worker process rendered (export_worker); 0 when one process did all
    worker_peak_rss_kb: int = 0


@cache
def app_version() -> str:
    try:
        data = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
        return str(data.get("project", {}).get("version", "unknown"))
    except (OSError, tomllib.TOMLDecodeError):
        return "unknown"


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
    counts = _problem(session, dataset, fmt, filters, schema)
    options = options or Options()
    spec = FORMATS[fmt]
    out: list[dict[str, Any]] = [native_header(ontology)] if fmt == "native" else []
    items = iter_export_items(
        session=session, dataset_id=dataset.id, filters=filters, schema=schema,
        images=Images(session, image_mode, None), all_items=fmt == "native", with_suggestions=fmt == "native",
        native=fmt == "native",
    )  # fmt: skip
    with contextlib.closing(items):  # the reader thread is done before the session is used again
        for seen, item in enumerate(items, 1):
            out.extend(spec.records(item, schema, options))
            if len(out) >= limit or seen >= max_items:
                break
    return out[:limit], counts  # (counted once: at 1M items a count took ~0.3 s)


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
    images = Images(session, image_mode, blobs)
    stats: dict[str, int] = {"items": 0, "annotations": 0}
    worker_chunks = worker_rss = 0
    job = parallel_job(
        session=session, dataset_id=dataset.id, fmt=fmt, filters=filters, options=options, schema=schema,
        image_mode=image_mode, blobs=blobs, items=selection["items"],
    )  # fmt: skip
    annotators: set[str] = set()

    def items() -> Iterator[dict[str, Any]]:
        found = iter_export_items(
            session=session, dataset_id=dataset.id, filters=filters, schema=schema, images=images,
            all_items=fmt == "native", with_suggestions=fmt == "native", stats=stats, native=fmt == "native",
        )  # fmt: skip
        add = annotators.add
        for item in found:
            tally(item, stats, add)
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
                    lines, found, names, worker_chunks, worker_rss = write_parallel(
                        session, job, images, fh, progress, tmp_dir
                    )
                    count += lines
                    for key, value in found.items():
                        stats[key] = stats.get(key, 0) + value
                    annotators.update(names)
                elif spec.extension == "jsonl":
                    count = write_jsonl(jsonl(), fh)
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
