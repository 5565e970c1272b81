"""Import formats: detect a bundle's format by content and read it into ParsedItems (no streamlit, no store).

How the importer uses it::

    reading = read_bundle(bundle, ImportOptions(format=None, qualify_ids=is_archive))
    reading.format, reading.data_files, reading.skipped_files   # show these
    for item in reading.items: ...                               # lazy; may raise FormatError at any record

Spreadsheets: ``table_columns(bundle, name, sheet)`` → (columns, sample rows, sheets) for the mapping step,
``guess_mapping(columns, sample_rows)`` → TableMapping to show and correct, then
``read_bundle(bundle, ImportOptions(mapping=..., sheet=...))``.

Format names (``FORMATS`` keys, the CLI's ``--format``):
    native        Parley's own JSON/JSONL (items, responses, suggestions, annotations, ontology)
    openai        OpenAI / TRL chat ``{"messages": [{role, content: str | parts}]}`` (+ LLaMA-Factory
                  ``images`` with ``<image>`` placeholders and v1 ``{type, value}`` parts)
    sharegpt      ShareGPT / LLaVA ``{"conversations": [{from, value}], "image"|"images"}``
    alpaca        ``{instruction, input, output}`` (+ LLaMA-Factory system/history)
    preference    TRL ``{prompt, chosen, rejected}``, ``{prompt, completions}``, LLaMA-Factory DPO
    kto           ``{messages, label}`` and TRL ``{prompt, completion, label}``
    hh_rlhf       Anthropic HH-RLHF ``{"chosen": "\\n\\nHuman: …", "rejected": …}``
    oasst         OpenAssistant message trees (one tree a line)
    vicuna_bench  FastChat table: question.jsonl + answer/*.jsonl + review/**/*.jsonl in one bundle
    csv, xlsx, xls  spreadsheets, one row an item or one row a message (TableMapping)

Item ids: the source id when the record has one (``id``; oasst: the branching prompter's message_id;
vicuna: question_id); else the record's 1-based number in its file ("7": JSONL counts non-blank lines,
arrays count elements, spreadsheets count non-empty data rows), or ``"path/in/bundle.jsonl:7"`` when
``ImportOptions.qualify_ids`` is True (the importer sets it for archives) or, when it is None, the bundle
holds more than one data file.

Streaming: JSONL is read line by line (orjson); a JSON array over 16 MB element by element; smaller JSON
documents and workbooks are read whole; a message-per-row table is grouped in memory. gzip members are
recognised by their magic bytes.

Native (core/formats/native.py, another owner): its `parse_native(obj, rec, resolve)` parses each record
(None for the `{"parley": {...}}` header) and `header_of`/`check_header` give Reading.ontology.

Text rules: a NUL byte or a lone surrogate in any text is a FormatError naming the field (PostgreSQL cannot
store NUL; we refuse rather than silently clean); UTF-8 with a BOM is fine, anything else not UTF-8 is a
FormatError saying "not UTF-8"; JSON nested deeper than orjson's limit (1024) is "JSON nested too deep".
Messages come out as ``{"role", "text", "images"}`` (+ ``"meta"`` only when non-empty); image refs are
bundle member names (or http(s)/s3/data: URLs as given), resolved by ``resolve_image_ref``.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.dialogue import ParsedItem
from core.errors import FormatError
from core.formats import chat, hh, oasst, tables, vicuna
from core.formats.base import (
    Bundle,
    ImageResolver,
    ImportOptions,
    Reading,
    Record,
    RecordParser,
    TableMapping,
    iter_records,
    resolve_image_ref,
)
from core.formats.detect import UnknownFormat, detect_file, is_data_name, is_image_name, is_vicuna_layout
from core.formats.tables import guess_mapping

__all__ = [
    "FORMATS",
    "Bundle",
    "FormatError",
    "FormatSpec",
    "ImportOptions",
    "Reading",
    "Record",
    "TableMapping",
    "UnknownFormat",
    "data_file_names",
    "detect_format",
    "guess_mapping",
    "iter_records",
    "read_bundle",
    "resolve_image_ref",
    "table_columns",
]


@dataclass(frozen=True)
class FormatSpec:
    """One import format. `kind`: "records" (one JSON record → one item or a list of items, via `parse`),
    "table" (csv/xlsx/xls), "bundle" (vicuna_bench: several files make the items)."""

    name: str
    label: str
    kind: str
    parse: RecordParser | None = None


def _native_parser() -> RecordParser:
    """core.formats.native's `parse_native(obj, rec: Record, resolve: ImageResolver) -> ParsedItem | None`
    (None skips the header record) when it exists, else a basic parser."""
    try:
        mod = importlib.import_module("core.formats.native")
    except ImportError:
        return chat.parse_native_basic
    return getattr(mod, "parse_native", None) or chat.parse_native_basic


def _native_plain_row() -> Callable | None:
    try:
        mod = importlib.import_module("core.formats.native")
    except ImportError:
        return None
    return getattr(mod, "plain_row", None)


def _native_parse(obj, rec: Record, resolve: ImageResolver):  # noqa: ANN001, ANN202
    return _native_parser()(obj, rec, resolve)


FORMATS: dict[str, FormatSpec] = {
    "native": FormatSpec("native", "Parley native JSON/JSONL", "records", _native_parse),
    "openai": FormatSpec("openai", "OpenAI / TRL chat messages", "records", chat.parse_openai),
    "sharegpt": FormatSpec("sharegpt", "ShareGPT / LLaVA conversations", "records", chat.parse_sharegpt),
    "alpaca": FormatSpec("alpaca", "Alpaca instruction / input / output", "records", chat.parse_alpaca),
    "preference": FormatSpec(
        "preference",
        "Preference pairs (TRL, LLaMA-Factory DPO, completions)",
        "records",
        chat.parse_preference,
    ),
    "kto": FormatSpec("kto", "KTO (messages + label)", "records", chat.parse_kto),
    "hh_rlhf": FormatSpec("hh_rlhf", "Anthropic HH-RLHF transcripts", "records", hh.parse_hh),
    "oasst": FormatSpec("oasst", "OpenAssistant message trees", "records", oasst.parse_oasst),
    "vicuna_bench": FormatSpec("vicuna_bench", "Vicuna bench questions + answers + reviews", "bundle"),
    "csv": FormatSpec("csv", "CSV spreadsheet", "table"),
    "xlsx": FormatSpec("xlsx", "Excel workbook (.xlsx)", "table"),
    "xls": FormatSpec("xls", "Excel 97-2003 workbook (.xls)", "table"),
}


def data_file_names(names: list[str]) -> list[str]:
    """The members that are data files: by extension (.json .jsonl .ndjson .csv .tsv .xlsx .xls, also
    .gz); a bundle of a single non-image file counts that file whatever its name."""
    found = [n for n in names if is_data_name(n)]
    if not found:
        others = [n for n in names if not is_image_name(n)]
        if len(others) == 1:
            found = others
    return sorted(found)


def detect_format(bundle: Bundle, name: str | None = None) -> str:
    """The format of member `name`, or of the whole bundle: "vicuna_bench" for its layout, else the data
    files' format (comma-joined sorted names when they differ, e.g. "alpaca,sharegpt"). By content
    (magic bytes, JSON keys), never only the extension. FormatError when nothing readable is found or the
    bytes are something else (an image, an archive, …)."""
    if name is not None:
        return detect_file(bundle, name)
    names = bundle.names()
    if is_vicuna_layout(names):
        return "vicuna_bench"
    files = data_file_names(names)
    if not files:
        raise FormatError("no data file found (expected .json, .jsonl, .csv, .xlsx or .xls)")
    formats, _skipped = _detect_all(bundle, files)
    return ",".join(sorted(set(formats.values())))


def _detect_all(bundle: Bundle, files: list[str]) -> tuple[dict[str, str], list[str]]:
    """Formats of the data files; in a several-file bundle, files of no known format are skipped."""
    formats: dict[str, str] = {}
    skipped: list[str] = []
    for f in files:
        try:
            formats[f] = detect_file(bundle, f)
        except UnknownFormat:
            if len(files) == 1:
                raise
            skipped.append(f)
    if not formats:
        raise FormatError(f"no file in a known format (skipped: {', '.join(skipped)})")
    return formats, skipped


def table_columns(
    bundle: Bundle, name: str, sheet: str | None = None
) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """For the mapping step: (column names, the first 20 non-empty rows as {column: cell text}, sheet names
    ([] for CSV)). Cells are values (xlsx formulas give their cached result), as text."""
    fmt = detect_file(bundle, name)
    if fmt not in ("csv", "xlsx", "xls"):
        raise FormatError(f"not a spreadsheet (detected {fmt})", file=name)
    return tables.table_columns(bundle, name, fmt, sheet)


def read_bundle(bundle: Bundle, options: ImportOptions | None = None, *, plain_rows: bool = False) -> Reading:
    """Detect (unless options.format is set) and read every data file of the bundle.

    Returns at once after detection; `Reading.items` parses lazily. A forced format applies to every data
    file. Raises FormatError for an unknown forced format, a bundle with no data file, or a data file whose
    bytes are not data. Several data files of different formats are read each with its own format
    (Reading.format is then "a,b").

    plain_rows (the importer's bulk path): a native record that core.formats.native.plain_row can take
    comes out as its row tuple (id, messages JSON, candidates JSON, search text, messages, candidates)
    instead of a ParsedItem."""
    options = options or ImportOptions()
    names = bundle.names()
    name_set = set(names)
    forced = options.format
    if forced is not None and forced not in FORMATS:
        raise FormatError(f"unknown format {forced!r} (known: {', '.join(FORMATS)})")
    if forced == "vicuna_bench" or (
        forced is None and options.data_files is None and is_vicuna_layout(names)
    ):
        files = sorted(n for n in names if n.lower().endswith(".jsonl"))
        return Reading("vicuna_bench", files, vicuna.read_vicuna(bundle, names, options.max_message_chars))
    files = options.data_files if options.data_files is not None else data_file_names(names)
    if not files:
        raise FormatError("no data file found (expected .json, .jsonl, .csv, .xlsx or .xls)")
    missing = [f for f in files if f not in name_set]
    if missing:
        raise FormatError(f"no such file in the upload: {', '.join(missing)}")
    if forced:
        formats, skipped = dict.fromkeys(files, forced), []
    else:
        formats, skipped = _detect_all(bundle, files)
    data_files = [f for f in files if f in formats]
    qualify = options.qualify_ids if options.qualify_ids is not None else len(files) > 1
    fmt_label = ",".join(sorted(set(formats.values())))
    ontology = None
    if "native" in formats.values():
        ontology = _native_ontology(bundle, [f for f in data_files if formats[f] == "native"])
    items = itertools.chain.from_iterable(
        _read_file(bundle, f, formats[f], options, name_set, qualify, plain_rows) for f in data_files
    )
    return Reading(fmt_label, data_files, items, ontology=ontology, skipped_files=skipped)


def _native_ontology(bundle: Bundle, files: list[str]) -> dict | None:
    """The ontology in the first native file's header record (core.formats.native's header_of/check_header)."""
    try:
        mod = importlib.import_module("core.formats.native")
    except ImportError:
        return None
    if not (hasattr(mod, "header_of") and hasattr(mod, "check_header")):
        return None
    records = iter_records(bundle, files[0])
    try:
        first = next(records, None)
    finally:
        records.close()
    if first is None or mod.header_of(first[0]) is None:
        return None
    return mod.check_header(mod.header_of(first[0]), first[1])


def _read_file(
    bundle: Bundle,
    name: str,
    fmt: str,
    options: ImportOptions,
    names: set[str],
    qualify: bool,
    plain_rows: bool = False,
) -> Iterator[ParsedItem]:
    spec = FORMATS[fmt]
    if spec.kind == "table":
        yield from tables.read_table(
            bundle, name, fmt, options.mapping, options.sheet, names, qualify, options.max_message_chars
        )
        return
    if spec.kind == "bundle":
        yield from vicuna.read_vicuna(bundle, [name], options.max_message_chars)
        return
    parse: Callable = _native_parser() if fmt == "native" else spec.parse  # type: ignore[assignment]
    resolve = ImageResolver(name, names)
    records = iter_records(bundle, name, qualify=qualify, max_chars=options.max_message_chars)
    plain = _native_plain_row() if plain_rows and fmt == "native" else None
    if plain is not None:
        for obj, rec in records:
            row = plain(obj, rec)
            if row is not None:
                yield row
                continue
            result = parse(obj, rec, resolve)
            if type(result) is list:
                yield from result
            elif result is not None:
                yield result
        return
    for obj, rec in records:
        result = parse(obj, rec, resolve)
        if type(result) is list:
            yield from result
        elif result is not None:
            yield result
