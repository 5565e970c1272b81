"""Export formats, each a module with its rules written once: native, sft, dpo, kto, csv/xlsx, manifest.

A format turns one export item (core/export/common.py) into records; the store streams items in and the
writers put records out one by one, so no export holds the dataset in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from orjson import OPT_APPEND_NEWLINE, dumps

from core.export import dpo, kto, sft, table
from core.export.common import PAIR_MODES, Options, Schema
from core.export.native import header as native_header
from core.export.native import record as native_record

__all__ = [
    "FORMATS",
    "PAIR_MODES",
    "Format",
    "Options",
    "Schema",
    "jsonl_lines",
    "native_header",
    "requirement_problem",
]


@dataclass(frozen=True)
class Format:
    name: str
    label: str
    extension: str
    records: Callable[[dict[str, Any], Schema, Options], Iterator[dict[str, Any]]]
    training: bool  # learns only from valid annotations
    # Optional: the records as ready JSONL lines (same bytes as orjson.dumps of `records`, faster).
    lines: Callable[[dict[str, Any], Schema, Options], Iterable[bytes]] | None = None


def _native(item: dict[str, Any], schema: Schema, options: Options) -> Iterator[dict[str, Any]]:
    yield native_record(item)


def _native_lines(item: dict[str, Any], schema: Schema, options: Options) -> list[bytes]:
    return [dumps(native_record(item), option=OPT_APPEND_NEWLINE)]


def jsonl_lines(fmt: str) -> Callable[[dict[str, Any], Schema, Options], Iterable[bytes]]:
    """One item's records as JSONL lines (bytes ending in a newline) for a JSONL format."""
    spec = FORMATS[fmt]
    if spec.lines is not None:
        return spec.lines
    records = spec.records

    def lines(item: dict[str, Any], schema: Schema, options: Options) -> list[bytes]:
        return [dumps(record, option=OPT_APPEND_NEWLINE) for record in records(item, schema, options)]

    return lines


FORMATS: dict[str, Format] = {
    "native": Format(
        "native", "Native JSONL (items, ontology, annotations)", "jsonl", _native, False, _native_lines
    ),
    "sft": Format("sft", "SFT JSONL (messages)", "jsonl", sft.records, True),
    "dpo": Format("dpo", "DPO JSONL (prompt, chosen, rejected)", "jsonl", dpo.records, True, dpo.lines),
    "kto": Format("kto", "KTO JSONL (prompt, completion, label)", "jsonl", kto.records, True),
    "csv": Format("csv", "CSV (one row a result)", "csv", table.records, False),
    "xlsx": Format("xlsx", "XLSX (one row a result)", "xlsx", table.records, False),
}


def requirement_problem(fmt: str, schema: Schema) -> str | None:
    """Why `fmt` cannot be exported with this ontology, or None."""
    if fmt not in FORMATS:
        return f"format {fmt!r}: unknown; choose one of {', '.join(FORMATS)}"
    if fmt == "sft" and not schema.response_classes():
        return "format sft: the dataset has no Dialog Response classes, so there are no replies to export"
    if fmt == "dpo" and not schema.has_preferences():
        return "format dpo: the dataset has no ranking, pairwise question or numeric score attribute to make pairs from"
    if fmt == "kto" and not (
        schema.questions_of_type("pairwise") or any(map(schema.score_attributes, schema.classes))
    ):
        return "format kto: the dataset has no pairwise question or numeric score attribute to label replies with"
    return None
